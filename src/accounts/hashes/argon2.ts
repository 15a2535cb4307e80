// Argon2 PHC strings, $argon2{i,d,id}$[v=<16|19>$]m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>, as
// argon2-cffi writes them for passlib, Django (behind "argon2$") and its own PasswordHasher. Salt
// and hash are standard base64 without padding. No "v=" means version 16 (0x10), as the reference
// decoder and passlib read it. The work and the constant-time compare are @node-rs/argon2's.
import { verify as argon2Verify } from '@node-rs/argon2';
import { LIMITS, base64Strict, decimal, libraryCall, refuse, type LegacyFormat, type Prepared, type Refusal } from './common.js';

const PHC = /^\$(argon2(?:i|d|id))\$(?:v=([0-9]+)\$)?m=([0-9]+),t=([0-9]+),p=([0-9]+)((?:,[^$]*)?)\$([^$]*)\$([^$]*)$/;

/** `phc` is the $argon2…$ string; Django's wrapper passes it without its "argon2" prefix. */
export function prepareArgon2(phc: string, format: LegacyFormat = 'argon2'): Prepared | Refusal {
  const m = PHC.exec(phc);
  if (!m) return refuse('malformed', format, 'expected $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>');
  if (m[2] !== undefined && m[2] !== '16' && m[2] !== '19') return refuse('unsupported', format, `argon2 version ${m[2].slice(0, 10)} (known: 16, 19)`);
  if (m[6]) return refuse('unsupported', format, 'keyid/data parameters (a secret key or associated data is needed)');
  const [memory, time, lanes] = [decimal(m[3]!), decimal(m[4]!), decimal(m[5]!)];
  // The reference limits: at least one pass and one lane, and 8 KiB of memory per lane.
  if (memory === null || time === null || lanes === null || time < 1 || lanes < 1 || memory < 8 * lanes) {
    return refuse('malformed', format, 'm, t and p must be decimal numbers with t >= 1, p >= 1, m >= 8·p');
  }
  if (memory > LIMITS.argon2MemoryKiB) return refuse('too_costly', format, `m=${memory} KiB > ${LIMITS.argon2MemoryKiB}`);
  if (time > LIMITS.argon2Time) return refuse('too_costly', format, `t=${time} > ${LIMITS.argon2Time}`);
  // Total work is m·t blocks whatever p is, so p needs no limit beyond m >= 8·p.
  // Argon2's minimums are 8 salt bytes and 4 hash bytes; @node-rs/argon2 (RustCrypto's PHC parser)
  // reads at most 48 and 64, more than any of these libraries writes (16 and 16-32).
  const salt = base64Strict(m[7]!, false);
  if (salt === null || salt.length < 8) return refuse('malformed', format, 'salt must be unpadded base64 of at least 8 bytes');
  if (salt.length > 48) return refuse('unsupported', format, 'salt longer than 48 bytes');
  const digest = base64Strict(m[8]!, false);
  if (digest === null || digest.length < 4) return refuse('malformed', format, 'hash must be unpadded base64 of at least 4 bytes');
  if (digest.length > 64) return refuse('unsupported', format, 'hash longer than 64 bytes');
  return { format, check: (password) => libraryCall('@node-rs/argon2', () => argon2Verify(phc, password)) };
}
