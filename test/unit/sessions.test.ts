// The session rules, directly: refresh rotation with reuse detection and its grace, idle and
// absolute lifetimes, the per-user session limit, the session list's pages, sign-out scopes (a
// global one at a fixed cost), ending one's own sessions, RFC 7009 revocation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TokenPair } from '../../src/accounts/index.js';
import { ACCESS_TTL, GRACE_MS, IDLE_TTL, REFRESH_TTL, accountsFixture, codeOf, type Fixture } from '../helpers/accounts.js';
import { MAX_LEEWAY_SECONDS } from '../../src/accounts/retention.js';
import { countingStorage } from '../helpers/storage.js';

const DAY = 86_400_000;

describe('refresh rotation and reuse detection', () => {
  it('a refresh retires the presented token and issues a new pair in the same session', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const first = await f.signIn('carol');
    const second = await f.accounts.sessions.refresh(f.claimsOf(first.refresh.token));
    assert.equal(second.session.id, first.session.id);
    assert.notEqual(second.refresh.claims.jti, first.refresh.claims.jti);
    assert.equal(second.access.claims.fresh, false, 'a refreshed access token is never fresh');
    assert.equal(second.refresh.claims.exp, first.refresh.claims.exp, 'the session keeps its absolute deadline');
    assert.equal(f.guard(second.access.token), 'ok');
    assert.equal(f.guard(first.access.token), 'ok', 'rotation alone does not refuse the earlier access token');
  });

  it('a retired refresh token presented again after the grace ends the session: every token of it is refused', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const first = await f.signIn('carol');
    const other = await f.signIn('carol');
    const second = await f.accounts.sessions.refresh(f.claimsOf(first.refresh.token));

    f.clock.advance(GRACE_MS);
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(first.refresh.token))), 'ERR_REFRESH_REUSED');
    assert.equal((await f.storage.sessions.get(first.session.id))!.endReason, 'reuse');
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(second.refresh.token))), 'ERR_REFRESH_INVALID');
    assert.equal(f.guard(second.access.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(first.access.token), 'ERR_JWT_REVOKED');
    // The user's other session is untouched.
    assert.equal(f.guard(other.access.token), 'ok');
    assert.ok(await f.accounts.sessions.refresh(f.claimsOf(other.refresh.token)));
  });

  it('with a grace of 0, of concurrent refreshes of one token exactly one wins, and the session ends', async () => {
    const f = accountsFixture({ refreshGraceMs: 0 });
    await f.addUser('racer');
    const pair = await f.signIn('racer');
    const claims = f.claimsOf(pair.refresh.token);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => f.accounts.sessions.refresh(claims)));
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : []));
    // The first loser is reuse and ends the session; the rest find it ended.
    assert.equal(codes[0], 'ERR_REFRESH_REUSED');
    assert.ok(codes.every((c) => c === 'ERR_REFRESH_REUSED' || c === 'ERR_REFRESH_INVALID'), codes.join());
    assert.equal((await f.storage.sessions.get(pair.session.id))!.endReason, 'reuse');
    assert.equal(f.guard((won[0] as PromiseFulfilledResult<{ access: { token: string } }>).value.access.token), 'ERR_JWT_REVOKED');
  });

  it('with a grace of 0, the token just retired presented again at once ends the session', async () => {
    const f = accountsFixture({ refreshGraceMs: 0 });
    await f.addUser('carol');
    const first = await f.signIn('carol');
    await f.accounts.sessions.refresh(f.claimsOf(first.refresh.token));
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(first.refresh.token))), 'ERR_REFRESH_REUSED');
    assert.equal((await f.storage.sessions.get(first.session.id))!.endReason, 'reuse');
  });

  it('a refresh for a deactivated user ends the session with ERR_USER_INACTIVE', async () => {
    const f = accountsFixture();
    const u = await f.addUser('sleepy');
    const pair = await f.signIn('sleepy');
    await f.storage.users.update(u.id, { isActive: false }); // behind the services' back
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(pair.refresh.token))), 'ERR_USER_INACTIVE');
    assert.equal((await f.storage.sessions.get(pair.session.id))!.endReason, 'user');
    assert.equal(f.guard(pair.access.token), 'ERR_JWT_REVOKED');
  });

  it('a refresh token without a valid session id is refused and changes nothing', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const pair = await f.signIn('carol');
    const claims = f.claimsOf(pair.refresh.token);
    for (const sid of [undefined, 'not-a-uuid', '00000000-0000-4000-8000-00000000ffff']) {
      assert.equal(await codeOf(f.accounts.sessions.refresh({ ...claims, sid })), 'ERR_REFRESH_INVALID');
    }
    assert.equal((await f.storage.sessions.get(pair.session.id))!.endedAt, null);
  });
});

