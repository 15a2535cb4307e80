// The toolkit's side of MFA tokens: a token of type "mfa" is issued only with its own short life,
// is never fresh, and no verifier accepts it unless told to (nor an "mfa" verifier anything else),
// so a service trusting Warden's tokens never takes one for an access token.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError, createTokenIssuer, createTokenVerifier, keyRingFromSecret } from '@warden/toolkit';

const keys = keyRingFromSecret('mfa-type-test-secret-of-at-least-32-bytes', 'HS256');
const issuer = createTokenIssuer({ keys, accessExpiresIn: 900, refreshExpiresIn: 86400 });
const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (e) {
    return e instanceof WardenError ? e.code : String(e);
  }
};

describe('tokens of type mfa', () => {
  it('are issued with their own expiresIn and never fresh', () => {
    const t = issuer.issue('mfa', 'user-1', { expiresIn: 300, additionalClaims: { amr: ['pwd'] } });
    assert.deepEqual([t.claims.type, t.claims.exp - t.claims.iat, t.claims.fresh, t.claims.amr], ['mfa', 300, false, ['pwd']]);
    assert.throws(() => issuer.issue('mfa', 'user-1'), /own short expiresIn/);
    assert.throws(() => issuer.issue('mfa', 'user-1', { expiresIn: 300, fresh: true }), /never fresh/);
  });

  it('a default verifier refuses them; an mfa verifier accepts them and nothing else', () => {
    const mfa = issuer.issue('mfa', 'user-1', { expiresIn: 300 }).token;
    const access = issuer.createAccessToken('user-1');
    const refresh = issuer.createRefreshToken('user-1');
    const standard = createTokenVerifier({ keys });
    const mfaOnly = createTokenVerifier({ keys, types: ['mfa'] });
    assert.equal(codeOf(() => standard(mfa)), 'ERR_JWT_CLAIM_INVALID');
    assert.equal(codeOf(() => createTokenVerifier({ keys, cacheSize: 10 })(mfa)), 'ERR_JWT_CLAIM_INVALID');
    assert.equal(standard(access).claims.type, 'access');
    assert.equal(standard(refresh).claims.type, 'refresh');
    assert.equal(mfaOnly(mfa).claims.type, 'mfa');
    assert.equal(codeOf(() => mfaOnly(access)), 'ERR_JWT_CLAIM_INVALID');
    assert.equal(codeOf(() => mfaOnly(refresh)), 'ERR_JWT_CLAIM_INVALID');
  });
});
