// TOTP (RFC 6238) as authenticator apps use it: HOTP (RFC 4226) over HMAC-SHA-1 of the 30-second
// time step, 6 digits, secrets written in base32 (RFC 4648) inside an otpauth:// URI.
// Written over node:crypto rather than taken from a library: the whole algorithm is the dynamic
// truncation below, Warden needs the matched time step itself (to refuse a replay), and the
// maintained library (otpauth 9.5) computes SHA-1 in JavaScript through @noble/hashes 2, whose
// engines field asks for Node >= 20.19, above Warden's 20.12. Checked against RFC 6238 Appendix B
// and against pyotp in the tests.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Steps accepted either side of now (RFC 6238 §5.2's "one time step" of network delay and drift). */
export const TOTP_WINDOW = 1;
/** 160 bits, RFC 4226 §4's recommended secret length for HMAC-SHA-1. */
export const TOTP_SECRET_BYTES = 20;

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 base32 without padding (what otpauth:// URIs carry). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** RFC 4648 base32 (case-insensitive, padding and spaces ignored); null when it is not base32. */
export function base32Decode(text: string): Buffer | null {
  const clean = text.replace(/[\s=]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v < 0) return null;
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export type HotpAlgorithm = 'sha1' | 'sha256' | 'sha512';

/** RFC 4226 §5.3: HMAC of the 8-byte counter, dynamic truncation, `digits` decimal digits. */
export function hotp(secret: Uint8Array, counter: number, digits = TOTP_DIGITS, algorithm: HotpAlgorithm = 'sha1'): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm, secret).update(msg).digest();
  const offset = mac[mac.length - 1]! & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** The RFC 6238 time step of an epoch-milliseconds instant. */
export function timeStep(nowMs: number, period = TOTP_PERIOD_SECONDS): number {
  return Math.floor(nowMs / 1000 / period);
}

/** The code of the time step holding `nowMs`. */
export function totp(secret: Uint8Array, nowMs: number, digits = TOTP_DIGITS, algorithm: HotpAlgorithm = 'sha1'): string {
  return hotp(secret, timeStep(nowMs), digits, algorithm);
}

/**
 * The time step whose code `code` is, within ±TOTP_WINDOW of now, or null. Every step of the
 * window is computed and compared in constant time, so timing says nothing about which matched.
 */
export function matchStep(secret: Uint8Array, code: string, nowMs: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const now = timeStep(nowMs);
  let found: number | null = null;
  for (let step = now - TOTP_WINDOW; step <= now + TOTP_WINDOW; step++) {
    if (timingSafeEqual(Buffer.from(hotp(secret, step)), Buffer.from(code)) && found === null) found = step;
  }
  return found;
}

export function newTotpSecret(): Buffer {
  return randomBytes(TOTP_SECRET_BYTES);
}

/** The Key Uri Format authenticator apps read (github.com/google/google-authenticator/wiki/Key-Uri-Format). */
export function otpauthUri(o: { issuer: string; account: string; secret: Uint8Array }): string {
  const label = `${encodeURIComponent(o.issuer)}:${encodeURIComponent(o.account)}`;
  const query = new URLSearchParams({
    secret: base32Encode(o.secret), issuer: o.issuer, algorithm: 'SHA1', digits: String(TOTP_DIGITS), period: String(TOTP_PERIOD_SECONDS),
  });
  return `otpauth://totp/${label}?${query.toString().replace(/\+/g, '%20')}`;
}
