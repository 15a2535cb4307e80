// A second, independent TOTP for the tests, written from RFC 6238 §4 and RFC 4226 §5.3 (and RFC
// 4648 for base32) over node:crypto, sharing no code with Warden's src/accounts/factors/totp.ts,
// so a test never checks Warden's codes with Warden's own arithmetic.
import { createHmac } from 'node:crypto';

/** RFC 4648 §6 base32 to bytes. */
export function fromBase32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  const bits = [...text.replace(/=+$/, '').toUpperCase()]
    .map((c) => {
      const v = alphabet.indexOf(c);
      if (v < 0) throw new Error(`not base32: ${c}`);
      return v.toString(2).padStart(5, '0');
    })
    .join('');
  const bytes: number[] = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The TOTP code of `secret` at `unixSeconds` (T0 = 0, X = 30 s), as RFC 6238's reference implementation computes it. */
export function codeAt(secret: Buffer, unixSeconds: number, digits = 6, hash: 'sha1' | 'sha256' | 'sha512' = 'sha1'): string {
  const counter = Math.floor(unixSeconds / 30);
  const message = Buffer.from(counter.toString(16).padStart(16, '0'), 'hex');
  const hmac = createHmac(hash, secret).update(message).digest();
  const offset = hmac[hmac.length - 1]! & 0xf;
  const binary = ((hmac[offset]! & 0x7f) << 24) | ((hmac[offset + 1]! & 0xff) << 16) | ((hmac[offset + 2]! & 0xff) << 8) | (hmac[offset + 3]! & 0xff);
  return (binary % 10 ** digits).toString().padStart(digits, '0');
}

/** The secret an otpauth:// URI carries. */
export function secretOf(uri: string): Buffer {
  const secret = new URL(uri).searchParams.get('secret');
  if (secret === null) throw new Error('no secret in the URI');
  return fromBase32(secret);
}
