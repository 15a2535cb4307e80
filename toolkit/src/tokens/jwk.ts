// JWK in and out (RFC 7517): a (private) JWKS becomes a key ring, a ring's public keys a JWKS.
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { decodeBase64url } from './base64url.js';
import { assertKeyFitsAlg, assertPairMatches, EC_CURVES } from './key-policy.js';
import { hmacEntry, makeKeyRing, type KeyEntry, type KeyRing } from './key-ring.js';
import { jwkThumbprint } from './thumbprint.js';
import { isAlgorithm, isHmac, type Algorithm, type AsymmetricAlgorithm, type HmacAlgorithm } from './types.js';

/**
 * A JWK as JSON (RFC 7517, members of RFC 7518). Declared here rather than taken from node:crypto,
 * whose JsonWebKey @types/node 25 and later no longer export: publicJwks() puts it in the package's
 * declarations, which a service's type-check then reads with its own @types/node.
 */
export interface JsonWebKey {
  kty?: string;
  kid?: string;
  alg?: string;
  use?: string;
  crv?: string;
  x?: string;
  y?: string;
  d?: string;
  n?: string;
  e?: string;
  k?: string;
  [member: string]: unknown;
}

const ALG_OF_JWK_CURVE: Readonly<Record<string, AsymmetricAlgorithm>> = Object.fromEntries(
  Object.entries(EC_CURVES).map(([alg, curve]) => [curve.jwk, alg as AsymmetricAlgorithm]),
);

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
      const inferred = typeof crv === 'string' && Object.hasOwn(ALG_OF_JWK_CURVE, crv) ? ALG_OF_JWK_CURVE[crv] : undefined;
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

/** Only the public members of an asymmetric JWK, whatever else it carries. */
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
  return makeKeyRing(jwks.keys.map((k, i) => jwkEntry(k, i)), o.signingKid);
}

/**
 * A verify ring from a JWKS another server publishes. Keys this toolkit cannot use (another `use`,
 * a `kty` or curve it does not know, a member missing, a kid seen before) are left out, as RFC 7517
 * §5 asks: one key added for something else must not stop the others from verifying. Throws, with
 * each key's reason, when none is usable.
 */
export function usableKeyRingFromJwks(jwks: { keys: readonly unknown[] }): KeyRing {
  const entries: KeyEntry[] = [];
  const reasons: string[] = [];
  jwks.keys.forEach((k, i) => {
    try {
      const e = jwkEntry(k, i);
      if (entries.some((x) => x.kid === e.kid)) reasons.push(`JWKS key #${i}: kid "${e.kid}" is held by an earlier key`);
      else entries.push(e);
    } catch (err) {
      reasons.push((err as Error).message);
    }
  });
  if (entries.length === 0) throw new Error(reasons.join('; '));
  return makeKeyRing(entries, undefined);
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
