// Single fast digests: verified only when an import named their library (`warden import
// --fast-digests werkzeug|django`). One salted SHA or MD5 costs a guesser nanoseconds, so such
// hashes are never taken by accident, and each is replaced by argon2id at its user's first
// sign-in. werkzeug and Django wrote the same "sha1$<salt>$<hex>" with different functions, which
// is why the import must say whose they are; what Warden stores names the library:
//   werkzeug-digest$<method>$<salt>$<hex>  werkzeug < 2.3, generate_password_hash(pw, method="sha256"):
//                                          HMAC-<method>(key: utf8 salt, utf8 pw); with no salt, <method>(pw)
//   django-digest$<md5|sha1>$<salt>$<hex>  Django's SHA1/MD5PasswordHasher, <alg>(utf8 salt + pw); its
//                                          unsalted ones ("sha1$$<hex>", a bare md5 hex) with an empty salt
// werkzeug's method="plain" ("plain$$<password>") is a password, which the import hashes itself.
// Hand-written code's bare hex digest, hashlib.sha256(pw.encode()).hexdigest() and the like
// (--fast-digests hex: MD5, SHA-1, SHA-256 or SHA-512 by its length), is werkzeug's unsalted form.

import { createHash, createHmac } from 'node:crypto';
import { LIMITS, SHA_DIGESTS, refuse, sameBytes, type Prepared, type Refusal } from './common.js';

export type DigestSource = 'werkzeug' | 'django' | 'hex';
export const DIGEST_SOURCES: readonly DigestSource[] = ['werkzeug', 'django', 'hex'];

const BY_HEX_LENGTH: Record<number, string> = { 32: 'md5', 40: 'sha1', 64: 'sha256', 128: 'sha512' };

const SIZES: Record<'werkzeug' | 'django', ReadonlyMap<string, number>> = {
  werkzeug: new Map([['md5', 16], ...SHA_DIGESTS]),
  django: new Map([['md5', 16], ['sha1', 20]]),
};
const HEX = /^[0-9a-f]+$/; // both compare lowercase hexdigest() text

/**
 * What Warden stores for one of `source`'s digests: the tagged hash, or the password itself
 * (werkzeug's "plain"); null when `stored` is not one of that library's digests.
 */
export function fromSource(stored: string, source: DigestSource): { hash: string } | { plain: string } | null {
  if (source === 'hex') {
    // Digest text is case-blind: an upper-case export means the same bytes.
    const alg = /^[0-9a-fA-F]+$/.test(stored) ? BY_HEX_LENGTH[stored.length] : undefined;
    return alg === undefined ? null : { hash: `werkzeug-digest$${alg}$$${stored.toLowerCase()}` };
  }
  if (source === 'werkzeug') {
    // check_password_hash splits "plain$<salt>$<password>" at the first two "$" and ignores the salt.
    const plain = /^plain\$[^$]*\$/.exec(stored);
    if (plain) return { plain: stored.slice(plain[0].length) };
    return /^(?:md5|sha1|sha224|sha256|sha384|sha512)\$[^$]*\$[^$]*$/.test(stored) ? { hash: `werkzeug-digest$${stored}` } : null;
  }
  // UnsaltedMD5PasswordHasher writes the bare hex digest.
  if (/^[0-9a-f]{32}$/.test(stored)) return { hash: `django-digest$md5$$${stored}` };
  return /^(?:md5|sha1)\$[^$]*\$[^$]*$/.test(stored) ? { hash: `django-digest$${stored}` } : null;
}

function prepare(stored: string, source: 'werkzeug' | 'django'): Prepared | Refusal {
  const format = source === 'werkzeug' ? 'werkzeug-digest' : 'django-digest';
  const parts = stored.split('$');
  if (parts.length !== 4) return refuse('malformed', format, `expected ${format}$<method>$<salt>$<hex>`);
  const [, method, saltText, hex] = parts as [string, string, string, string];
  const size = SIZES[source].get(method);
  if (size === undefined) return refuse('unsupported', format, `method "${method.slice(0, 20)}" (supported: ${[...SIZES[source].keys()].join(', ')})`);
  if (saltText.length > LIMITS.saltChars) return refuse('malformed', format, 'salt longer than 1024 characters');
  if (hex.length !== size * 2 || !HEX.test(hex)) return refuse('malformed', format, `hash must be ${size * 2} lowercase hex digits`);
  const expected = Buffer.from(hex, 'hex');
  const salt = Buffer.from(saltText, 'utf8');
  const digest = source === 'django' || salt.length === 0
    ? (password: Buffer) => createHash(method).update(salt).update(password).digest()
    : (password: Buffer) => createHmac(method, salt).update(password).digest();
  return { format, check: async (password) => sameBytes(digest(password), expected) };
}

export const prepareWerkzeugDigest = (stored: string) => prepare(stored, 'werkzeug');
export const prepareDjangoDigest = (stored: string) => prepare(stored, 'django');
