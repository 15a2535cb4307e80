// The verified-token cache: a hit skips the signature, never the clock; only verified tokens enter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createTokenIssuer } from '../toolkit/src/tokens/issue.js';
import { keyRingFromSecret } from '../toolkit/src/tokens/index.js';
import { createTokenVerifier } from '../toolkit/src/tokens/verify.js';
import { testClock } from './helpers/clock.js';

const keys = keyRingFromSecret('cache-test-secret-at-least-32-bytes-long', 'HS256');
const clock = testClock(Date.UTC(2026, 5, 1));
const issuer = createTokenIssuer({ keys, accessExpiresIn: 60, refreshExpiresIn: 600, clock });

/**
 * `count` of the tokens that fall in different doorkeeper slots of a small cache (1,024 slots:
 * the key's low 10 bits, characters 2 and 3 from the end, 5 bits each; see keyOf in
 * verify-cache.ts). Two regulars sharing a slot and sent in strict alternation overwrite each
 * other's sighting, so neither is ever admitted: the one-way doorkeeper's known limit, which made
 * these tests fail about 1 run in 100 when their tokens happened to collide.
 */
function apart(tokens: readonly string[], count: number): string[] {
  const slot = (t: string) => (t.charCodeAt(t.length - 2) & 31) | ((t.charCodeAt(t.length - 3) & 31) << 5);
  const picked: string[] = [];
  for (const t of tokens) if (picked.length < count && !picked.some((p) => slot(p) === slot(t))) picked.push(t);
  assert.equal(picked.length, count, 'enough tokens in distinct slots');
  return picked;
}

describe('verify cache', () => {
  it('returns the same frozen result for a repeated token and still expires it', async () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 10 });
    const t = issuer.createAccessToken('u1', { additionalClaims: { roles: ['user'] } });
    const a = verify(t);
    const b = verify(t);
    assert.equal(a, b);
    assert.ok(Object.isFrozen(a.claims));
    assert.ok(Object.isFrozen(a.claims.roles));
    await clock.during(61_000, () => assert.throws(() => verify(t), { code: 'ERR_JWT_EXPIRED' }));
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

  it('is bounded: once full, a newcomer enters on its second sighting and the least recently used entry leaves', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 2 });
    const [t1, t2, t3] = ['a', 'b', 'c'].map((s) => issuer.createAccessToken(s));
    const first = verify(t1!);
    const second = verify(t2!);
    assert.equal(verify(t2!), second, 't2 is used, so it gets a second chance');
    const seen = verify(t3!);
    const admitted = verify(t3!);
    assert.notEqual(admitted, seen, 'the first sighting of a newcomer is not kept while the cache is full');
    assert.equal(verify(t3!), admitted, 'its second sighting was');
    assert.notEqual(verify(t1!), first, 't1 (never used again) was evicted and verified afresh');
    assert.equal(verify(t2!), second, 't2 stayed');
  });

  it('a full cache is not churned by tokens that never come back', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 4 });
    const regulars = ['a', 'b', 'c', 'd'].map((s) => issuer.createAccessToken(s));
    const cached = regulars.map((t) => verify(t));
    for (let i = 0; i < 200; i++) verify(issuer.createAccessToken(`once-${i}`));
    regulars.forEach((t, i) => assert.equal(verify(t), cached[i], `regular ${i} is still served from the cache`));
    const s = verify.cacheStats();
    assert.deepEqual({ size: s.size, admitted: s.admitted, hits: s.hits, misses: s.misses }, { size: 4, admitted: 4, hits: 4, misses: 204 });
  });

  it('admits less while admitted entries do not earn their keep, and recovers when they do', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 8 });
    // 200 tokens in rotation: each comes back, but an 8-entry cache cannot hold it until then.
    const rotation = Array.from({ length: 200 }, (_, i) => issuer.createAccessToken(`r${i}`));
    // Judged after every 4096 requests: after the first judgement, admissions are throttled and
    // the cache steps aside (later judgements of the thinned traffic may loosen either again).
    for (let i = 0; i < 4096; i++) verify(rotation[i % rotation.length]!);
    const cold = verify.cacheStats();
    assert.ok(cold.admitEvery > 1, `throttled (admitEvery ${cold.admitEvery})`);
    assert.equal(cold.lookEvery, 16, 'stepped aside');
    for (let i = 4096; i < 3 * 4096; i++) verify(rotation[i % rotation.length]!);
    // A small working set that the cache can hold: the throttle opens (a window without admissions
    // halves it) until the regulars get in, and then hits dwarf admissions.
    const regulars = apart(rotation, 4);
    for (let i = 0; i < 10 * 4096; i++) verify(regulars[i % regulars.length]!);
    const warm = verify.cacheStats();
    assert.equal(warm.admitEvery, 1);
    assert.equal(warm.lookEvery, 1);
    for (let i = 0; i < 4096; i++) verify(regulars[i % regulars.length]!);
    assert.equal(verify.cacheStats().hits - warm.hits, 4096, 'the working set is served from the cache');
  });

  it('steps aside while it does not pay (every token new), and comes back when tokens repeat', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 16 });
    // Every request a token never seen before: nothing to hit.
    for (let i = 0; i < 2 * 4096; i++) assert.equal(verify(issuer.createAccessToken(`new-${i}`)).claims.sub, `new-${i}`);
    const cold = verify.cacheStats();
    assert.equal(cold.lookEvery, 16, 'only 1 request in 16 consults the cache');
    assert.ok(cold.skipped > 3000, `most requests went straight to a full verify (${cold.skipped})`);
    assert.equal(cold.hits + cold.misses, 2 * 4096, 'skipped requests count as verified in full');
    // Stepping aside changes no answer: a forged token is still refused, a good one accepted.
    const good = issuer.createAccessToken('still-checked');
    assert.throws(() => verify(`${good.slice(0, -2)}AA`));
    assert.equal(verify(good).claims.sub, 'still-checked');
    // Now a few users send everything: the sampled lookups hit, the cache is consulted again.
    const regulars = apart(Array.from({ length: 30 }, (_, i) => issuer.createAccessToken(`r${i}`)), 3);
    for (let i = 0; i < 3 * 4096; i++) verify(regulars[i % regulars.length]!);
    const warm = verify.cacheStats();
    assert.equal(warm.lookEvery, 1);
    for (let i = 0; i < 300; i++) verify(regulars[i % regulars.length]!);
    const after = verify.cacheStats();
    assert.equal(after.hits - warm.hits, 300, 'every request is answered from the cache again');
    assert.equal(after.skipped, warm.skipped);
  });

  it('only the cached result is frozen', () => {
    const verify = createTokenVerifier({ keys, clock, cacheSize: 1 });
    verify(issuer.createAccessToken('a'));
    const once = verify(issuer.createAccessToken('b', { additionalClaims: { roles: ['user'] } }));
    assert.ok(!Object.isFrozen(once.claims), 'a token the full cache did not keep is the caller\'s own');
  });

  it('off by default', () => {
    const verify = createTokenVerifier({ keys, clock });
    const t = issuer.createAccessToken('u1');
    assert.notEqual(verify(t), verify(t));
    assert.deepEqual(verify.cacheStats(), { size: 0, capacity: 0, hits: 0, misses: 0, admitted: 0, admitEvery: 1, skipped: 0, lookEvery: 1 });
  });
});
