// passlib's own layouts (its sha2_crypt and argon2 write the standard ones: sha-crypt.ts, argon2.ts).
//
// pbkdf2_{sha1,sha256,sha512}: $pbkdf2$<rounds>$<salt>$<checksum> ($pbkdf2-sha256$, $pbkdf2-sha512$)
//   PBKDF2-HMAC over the UTF-8 password with the *decoded* salt bytes. Salt and checksum are in
//   passlib's "ab64": standard base64 with "." for "+", no padding. An empty salt is legal (passlib
//   hashes and verifies with salt_size=0).
//
// bcrypt_sha256 (passlib >= 1.6.2), bcrypt of a 44-byte key so the 72-byte cut never applies:
//   v2 (1.7.3+): $bcrypt-sha256$v=2,t=2b,r=<cost>$<salt>$<checksum>
//                key = base64(HMAC-SHA256(key = the 22-character salt text, msg = password))
//   v1:          $bcrypt-sha256$<2a|2b>,<cost>$<salt>$<checksum>
//                key = base64(SHA256(password))
//   base64 here is the standard alphabet with "=" padding; cost has no leading zero.
import { createHash, createHmac } from 'node:crypto';
import { parseBcrypt, checkBcrypt } from './bcrypt.js';
import { LIMITS, decimal, pbkdf2, refuse, sameBytes, type Prepared, type Refusal } from './common.js';

const PBKDF2_IDENTS: Readonly<Record<string, { digest: string; size: number }>> = {
  '$pbkdf2$': { digest: 'sha1', size: 20 },
  '$pbkdf2-sha256$': { digest: 'sha256', size: 32 },
  '$pbkdf2-sha512$': { digest: 'sha512', size: 64 },
};

/** ab64 → bytes. passlib decodes with a2b_base64, which ignores the unused trailing bits. */
function ab64(s: string): Buffer | null {
  if (!/^[A-Za-z0-9./]*$/.test(s) || s.length % 4 === 1) return null;
  return Buffer.from(s.replace(/\./g, '+'), 'base64');
}

export function preparePasslibPbkdf2(stored: string): Prepared | Refusal {
  const format = 'passlib-pbkdf2';
  const m = /^(\$pbkdf2(?:-sha256|-sha512)?\$)([^$]*)\$([^$]*)\$([^$]*)$/.exec(stored);
  if (!m) return refuse('malformed', format, 'expected $pbkdf2-<digest>$<rounds>$<salt>$<checksum>');
  const { digest, size } = PBKDF2_IDENTS[m[1]!]!;
  const rounds = decimal(m[2]!);
  if (rounds === null || rounds < 1) return refuse('malformed', format, 'rounds must be a positive decimal number without leading zeros');
  if (rounds > LIMITS.pbkdf2Iterations) return refuse('too_costly', format, `rounds ${rounds} > ${LIMITS.pbkdf2Iterations}`);
  // passlib caps the salt at 1024 bytes.
  const salt = m[3]!.length <= LIMITS.saltChars * 2 ? ab64(m[3]!) : null;
  if (salt === null || salt.length > 1024) return refuse('malformed', format, 'salt must be ab64 of at most 1024 bytes');
  const expected = ab64(m[4]!);
  if (expected === null || expected.length !== size) return refuse('malformed', format, `checksum must be ab64 of ${size} bytes`);
  return { format, check: async (password) => sameBytes(await pbkdf2(password, salt, rounds, size, digest), expected) };
}

const V2 = /^\$bcrypt-sha256\$v=([0-9]+),t=([0-9a-z]+),r=([0-9]{1,2})\$([^$]{22})\$([^$]{31})$/;
const V1 = /^\$bcrypt-sha256\$(2[ab]),([0-9]{1,2})\$([^$]{22})\$([^$]{31})$/;

export function preparePasslibBcryptSha256(stored: string): Prepared | Refusal {
  const format = 'passlib-bcrypt-sha256';
  let version: 1 | 2;
  let ident: string;
  let cost: string;
  let salt: string;
  let checksum: string;
  const v2 = V2.exec(stored);
  if (v2) {
    if (v2[1] !== '2') {
      return decimal(v2[1]!) !== null && Number(v2[1]) > 2
        ? refuse('unsupported', format, `wrapper version ${v2[1]} (passlib 1.7 knows 1 and 2)`)
        : refuse('malformed', format, 'v= must be 2 in this layout');
    }
    if (v2[2] !== '2b') return refuse('malformed', format, 'version 2 is defined for t=2b only');
    [version, ident, cost, salt, checksum] = [2, '2b', v2[3]!, v2[4]!, v2[5]!];
  } else {
    const v1 = V1.exec(stored);
    if (!v1) return refuse('malformed', format, 'expected $bcrypt-sha256$v=2,t=2b,r=<cost>$<salt>$<checksum> or the v1 $bcrypt-sha256$2b,<cost>$…');
    [version, ident, cost, salt, checksum] = [1, v1[1]!, v1[2]!, v1[3]!, v1[4]!];
  }
  if (decimal(cost) === null) return refuse('malformed', format, 'cost must not have a leading zero');
  // v2 refuses salts whose last character has unused bits set ("invalid salt string").
  if (version === 2 && !'.Oeu'.includes(salt[21]!)) return refuse('malformed', format, 'salt has unused bits set (passlib refuses this for v2)');
  const parts = parseBcrypt(`$${ident}$${cost.padStart(2, '0')}$${salt}${checksum}`, format);
  if ('error' in parts) return parts;
  return {
    format,
    check: (password) => {
      const digest = version === 2 ? createHmac('sha256', salt).update(password).digest() : createHash('sha256').update(password).digest();
      return checkBcrypt(parts, Buffer.from(digest.toString('base64'), 'latin1'));
    },
  };
}