describe('the reuse grace: a lost answer or a second tab does not end the session', () => {
  /** Twenty concurrent refreshes of one freshly issued refresh token. */
  async function race(f: Fixture, pair: TokenPair) {
    const claims = f.claimsOf(pair.refresh.token);
    return Promise.all(Array.from({ length: 20 }, () => f.accounts.sessions.refresh(claims)));
  }

  it('every one of 20 concurrent refreshes succeeds, each holding the current refresh token', async () => {
    const f = accountsFixture();
    await f.addUser('racer');
    const pair = await f.signIn('racer');
    const results = await race(f, pair);
    const current = (await f.storage.sessions.get(pair.session.id))!;
    assert.equal(current.endedAt, null);
    assert.notEqual(current.refreshJti, pair.refresh.claims.jti);
    for (const r of results) {
      assert.equal(r.refresh.claims.jti, current.refreshJti, 'every racer holds the current jti');
      assert.equal(r.refresh.claims.exp, pair.refresh.claims.exp, 'and the session\'s deadline');
      assert.equal(r.refresh.claims.sid, pair.session.id);
      assert.equal(f.guard(r.access.token), 'ok');
    }
  });

  it('afterwards each racer\'s refresh token refreshes successfully, one after another', async () => {
    const f = accountsFixture();
    await f.addUser('racer');
    const pair = await f.signIn('racer');
    const results = await race(f, pair);
    f.clock.advance(1000);
    for (const r of results) {
      const next = await f.accounts.sessions.refresh(f.claimsOf(r.refresh.token));
      assert.equal(f.guard(next.access.token), 'ok');
    }
    // The last answer is the session's current token: it rotates once more, and the session is live.
    const last = (await f.storage.sessions.get(pair.session.id))!;
    assert.equal(last.endedAt, null);
  });

  it('a replay of the retired token after the grace ends the session', async () => {
    const f = accountsFixture();
    await f.addUser('racer');
    const pair = await f.signIn('racer');
    const [winner] = await race(f, pair);
    f.clock.advance(GRACE_MS - 1);
    assert.ok(await f.accounts.sessions.refresh(f.claimsOf(pair.refresh.token)), 'one ms before the grace ends: still answered');
    f.clock.advance(1);
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(pair.refresh.token))), 'ERR_REFRESH_REUSED');
    assert.equal((await f.storage.sessions.get(pair.session.id))!.endReason, 'reuse');
    assert.equal(f.guard(winner!.access.token), 'ERR_JWT_REVOKED');
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(winner!.refresh.token))), 'ERR_REFRESH_INVALID');
  });

  it('an older token (two rotations back) ends the session, even within the grace', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const first = await f.signIn('carol');
    const second = await f.accounts.sessions.refresh(f.claimsOf(first.refresh.token));
    const third = await f.accounts.sessions.refresh(f.claimsOf(second.refresh.token));
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(first.refresh.token))), 'ERR_REFRESH_REUSED');
    assert.equal(f.guard(third.access.token), 'ERR_JWT_REVOKED');
  });

  it('a grace answer changes nothing: the winner\'s token is still the current one', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const first = await f.signIn('carol');
    const winner = await f.accounts.sessions.refresh(f.claimsOf(first.refresh.token));
    const before = (await f.storage.sessions.get(first.session.id))!;
    const retried = await f.accounts.sessions.refresh(f.claimsOf(first.refresh.token));
    assert.deepEqual(await f.storage.sessions.get(first.session.id), before);
    assert.equal(retried.refresh.claims.jti, winner.refresh.claims.jti);
    assert.ok(await f.accounts.sessions.refresh(f.claimsOf(winner.refresh.token)));
  });
});

