// The signature primitives of each JOSE alg over node:crypto (RFC 7518 §3): HMAC, RSASSA-PKCS1-v1_5,
// RSASSA-PSS with a salt the size of the hash, ECDSA as raw r||s (IEEE P1363), Ed25519.
// The only module of the token core that signs or verifies: the JWS verifier, the signer behind
// issuing and signCompact, the key-pair check and the secret key id all go through here.
// Both directions work on a JWS's own text: the signing input (base64url and '.', so latin1 is
// exact) and the signature segment (base64url), so a verify decodes no signature bytes and a sign
// encodes none.
import { constants, createHmac, hash, sign as cryptoSign, verify as cryptoVerify, type KeyObject, type SigningOptions } from 'node:crypto';
import { decodeBase64url } from './base64url.js';
import { isHmac, type Algorithm, type HmacAlgorithm } from './types.js';

/** Signs a JWS signing input with one key, bound to one alg: the signature segment (base64url). */
export type SignFn = (input: string) => string;
/**
 * Checks a signature segment against a signing input with one key, bound to one alg: true only
 * for this key's signature in its one canonical encoding; false (never a throw) for anything else.
 */
export type CheckFn = (input: string, signature: string) => boolean;

type HashName = 'sha256' | 'sha384' | 'sha512';

const HASH: Readonly<Record<Algorithm, HashName | null>> = {
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

// HMAC (RFC 2104) as two one-shot digests, H((K^opad) || H((K^ipad) || m)), rather than a
// createHmac per call: that builds a native Hmac object (a handle the GC must track), looks the
// digest up by name and initialises three digest contexts, and in a server it cost a cold verify
// about twice the hashing itself. crypto.hash answering with a string allocates no Buffer either.
// The secret's pads live in this closure, as createHmac with a Buffer key would keep them too.
const BLOCK: Readonly<Record<HashName, number>> = { sha256: 64, sha384: 128, sha512: 128 };
const DIGEST: Readonly<Record<HashName, number>> = { sha256: 32, sha384: 48, sha512: 64 };
/** Longest signing input the one-shot path takes (twice the verifier's default cap); longer ones use createHmac. */
const MAX_ONE_SHOT_INPUT = 16_384;
/** (K^ipad) || m is assembled here: one buffer for every key (signing and verifying are synchronous). */
const inner = Buffer.alloc(128 + MAX_ONE_SHOT_INPUT);

function hmacSigner(alg: HmacAlgorithm, key: KeyObject): SignFn {
  const h = HASH[alg]!;
  const block = BLOCK[h];
  const secret = key.export();
  const k = secret.length > block ? hash(h, secret, 'buffer') : secret;
  const ipad = Buffer.alloc(block, 0x36);
  const outer = Buffer.alloc(block + DIGEST[h], 0x5c); // (K^opad) || H(inner), the digest written per call
  for (let i = 0; i < k.length; i++) {
    ipad[i]! ^= k[i]!;
    outer[i]! ^= k[i]!;
  }
  secret.fill(0);
  k.fill(0);
  return (input) => {
    if (input.length > MAX_ONE_SHOT_INPUT) return createHmac(h, key).update(input, 'latin1').digest('base64url');
    ipad.copy(inner, 0);
    const n = inner.write(input, block, 'latin1');
    // 'binary' is latin1: the inner digest as a string of its bytes, written back as those bytes.
    outer.write(hash(h, inner.subarray(0, block + n), 'binary'), block, 'latin1');
    return hash(h, outer, 'base64url');
  };
}

/** A signer for `key` (the secret for HS*, the private key otherwise). The key's fit is key-policy's check. */
export function signerFor(alg: Algorithm, key: KeyObject): SignFn {
  if (isHmac(alg)) return hmacSigner(alg, key);
  const h = HASH[alg];
  const options = asymmetricOptions(alg, key);
  return (input) => cryptoSign(h, Buffer.from(input, 'latin1'), options).toString('base64url');
}

/**
 * A checker for `key` (the secret for HS*, the public key otherwise). A signature of the wrong
 * length is refused before any crypto runs. An HMAC is recomputed as its segment and compared
 * with the presented one in constant time, character by character (so a look-alike character
 * cannot pass for the canonical one); other algs decode the segment strictly and verify the bytes.
 */
export function checkerFor(alg: Algorithm, key: KeyObject): CheckFn {
  const length = signatureLength(alg, key);
  if (isHmac(alg)) {
    const sign = hmacSigner(alg, key);
    const chars = Math.ceil((length * 4) / 3); // unpadded base64url
    return (input, signature) => {
      if (signature.length !== chars) return false;
      const expected = sign(input);
      let diff = 0;
      for (let i = 0; i < chars; i++) diff |= expected.charCodeAt(i) ^ signature.charCodeAt(i);
      return diff === 0;
    };
  }
  const h = HASH[alg];
  const options = asymmetricOptions(alg, key);
  return (input, signature) => {
    const bytes = decodeBase64url(signature);
    if (bytes === null || bytes.length !== length) return false;
    try {
      return cryptoVerify(h, Buffer.from(input, 'latin1'), options, bytes);
    } catch {
      return false;
    }
  };
}
