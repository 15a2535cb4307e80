// A user deleting their own account (ACCOUNT_SELF_DELETE): off by default; on, it takes a fresh
// token and the current password, refuses every token of the account at once, clears the cookies,
// frees the address and records user.deleted with the user as its actor. Over HTTP, SQLite; the
// race with a sign-in on PostgreSQL.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { AnyEvent } from '../src/events/records.js';
import { createPostgresStorage } from '../src/storage/index.js';
import { call, cookiesFrom, startServer, type Running } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'delete-me-password-1';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function signUpAndIn(s: Running, name: string) {
  assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: PASSWORD } })).status, 201);
  const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: name, password: PASSWORD } });
  assert.equal(login.status, 200, login.text);
  return { access: login.json.data.access_token as string, refresh: login.json.data.refresh_token as string, cookies: cookiesFrom(login.headers) };
}

describe('deleting your own account', () => {
  it('is off unless ACCOUNT_SELF_DELETE: the route is not there, the account stays', async () => {
    const s = await startServer({});
    try {
      const { access } = await signUpAndIn(s, 'kept');
      const r = await call(`${s.url}/api/v1/auth/me`, { method: 'DELETE', json: { current_password: PASSWORD }, headers: bearer(access) });
      assert.equal(r.status, 405, r.text);
      assert.ok(await s.warden.storage.users.findByLogin('kept'));
    } finally {
      await s.close();
    }
  });

  describe('with ACCOUNT_SELF_DELETE=true', () => {
    let s: Running;
    let smtp: TestSmtp;
    before(async () => {
      smtp = await startSmtp();
      s = await startServer({
        ACCOUNT_SELF_DELETE: 'true', SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile,
        MAIL_FROM: 'Warden <no-reply@warden.test>', APP_URL: 'https://auth.example.test', MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
      }, { email: { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } } });
    });
    after(async () => {
      await s.close();
      await smtp.close();
    });
    const remove = (headers: Record<string, string>, body: unknown) => call(`${s.url}/api/v1/auth/me`, { method: 'DELETE', json: body, headers });
    const eventsOf = async (userId: string) => (await s.warden.storage.events.list({ limit: 1000, userId })) as AnyEvent[];

    it('a wrong or missing password, a stale token, a cookie without its CSRF value: refused, nothing deleted', async () => {
      const t = await signUpAndIn(s, 'careful');
      const wrong = await remove(bearer(t.access), { current_password: 'not-my-password' });
      assert.deepEqual([wrong.status, wrong.json.code], [401, 'ERR_BAD_CREDENTIALS']);
      assert.deepEqual([(await remove(bearer(t.access), {})).status, (await remove(bearer(t.access), {})).json.code], [422, 'ERR_VALIDATION']);
      const refreshed = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${t.refresh}`, { method: 'POST' });
      const stale = await remove(bearer(refreshed.json.data.access_token), { current_password: PASSWORD });
      assert.deepEqual([stale.status, stale.json.code], [403, 'ERR_FRESH_REQUIRED']);
      const cookie = Object.entries(t.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
      assert.equal((await remove({ cookie }, { current_password: PASSWORD })).status, 401, 'no X-CSRF-TOKEN');
      const user = (await s.warden.storage.users.findByLogin('careful'))!;
      assert.ok(user, 'still there');
      assert.deepEqual((await eventsOf(user.id)).filter((e) => e.type === 'user.delete_failed').length, 1);
    });

    it('the password and a fresh token: deleted, every token refused, the cookies cleared, the address free again', async () => {
      const t = await signUpAndIn(s, 'leaving');
      const other = await signUpAndIn(s, 'leaving2').then(() => call(`${s.url}/api/v1/auth/login`, { form: { username: 'leaving', password: PASSWORD } }));
      const id = (await s.warden.storage.users.findByLogin('leaving'))!.id;
      const r = await remove(bearer(t.access), { current_password: PASSWORD });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { message: 'Account deleted', data: null });
      const cleared = r.headers.getSetCookie();
      assert.ok(cleared.some((c) => /^access_token_cookie=;/.test(c) && /Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(c)), cleared.join('\n'));
      for (const token of [t.access, other.json.data.access_token as string]) {
        assert.equal((await call(`${s.url}/api/v1/auth/verify`, { headers: bearer(token) })).status, 401, 'every session of the account');
      }
      assert.equal((await call(`${s.url}/api/v1/auth/refresh?refresh_token=${t.refresh}`, { method: 'POST' })).status, 401);
      assert.equal((await call(`${s.url}/api/v1/auth/login`, { form: { username: 'leaving', password: PASSWORD } })).status, 401);
      assert.equal(await s.warden.storage.users.findById(id), null);
      const deleted = (await eventsOf(id)).find((e) => e.type === 'user.deleted');
      assert.deepEqual([deleted?.actorId, deleted?.details], [id, { via: 'self' }]);
      assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'leaving', email: 'leaving@example.com', password: PASSWORD } })).status, 201, 'name and address free again');
      assert.ok(await s.warden.storage.users.findByLogin('leaving2'), 'nobody else touched');
      // The address the account had is told, in case whoever deleted it was not its owner.
      const notice = await smtp.waitFor((m) => m.to === 'leaving@example.com' && m.subject === 'Your account was deleted');
      assert.match(notice.text, /Your account leaving was deleted on .*, with its password/);
      assert.match(notice.text, /contact the administrators of https:\/\/auth\.example\.test/);
    });
  });
});

// A sign-in whose session is opened after the deletion's refusal and before the row is deleted:
// held there by a PostgreSQL row lock that stops the DELETE but not the session's foreign key.
describe('a sign-in landing between the refusal and the delete', async () => {
  const deletions: { name: string; env: Record<string, string>; db: Awaited<ReturnType<typeof scratchSchema>> }[] = [
    { name: 'their own', env: { ACCOUNT_SELF_DELETE: 'true' }, db: await scratchSchema('warden_delete_race') },
    { name: 'an administrator\'s', env: {}, db: await scratchSchema('warden_delete_race') },
  ];
  for (const d of deletions) {
    const { url, skip, schema } = d.db;
    it(`gets no token that outlives the account (${d.name} deletion)`, skip !== undefined ? { skip } : {}, async () => {
      // The DELETE waits for the sign-in: a statement timeout well above what that takes.
      const storage = createPostgresStorage(url!, { schema, queryTimeoutMs: 60_000 });
      await storage.migrate();
      const s = await startServer(d.env, { storage });
      const lock = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await lock.connect();
      try {
        await signUpAndIn(s, 'boss');
        await s.warden.storage.users.update((await s.warden.storage.users.findByLogin('boss'))!.id, { roles: ['admin'] });
        const boss = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'boss', password: PASSWORD } });
        const name = d.env.ACCOUNT_SELF_DELETE ? 'selfrace' : 'adminrace';
        const t = await signUpAndIn(s, name);
        const id = (await s.warden.storage.users.findByLogin(name))!.id;
        await lock.query('BEGIN');
        await lock.query('SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE', [id]);
        const deleting = d.env.ACCOUNT_SELF_DELETE
          ? call(`${s.url}/api/v1/auth/me`, { method: 'DELETE', json: { current_password: PASSWORD }, headers: bearer(t.access) })
          : call(`${s.url}/api/v1/users/${id}`, { method: 'DELETE', headers: bearer(boss.json.data.access_token) });
        // The refusal is written; the DELETE waits for the lock (the only statement of either request
        // that takes a conflicting one). A request answered instead fails here.
        let answered: Awaited<typeof deleting> | undefined;
        void deleting.then((r) => { answered = r; }, () => {});
        for (;;) {
          // (pg_stat_activity's query text may still name the statement before; the lock wait is sure.
          // Inside this transaction its rows are a snapshot of the first read: cleared each time.)
          await lock.query('SELECT pg_stat_clear_snapshot()');
          const waiting = await lock.query('SELECT 1 FROM pg_stat_activity WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))');
          if (waiting.rows.length > 0) break;
          assert.equal(answered, undefined, `the deletion was answered before its DELETE: ${answered?.status} ${answered?.text}`);
        }
        const late = await call(`${s.url}/api/v1/auth/login`, { form: { username: name, password: PASSWORD } });
        assert.equal(late.status, 200, late.text);
        await lock.query('COMMIT');
        assert.equal((await deleting).status, 200);
        assert.equal(await s.warden.storage.users.findById(id), null);
        const r = await call(`${s.url}/api/v1/auth/verify`, { headers: bearer(late.json.data.access_token) });
        assert.equal(r.status, 401, 'the token of a sign-in made during the deletion is refused with the account');
      } finally {
        await lock.end();
        await s.close();
        await storage.close();
      }
    });
  }
});
