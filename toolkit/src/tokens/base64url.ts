// Strict base64url (RFC 4648 §5, as RFC 7515 §2 uses it): one byte string, one encoding.

/**
 * Decodes strict base64url, or null. The test is a round trip: the canonical encoding of the
 * decoded bytes must be the input. That one comparison rejects what Buffer.from(s, 'base64url')
 * would let through — foreign characters (it skips them), '+' and '/', '=' padding, a length
 * ≡ 1 (mod 4), non-zero trailing bits — and costs less than a regex pass over the input.
 */
export function decodeBase64url(s: string): Buffer | null {
  const bytes = Buffer.from(s, 'base64url');
  return bytes.toString('base64url') === s ? bytes : null;
}

export function encodeBase64url(b: Buffer | string): string {
  return (typeof b === 'string' ? Buffer.from(b, 'utf8') : b).toString('base64url');
}
