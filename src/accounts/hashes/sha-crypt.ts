// SHA-crypt, $5$ (SHA-256) and $6$ (SHA-512): glibc's crypt(3) and passlib's sha256_crypt /
// sha512_crypt (which calls glibc when it can). Layout: $5$[rounds=<n>$]<salt>$<checksum>, salt
// 0-16 characters, checksum 43 ($5$) or 86 ($6$) characters of crypt's base64; no rounds= means 5000.
//
// Written by hand from Ulrich Drepper's published specification ("Unix crypt using SHA-256 and
// SHA-512", akkadia.org/drepper/SHA-crypt.txt), because node:crypto has no SHA-crypt and the npm
// packages are not good enough: `unixcrypt` (the maintained one) is synchronous and gives wrong
// checksums for passwords whose length is a multiple of the digest size (32 or 64 bytes); the
// others are unmaintained or need a C toolchain. The rounds loop is pure CPU in JavaScript, so it
// runs in a worker thread (sha-crypt-worker.ts) to keep the event loop free.
import { createHash, hash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { LIMITS, decimal, refuse, sameBytes, type Prepared, type Refusal } from './common.js';

export type ShaCryptVariant = '5' | '6';

const CRYPT64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const DEFAULT_ROUNDS = 5000;
// passlib refuses secrets over 4096 bytes (PasswordSizeError), so none of its hashes has one; the
// cap matters here because SHA-crypt's cost grows with the password's length.
export const SHA_CRYPT_MAX_PASSWORD_BYTES = 4096;

// The spec's output order: each triple of digest bytes becomes four characters, least significant
// six bits first; the last group holds the leftover one (SHA-256: two) bytes.
const ORDER_256 = [[0, 10, 20], [21, 1, 11], [12, 22, 2], [3, 13, 23], [24, 4, 14], [15, 25, 5], [6, 16, 26], [27, 7, 17], [18, 28, 8], [9, 19, 29]];
const ORDER_512 = [
  [0, 21, 42], [22, 43, 1], [44, 2, 23], [3, 24, 45], [25, 46, 4], [47, 5, 26], [6, 27, 48],
  [28, 49, 7], [50, 8, 29], [9, 30, 51], [31, 52, 10], [53, 11, 32], [12, 33, 54], [34, 55, 13],
  [56, 14, 35], [15, 36, 57], [37, 58, 16], [59, 17, 38], [18, 39, 60], [40, 61, 19], [62, 20, 41],
];

function encode24(b2: number, b1: number, b0: number, chars: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  for (let i = 0; i < chars; i++) {
    out += CRYPT64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

function encodeChecksum(d: Buffer, variant: ShaCryptVariant): string {
  let out = '';
  for (const [a, b, c] of variant === '5' ? ORDER_256 : ORDER_512) out += encode24(d[a!]!, d[b!]!, d[c!]!, 4);
  return out + (variant === '5' ? encode24(0, d[31]!, d[30]!, 3) : encode24(0, 0, d[63]!, 2));
}

/** `len` bytes made of `digest` repeated (the spec's "byte sequence P/S"). */
function repeatTo(digest: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let off = 0; off < len; off += digest.length) digest.copy(out, off, 0, Math.min(digest.length, len - off));
  return out;
}

/** The checksum characters for `key` (password bytes), `salt` (at most 16 characters) and `rounds`. Synchronous. */
export function shaCryptChecksum(variant: ShaCryptVariant, key: Buffer, salt: string, rounds: number): string {
  const algo = variant === '5' ? 'sha256' : 'sha512';
  const size = variant === '5' ? 32 : 64;
  const s = Buffer.from(salt, 'latin1');

  // Steps 4-8: digest B = H(key salt key).
  const b = createHash(algo).update(key).update(s).update(key).digest();
  // Steps 1-3, 9-12: digest A = H(key salt, B once per whole block of the key length and its
  // remainder, then per bit of the length from the lowest: B for 1, key for 0).
  const a = createHash(algo).update(key).update(s);
  let n = key.length;
  for (; n > size; n -= size) a.update(b);
  a.update(b.subarray(0, n));
  for (let bits = key.length; bits > 0; bits >>>= 1) a.update(bits & 1 ? b : key);
  const digestA = a.digest();

  // Steps 13-16: P = H(key repeated key.length times), stretched to key.length bytes.
  const dp = createHash(algo);
  for (let i = 0; i < key.length; i++) dp.update(key);
  const p = repeatTo(dp.digest(), key.length);
  // Steps 17-20: S = H(salt repeated 16 + A[0] times), cut to the salt's length.
  const ds = createHash(algo);
  for (let i = 0; i < 16 + digestA[0]!; i++) ds.update(s);
  const sBytes = repeatTo(ds.digest(), s.length);

  // Step 21: the rounds, C = H((P or C) [S] [P] (C or P)). Each round's input is laid out in one
  // reused buffer and hashed in one call: about twice as fast as a Hash object per round.
  const input = Buffer.alloc(size + sBytes.length + 2 * p.length);
  let c = digestA;
  for (let i = 0; i < rounds; i++) {
    let n = (i & 1 ? p : c).copy(input, 0);
    if (i % 3 !== 0) n += sBytes.copy(input, n);
    if (i % 7 !== 0) n += p.copy(input, n);
    n += (i & 1 ? c : p).copy(input, n);
    c = hash(algo, input.subarray(0, n), 'buffer');
  }
  return encodeChecksum(c, variant);
}

// ---- parsing

const LAYOUT = /^\$([56])\$(?:rounds=([0-9]+)\$)?([./0-9A-Za-z]{0,16})\$([./0-9A-Za-z]+)$/;

export interface ShaCryptParts {
  variant: ShaCryptVariant;
  rounds: number;
  salt: string;
  checksum: string;
}

export function parseShaCrypt(stored: string): ShaCryptParts | Refusal {
  const format = stored.startsWith('$5$') ? 'sha256-crypt' : 'sha512-crypt';
  const m = LAYOUT.exec(stored);
  if (!m) return refuse('malformed', format, 'expected $5$[rounds=<n>$]<salt of 0-16 crypt64 characters>$<checksum>');
  const variant = m[1] as ShaCryptVariant;
  let rounds = DEFAULT_ROUNDS;
  if (m[2] !== undefined) {
    const r = decimal(m[2]);
    // The spec's range is 1000-999,999,999; crypt(3) clamps out-of-range requests before writing
    // them out, and passlib refuses them when reading, so a stored value outside it is corrupt.
    if (r === null || r < 1000) return refuse('malformed', format, 'rounds must be a decimal number from 1000, without leading zeros');
    if (r > LIMITS.shaCryptRounds) return refuse('too_costly', format, `rounds ${r} > ${LIMITS.shaCryptRounds}`);
    rounds = r;
  }
  const checksum = m[4]!;
  if (checksum.length !== (variant === '5' ? 43 : 86)) return refuse('malformed', format, `checksum must be ${variant === '5' ? 43 : 86} characters`);
  return { variant, rounds, salt: m[3]!, checksum };
}

// ---- running in worker threads

// Workers are started on demand, at most one per core, and kept: idle ones are unref'd, so they
// never hold the process open. Past the limit, checks queue, up to MAX_QUEUED (the sign-in path
// runs them behind the hasher's own limiter, so it never gets near); past that a check rejects
// at once rather than wait behind minutes of others' work. A worker that fails is dropped.
const MAX_WORKERS = availableParallelism();
const MAX_QUEUED = 64 * MAX_WORKERS;
interface Job {
  data: { variant: ShaCryptVariant; key: Buffer; salt: string; rounds: number };
  resolve(checksum: string): void;
  reject(e: unknown): void;
}
const queue: Job[] = [];
const idle: Worker[] = [];
let started = 0;

// The worker file sits next to this one, .ts under tsx and .js once built.
const workerUrl = new URL(`./sha-crypt-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

function startWorker(): Worker {
  let worker: Worker;
  if (workerUrl.pathname.endsWith('.ts')) {
    // Running from source under tsx (tests, `npm run dev`): tsx's loader hooks do not reach worker
    // threads (privatenumber/tsx#354), so the worker registers tsx itself before loading its entry.
    const tsx = import.meta.resolve('tsx/esm/api');
    worker = new Worker(`import(${JSON.stringify(tsx)}).then((t) => { t.register(); return import(${JSON.stringify(workerUrl.href)}); })`, { eval: true });
  } else {
    worker = new Worker(workerUrl);
  }
  // A busy worker's failure is its job's (runOn); an idle one that dies is only forgotten.
  worker.on('error', () => {});
  worker.on('exit', () => {
    const i = idle.indexOf(worker);
    if (i >= 0) {
      idle.splice(i, 1);
      started--;
    }
  });
  return worker;
}

function runOn(worker: Worker, job: Job): void {
  const done = (settle: () => void, reusable: boolean) => {
    worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    settle();
    if (reusable) {
      worker.unref();
      idle.push(worker);
    } else {
      started--;
    }
    pump();
  };
  const onMessage = (checksum: string) => done(() => job.resolve(checksum), true);
  const onError = (e: Error) => {
    void worker.terminate();
    done(() => job.reject(e), false);
  };
  const onExit = (code: number) => done(() => job.reject(new Error(`SHA-crypt worker exited (code ${code}) before answering`)), false);
  worker.on('message', onMessage).on('error', onError).on('exit', onExit);
  worker.ref();
  worker.postMessage(job.data);
}

function pump(): void {
  while (queue.length > 0) {
    let worker = idle.pop();
    if (!worker) {
      if (started >= MAX_WORKERS) return;
      worker = startWorker();
      started++;
    }
    runOn(worker, queue.shift()!);
  }
}

function inWorker(data: Job['data']): Promise<string> {
  return new Promise((resolve, reject) => {
    if (queue.length >= MAX_QUEUED) return reject(new Error(`too many SHA-crypt checks waiting (${MAX_QUEUED})`));
    queue.push({ data, resolve, reject });
    pump();
  });
}

export function prepareShaCrypt(stored: string): Prepared | Refusal {
  const parts = parseShaCrypt(stored);
  if ('error' in parts) return parts;
  return {
    format: parts.variant === '5' ? 'sha256-crypt' : 'sha512-crypt',
    check: async (password) => {
      if (password.length > SHA_CRYPT_MAX_PASSWORD_BYTES) return false;
      const checksum = await inWorker({ variant: parts.variant, key: password, salt: parts.salt, rounds: parts.rounds });
      return sameBytes(Buffer.from(checksum, 'latin1'), Buffer.from(parts.checksum, 'latin1'));
    },
  };
}
