// PASSWORD_BLOCKLIST_FILE: passwords a new one may not be (NIST SP 800-63B 5.1.1.2: "passwords
// obtained from previous breach corpuses", dictionary words). One per line, either the password
// itself or the 40 hex digits of its SHA-1 (upper or lower case, optionally followed by ":count",
// as Have I Been Pwned's Pwned Passwords files write them), so a team can use a downloaded
// excerpt as it is. Every entry is kept as the 20 bytes of its SHA-1, sorted, in one Buffer (20
// bytes an entry, found by binary search); a plain line is normalised to NFKC first, as passwords
// are hashed (argon2-hasher.ts), and compared case-sensitively. Read once, at start: a file that
// cannot be used is a ConfigError naming the variable and the line, never a failure at a sign-up.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { endianness } from 'node:os';

const DIGEST = 20;
/** Beyond it the sort's keys (27 bits of index) no longer fit; 2.7 GB of digests, far past any excerpt. */
export const MAX_BLOCKLIST_ENTRIES = 2 ** 27 - 1;

/** Why a blocklist file cannot be used; `message` names the line (never its text: it is a password). */
export class BlocklistError extends Error {}

const sha1 = (text: string): Buffer => createHash('sha1').update(text, 'utf8').digest();

/** The refused passwords, as sorted SHA-1 digests. */
export class PasswordBlocklist {
  private constructor(private readonly digests: Buffer) {}

  /** How many distinct entries it holds. */
  get size(): number {
    return this.digests.length / DIGEST;
  }

  /** The bytes it holds in memory. */
  get bytes(): number {
    return this.digests.length;
  }

  /**
   * Whether `password` is listed: its NFKC form, as plain lines are normalised; and, when typing
   * changed under NFKC, the form as typed too, since a digest line was made from whatever form the
   * breached password had and cannot be normalised here.
   */
  has(password: string): boolean {
    const nfkc = password.normalize('NFKC');
    return this.holds(sha1(nfkc)) || (nfkc !== password && this.holds(sha1(password)));
  }

  private holds(d: Buffer): boolean {
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = this.digests.compare(d, 0, DIGEST, mid * DIGEST, mid * DIGEST + DIGEST); // entry minus d
      if (c === 0) return true;
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return false;
  }

  /** From `count` digests of 20 bytes laid end to end in `raw` (any order, duplicates allowed); `raw` is reordered. */
  static fromDigests(raw: Buffer, count = raw.length / DIGEST): PasswordBlocklist {
    return new PasswordBlocklist(sortedUnique(raw, count));
  }

  /** Parses a whole file's bytes (tests; the server reads files with `loadPasswordBlocklist`). */
  static parse(bytes: Buffer): PasswordBlocklist {
    const reader = new LineReader();
    reader.push(bytes);
    return reader.finish();
  }
}

const HEX = /^[0-9a-fA-F]{40}(?::[0-9]+)?$/;
// A hash with a count that is not a SHA-1 (Pwned Passwords' NTLM file): refused, or its lines would
// be taken as passwords nobody types and nothing would be blocked.
const OTHER_HASH = /^[0-9a-fA-F]{16,}:[0-9]+$/;
// C0 and C1 controls but tab: no list of passwords has them, a binary file does.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/;
const LF = 0x0a;
const CR = 0x0d;

function isAscii(bytes: Buffer): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

/** Takes a file's bytes in chunks, line by line, into digests. */
class LineReader {
  private out = Buffer.allocUnsafe(64 * 1024 * DIGEST);
  private count = 0;
  private line = 0;
  private rest: Buffer = Buffer.alloc(0);
  private readonly utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  push(chunk: Buffer): void {
    let data = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    for (let nl = data.indexOf(LF, start); nl >= 0; nl = data.indexOf(LF, start)) {
      this.take(data.subarray(start, nl));
      start = nl + 1;
    }
    data = data.subarray(start);
    // Copied: the chunk's buffer is reused by the next read.
    this.rest = Buffer.from(data);
  }

  finish(): PasswordBlocklist {
    if (this.rest.length > 0) this.take(this.rest);
    if (this.count === 0) throw new BlocklistError('holds no password (an empty file is most likely a failed download)');
    return PasswordBlocklist.fromDigests(this.out, this.count);
  }

