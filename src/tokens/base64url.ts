// Strict base64url (RFC 4648 §5, as RFC 7515 §2 uses it): the 64-letter alphabet only, no '='
// padding, no whitespace, and canonical trailing bits, so one byte string has exactly one encoding.
// Buffer.from(s, 'base64url') alone would skip foreign characters and ignore the unused bits.

const VALUE = new Int8Array(128).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  .split('')
  .forEach((c, i) => (VALUE[c.charCodeAt(0)] = i));

/** True when every character of `s` is in the base64url alphabet (the empty string included). */
export function isBase64urlAlphabet(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || VALUE[c]! < 0) return false;
  }
  return true;
}

/**
 * Trailing-bit and length check for a string already known to hold only alphabet characters:
 * a length ≡ 1 (mod 4) is impossible, and the bits the last character carries past the final
 * byte must be zero.
 */
export function isCanonicalLength(s: string): boolean {
  const r = s.length & 3;
  if (r === 0) return true;
  if (r === 1) return false;
  const last = VALUE[s.charCodeAt(s.length - 1)]!;
  return r === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0;
}

/** Decodes strict base64url; null for anything else. */
export function decodeBase64url(s: string): Buffer | null {
  if (!isBase64urlAlphabet(s) || !isCanonicalLength(s)) return null;
  return Buffer.from(s, 'base64url');
}

/** Decodes a string whose alphabet was already checked (e.g. by a whole-token regex). */
export function decodeCheckedBase64url(s: string): Buffer | null {
  return isCanonicalLength(s) ? Buffer.from(s, 'base64url') : null;
}

export function encodeBase64url(b: Buffer | Uint8Array | string): string {
  return (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.buffer, b.byteOffset, b.byteLength)).toString('base64url');
}
