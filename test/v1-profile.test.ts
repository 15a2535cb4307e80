// PATCH /api/v1/auth/me: users change their own full name (the console's profile form); other fields,
// bad bodies and missing tokens are refused and change nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

describe('PATCH /api/v1/auth/me', () => {
  let s: Running;
  let auth: Record<string, string>;
  before(async () => {
    s = await startServer({ DATABASE_URL: 'memory:' });
    await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'paula', email: 'paula@example.com', password: 'password-123', full_name: 'Paula' } });
    const login = await call(`${s.url}/api/v1/auth/login`, { json: { username: 'paula', password: 'password-123' } });
    auth = { authorization: `Bearer ${login.json.data.access_token}` };
  });
  after(async () => { await s?.close(); });

  const me = async () => (await call(`${s.url}/api/v1/auth/me`, { headers: auth })).json.data;

  it('changes the full name and answers with the profile', async () => {
    const r = await call(`${s.url}/api/v1/auth/me`, { method: 'PATCH', json: { full_name: 'Paula Rego' }, headers: auth });
    assert.equal(r.status, 200);
    assert.equal(r.json.message, 'Profile updated');
    assert.equal(r.json.data.full_name, 'Paula Rego');
    assert.equal((await me()).full_name, 'Paula Rego');
  });

  it('refuses other fields, a bad value, a non-object body and no token, changing nothing', async () => {
    const cases: Array<[unknown, number, string]> = [
      [{ roles: ['admin'] }, 422, 'ERR_VALIDATION'], [{ full_name: 'X', is_active: false }, 422, 'ERR_VALIDATION'],
      [{ full_name: 'z'.repeat(201) }, 422, 'ERR_VALIDATION'], [[1], 400, 'ERR_BAD_REQUEST'], [{}, 422, 'ERR_VALIDATION'],
    ];
    for (const [body, status, code] of cases) {
      const r = await call(`${s.url}/api/v1/auth/me`, { method: 'PATCH', json: body, headers: auth });
      assert.deepEqual([r.status, r.json.code], [status, code], JSON.stringify(body).slice(0, 40));
    }
    assert.equal((await call(`${s.url}/api/v1/auth/me`, { method: 'PATCH', json: { full_name: 'Nobody' } })).status, 401);
    const profile = await me();
    assert.deepEqual([profile.full_name, profile.roles, profile.is_active], ['Paula Rego', ['user'], true]);
  });
});

describe('PATCH /api/v1/auth/me with the token in the body (JWT_TOKEN_LOCATION=headers,json)', () => {
  it('the body\'s access_token is the credential, not a field: the name changes; without a token field it still refuses other fields', async () => {
    const s = await startServer({ DATABASE_URL: 'memory:', JWT_TOKEN_LOCATION: 'headers,json' });
    try {
      await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'jona', email: 'jona@example.com', password: 'password-123' } });
      const token = (await call(`${s.url}/api/v1/auth/login`, { json: { username: 'jona', password: 'password-123' } })).json.data.access_token as string;
      const r = await call(`${s.url}/api/v1/auth/me`, { method: 'PATCH', json: { access_token: token, full_name: 'Jona Body' } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.data.full_name, 'Jona Body');
      // From the header, a body's access_token is just another field, and refused as one.
      const extra = await call(`${s.url}/api/v1/auth/me`, { method: 'PATCH', json: { access_token: token, full_name: 'X' }, headers: { authorization: `Bearer ${token}` } });
      assert.deepEqual([extra.status, extra.json.code], [422, 'ERR_VALIDATION']);
    } finally {
      await s.close();
    }
  });
});