describe('session lifetimes, on a moved clock', () => {
  it('a session unused for longer than the idle lifetime ends', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const pair = await f.signIn('carol');
    const claims = f.claimsOf(pair.refresh.token);
    f.clock.advance(IDLE_TTL * 1000 + 1000);
    assert.equal(await codeOf(f.accounts.sessions.refresh(claims)), 'ERR_REFRESH_INVALID');
  });

  it('used within the idle lifetime it lives on, but never past its absolute lifetime', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    let claims = f.claimsOf((await f.signIn('carol')).refresh.token);
    for (let day = 6; day <= 24; day += 6) {
      f.clock.advance(6 * DAY);
      claims = f.claimsOf((await f.accounts.sessions.refresh(claims)).refresh.token);
    }
    f.clock.advance(REFRESH_TTL * 1000 - 24 * DAY + 1000); // 30 days and a second after sign-in
    assert.equal(await codeOf(f.accounts.sessions.refresh(claims)), 'ERR_REFRESH_INVALID');
  });

  it('the session list shows live sessions only, newest first', async () => {
    const f = accountsFixture();
    const u = await f.addUser('dave');
    const a = await f.signIn('dave', { userAgent: 'laptop', ip: '192.0.2.1' });
    f.clock.advance(1000);
    await f.signIn('dave', { userAgent: 'phone', ip: '192.0.2.2' });
    const page = { limit: 100, offset: 0 };
    assert.deepEqual((await f.accounts.sessions.list(u.id, page)).sessions.map((s) => s.userAgent), ['phone', 'laptop']);
    f.clock.advance(IDLE_TTL * 1000);
    assert.deepEqual(await f.accounts.sessions.list(u.id, page), { sessions: [], total: 0 });
    assert.equal(a.session.idleExpiresAt, a.session.createdAt + IDLE_TTL * 1000);
  });
});

describe('the per-user session limit', () => {
  it('3,000 sign-ins of one user keep at most MAX_SESSIONS_PER_USER live sessions, ending the oldest', async () => {
    const f = accountsFixture({ maxSessionsPerUser: 100 });
    const u = await f.addUser('busy');
    const pairs: TokenPair[] = [];
    for (let i = 0; i < 3000; i++) {
      pairs.push(await f.signIn('busy'));
      f.clock.advance(1);
    }
    const { sessions, total } = await f.accounts.sessions.list(u.id, { limit: 100, offset: 0 });
    assert.equal(total, 100);
    assert.deepEqual(sessions.map((x) => x.id), pairs.slice(-100).reverse().map((p) => p.session.id));
    // Ended through the normal path: their tokens are refused, their refresh tokens too.
    for (const old of [pairs[0]!, pairs[2899]!]) {
      assert.equal((await f.storage.sessions.get(old.session.id))!.endReason, 'limit');
      assert.equal(f.guard(old.access.token), 'ERR_JWT_REVOKED');
      assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(old.refresh.token))), 'ERR_REFRESH_INVALID');
    }
    assert.equal(f.guard(pairs[2900]!.access.token), 'ok');
  });

  it('the session a sign-in opens is never the one it ends, even opened in the same millisecond as the others', async () => {
    const f = accountsFixture({ maxSessionsPerUser: 3 });
    const u = await f.addUser('busy');
    for (let i = 0; i < 20; i++) {
      const p = await f.signIn('busy');
      assert.equal(f.guard(p.access.token), 'ok');
      assert.equal((await f.storage.sessions.get(p.session.id))!.endedAt, null);
    }
    assert.equal((await f.accounts.sessions.list(u.id, { limit: 100, offset: 0 })).total, 3);
  });

  it('other users\' sessions do not count, and 0 (no limit) keeps every session', async () => {
    const f = accountsFixture({ maxSessionsPerUser: 2 });
    const [a, b] = [await f.addUser('a'), await f.addUser('b')];
    for (const name of ['a', 'b', 'a', 'b']) await f.signIn(name);
    assert.equal((await f.accounts.sessions.list(a.id, { limit: 10, offset: 0 })).total, 2);
    assert.equal((await f.accounts.sessions.list(b.id, { limit: 10, offset: 0 })).total, 2);
    const unlimited = accountsFixture({ maxSessionsPerUser: Number.POSITIVE_INFINITY });
    const c = await unlimited.addUser('c');
    for (let i = 0; i < 150; i++) await unlimited.signIn('c');
    assert.equal((await unlimited.accounts.sessions.list(c.id, { limit: 1, offset: 0 })).total, 150);
  });
});

describe('the session list, in pages', () => {
  it('pages newest first; the total counts every live session', async () => {
    const f = accountsFixture();
    const u = await f.addUser('dave');
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.unshift((await f.signIn('dave')).session.id);
      f.clock.advance(1);
    }
    const pages = [];
    for (let offset = 0; offset < 9; offset += 3) pages.push(await f.accounts.sessions.list(u.id, { limit: 3, offset }));
    assert.deepEqual(pages.map((p) => p.total), [7, 7, 7]);
    assert.deepEqual(pages.flatMap((p) => p.sessions.map((x) => x.id)), ids);
    assert.deepEqual((await f.accounts.sessions.list(u.id, { limit: 3, offset: 50 })), { sessions: [], total: 7 });
  });
});

