// Which key fits which algorithm (RFC 8725 §3.1): every key is bound to exactly one alg when it is
// loaded, and its type (secret / public / private) and curve or size are checked against that alg
// here, so the verifier never has to guess what a key is for.
import type { KeyObject } from 'node:crypto';
import { checkerFor, signerFor } from './primitives.js';
import { isHmac, type Algorithm } from './types.js';

/** RFC 7518 §3.2 wants at least the hash size; Warden's configuration asks for 32 bytes for every HS*. */
export const MIN_HMAC_SECRET_BYTES = 32;
export const MIN_RSA_MODULUS_BITS = 2048;

/** Each ES* alg's curve, as node:crypto and as JWK (RFC 7518 §6.2.1.1) name it. */
export const EC_CURVES: Readonly<Record<'ES256' | 'ES384' | 'ES512', { node: string; jwk: string }>> = {
  ES256: { node: 'prime256v1', jwk: 'P-256' },
  ES384: { node: 'secp384r1', jwk: 'P-384' },
  ES512: { node: 'secp521r1', jwk: 'P-521' },
};

/**
 * Throws unless `key` is exactly the kind of key `alg` needs for `use`: a secret of at least
 * MIN_HMAC_SECRET_BYTES for HS*; an RSA key of ≥ 2048 bits for RS and PS; a P-256/384/521 key for
 * ES256/384/512; an Ed25519 key for EdDSA. The verifier calls it again for every ring it is given.
 */
export function assertKeyFitsAlg(alg: Algorithm, key: KeyObject, use: 'verify' | 'sign'): void {
  if (isHmac(alg)) {
    if (key.type !== 'secret') throw new Error(`${alg} needs a secret key, not a ${key.type} key`);
    if ((key.symmetricKeySize ?? 0) < MIN_HMAC_SECRET_BYTES) {
      throw new Error(`${alg} secret must be at least ${MIN_HMAC_SECRET_BYTES} bytes (got ${key.symmetricKeySize ?? 0})`);
    }
    return;
  }
  const want = use === 'verify' ? 'public' : 'private';
  if (key.type !== want) throw new Error(`${alg} needs a ${want} key to ${use}, not a ${key.type} key`);
  const type = key.asymmetricKeyType;
  const details = key.asymmetricKeyDetails ?? {};
  switch (alg) {
    case 'RS256': case 'RS384': case 'RS512':
    case 'PS256': case 'PS384': case 'PS512':
      if (type !== 'rsa') throw new Error(`${alg} needs an RSA key, not ${type ?? 'an unknown key type'}`);
      if ((details.modulusLength ?? 0) < MIN_RSA_MODULUS_BITS) {
        throw new Error(`${alg} needs an RSA key of at least ${MIN_RSA_MODULUS_BITS} bits (got ${details.modulusLength ?? 0})`);
      }
      return;
    case 'ES256': case 'ES384': case 'ES512': {
      const curve = EC_CURVES[alg];
      if (type !== 'ec' || details.namedCurve !== curve.node) {
        throw new Error(`${alg} needs an EC ${curve.jwk} key, not ${type === 'ec' ? `curve ${details.namedCurve ?? '?'}` : (type ?? 'an unknown key type')}`);
      }
      return;
    }
    case 'EdDSA':
      if (type !== 'ed25519') throw new Error(`EdDSA needs an Ed25519 key, not ${type ?? 'an unknown key type'}`);
      return;
  }
}

/**
 * Pairwise consistency: the private key signs and the public key verifies. Comparing exported
 * public parts is not enough: a JWK (or a SEC1 PEM) may carry a "d" that does not match its x/y,
 * and node takes the public point as given.
 */
export function assertPairMatches(alg: Algorithm, privateKey: KeyObject, publicKey: KeyObject): void {
  const probe = 'warden key pair consistency check';
  let ok = false;
  try {
    ok = checkerFor(alg, publicKey)(probe, signerFor(alg, privateKey)(probe));
  } catch {
    ok = false;
  }
  if (!ok) throw new Error('the private key does not match the public key');
}
