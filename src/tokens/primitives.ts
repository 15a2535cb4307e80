// The signature primitives of each JOSE alg over node:crypto (RFC 7518 §3): HMAC, RSASSA-PKCS1-v1_5,
// RSASSA-PSS with a salt the size of the hash, ECDSA as raw r||s (IEEE P1363), Ed25519.
import { constants, createHmac, sign as cryptoSign, timingSafeEqual, verify as cryptoVerify, type KeyObject, type SigningOptions } from 'node:crypto';
import type { Algorithm } from './types.js';

export const HASH: Readonly<Record<Algorithm, string | null>> = {
  HS256: 'sha256', HS384: 'sha384', HS512: 'sha512',
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES384: 'sha384', ES512: 'sha512',
  EdDSA: null,
};

type AsymmetricOptions = KeyObject | (SigningOptions & { key: KeyObject });

/** The node:crypto key options for an asymmetric alg (padding, PSS salt, P1363 encoding). */
export function asymmetricOptions(alg: Algorithm, key: KeyObject): AsymmetricOptions {
  if (alg.startsWith('RS')) return { key, padding: constants.RSA_PKCS1_PADDING };
  if (alg.startsWith('PS')) return { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
  if (alg.startsWith('ES')) return { key, dsaEncoding: 'ieee-p1363' };
  return key;
}

export function signBytes(alg: Algorithm, key: KeyObject, data: Buffer): Buffer {
  if (alg.startsWith('HS')) return createHmac(HASH[alg]!, key).update(data).digest();
  return cryptoSign(HASH[alg], data, asymmetricOptions(alg, key));
}

export function verifyBytes(alg: Algorithm, key: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    if (alg.startsWith('HS')) {
      const mac = createHmac(HASH[alg]!, key).update(data).digest();
      return mac.length === signature.length && timingSafeEqual(mac, signature);
    }
    return cryptoVerify(HASH[alg], data, asymmetricOptions(alg, key), signature);
  } catch {
    return false;
  }
}
