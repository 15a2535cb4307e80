// createTokenVerifier's numericLegacySubject (Warden turns it on with LEGACY_REFRESH_TOKENS): only a
// refresh token without sid may name its user by a whole number, read as its decimal string; every
// other token with a non-string sub is refused as before, and so is everything with it off.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signCompact } from '../toolkit/src/tokens/jws.js';
import { keyRingFromSecret } from '../toolkit/src/tokens/index.js';
import { createTokenVerifier } from '../toolkit/src/tokens/verify.js';

const keys = keyRingFromSecret('numeric-subject-secret-of-at-least-32-bytes', 'HS256');
const now = Math.floor(Date.now() / 1000);
const token = (claims: Record<string, unknown>) => signCompact({ alg: 'HS256', typ: 'JWT', kid: keys.signer.kid },
  JSON.stringify({ fresh: false, iat: now, jti: `j-${JSON.stringify(claims)}`, nbf: now, exp: now + 600, ...claims }), keys.signer);
const code = (f: () => unknown): string | undefined => {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
};

describe('numericLegacySubject', () => {
  const on = createTokenVerifier({ keys, numericLegacySubject: true });
  const off = createTokenVerifier({ keys });

  it('on: a refresh token without sid and sub 42 reads sub "42"', () => {
    assert.equal(on(token({ type: 'refresh', sub: 42 })).claims.sub, '42');
  });

  it('on: an access token, a refresh token with a sid, a fraction or a huge number as sub are still refused', () => {
    assert.equal(code(() => on(token({ type: 'access', sub: 42 }))), 'ERR_JWT_CLAIM_INVALID');
    assert.equal(code(() => on(token({ type: 'refresh', sub: 42, sid: '0190a4f0-0000-7000-8000-000000000000' }))), 'ERR_JWT_CLAIM_INVALID');
    assert.equal(code(() => on(token({ type: 'refresh', sub: 4.2 }))), 'ERR_JWT_CLAIM_INVALID');
    assert.equal(code(() => on(token({ type: 'refresh', sub: 2 ** 60 }))), 'ERR_JWT_CLAIM_INVALID');
  });

  it('off (the default): sub 42 is refused', () => {
    assert.equal(code(() => off(token({ type: 'refresh', sub: 42 }))), 'ERR_JWT_CLAIM_INVALID');
  });
});
