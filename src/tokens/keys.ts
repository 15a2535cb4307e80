// Key rings. Every key is bound to exactly one algorithm when it is loaded (RFC 8725 §3.1) and held
// as a node:crypto KeyObject whose type (secret / public / private) and curve or size are checked
// against that algorithm here, once. The verifier then never has to guess what a key is for.
import {
  createHash, createHmac, createPrivateKey, createPublicKey, createSecretKey, generateKeyPairSync,
  randomBytes, type JsonWebKey, type KeyObject,
} from 'node:crypto';
import { decodeBase64url } from './base64url.js';
import { signBytes, verifyBytes } from './primitives.js';
import { isAlgorithm, isHmac, type Algorithm, type AsymmetricAlgorithm, type HmacAlgorithm } from './types.js';

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

/** RFC 7518 §3.2 wants at least the hash size; Warden's configuration asks for 32 bytes for every HS*. */
export const MIN_HMAC_SECRET_BYTES = 32;
export const MIN_RSA_MODULUS_BITS = 2048;

const CURVE_OF: Record<'ES256' | 'ES384' | 'ES512', { node: string; jwk: string }> = {
  ES256: { node: 'prime256v1', jwk: 'P-256' },
  ES384: { node: 'secp384r1', jwk: 'P-384' },
  ES512: { node: 'secp521r1', jwk: 'P-521' },
};
const ALG_OF_JWK_CURVE: Record<string, AsymmetricAlgorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

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
      const curve = CURVE_OF[alg];
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

/** Length in bytes of a valid signature for this entry (a JWS signature is fixed-size for every Warden alg). */
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

/**
 * Pairwise consistency: the private key signs and the public key verifies. Comparing exported
 * public parts is not enough: a JWK (or a SEC1 PEM) may carry a "d" that does not match its x/y,
 * and node takes the public point as given.
 */
function assertPairMatches(alg: Algorithm, privateKey: KeyObject, publicKey: KeyObject): void {
  const probe = Buffer.from('warden key pair consistency check');
  let ok = false;
  try {
    ok = verifyBytes(alg, publicKey, probe, signBytes(alg, privateKey, probe));
  } catch {
    ok = false;
  }
  if (!ok) throw new Error('the private key does not match the public key');
}

// ---------------------------------------------------------------------------------------------
// RFC 7638 thumbprints (synchronous; the same value as jose's calculateJwkThumbprint)

function requiredMembers(jwk: JsonWebKey): Record<string, unknown> {
  switch (jwk.kty) {
    case 'RSA': return { e: jwk.e, kty: 'RSA', n: jwk.n };
    case 'EC': return { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y };
    case 'OKP': return { crv: jwk.crv, kty: 'OKP', x: jwk.x };
    default: throw new Error(`No thumbprint for kty ${String(jwk.kty)}`);
  }
}

/** RFC 7638 SHA-256 thumbprint of a public key. */
export function jwkThumbprint(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  return createHash('sha256').update(JSON.stringify(requiredMembers(jwk))).digest('base64url');
}

/**
 * A stable kid for a secret that reveals nothing a token's own MAC does not: a keyed hash under a
 * fixed label (a bare thumbprint would be an unkeyed hash of the secret).
 */
function secretKid(secret: KeyObject): string {
  return 'hs-' + createHmac('sha256', secret).update('warden key id v1').digest('base64url').slice(0, 22);
}

// ---------------------------------------------------------------------------------------------
// Rings

