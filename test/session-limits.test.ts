// Sessions without bound, over HTTP on SQLite and PostgreSQL: MAX_SESSIONS_PER_USER ends the
// oldest session when one more opens (its tokens refused), GET /api/v1/auth/sessions pages (the
// default page keeps the old shape, `paging` sits beside it), and a global logout costs one
// statement ending the sessions and one revocation record, however many sessions there are.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';
import { countingStorage, storageFactories, type StorageFactory } from './helpers/storage.js';

const factories = await storageFactories();
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function withServer(f: StorageFactory, env: Record<string, string>, fn: (s: Running, counted: ReturnType<typeof countingStorage>) => Promise<void>) {
  const inner = await f.create();
  const counted = countingStorage(inner);
  const s = await startServer(env, { storage: counted.storage });
  try {
    await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'many', email: 'many@example.com', password: 'password-123' } });
    await fn(s, counted);
  } finally {
    await s.close();
    await inner.close();
  }
}

const login = async (s: Running) => {
  const r = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'many@example.com', password: 'password-123' } });
  assert.equal(r.status, 200);
  return r.json.data as { access_token: string; refresh_token: string };
};
const verify = (s: Running, t: string) => call(`${s.url}/api/v1/auth/verify`, { headers: bearer(t) });
const list = (s: Running, t: string, query = '') => call(`${s.url}/api/v1/auth/sessions${query}`, { headers: bearer(t) });

for (const f of factories.filter((x) => x.name !== 'memory')) {
  describe(`session limits on ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
    after(() => f.cleanup());

    it('MAX_SESSIONS_PER_USER: signing in once more ends the oldest session, whose tokens are refused', () =>
      withServer(f, { MAX_SESSIONS_PER_USER: '3' }, async (s) => {
        const pairs = [];
        for (let i = 0; i < 5; i++) pairs.push(await login(s));
        for (const old of pairs.slice(0, 2)) {
          assert.equal((await verify(s, old.access_token)).status, 401);
          assert.equal((await call(`${s.url}/api/v1/auth/refresh?refresh_token=${old.refresh_token}`, { method: 'POST' })).status, 401);
        }
        for (const live of pairs.slice(2)) assert.equal((await verify(s, live.access_token)).status, 200);
        const own = await list(s, pairs[4]!.access_token);
        assert.equal(own.json.data.length, 3);
        assert.equal(own.json.paging.total, 3);
      }));

    it('the session list pages, newest first; the default page is the list it always was, with paging beside it', () =>
      withServer(f, {}, async (s) => {
        const pairs = [];
        for (let i = 0; i < 5; i++) pairs.push(await login(s));
        const me = pairs[4]!.access_token;
        const whole = await list(s, me);
        assert.equal(whole.status, 200);
        assert.equal(whole.json.message, 'Sessions retrieved');
        assert.ok(Array.isArray(whole.json.data));
        assert.equal(whole.json.data.length, 5);
        assert.deepEqual(whole.json.paging, { limit: 100, offset: 0, total: 5 });
        assert.equal(whole.json.data[0].current, true, 'newest first: the one just opened');
        const pages = [await list(s, me, '?limit=2'), await list(s, me, '?limit=2&offset=2'), await list(s, me, '?limit=2&offset=4')];
        assert.deepEqual(pages.map((p) => p.json.data.length), [2, 2, 1]);
        assert.deepEqual(pages.flatMap((p) => p.json.data.map((x: { id: string }) => x.id)), whole.json.data.map((x: { id: string }) => x.id));
        assert.deepEqual(pages[1]!.json.paging, { limit: 2, offset: 2, total: 5 });
        for (const bad of ['?limit=0', '?limit=101', '?limit=x', '?offset=-1', '?limit=0x10', '?limit=1e1', '?offset=5.0', '?limit= 5']) {
          const r = await list(s, me, bad);
          assert.equal(r.status, 422, bad);
          assert.equal(r.json.code, 'ERR_VALIDATION');
        }
      }));

    it('a global logout of 30 sessions: one transaction ends them and adds the one revocation record refusing them all (with a read of the user, for its legacy_id)', () =>
      // The counts are the logout's alone: the revocation poller (every 500 ms by default) must not
      // read inside the counted window, so this server polls once a minute.
      withServer(f, { REVOCATION_POLL_MS: '60000' }, async (s, counted) => {
        const pairs = [];
        for (let i = 0; i < 30; i++) pairs.push(await login(s));
        const records = async () => (await s.warden.storage.revocations.listLive(Date.now())).length;
        const before = await records();
        counted.calls.clear();
        const out = await call(`${s.url}/api/v1/auth/logout?scope=global`, { method: 'POST', headers: bearer(pairs[7]!.access_token) });
        assert.equal(out.status, 200);
        assert.equal(out.json.data.sessions_ended, 30);
        assert.deepEqual(Object.fromEntries(counted.calls), { 'sessions.endAllForUser': 1 });
        assert.equal((await records()) - before, 1);
        for (const p of pairs) {
          assert.equal((await verify(s, p.access_token)).status, 401);
          assert.equal((await call(`${s.url}/api/v1/auth/refresh?refresh_token=${p.refresh_token}`, { method: 'POST' })).status, 401);
        }
        // And a sign-in right after works.
        assert.equal((await verify(s, (await login(s)).access_token)).status, 200);
      }));
  });
}
