// Fresh keys for a development start and for `warden keygen`.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { EC_CURVES } from './key-policy.js';
import type { AsymmetricAlgorithm } from './types.js';

/** A fresh key pair for `alg` as PKCS#8 / SPKI PEM (RSA 2048 for RS and PS). */
export function generateKeyPem(alg: AsymmetricAlgorithm): { privateKeyPem: string; publicKeyPem: string } {
  const publicKeyEncoding = { type: 'spki', format: 'pem' } as const;
  const privateKeyEncoding = { type: 'pkcs8', format: 'pem' } as const;
  let k: { publicKey: string; privateKey: string };
  switch (alg) {
    case 'RS256': case 'RS384': case 'RS512':
    case 'PS256': case 'PS384': case 'PS512':
      k = generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 0x10001, publicKeyEncoding, privateKeyEncoding });
      break;
    case 'ES256': case 'ES384': case 'ES512':
      k = generateKeyPairSync('ec', { namedCurve: EC_CURVES[alg].node, publicKeyEncoding, privateKeyEncoding });
      break;
    case 'EdDSA':
      k = generateKeyPairSync('ed25519', { publicKeyEncoding, privateKeyEncoding });
      break;
    default:
      throw new Error(`No key pair for ${String(alg)}: HMAC algorithms take generateSecret()`);
  }
  return { privateKeyPem: k.privateKey, publicKeyPem: k.publicKey };
}

/** A random HMAC secret: 64 bytes, base64url (86 characters). */
export function generateSecret(): string {
  return randomBytes(64).toString('base64url');
}
