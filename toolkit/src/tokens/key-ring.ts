// Key rings: the keys a service signs and verifies with, each bound to one alg and held as a
// node:crypto KeyObject; built from an HMAC secret or a PEM pair here, from a JWKS in jwk.ts.
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import { assertKeyFitsAlg, assertPairMatches } from './key-policy.js';
import { jwkThumbprint, secretKid } from './thumbprint.js';
import { isAlgorithm, isHmac, type Algorithm, type HmacAlgorithm } from './types.js';

export interface KeyEntry {
  readonly kid: string;
  readonly alg: Algorithm;
  /** The key that verifies: a secret KeyObject for HS*, a public KeyObject otherwise. */
  readonly key: KeyObject;
  /** The key that signs (the same secret for HS*); absent for verify-only keys. */
  readonly privateKey?: KeyObject;
}

export interface KeyRing {
  /** The key that signs new tokens. In a verify-only ring (no private key at all) it has no privateKey. */
  readonly signer: KeyEntry;
  readonly keys: readonly KeyEntry[];
  /** Exact lookup among the configured keys (a Map, so no prototype names ever match). */
  byKid(kid: string): KeyEntry | undefined;
  readonly algorithms: readonly Algorithm[];
}

/**
 * A frozen ring of `entries` (unique, non-empty kids). The signer is `signingKid`, which must have
 * private material, else the first entry that has some, else (a verify-only ring) the first entry.
 */
export function makeKeyRing(entries: readonly KeyEntry[], signingKid: string | undefined): KeyRing {
  if (entries.length === 0) throw new Error('A key ring needs at least one key');
  const map = new Map<string, KeyEntry>();
  for (const e of entries) {
    if (typeof e.kid !== 'string' || e.kid.length === 0) throw new Error('Every key needs a non-empty kid');
    if (map.has(e.kid)) throw new Error(`Duplicate kid "${e.kid}" in the key ring`);
    map.set(e.kid, Object.freeze(e));
  }
  let signer: KeyEntry | undefined;
  if (signingKid !== undefined) {
    signer = map.get(signingKid);
    if (signer === undefined) throw new Error(`signingKid "${signingKid}" is not in the key ring`);
    if (signer.privateKey === undefined) throw new Error(`signingKid "${signingKid}" has no private key material, so it cannot sign`);
  } else {
    signer = entries.find((e) => e.privateKey !== undefined) ?? entries[0]!;
  }
  const keys = Object.freeze([...map.values()]);
  const algorithms = Object.freeze([...new Set(keys.map((k) => k.alg))]);
  return Object.freeze({ signer, keys, algorithms, byKid: (kid: string) => map.get(kid) });
}

/** An entry for an HMAC secret (it both signs and verifies); kid defaults to a keyed id of the secret. */
export function hmacEntry(secret: Buffer, alg: HmacAlgorithm, kid: string | undefined): KeyEntry {
  if (!isHmac(alg)) throw new Error(`Not an HMAC algorithm: ${String(alg)}`);
  const key = createSecretKey(secret);
  assertKeyFitsAlg(alg, key, 'verify');
  return { kid: kid ?? secretKid(key), alg, key, privateKey: key };
}

/** A ring holding one HMAC secret (a string is taken as its UTF-8 bytes, as flask-jwt-extended does). */
export function keyRingFromSecret(secret: string | Buffer, alg: HmacAlgorithm, kid?: string): KeyRing {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  return makeKeyRing([hmacEntry(bytes, alg, kid)], undefined);
}

/** A ring holding one asymmetric key pair from PEM (PKCS#8, PKCS#1 or SEC1 private key; SPKI or PKCS#1 public key). */
export function keyRingFromPem(o: { privateKeyPem: string; publicKeyPem?: string | undefined; alg: Algorithm; kid?: string | undefined }): KeyRing {
  const { alg } = o;
  if (!isAlgorithm(alg)) throw new Error(`Unsupported algorithm: ${String(alg)}`);
  if (isHmac(alg)) throw new Error(`${alg} is an HMAC algorithm: use keyRingFromSecret, not a PEM key`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(o.privateKeyPem);
  } catch (e) {
    throw new Error(`The private key is not a readable unencrypted PEM private key (${(e as Error).message})`);
  }
  assertKeyFitsAlg(alg, privateKey, 'sign');
  const derived = createPublicKey(privateKey);
  let publicKey = derived;
  if (o.publicKeyPem !== undefined) {
    try {
      publicKey = createPublicKey(o.publicKeyPem);
    } catch (e) {
      throw new Error(`The public key is not a readable PEM public key (${(e as Error).message})`);
    }
    if (publicKey.type !== 'public') throw new Error('publicKeyPem must hold a public key');
    const a = publicKey.export({ type: 'spki', format: 'der' });
    const b = derived.export({ type: 'spki', format: 'der' });
    if (!a.equals(b)) throw new Error('The public key does not belong to the private key');
  }
  assertKeyFitsAlg(alg, publicKey, 'verify');
  assertPairMatches(alg, privateKey, publicKey);
  return makeKeyRing([{ kid: o.kid ?? jwkThumbprint(publicKey), alg, key: publicKey, privateKey }], undefined);
}
