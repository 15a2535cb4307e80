// GET /api/v1/users?username=: the administrators' search by username (the console's user list uses
// it), beside the email filter; a bad value is a 422 that changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

describe('GET /api/v1/users?username=', () => {
  let s: Running;
  let auth: Record<string, string>;
  before(async () => {
    s = await startServer({ DATABASE_URL: 'memory:' });
    await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } });
    for (const [username, email] of [['Marta.Lopez', 'ml@corp.test'], ['martin', 'martin@home.test'], ['zoe', 'marta@corp.test']]) {
      assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username, email, password: 'password-123' } })).status, 201);
    }
    const login = await call(`${s.url}/api/v1/auth/login`, { json: { username: 'root', password: 'admin-password-1' } });
    auth = { authorization: `Bearer ${login.json.data.access_token}` };
  });
  after(async () => { await s?.close(); });

  const usernames = async (query: string) => {
    const r = await call(`${s.url}/api/v1/users?${query}`, { headers: auth });
    assert.equal(r.status, 200, query);
    return { names: r.json.data.items.map((u: { username: string }) => u.username).sort(), total: r.json.data.total };
  };

  it('matches a case-insensitive part of the username, alone or with the other filters', async () => {
    assert.deepEqual(await usernames('username=MART'), { names: ['Marta.Lopez', 'martin'], total: 2 });
    assert.deepEqual(await usernames('username=mart&email=corp'), { names: ['Marta.Lopez'], total: 1 });
    assert.deepEqual(await usernames('username=a.l'), { names: ['Marta.Lopez'], total: 1 });
    assert.deepEqual(await usernames('username='), { names: ['Marta.Lopez', 'martin', 'root', 'zoe'], total: 4 });
  });

  it('filters on a verified address', async () => {
    const marta = (await call(`${s.url}/api/v1/users?username=marta`, { headers: auth })).json.data.items[0];
    assert.equal((await call(`${s.url}/api/v1/users/${marta.id}`, { method: 'PATCH', json: { email_verified: true }, headers: auth })).status, 200);
    assert.deepEqual(await usernames('verified=true'), { names: ['Marta.Lopez'], total: 1 });
    assert.deepEqual(await usernames('verified=false&username=mart'), { names: ['martin'], total: 1 });
  });

  it('refuses a repeated or non-text value with 422', async () => {
    for (const q of ['username=a&username=b', 'username=%00', 'verified=yes', 'verified=true&verified=false']) {
      const r = await call(`${s.url}/api/v1/users?${q}`, { headers: auth });
      assert.equal(r.status, 422, q);
      assert.equal(r.json.code, 'ERR_VALIDATION');
    }
  });
});
