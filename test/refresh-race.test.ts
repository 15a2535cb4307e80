// Twenty concurrent refreshes of one refresh token over HTTP, on SQLite and PostgreSQL. Within
// REFRESH_REUSE_GRACE_SECONDS every racer gets a working session (two tabs, a retried request);
// a replay after the grace, or of an older token, ends the session; with a grace of 0 exactly one
// racer wins and the session ends. The server runs on a clock the test moves.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { testClock, type TestClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';

const factories = await storageFactories();
const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid;

async function withServer(f: StorageFactory, env: Record<string, string>, fn: (s: Running, clock: TestClock) => Promise<void>): Promise<void> {
  const storage = await f.create();
  const clock = testClock();
  const s = await startServer(env, { storage, clock });
  try {
    await fn(s, clock);
  } finally {
    await s.close();
    await storage.close();
  }
}

/** Signs a fresh user up and in; its first refresh token. */
async function signedIn(s: Running): Promise<string> {
  const signup = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'racer', email: 'racer@example.com', password: 'password-123' } });
  assert.equal(signup.status, 201);
  const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'racer@example.com', password: 'password-123' } });
  return login.json.data.refresh_token;
}

const refresh = (s: Running, token: string) => call(`${s.url}/api/v1/auth/refresh?refresh_token=${token}`, { method: 'POST' });
const verify = (s: Running, access: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${access}` } });
const race = (s: Running, token: string) => Promise.all(Array.from({ length: 20 }, () => refresh(s, token)));

for (const f of factories.filter((x) => x.name !== 'memory')) {
  describe(`refresh race on ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
    after(() => f.cleanup());

    it('20 concurrent refreshes of one token within the grace: every racer ends with a working session', () =>
      withServer(f, {}, async (s, clock) => {
        const r1 = await signedIn(s);
        const results = await race(s, r1);
        assert.deepEqual(results.map((r) => r.status), Array(20).fill(200));
        clock.advance(1000);
        // Afterwards, each racer's refresh token refreshes (one after another, as each tab would).
        for (const r of results) {
          const next = await refresh(s, r.json.data.refresh_token);
          assert.equal(next.status, 200, JSON.stringify(next.json));
          assert.equal((await verify(s, next.json.data.access_token)).status, 200);
        }
        assert.equal((await s.warden.storage.sessions.get(sidOf(r1)))!.endedAt, null);
      }));

    it('a replay of the raced token after the grace ends the session', () =>
      withServer(f, {}, async (s, clock) => {
        const r1 = await signedIn(s);
        const results = await race(s, r1);
        clock.advance(10_000); // REFRESH_REUSE_GRACE_SECONDS' default
        const replay = await refresh(s, r1);
        assert.equal(replay.status, 401);
        assert.equal(replay.json.code, 'ERR_REFRESH_REUSED');
        assert.equal((await s.warden.storage.sessions.get(sidOf(r1)))!.endReason, 'reuse');
        const winner = results[0]!.json.data;
        assert.equal((await refresh(s, winner.refresh_token)).status, 401);
        assert.equal((await verify(s, winner.access_token)).status, 401);
      }));

    it('an older token (two rotations back) ends the session, even within the grace', () =>
      withServer(f, {}, async (s) => {
        const r1 = await signedIn(s);
        const r2 = (await refresh(s, r1)).json.data.refresh_token;
        const r3 = (await refresh(s, r2)).json.data;
        const replay = await refresh(s, r1);
        assert.equal(replay.status, 401);
        assert.equal(replay.json.code, 'ERR_REFRESH_REUSED');
        assert.equal((await verify(s, r3.access_token)).status, 401);
      }));

    it('REFRESH_REUSE_GRACE_SECONDS=0: exactly one of 20 succeeds, and the session ends', () =>
      withServer(f, { REFRESH_REUSE_GRACE_SECONDS: '0' }, async (s) => {
        const r1 = await signedIn(s);
        const results = await race(s, r1);
        const winners = results.filter((r) => r.status === 200);
        assert.equal(winners.length, 1);
        assert.ok(results.every((r) => r.status === 200 || r.status === 401));
        assert.equal((await s.warden.storage.sessions.get(sidOf(r1)))!.endReason, 'reuse');
        const winner = winners[0]!.json.data;
        assert.equal((await refresh(s, winner.refresh_token)).status, 401);
        assert.equal((await verify(s, winner.access_token)).status, 401);
      }));
  });
}