describe('sign-out scopes', () => {
  async function threeSessions() {
    const f = accountsFixture();
    const u = await f.addUser('dave');
    const [a, b, c] = [await f.signIn('dave'), await f.signIn('dave'), await f.signIn('dave')];
    return { f, u, a: a!, b: b!, c: c! };
  }

  it('local ends this session only', async () => {
    const { f, a, b, c } = await threeSessions();
    assert.deepEqual(await f.accounts.sessions.signOut(f.claimsOf(a.access.token), 'local'), [a.session.id]);
    assert.equal(f.guard(a.access.token), 'ERR_JWT_REVOKED');
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(a.refresh.token))), 'ERR_REFRESH_INVALID');
    assert.equal(f.guard(b.access.token), 'ok');
    assert.equal(f.guard(c.access.token), 'ok');
  });

  it('others ends every session but this one', async () => {
    const { f, a, b, c } = await threeSessions();
    const ended = await f.accounts.sessions.signOut(f.claimsOf(a.access.token), 'others');
    assert.deepEqual(new Set(ended), new Set([b.session.id, c.session.id]));
    assert.equal(f.guard(a.access.token), 'ok');
    assert.equal(f.guard(b.access.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(c.access.token), 'ERR_JWT_REVOKED');
  });

  it('global ends every session; signing in again right after works', async () => {
    const { f, a, b, c } = await threeSessions();
    assert.equal((await f.accounts.sessions.signOut(f.claimsOf(b.access.token), 'global')).length, 3);
    for (const t of [a, b, c]) assert.equal(f.guard(t.access.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard((await f.signIn('dave')).access.token), 'ok');
  });

  it('global costs one store write (one transaction: the statement ending the sessions, a read of the user for its legacy_id, one revocation record), however many sessions', async () => {
    let counted!: ReturnType<typeof countingStorage>;
    const f = accountsFixture({ wrapStorage: (s) => (counted = countingStorage(s)).storage });
    const u = await f.addUser('busy');
    await f.addUser('erin');
    const erin = await f.signIn('erin');
    const pairs: TokenPair[] = [];
    for (let i = 0; i < 100; i++) {
      pairs.push(await f.signIn('busy'));
      f.clock.advance(1);
    }
    const recordsBefore = (await f.storage.revocations.listLive(f.clock())).length;
    counted.calls.clear();
    const ended = await f.accounts.sessions.signOut(f.claimsOf(pairs[50]!.access.token), 'global');
    assert.equal(ended.length, 100);
    assert.deepEqual(Object.fromEntries(counted.calls), { 'sessions.endAllForUser': 1 });
    const added = (await f.storage.revocations.listLive(f.clock())).slice(recordsBefore);
    assert.deepEqual(added.map((r) => [r.kind, r.key]), [['user', u.id]]);
    for (const p of pairs) {
      assert.equal(f.guard(p.access.token), 'ERR_JWT_REVOKED');
      assert.equal(f.guard(p.refresh.token), 'ERR_JWT_REVOKED');
    }
    assert.equal(f.guard(erin.access.token), 'ok', 'another user is untouched');
  });

  it('global also refuses the user\'s sessionless tokens issued before it, and sessions opened before ids carried a time', async () => {
    const f = accountsFixture();
    const u = await f.addUser('carol');
    const { createTokenIssuer, keyRingFromSecret } = await import('@warden/toolkit');
    const mint = createTokenIssuer({
      keys: keyRingFromSecret('unit-tier-secret-that-is-at-least-32-bytes!', 'HS256'), accessExpiresIn: ACCESS_TTL, refreshExpiresIn: 3600, clock: f.clock,
    });
    const sessionless = mint.issue('access', u.id);
    // A session as older versions opened it: a random (v4) id, which carries no opening time.
    const legacy = await f.storage.sessions.create({
      id: '6f1c2b1e-8c1d-4a55-9d1a-2b3c4d5e6f70', userId: u.id, refreshJti: 'legacy-jti', createdAt: f.clock(),
      expiresAt: f.clock() + REFRESH_TTL * 1000, idleExpiresAt: f.clock() + IDLE_TTL * 1000, userAgent: null, ip: null,
    });
    const legacyToken = mint.issue('access', u.id, { additionalClaims: { sid: legacy.id } });
    const current = await f.signIn('carol');
    f.clock.advance(1000);
    await f.accounts.sessions.signOut(f.claimsOf(current.access.token), 'global');
    assert.equal(f.guard(sessionless.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(legacyToken.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(current.access.token), 'ERR_JWT_REVOKED');
    f.clock.advance(1000);
    assert.equal(f.guard(mint.issue('access', u.id).token), 'ok', 'a sessionless token issued later passes');
  });

  it('another user\'s sessions are never touched', async () => {
    const { f, a } = await threeSessions();
    await f.addUser('erin');
    const erin = await f.signIn('erin');
    await f.accounts.sessions.signOut(f.claimsOf(a.access.token), 'global');
    assert.equal(f.guard(erin.access.token), 'ok');
  });

  it('a sessionless token (minted by the toolkit) is revoked alone, until it could no longer pass', async () => {
    const f = accountsFixture();
    const u = await f.addUser('carol');
    const { createTokenIssuer, keyRingFromSecret } = await import('@warden/toolkit');
    const mint = createTokenIssuer({
      keys: keyRingFromSecret('unit-tier-secret-that-is-at-least-32-bytes!', 'HS256'), accessExpiresIn: ACCESS_TTL, refreshExpiresIn: 3600, clock: f.clock,
    });
    const [a, b] = [mint.issue('access', u.id), mint.issue('access', u.id)];
    assert.deepEqual(await f.accounts.sessions.signOut(a.claims, 'local'), []);
    assert.equal(f.guard(a.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(b.token), 'ok');
    const [record] = await f.storage.revocations.listLive(f.clock());
    assert.equal(record!.expiresAt, (a.claims.exp + 300) * 1000);
  });

  it('ending one\'s own session by id; another user\'s id answers like an unknown one', async () => {
    const { f, u, a, b } = await threeSessions();
    await f.addUser('erin');
    const erin = await f.signIn('erin');
    assert.equal(await codeOf(f.accounts.sessions.endOwn(erin.user.id, b.session.id)), 'ERR_SESSION_NOT_FOUND');
    assert.equal(await codeOf(f.accounts.sessions.endOwn(u.id, 'not-a-uuid')), 'ERR_SESSION_NOT_FOUND');
    assert.equal(f.guard(b.access.token), 'ok');
    await f.accounts.sessions.endOwn(u.id, b.session.id);
    assert.equal(f.guard(b.access.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(a.access.token), 'ok');
    assert.equal(await codeOf(f.accounts.sessions.endOwn(u.id, b.session.id)), 'ERR_SESSION_NOT_FOUND', 'already ended');
  });

  it('an ended session\'s record lives until its last access token could expire, then is swept', async () => {
    const { f, a } = await threeSessions();
    const at = f.clock();
    await f.accounts.sessions.signOut(f.claimsOf(a.access.token), 'local');
    const [record] = await f.storage.revocations.listLive(at);
    assert.deepEqual(record, { kind: 'sid', key: a.session.id, value: '', expiresAt: at + (ACCESS_TTL + 2 * MAX_LEEWAY_SECONDS) * 1000 });
    f.index.sweep(record!.expiresAt);
    assert.equal(f.index.size, 0);
  });
});

describe('RFC 7009 revocation', () => {
  it('a refresh token ends its whole session; an access token is refused alone', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const a = await f.signIn('carol');
    const b = await f.signIn('carol');
    await f.accounts.sessions.revokeToken(f.claimsOf(a.refresh.token));
    assert.equal((await f.storage.sessions.get(a.session.id))!.endReason, 'revoked');
    assert.equal(f.guard(a.access.token), 'ERR_JWT_REVOKED');
    await f.accounts.sessions.revokeToken(f.claimsOf(b.access.token));
    assert.equal(f.guard(b.access.token), 'ERR_JWT_REVOKED');
    assert.equal((await f.storage.sessions.get(b.session.id))!.endedAt, null, 'revoking an access token leaves its session');
  });
});

describe('revocations outlive the tokens they refuse, across clocks that disagree', () => {
  it('a session ended on an instance behind the one that issued its access token stays refused while a verifier with the largest leeway still passes the token', async () => {
    const f = accountsFixture();
    await f.addUser('skewed');
    // Signed in on an instance 10 s ahead, signed out on one on time: the session's record is
    // stamped by the later's clock, the access token's exp by the former's.
    const pair = await f.clock.during(10_000, () => f.signIn('skewed'));
    await f.accounts.sessions.signOut(pair.access.claims); // (the fixture verifies with no leeway)
    // A third instance, on time, with JWT_LEEWAY_SECONDS at its ceiling, a second before the
    // token stops passing there: its minute's sweep runs now.
    f.clock.advance((pair.access.claims.exp + MAX_LEEWAY_SECONDS - 1) * 1000 - f.clock());
    f.index.sweep(f.clock());
    assert.equal(f.index.check(pair.access.claims), 'sid', 'the signed-out token would pass again');
  });
});
