// bcrypt modular crypt strings, $2a$/$2b$/$2y$<cost>$<22-char salt><31-char checksum>, as written by
// python-bcrypt (pyca), passlib's bcrypt, Django's BCryptPasswordHasher (behind "bcrypt$") and PHP.
// The work is @node-rs/bcrypt's (Rust `bcrypt` crate, on the libuv pool; its compare is constant-time).
//
// The 72-byte rule, as python-bcrypt 3.x (Debian 12: 3.2.2) and 4.x apply it: the UTF-8 password is
// cut to its first 72 bytes — bytes, so a multi-byte character can be split — for every prefix,
// $2a$ included (OpenBSD keeps the old wrap-around for $2a$; pyca never did). 5.x raises instead of
// cutting, so no hash of a longer password can come from it. The cut is made here, explicitly.
// A NUL byte is hashed like any other, as python-bcrypt 4.x does (3.x refuses such passwords, so
// none of its hashes has one). 2a, 2b and 2y are one algorithm; only crypt_blowfish's buggy "2x"
// and the original "2" differ, and are refused.
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import { LIMITS, libraryCall, refuse, type LegacyFormat, type Prepared, type Refusal } from './common.js';

export const BCRYPT_MAX_BYTES = 72;

const ALPHABET = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const MODULAR = /^\$(2[abxy]?)\$([0-9]{2})\$([./A-Za-z0-9]{22})([./A-Za-z0-9]{31})$/;

export interface BcryptParts {
  ident: '2a' | '2b' | '2y';
  cost: number;
  salt: string;
  checksum: string;
}

// The last salt character carries 4 unused bits and the last checksum character 2. Old passlib
// releases wrote salts with those bits set; C bcrypt ignores them and passlib repairs them on read,
// but the Rust decoder refuses them, so they are cleared here (the meaning does not change).
function clearUnusedBits(chars: string, mask: number): string {
  const last = ALPHABET.indexOf(chars[chars.length - 1]!);
  return chars.slice(0, -1) + ALPHABET[last & mask]!;
}

/** Parses a bcrypt string; `format` is the caller's name for it (Django and passlib wrap it). */
export function parseBcrypt(stored: string, format: LegacyFormat): BcryptParts | Refusal {
  const m = MODULAR.exec(stored);
  if (!m) return refuse('malformed', format, 'expected $2b$<2-digit cost>$<53 characters of bcrypt base64>');
  const ident = m[1]!;
  if (ident !== '2a' && ident !== '2b' && ident !== '2y') {
    return refuse('unsupported', format, `$${ident}$ (crypt_blowfish's sign-extension bug or pre-1997 bcrypt) is not the $2b$ algorithm`);
  }
  const cost = Number(m[2]);
  if (cost < 4 || cost > 31) return refuse('malformed', format, 'cost must be 04 to 31');
  if (cost > LIMITS.bcryptCost) return refuse('too_costly', format, `cost ${cost} > ${LIMITS.bcryptCost}`);
  return { ident, cost, salt: clearUnusedBits(m[3]!, 0x30), checksum: clearUnusedBits(m[4]!, 0x3c) };
}

/** bcrypt of `key` (first 72 bytes) against parsed parts. */
export function checkBcrypt(parts: BcryptParts, key: Buffer): Promise<boolean> {
  const stored = `$${parts.ident}$${String(parts.cost).padStart(2, '0')}$${parts.salt}${parts.checksum}`;
  return libraryCall('@node-rs/bcrypt', () => bcryptVerify(key.subarray(0, BCRYPT_MAX_BYTES), stored));
}

export function prepareBcrypt(stored: string, format: LegacyFormat = 'bcrypt'): Prepared | Refusal {
  const parts = parseBcrypt(stored, format);
  if ('error' in parts) return parts;
  return { format, check: (password) => checkBcrypt(parts, password) };
}
