// The signature primitives of each JOSE alg over node:crypto (RFC 7518 §3): HMAC, RSASSA-PKCS1-v1_5,
// RSASSA-PSS with a salt the size of the hash, ECDSA as raw r||s (IEEE P1363), Ed25519.
// The only module of the token core that signs or verifies: the JWS verifier, the signer behind
// issuing and signCompact, the key-pair check and the secret key id all go through here.
import { constants, createHmac, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject, type SigningOptions } from 'node:crypto';
import { isHmac, type Algorithm } from './types.js';

/** Bytes to sign or check; a string is a JWS signing input (base64url and '.', so latin1 is exact). */
export type SigningInput = string | Buffer;
/** Signs with one key, bound to one alg. */
export type SignFn = (input: SigningInput) => Buffer;
/** Checks a signature with one key, bound to one alg; false (never a throw) for any bad signature. */
export type CheckFn = (input: SigningInput, signature: Buffer) => boolean;

const HASH: Readonly<Record<Algorithm, string | null>> = {
  HS256: 'sha256', HS384: 'sha384', HS512: 'sha512',
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
  EdDSA: null,
};

type AsymmetricOptions = KeyObject | (SigningOptions & { key: KeyObject });

/** The node:crypto key options for an asymmetric alg (padding, PSS salt, P1363 encoding). */
function asymmetricOptions(alg: Algorithm, key: KeyObject): AsymmetricOptions {
  if (alg.startsWith('RS')) return { key, padding: constants.RSA_PKCS1_PADDING };
  if (alg.startsWith('PS')) return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  if (alg.startsWith('ES')) return { key, dsaEncoding: 'ieee-p1363' };
  return key;
}

const bytes = (input: SigningInput): Buffer => (typeof input === 'string' ? Buffer.from(input, 'latin1') : input);

/** Length in bytes of every valid signature of this alg and key (each JWS signature is fixed-size). */
export function signatureLength(alg: Algorithm, key: KeyObject): number {
  switch (alg) {
    case 'HS256': return 32;
    case 'HS384': return 48;
    case 'HS512': return 64;
    case 'ES256': return 64;
    case 'ES384': return 96;
    case 'ES512': return 132;
    case 'EdDSA': return 64;
    default: return Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  }
}

/** A signer for `key` (the secret for HS*, the private key otherwise). The key's fit is key-policy's check. */
export function signerFor(alg: Algorithm, key: KeyObject): SignFn {
  const hash = HASH[alg];
  if (isHmac(alg)) {
    return (input) => (typeof input === 'string' ? createHmac(hash!, key).update(input, 'latin1') : createHmac(hash!, key).update(input)).digest();
  }
  const options = asymmetricOptions(alg, key);
  return (input) => cryptoSign(hash, bytes(input), options);
}

/**
 * A checker for `key` (the secret for HS*, the public key otherwise). A signature of the wrong
 * length is refused before any crypto runs; HMACs are compared in constant time.
 */
export function checkerFor(alg: Algorithm, key: KeyObject): CheckFn {
  const length = signatureLength(alg, key);
  if (isHmac(alg)) {
    const sign = signerFor(alg, key);
    return (input, signature) => signature.length === length && timingSafeEqual(sign(input), signature);
  }
  const hash = HASH[alg];
  const options = asymmetricOptions(alg, key);
  return (input, signature) => {
    if (signature.length !== length) return false;
    try {
      return cryptoVerify(hash, bytes(input), options, signature);
    } catch {
      return false;
    }
  };
}
