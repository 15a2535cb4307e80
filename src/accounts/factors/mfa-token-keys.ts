// The keys MFA tokens are signed with: HMAC keys derived from the signing keys, never the signing
// keys themselves. A service that verifies Warden's tokens on its own (flask-jwt-extended or PyJWT
// with the shared SECRET_KEY, a verifier of /.well-known/jwks.json) refuses only `type: "refresh"`
// where an access token is due, so an MFA token signed with its key — earned by the password alone —
// would pass there as an access token, the second factor skipped (RFC 8725 §2.8, §3.12). No other
// verifier holds these keys; every instance derives the same ones from the same key material.
import { createHash, createHmac, hkdfSync, type KeyObject } from 'node:crypto';
import { keyRingFromJwks, type KeyEntry, type KeyRing } from '@warden/toolkit';

function derived(key: KeyObject): Buffer {
  const material = key.type === 'secret' ? key.export() : key.export({ format: 'der', type: 'pkcs8' });
  const salt = createHash('sha256').update('warden').digest();
  return Buffer.from(hkdfSync('sha256', material, salt, 'warden mfa token signing v1', 32));
}

function entryFor(e: KeyEntry): { kty: 'oct'; alg: 'HS256'; kid: string; k: string } {
  const secret = derived(e.privateKey!);
  const kid = 'mfa-' + createHmac('sha256', secret).update('warden key id v1').digest('base64url').slice(0, 22);
  return { kty: 'oct', alg: 'HS256', kid, k: secret.toString('base64url') };
}

/**
 * An HS256 ring holding a key derived from each of `ring`'s private keys (so an MFA token signed
 * before a rotation still verifies while its key is in the ring); the one derived from the ring's
 * signer signs.
 */
export function mfaTokenKeys(ring: KeyRing): KeyRing {
  if (ring.signer.privateKey === undefined) throw new Error('MFA tokens need a key ring that signs');
  const signer = entryFor(ring.signer);
  const keys = new Map([[signer.kid, signer]]);
  // The same private key under two kids derives one key: held once.
  for (const e of ring.keys) {
    if (e.privateKey === undefined) continue;
    const k = entryFor(e);
    if (!keys.has(k.kid)) keys.set(k.kid, k);
  }
  return keyRingFromJwks({ keys: [...keys.values()] }, { signingKid: signer.kid });
}
