// Default key ids: RFC 7638 thumbprints for public keys, a keyed id for HMAC secrets.
import { createHash, type KeyObject } from 'node:crypto';
import { signerFor } from './primitives.js';

// RFC 7638 §3.2: only the required members, in lexicographic order, no whitespace.
function requiredMembers(jwk: { kty?: string; crv?: string; x?: string; y?: string; n?: string; e?: string }): Record<string, unknown> {
  switch (jwk.kty) {
    case 'RSA': return { e: jwk.e, kty: 'RSA', n: jwk.n };
    case 'EC': return { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y };
    case 'OKP': return { crv: jwk.crv, kty: 'OKP', x: jwk.x };
    default: throw new Error(`No thumbprint for kty ${String(jwk.kty)}`);
  }
}

/** RFC 7638 SHA-256 thumbprint of a public key (synchronous; the same value as jose's calculateJwkThumbprint). */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return createHash('sha256').update(JSON.stringify(requiredMembers(jwk))).digest('base64url');
}

/**
 * A stable kid for a secret that reveals nothing a token's own MAC does not: HMAC-SHA256 under a
 * fixed label (a bare thumbprint would be an unkeyed hash of the secret).
 */
export function secretKid(secret: KeyObject): string {
  return 'hs-' + signerFor('HS256', secret)('warden key id v1').slice(0, 22);
}