  private take(bytes: Buffer): void {
    this.line++;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === CR) end--;
    let begin = 0;
    if (this.line === 1 && end >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) begin = 3; // a byte order mark
    if (end === begin) return; // blank lines are skipped
    const body = bytes.subarray(begin, end);
    let text: string;
    try {
      // Most lines are ASCII (every digest line is): read as such without a decoder's cost.
      text = isAscii(body) ? body.toString('latin1') : this.utf8.decode(body);
    } catch {
      throw new BlocklistError(`line ${this.line} is not UTF-8 text (a compressed file? unpack it first)`);
    }
    if (CONTROL.test(text)) throw new BlocklistError(`line ${this.line} holds a control character (is this a text file of passwords, one per line?)`);
    const slot = this.slot();
    if (HEX.test(text)) {
      this.out.write(text.slice(0, 40), slot, 'hex');
    } else {
      if (OTHER_HASH.test(text)) {
        throw new BlocklistError(`line ${this.line} looks like a hash with a count but not a SHA-1 of 40 hex digits (Pwned Passwords' NTLM file? use its SHA-1 file)`);
      }
      sha1(text.normalize('NFKC')).copy(this.out, slot);
    }
    this.count++;
  }

  /** Where the next digest goes, growing the buffer as needed. */
  private slot(): number {
    if (this.count >= MAX_BLOCKLIST_ENTRIES) {
      throw new BlocklistError(`holds more than ${MAX_BLOCKLIST_ENTRIES.toLocaleString('en')} passwords; keep the most common ones (README, "Password policy")`);
    }
    const at = this.count * DIGEST;
    if (at + DIGEST > this.out.length) {
      const bigger = Buffer.allocUnsafe(Math.min(this.out.length * 2, MAX_BLOCKLIST_ENTRIES * DIGEST));
      this.out.copy(bigger, 0, 0, at);
      this.out = bigger;
    }
    return at;
  }
}

/**
 * Reads PASSWORD_BLOCKLIST_FILE in chunks (a file larger than what one read may hold is fine);
 * throws a BlocklistError saying why it cannot be used.
 */
export function loadPasswordBlocklist(file: string): PasswordBlocklist {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new BlocklistError(`cannot be opened (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    if (!fstatSync(fd).isFile()) throw new BlocklistError('is not a file');
    const reader = new LineReader();
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, chunk, 0, chunk.length, null);
      } catch (e) {
        throw new BlocklistError(`cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      }
      if (n === 0) break;
      reader.push(chunk.subarray(0, n));
    }
    return reader.finish();
  } finally {
    closeSync(fd);
  }
}

const LITTLE_ENDIAN = endianness() === 'LE';

/**
 * The `count` digests of `raw`, sorted and without repeats, in a Buffer of their own size. Sorted
 * natively on 64-bit keys (the digest's first 37 bits, then its index, so the index can be read
 * back), then fixed by one insertion pass where two digests share those 37 bits (a few dozen at a
 * million entries), and repeats dropped.
 */
function sortedUnique(raw: Buffer, count: number): Buffer {
  const keys = new BigUint64Array(count);
  const words = new Uint32Array(keys.buffer);
  const [lo, hi] = LITTLE_ENDIAN ? [0, 1] : [1, 0];
  for (let i = 0; i < count; i++) {
    const o = i * DIGEST;
    words[2 * i + hi] = raw.readUInt32BE(o);
    words[2 * i + lo] = (((raw[o + 4]! >>> 3) << 27) | i) >>> 0;
  }
  keys.sort();
  const sorted = Buffer.allocUnsafe(count * DIGEST);
  for (let j = 0; j < count; j++) {
    const i = words[2 * j + lo]! & (2 ** 27 - 1);
    raw.copy(sorted, j * DIGEST, i * DIGEST, i * DIGEST + DIGEST);
  }
  const temp = Buffer.allocUnsafe(DIGEST);
  const cmp = (a: number, b: number) => sorted.compare(sorted, b * DIGEST, b * DIGEST + DIGEST, a * DIGEST, a * DIGEST + DIGEST);
  for (let j = 1; j < count; j++) {
    for (let k = j; k > 0 && cmp(k - 1, k) > 0; k--) {
      sorted.copy(temp, 0, k * DIGEST, k * DIGEST + DIGEST);
      sorted.copy(sorted, k * DIGEST, (k - 1) * DIGEST, k * DIGEST);
      temp.copy(sorted, (k - 1) * DIGEST);
    }
  }
  let kept = 0;
  for (let j = 0; j < count; j++) {
    if (kept > 0 && cmp(kept - 1, j) === 0) continue;
    if (kept !== j) sorted.copy(sorted, kept * DIGEST, j * DIGEST, j * DIGEST + DIGEST);
    kept++;
  }
  return Buffer.from(sorted.subarray(0, kept * DIGEST)); // its own memory, not the larger one's
}