function makeRing(entries: KeyEntry[], signingKid: string | undefined): KeyRing {
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

function hmacEntry(secret: Buffer, alg: HmacAlgorithm, kid: string | undefined): KeyEntry {
  if (!isHmac(alg)) throw new Error(`Not an HMAC algorithm: ${String(alg)}`);
  const key = createSecretKey(secret);
  assertKeyFitsAlg(alg, key, 'verify');
  return { kid: kid ?? secretKid(key), alg, key, privateKey: key };
}

/** A ring holding one HMAC secret (a string is taken as its UTF-8 bytes, as flask-jwt-extended does). */
export function keyRingFromSecret(secret: string | Buffer, alg: HmacAlgorithm, kid?: string): KeyRing {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  return makeRing([hmacEntry(bytes, alg, kid)], undefined);
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
  return makeRing([{ kid: o.kid ?? jwkThumbprint(publicKey), alg, key: publicKey, privateKey }], undefined);
}

function jwkAlg(jwk: Record<string, unknown>, where: string): Algorithm {
  const { kty, alg, crv } = jwk;
  if (alg !== undefined && !isAlgorithm(alg)) {
    throw new Error(`${where}: unsupported alg ${JSON.stringify(alg)} (Warden knows ${['HS256..512', 'RS256..512', 'PS256..512', 'ES256', 'ES384', 'ES512', 'EdDSA'].join(', ')})`);
  }
  switch (kty) {
    case 'oct':
      if (alg === undefined) throw new Error(`${where}: an oct key needs "alg" (HS256, HS384 or HS512)`);
      if (!isHmac(alg)) throw new Error(`${where}: an oct key can only be used with HS*, not ${alg}`);
      return alg;
    case 'RSA':
      if (alg === undefined) throw new Error(`${where}: an RSA key needs "alg" (RS* and PS* would both fit)`);
      if (!/^(RS|PS)/.test(alg)) throw new Error(`${where}: an RSA key can only be used with RS* or PS*, not ${alg}`);
      return alg;
    case 'EC': {
      const inferred = typeof crv === 'string' ? ALG_OF_JWK_CURVE[crv] : undefined;
      if (inferred === undefined) throw new Error(`${where}: unsupported EC curve ${JSON.stringify(crv)} (P-256, P-384, P-521)`);
      if (alg !== undefined && alg !== inferred) throw new Error(`${where}: curve ${String(crv)} goes with ${inferred}, not ${alg}`);
      return inferred;
    }
    case 'OKP':
      if (crv !== 'Ed25519') throw new Error(`${where}: unsupported OKP curve ${JSON.stringify(crv)} (Ed25519)`);
      if (alg !== undefined && alg !== 'EdDSA') throw new Error(`${where}: an Ed25519 key goes with EdDSA, not ${alg}`);
      return 'EdDSA';
    default:
      throw new Error(`${where}: unsupported kty ${JSON.stringify(kty)}`);
  }
}

function publicMembers(jwk: Record<string, unknown>): JsonWebKey {
  switch (jwk.kty) {
    case 'RSA': return { kty: 'RSA', n: jwk.n as string, e: jwk.e as string };
    case 'EC': return { kty: 'EC', crv: jwk.crv as string, x: jwk.x as string, y: jwk.y as string };
    default: return { kty: 'OKP', crv: jwk.crv as string, x: jwk.x as string };
  }
}

function jwkEntry(raw: unknown, i: number): KeyEntry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`JWKS key #${i} is not an object`);
  const jwk = raw as Record<string, unknown>;
  const where = `JWKS key #${i}${typeof jwk.kid === 'string' ? ` (kid "${jwk.kid}")` : ''}`;
  if (jwk.kid !== undefined && (typeof jwk.kid !== 'string' || jwk.kid.length === 0)) throw new Error(`${where}: kid must be a non-empty string`);
  // RFC 7517 §4.2/§4.3: a key marked for encryption, or whose key_ops exclude "verify", is not ours to verify with.
  if (jwk.use !== undefined && jwk.use !== 'sig') throw new Error(`${where}: "use" is ${JSON.stringify(jwk.use)}, not "sig"`);
  let canSign = true;
  if (jwk.key_ops !== undefined) {
    const ops = jwk.key_ops;
    if (!Array.isArray(ops) || !ops.every((x) => typeof x === 'string')) throw new Error(`${where}: key_ops must be an array of strings`);
    if (!ops.includes('verify')) throw new Error(`${where}: key_ops ${JSON.stringify(ops)} do not include "verify"`);
    canSign = ops.includes('sign');
  }
  const alg = jwkAlg(jwk, where);
  try {
    if (jwk.kty === 'oct') {
      const bytes = typeof jwk.k === 'string' ? decodeBase64url(jwk.k) : null;
      if (bytes === null) throw new Error('"k" must be base64url');
      const e = hmacEntry(bytes, alg as HmacAlgorithm, jwk.kid as string | undefined);
      return canSign ? e : { kid: e.kid, alg: e.alg, key: e.key };
    }
    const hasPrivate = jwk.d !== undefined;
    const key = createPublicKey({ key: publicMembers(jwk), format: 'jwk' });
    assertKeyFitsAlg(alg, key, 'verify');
    const kid = (jwk.kid as string | undefined) ?? jwkThumbprint(key);
    if (!hasPrivate || !canSign) return { kid, alg, key };
    const privateKey = createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' });
    assertKeyFitsAlg(alg, privateKey, 'sign');
    assertPairMatches(alg, privateKey, key);
    return { kid, alg, key, privateKey };
  } catch (e) {
    const msg = (e as Error).message;
    throw new Error(msg.startsWith(where) ? msg : `${where}: ${msg}`);
  }
}

/**
 * A ring from a (private) JWKS holding several keys, for rotation. Each key is bound to its `alg`
 * (required for RSA and oct; inferred from `crv` for EC and Ed25519); `kid` defaults to the RFC 7638
 * thumbprint. The signer is `signingKid`, else the first key with private material; public-only
 * keys verify but never sign. A JWKS with no private key at all makes a verify-only ring.
 */
export function keyRingFromJwks(jwks: { keys: readonly object[] }, o: { signingKid?: string | undefined } = {}): KeyRing {
  if (jwks === null || typeof jwks !== 'object' || !Array.isArray(jwks.keys)) throw new Error('A JWKS must be an object with a "keys" array');
  return makeRing(jwks.keys.map((k, i) => jwkEntry(k, i)), o.signingKid);
}

/** The ring's public keys as a JWKS (RFC 7517): never an HMAC secret, never a private member. */
export function publicJwks(ring: KeyRing): { keys: JsonWebKey[] } {
  const keys: JsonWebKey[] = [];
  for (const e of ring.keys) {
    if (e.key.type !== 'public') continue;
    const pub = publicMembers(e.key.export({ format: 'jwk' }) as Record<string, unknown>);
    keys.push({ ...pub, kid: e.kid, alg: e.alg, use: 'sig' });
  }
  return { keys };
}

/** A fresh key pair for a development start (RSA 2048 for RS and PS). */
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
      k = generateKeyPairSync('ec', { namedCurve: CURVE_OF[alg].node, publicKeyEncoding, privateKeyEncoding });
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
