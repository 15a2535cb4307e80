// Refresh rotation with reuse detection, sessions, passwords and the admin users API of /api/v1.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('/api/v1 sessions', () => {
  let s: Running;
  let base: string;
  const clock = testClock();
  before(async () => {
    s = await startServer({}, { clock });
    base = `${s.url}/api/v1`;
    for (const [u, roles] of [['boss', ['admin']], ['carol', undefined], ['dave', undefined]] as const) {
      const r = await call(`${base}/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: 'password-123', roles } });
      assert.equal(r.status, 201, JSON.stringify(r.json));
    }
  });
  after(() => s.close());

  const login = async (email: string, ua = 'test-agent', password = 'password-123') => {
    const r = await call(`${base}/auth/login`, { form: { username: email, password }, headers: { 'user-agent': ua } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    return r.json.data as { access_token: string; refresh_token: string };
  };
  const refresh = (t: string) => call(`${base}/auth/refresh?refresh_token=${t}`, { method: 'POST' });
  const verify = (t: string) => call(`${base}/auth/verify`, { headers: bearer(t) });

  it('reuse: R1 → R2, R1 again is refused and ends the session: R2 and its access tokens are refused too', async () => {
    const first = await login('carol@example.com');
    const second = await refresh(first.refresh_token);
    assert.equal(second.status, 200);
    const r2 = second.json.data;
    assert.equal((await verify(r2.access_token)).status, 200);

    // past REFRESH_REUSE_GRACE_SECONDS (10): within it the retired token would get the current one
    const reuse = await clock.during(10_000, () => refresh(first.refresh_token));
    assert.equal(reuse.status, 401);
    assert.equal(reuse.json.code, 'ERR_REFRESH_REUSED');

    assert.equal((await refresh(r2.refresh_token)).status, 401);
    assert.equal((await verify(r2.access_token)).status, 401);
    assert.equal((await verify(first.access_token)).status, 401);
    // Other sessions of the same user are untouched.
    const other = await login('carol@example.com');
    assert.equal((await verify(other.access_token)).status, 200);
  });

  it('refresh tokens from the body, a cookie and a Bearer header work too', async () => {
    const t = await login('carol@example.com');
    const byBody = await call(`${base}/auth/refresh`, { json: { refresh_token: t.refresh_token } });
    assert.equal(byBody.status, 200);
    const byHeader = await call(`${base}/auth/refresh`, { method: 'POST', headers: bearer(byBody.json.data.refresh_token) });
    assert.equal(byHeader.status, 200);
  });

  it('sessions have an idle timeout and an absolute lifetime', async () => {
    const t = await login('carol@example.com');
    const idle = await clock.during(8 * 86400 * 1000, () => refresh(t.refresh_token)); // past SESSION_IDLE_DAYS (7)
    assert.equal(idle.status, 401);
    assert.equal(idle.json.code, 'ERR_REFRESH_INVALID');

    // Used every 6 days, the session still ends at 30 days.
    let r = (await login('carol@example.com')).refresh_token;
    // The clock moves inside `during` and is put back after it, even if an assertion fails.
    const late = await clock.during(0, async () => {
      for (let day = 6; day <= 24; day += 6) {
        clock.advance(6 * 86400 * 1000);
        const next = await refresh(r);
        assert.equal(next.status, 200, `day ${day}`);
        r = next.json.data.refresh_token;
      }
      clock.advance(6 * 86400 * 1000 + 1000); // 30 days and a second
      return refresh(r);
    });
    assert.equal(late.status, 401);
  });

  it('lists own sessions with user agent and ip, ends one by id, and not another user\'s', async () => {
    const a = await login('dave@example.com', 'laptop');
    const b = await login('dave@example.com', 'phone');
    const list = await call(`${base}/auth/sessions`, { headers: bearer(a.access_token) });
    assert.equal(list.status, 200);
    const sessions = list.json.data as { id: string; user_agent: string; ip: string; current: boolean; created_at: string; last_used_at: string }[];
    assert.equal(sessions.length, 2);
    assert.deepEqual(sessions.map((x) => x.user_agent).sort(), ['laptop', 'phone']);
    assert.ok(sessions.every((x) => x.ip === '127.0.0.1' && x.created_at && x.last_used_at));
    const phone = sessions.find((x) => x.user_agent === 'phone')!;
    assert.equal(phone.current, false);

    const carol = await login('carol@example.com');
    assert.equal((await call(`${base}/auth/sessions/${phone.id}`, { method: 'DELETE', headers: bearer(carol.access_token) })).status, 404);
    assert.equal((await verify(b.access_token)).status, 200);

    const del = await call(`${base}/auth/sessions/${phone.id}`, { method: 'DELETE', headers: bearer(a.access_token) });
    assert.equal(del.status, 200);
    assert.equal((await verify(b.access_token)).status, 401);
    assert.equal((await refresh(b.refresh_token)).status, 401);
    assert.equal((await verify(a.access_token)).status, 200);
  });

  it('logout scopes: local, others, global', async () => {
    const a = await login('dave@example.com');
    const b = await login('dave@example.com');
    const c = await login('dave@example.com');
    const others = await call(`${base}/auth/logout?scope=others`, { method: 'POST', headers: bearer(a.access_token) });
    assert.equal(others.status, 200);
    assert.ok(others.json.data.sessions_ended >= 2);
    assert.equal((await verify(a.access_token)).status, 200);
    assert.equal((await verify(b.access_token)).status, 401);
    assert.equal((await verify(c.access_token)).status, 401);

    const d = await login('dave@example.com');
    const local = await call(`${base}/auth/logout`, { method: 'POST', headers: bearer(a.access_token) });
    assert.equal(local.status, 200);
    assert.equal((await verify(a.access_token)).status, 401);
    assert.equal((await refresh(a.refresh_token)).status, 401);
    assert.equal((await verify(d.access_token)).status, 200);

    const e = await login('dave@example.com');
    const global = await call(`${base}/auth/logout?scope=global`, { method: 'POST', headers: bearer(e.access_token) });
    assert.equal(global.status, 200);
    assert.equal((await verify(d.access_token)).status, 401);
    assert.equal((await verify(e.access_token)).status, 401);
    // Logging in again right after a global logout works.
    assert.equal((await verify((await login('dave@example.com')).access_token)).status, 200);

    const bad = await call(`${base}/auth/logout?scope=everything`, { method: 'POST', headers: bearer((await login('dave@example.com')).access_token) });
    assert.equal(bad.status, 422);
  });

  it('signing out a sessionless token (minted by the toolkit with the same key) revokes that token alone', async () => {
    const { createTokenIssuer } = await import('../toolkit/src/tokens/issue.js');
    const mint = createTokenIssuer({ keys: s.warden.keys, accessExpiresIn: 900, refreshExpiresIn: 3600, clock });
    const me = (await call(`${base}/auth/verify`, { headers: bearer((await login('carol@example.com')).access_token) })).headers.get('x-auth-user')!;
    const [a, b] = [mint.createAccessToken(me), mint.createAccessToken(me)];
    assert.equal((await call(`${base}/auth/logout`, { method: 'POST', headers: bearer(a) })).status, 200);
    assert.equal((await verify(a)).status, 401);
    assert.equal((await verify(b)).status, 200);
  });

  it('password change needs a fresh token and ends the other sessions', async () => {
    // A user of its own: the other tests sign in with the shared users' unchanged passwords.
    assert.equal((await call(`${base}/auth/signup`, { json: { username: 'pat', email: 'pat@example.com', password: 'password-123' } })).status, 201);
    const a = await login('pat@example.com');
    const b = await login('pat@example.com');
    const refreshed = (await refresh(a.refresh_token)).json.data;
    const stale = await call(`${base}/auth/password`, { json: { current_password: 'password-123', new_password: 'new-password-456' }, headers: bearer(refreshed.access_token) });
    assert.equal(stale.status, 403);
    assert.equal(stale.json.message, 'Fresh token required');

    const wrong = await call(`${base}/auth/password`, { json: { current_password: 'nope-nope', new_password: 'new-password-456' }, headers: bearer(b.access_token) });
    assert.equal(wrong.status, 401);
    const ok = await call(`${base}/auth/password`, { json: { current_password: 'password-123', new_password: 'new-password-456' }, headers: bearer(b.access_token) });
    assert.equal(ok.status, 200);
    assert.equal((await verify(b.access_token)).status, 200);
    assert.equal((await verify(refreshed.access_token)).status, 401);
    assert.equal((await refresh(refreshed.refresh_token)).status, 401);
    assert.equal((await call(`${base}/auth/login`, { form: { username: 'pat@example.com', password: 'password-123' } })).status, 401);
    await login('pat@example.com', 'x', 'new-password-456');
  });

  describe('admin users API', () => {
    let admin = '';
    before(async () => {
      admin = (await login('boss@example.com')).access_token;
    });

    it('only admins may use it', async () => {
      const user = await login('dave@example.com');
      const r = await call(`${base}/users`, { headers: bearer(user.access_token) });
      assert.equal(r.status, 403);
      assert.equal(r.json.code, 'ERR_ROLE_REQUIRED');
    });

    it('creates, lists with filters and pages, reads', async () => {
      for (let i = 0; i < 5; i++) {
        clock.advance(1000); // lists are ordered by creation time
        const r = await call(`${base}/users`, { json: { username: `bulk${i}`, email: `bulk${i}@corp.test`, password: 'password-123', roles: i % 2 ? ['auditor'] : undefined }, headers: bearer(admin) });
        assert.equal(r.status, 201);
      }
      const page = await call(`${base}/users?email=corp.test&limit=2&offset=1`, { headers: bearer(admin) });
      assert.equal(page.status, 200);
      assert.equal(page.json.data.total, 5);
      assert.deepEqual(page.json.data.items.map((u: { username: string }) => u.username), ['bulk1', 'bulk2']);
      const auditors = await call(`${base}/users?role=auditor`, { headers: bearer(admin) });
      assert.deepEqual(auditors.json.data.items.map((u: { username: string }) => u.username), ['bulk1', 'bulk3']);
      const one = await call(`${base}/users/${page.json.data.items[0].id}`, { headers: bearer(admin) });
      assert.equal(one.json.data.email, 'bulk1@corp.test');
      assert.equal((await call(`${base}/users/00000000-0000-4000-8000-000000000000`, { headers: bearer(admin) })).status, 404);
      assert.equal((await call(`${base}/users?active=maybe`, { headers: bearer(admin) })).status, 422);
    });

    it('removing a role takes effect on the next request; deactivating refuses every token', async () => {
      const made = await call(`${base}/users`, { json: { username: 'deputy', email: 'deputy@example.com', password: 'password-123', roles: ['admin'] }, headers: bearer(admin) });
      const id = made.json.data.id;
      const deputy = await login('deputy@example.com');
      assert.equal((await call(`${base}/users`, { headers: bearer(deputy.access_token) })).status, 200);

      const demote = await call(`${base}/users/${id}`, { method: 'PATCH', json: { roles: ['user'] }, headers: bearer(admin) });
      assert.equal(demote.status, 200);
      assert.deepEqual(demote.json.data.roles, ['user']);
      assert.equal((await call(`${base}/users`, { headers: bearer(deputy.access_token) })).status, 403);
      const v = await verify(deputy.access_token);
      assert.equal(v.status, 200);
      assert.equal(v.headers.get('x-auth-roles'), 'user');

      const off = await call(`${base}/users/${id}`, { method: 'PATCH', json: { is_active: false }, headers: bearer(admin) });
      assert.equal(off.json.data.is_active, false);
      assert.equal((await verify(deputy.access_token)).status, 401);
      assert.equal((await refresh(deputy.refresh_token)).status, 401);
      assert.equal((await call(`${base}/auth/login`, { form: { username: 'deputy@example.com', password: 'password-123' } })).status, 400);

      const on = await call(`${base}/users/${id}`, { method: 'PATCH', json: { is_active: true }, headers: bearer(admin) });
      assert.equal(on.status, 200);
      assert.equal((await verify((await login('deputy@example.com')).access_token)).status, 200);
      assert.equal((await call(`${base}/users/${id}`, { method: 'PATCH', json: { password_hash: 'x' }, headers: bearer(admin) })).status, 422);
    });

    it('deleting a user refuses their tokens from the next request', async () => {
      const made = await call(`${base}/users`, { json: { username: 'temp', email: 'temp@example.com', password: 'password-123' }, headers: bearer(admin) });
      const t = await login('temp@example.com');
      assert.equal((await verify(t.access_token)).status, 200);
      assert.equal((await call(`${base}/users/${made.json.data.id}`, { method: 'DELETE', headers: bearer(admin) })).status, 200);
      assert.equal((await verify(t.access_token)).status, 401);
      assert.equal((await refresh(t.refresh_token)).status, 401);
      assert.equal((await call(`${base}/users/${made.json.data.id}`, { headers: bearer(admin) })).status, 404);
    });
  });

  it('forward auth: 200 with X-Auth-User and X-Auth-Roles, 401 without a valid token', async () => {
    const t = await login('boss@example.com');
    const ok = await verify(t.access_token);
    assert.equal(ok.status, 200);
    assert.match(ok.headers.get('x-auth-user')!, /^[0-9a-f-]{36}$/);
    assert.equal(ok.headers.get('x-auth-roles'), 'admin');
    assert.equal(ok.text, '');
    const none = await call(`${base}/auth/verify`);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get('www-authenticate'), 'Bearer');
    assert.equal((await verify('x.y.z')).status, 401);
  });
});
