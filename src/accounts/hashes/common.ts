// Shared by the legacy hash verifiers: result types, cost limits, strict field parsers and a
// constant-time compare.
import { pbkdf2 as pbkdf2Callback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

/** The stored-hash layouts this module recognises (some only to refuse them by name). */
export type LegacyFormat =
  | 'werkzeug-pbkdf2'
  | 'werkzeug-scrypt'
  | 'bcrypt'
  | 'passlib-bcrypt-sha256'
  | 'passlib-pbkdf2'
  | 'sha256-crypt'
  | 'sha512-crypt'
  | 'argon2'
  | 'django-pbkdf2'
  | 'django-bcrypt'
  | 'django-bcrypt-sha256'
  | 'django-argon2'
  | 'django-scrypt'
  | 'django-unusable'
  | 'werkzeug-digest'
  | 'django-digest'
  | 'flask-security'
  | 'legacy-digest';

export type RefusalKind = 'malformed' | 'unsupported' | 'too_costly';

/** Why a stored hash was not checked. `reason` is for logs; it never contains the hash itself. */
export interface Refusal {
  error: RefusalKind;
  format?: LegacyFormat;
  reason: string;
}

/** A stored hash that parsed and is within the cost limits: `check` does the (async) work. */
export interface Prepared {
  format: LegacyFormat;
  check(password: Buffer): Promise<boolean>;
}

export const refuse = (error: RefusalKind, format: LegacyFormat | undefined, reason: string): Refusal =>
  format === undefined ? { error, reason } : { error, format, reason };

/**
 * Cost limits, checked while parsing so an absurd stored hash is refused before any work runs.
 * Each leaves a wide margin over the highest default a library writes today, so real hashes pass,
 * while a planted or corrupted one cannot pin a CPU for minutes or exhaust memory.
 */
export const LIMITS = {
  // Django 5.1 writes 870,000 and 5.2 1,000,000; werkzeug 3.1 1,000,000; passlib 29,000 (sha256),
  // 25,000 (sha512), 131,000 (sha1).
  pbkdf2Iterations: 10_000_000,
  // werkzeug's default is N=2^15, r=8, p=1: 32 MiB and N·r·p = 2^18.
  scryptMaxN: 2 ** 20,
  scryptMaxR: 32,
  scryptMaxP: 16,
  scryptMaxMemory: 256 * 1024 * 1024, // bytes of 128·N·r
  scryptMaxWork: 2 ** 23, // N·r·p: 32 times werkzeug's default
  // bcrypt: passlib, Django and python-bcrypt default to 12; each step doubles the time.
  bcryptCost: 16,
  // passlib writes 535,000 (sha256-crypt) and 656,000 (sha512-crypt); glibc's default is 5,000.
  // The rounds run in JavaScript (sha-crypt.ts): about 3 s per million here, so 2,000,000 (three
  // times passlib's) bounds one check to seconds of one worker, where 10,000,000 took 30-45 s.
  shaCryptRounds: 2_000_000,
  // Django writes m=100 MiB, t=2; argon2-cffi 21 the same; 256 MiB and t=10 leave room for tuned ones.
  argon2MemoryKiB: 256 * 1024,
  argon2Time: 10,
  // No stored salt any of these libraries writes comes near this; it bounds parsing work only.
  saltChars: 1024,
} as const;

/** A canonical non-negative decimal (no sign, no leading zero, no "_"), or null. May be huge. */
export function decimal(s: string): number | null {
  return /^(0|[1-9][0-9]*)$/.test(s) ? Number(s) : null;
}

export const pbkdf2 = promisify(pbkdf2Callback);

/** hashlib's SHA names, as werkzeug writes them (node:crypto spells them alike), and their output sizes. */
export const SHA_DIGESTS: ReadonlyMap<string, number> = new Map([
  ['sha1', 20],
  ['sha224', 28],
  ['sha256', 32],
  ['sha384', 48],
  ['sha512', 64],
]);

/** Equal-length compare in constant time; a length mismatch (public: it follows from the format) is false. */
export function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

const STD_B64 = /^[A-Za-z0-9+/]*$/;

/**
 * Standard base64 (RFC 4648 alphabet). `padded`: "=" padding required (Django) or absent (PHC
 * strings). Canonical only: trailing bits must be zero, as the writer leaves them; Buffer's own
 * decoder would silently skip invalid characters, hence the checks first.
 */
export function base64Strict(s: string, padded: boolean): Buffer | null {
  let body = s;
  if (padded) {
    if (s.length % 4 !== 0) return null;
    body = s.replace(/={1,2}$/, '');
  } else if (s.length % 4 === 1) {
    return null;
  }
  if (!STD_B64.test(body)) return null;
  const bytes = Buffer.from(body, 'base64');
  const again = bytes.toString('base64');
  return (padded ? again === s : again.replace(/=+$/, '') === s) ? bytes : null;
}

/**
 * Thrown by a `check` when the library doing the work refuses a stored hash that parsed (should
 * not happen after the strict parse, but a library's rules are its own): reported as 'malformed'.
 * Anything else a `check` throws is a failure of the machinery and propagates.
 */
export class HashRejected extends Error {
  constructor(message: string, readonly kind: RefusalKind = 'malformed') {
    super(message);
  }
}

/** Runs a library call, turning its error into HashRejected. */
export async function libraryCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw new HashRejected(`${what} refused the hash: ${e instanceof Error ? e.message : String(e)}`);
  }
}
