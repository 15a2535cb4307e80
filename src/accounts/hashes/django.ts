// django.contrib.auth.hashers, "<algorithm>$<rest>":
//   pbkdf2_sha256$<iterations>$<salt>$<base64>  PBKDF2-HMAC-SHA256(utf8 pw, utf8 salt text), 32 bytes
//   pbkdf2_sha1$<iterations>$<salt>$<base64>    the same with SHA-1, 20 bytes
//   bcrypt_sha256$<bcrypt string>               bcrypt of hex(SHA256(utf8 pw)): 64 bytes, never cut
//   bcrypt$<bcrypt string>                      bcrypt of the password (cut at 72 bytes)
//   argon2$<PHC string without its leading $>   argon2-cffi's
//   scrypt$<N>$<salt>$<r>$<p>$<base64>          scrypt(utf8 pw, utf8 salt text, N, r, p), 64 bytes (Django 4.2+)
// Django's verify re-encodes and compares whole strings, so it only ever matches its own canonical
// spelling (iterations in %d, padded base64); other spellings are malformed here.
import { createHash } from 'node:crypto';
import { prepareArgon2 } from './argon2.js';
import { checkBcrypt, parseBcrypt } from './bcrypt.js';
import { LIMITS, base64Strict, decimal, pbkdf2, refuse, sameBytes, type Prepared, type Refusal } from './common.js';
import { checkScrypt, scryptParams } from './werkzeug.js';

const PBKDF2 = { pbkdf2_sha256: { digest: 'sha256', size: 32 }, pbkdf2_sha1: { digest: 'sha1', size: 20 } } as const;

export function prepareDjangoPbkdf2(stored: string): Prepared | Refusal {
  const format = 'django-pbkdf2';
  const parts = stored.split('$');
  if (parts.length !== 4) return refuse('malformed', format, 'expected pbkdf2_sha256$<iterations>$<salt>$<hash>');
  const [algorithm, iterText, saltText, b64] = parts as [string, string, string, string];
  if (algorithm !== 'pbkdf2_sha256' && algorithm !== 'pbkdf2_sha1') return refuse('malformed', format, 'algorithm must be pbkdf2_sha256 or pbkdf2_sha1');
  const { digest, size } = PBKDF2[algorithm];
  const iterations = decimal(iterText);
  if (iterations === null || iterations < 1) return refuse('malformed', format, 'iterations must be a positive decimal number without leading zeros');
  if (iterations > LIMITS.pbkdf2Iterations) return refuse('too_costly', format, `iterations ${iterations} > ${LIMITS.pbkdf2Iterations}`);
  // Django asserts a non-empty salt without "$" before hashing.
  if (saltText.length === 0 || saltText.length > LIMITS.saltChars) return refuse('malformed', format, 'salt must be 1 to 1024 characters');
  const expected = base64Strict(b64, true);
  if (expected === null || expected.length !== size) return refuse('malformed', format, `hash must be padded base64 of ${size} bytes`);
  const salt = Buffer.from(saltText, 'utf8');
  return { format, check: async (password) => sameBytes(await pbkdf2(password, salt, iterations, size, digest), expected) };
}

export function prepareDjangoBcrypt(stored: string): Prepared | Refusal {
  const sha256 = stored.startsWith('bcrypt_sha256$');
  const format = sha256 ? 'django-bcrypt-sha256' : 'django-bcrypt';
  const parts = parseBcrypt(stored.slice(stored.indexOf('$') + 1), format);
  if ('error' in parts) return parts;
  return {
    format,
    check: (password) => checkBcrypt(parts, sha256 ? Buffer.from(createHash('sha256').update(password).digest('hex'), 'latin1') : password),
  };
}

export function prepareDjangoArgon2(stored: string): Prepared | Refusal {
  return prepareArgon2(stored.slice('argon2'.length), 'django-argon2');
}

export function prepareDjangoScrypt(stored: string): Prepared | Refusal {
  const format = 'django-scrypt';
  const parts = stored.split('$');
  if (parts.length !== 6) return refuse('malformed', format, 'expected scrypt$<N>$<salt>$<r>$<p>$<hash>');
  const [, nText, saltText, rText, pText, b64] = parts as [string, string, string, string, string, string];
  const params = scryptParams(decimal(nText), decimal(rText), decimal(pText), format);
  if ('error' in params) return params;
  // Django refuses to encode with an empty salt (or one holding "$", which the split rules out).
  if (saltText.length === 0 || saltText.length > LIMITS.saltChars) return refuse('malformed', format, 'salt must be 1 to 1024 characters');
  const expected = base64Strict(b64, true);
  if (expected === null || expected.length !== 64) return refuse('malformed', format, 'hash must be padded base64 of 64 bytes');
  const salt = Buffer.from(saltText, 'utf8');
  return { format, check: (password) => checkScrypt(password, salt, params, expected) };
}
