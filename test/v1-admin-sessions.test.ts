// An administrator's view of a user's sessions (the console's user page): GET and DELETE
// /api/v1/users/{id}/sessions[/{sid}]. Ending one refuses its tokens at once and leaves the others.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

describe('/api/v1/users/{id}/sessions', () => {
  let s: Running;
  let admin: Record<string, string>;
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  const login = async (username: string, password: string, ua: string) =>
    (await call(`${s.url}/api/v1/auth/login`, { json: { username, password }, headers: { 'user-agent': ua } })).json.data.access_token as string;

  before(async () => {
    s = await startServer({ DATABASE_URL: 'memory:' });
    await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } });
    admin = bearer(await login('root', 'admin-password-1', 'admin-ua'));
  });
  after(async () => { await s?.close(); });

  async function newUser(name: string) {
    const id = (await call(`${s.url}/api/v1/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } })).json.data.id as string;
    return { id, laptop: await login(name, 'password-123', 'laptop-ua'), phone: await login(name, 'password-123', 'phone-ua') };
  }

  it('lists a user\'s live sessions and ends one: its token is refused, the other still works', async () => {
    const u = await newUser('sam');
    const list = await call(`${s.url}/api/v1/users/${u.id}/sessions`, { headers: admin });
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.data.map((x: { user_agent: string }) => x.user_agent).sort(), ['laptop-ua', 'phone-ua']);
    assert.ok(list.json.data.every((x: { current: boolean }) => x.current === false));
    assert.deepEqual(list.json.paging, { limit: 100, offset: 0, total: 2 });
    const phone = list.json.data.find((x: { user_agent: string }) => x.user_agent === 'phone-ua').id;
    const end = await call(`${s.url}/api/v1/users/${u.id}/sessions/${phone}`, { method: 'DELETE', headers: admin });
    assert.deepEqual([end.status, end.json.message], [200, 'Session ended']);
    assert.equal((await call(`${s.url}/api/v1/auth/sessions`, { headers: bearer(u.phone) })).status, 401);
    assert.equal((await call(`${s.url}/api/v1/auth/sessions`, { headers: bearer(u.laptop) })).status, 200);
    assert.equal((await call(`${s.url}/api/v1/users/${u.id}/sessions`, { headers: admin })).json.paging.total, 1);
    assert.equal((await call(`${s.url}/api/v1/users/${u.id}/sessions/${phone}`, { method: 'DELETE', headers: admin })).status, 404, 'already ended');
  });

  it('refuses unknown users, another user\'s session, bad ids and non-administrators, ending nothing', async () => {
    const a = await newUser('ann');
    const b = await newUser('ben');
    const bSession = (await call(`${s.url}/api/v1/users/${b.id}/sessions`, { headers: admin })).json.data[0].id;
    const cases: Array<[string, string, number, string]> = [
      ['GET', `/api/v1/users/${randomUUID()}/sessions`, 404, 'ERR_USER_NOT_FOUND'],
      ['GET', '/api/v1/users/not-a-uuid/sessions', 404, 'ERR_USER_NOT_FOUND'],
      ['GET', `/api/v1/users/${a.id}/sessions?limit=0`, 422, 'ERR_VALIDATION'],
      ['DELETE', `/api/v1/users/${a.id}/sessions/${bSession}`, 404, 'ERR_SESSION_NOT_FOUND'],
      ['DELETE', `/api/v1/users/${a.id}/sessions/not-a-uuid`, 404, 'ERR_SESSION_NOT_FOUND'],
      ['DELETE', `/api/v1/users/${randomUUID()}/sessions/${bSession}`, 404, 'ERR_USER_NOT_FOUND'],
    ];
    for (const [method, path, status, code] of cases) {
      const r = await call(`${s.url}${path}`, { method, headers: admin });
      assert.deepEqual([r.status, r.json.code], [status, code], `${method} ${path}`);
    }
    for (const [method, path] of [['GET', `/api/v1/users/${b.id}/sessions`], ['DELETE', `/api/v1/users/${b.id}/sessions/${bSession}`]] as const) {
      assert.equal((await call(`${s.url}${path}`, { method, headers: bearer(a.laptop) })).status, 403, `${method} as a user`);
      assert.equal((await call(`${s.url}${path}`, { method })).status, 401, `${method} without a token`);
    }
    assert.equal((await call(`${s.url}/api/v1/auth/sessions`, { headers: bearer(b.laptop) })).json.paging.total, 2, 'nothing ended');
  });
});
