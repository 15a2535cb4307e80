// The verified-token cache: a hit skips the signature, never the clock; only verified tokens enter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTokenIssuer } from '../src/tokens/issue.js';
import { keyRingFromSecret } from '../src/tokens/keys.js';
import { createTokenVerifier } from '../src/tokens/verify.js';

const keys = keyRingFromSecret('cache-test-secret-at-least-32-bytes-long', 'HS256');
let now = Date.UTC(2026, 5, 1);
const clock = () => now;
const issuer = createTokenIssuer({ keys, accessExpiresIn: 60, refreshExpiresIn: 600, clock });

describe('verify cache', () => {
  it('returns the same frozen result for a repeated token and still expires it', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 10 });
    const t = issuer.createAccessToken('u1', { additionalClaims: { roles: ['user'] } });
    const a = verify(t);
    const b = verify(t);
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a.claims));
    assert.ok(Object.isFrozen(a.claims.roles));
    now += 61_000;
    assert.throws(() => verify(t), { code: 'ERR_JWT_EXPIRED' });
    now -= 61_000;
  });

  it('a tampered token never matches a cached one', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 10 });
    const t = issuer.createAccessToken('u1');
    verify(t);
    const flipped = t.slice(0, -2) + (t.at(-2) === 'A' ? 'B' : 'A') + t.at(-1);
    assert.throws(() => verify(flipped), { code: 'ERR_JWT_SIGNATURE_INVALID' });
    assert.throws(() => verify(flipped), { code: 'ERR_JWT_SIGNATURE_INVALID' }, 'a failure is not cached as a success');
  });

  it('a token reusing a cached signature under another payload is verified afresh and refused', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 10 });
    const t = issuer.createAccessToken('victim', { additionalClaims: { roles: ['user'] } });
    verify(t);
    const [h, p, sig] = t.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.roles = ['admin'];
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    assert.throws(() => verify(forged), { code: 'ERR_JWT_SIGNATURE_INVALID' });
    assert.deepEqual(verify(t).claims.roles, ['user'], 'the genuine entry is still served');
  });

  it('is bounded: the oldest entry leaves first', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 2 });
    const [t1, t2, t3] = ['a', 'b', 'c'].map((s) => issuer.createAccessToken(s));
    const first = verify(t1!);
    verify(t2!);
    verify(t3!);
    assert.notEqual(verify(t1!), first, 't1 was evicted and verified afresh');
    assert.equal(verify(t3!), verify(t3!));
  });

  it('off by default', () => {
    const verify = createTokenVerifier({ keys, clock });
    const t = issuer.createAccessToken('u1');
    assert.notEqual(verify(t), verify(t));
  });
});
