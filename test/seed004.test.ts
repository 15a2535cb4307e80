// Seed 004's three curl commands, as the seed writes them, then every row of its error tables,
// then the routes Warden adds around them. Each test starts its own server (and clock) with the
// seed's admin user, and signs in for the tokens it needs.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { testClock, type TestClock } from './helpers/clock.js';
import { call, curl, startServer, type Running } from './helpers/server.js';

describe('seed 004: /api/v1', () => {
  let s: Running;
  let clock: TestClock;
  let base: string;
  beforeEach(async () => {
    clock = testClock();
    s = await startServer({}, { clock });
    base = s.url;
    const r = await call(`${base}/api/v1/auth/signup`, {
      json: { username: 'admin', email: 'admin@example.com', password: 'secretpassword', full_name: 'Admin User', roles: ['admin', 'user'] },
    });
    assert.equal(r.status, 201);
    assert.equal(r.json.message, 'User created');
  });
  afterEach(() => s.close());

  /** The seed's admin, signed in: the tokens the seed's curls carry. */
  async function signedIn(): Promise<{ access: string; refresh: string }> {
    const r = await call(`${base}/api/v1/auth/login`, { form: { username: 'admin@example.com', password: 'secretpassword' } });
    assert.equal(r.status, 200);
    return { access: r.json.data.access_token, refresh: r.json.data.refresh_token };
  }

  it('POST /auth/login (the seed\'s curl)', async () => {
    const r = await curl(`curl -X POST "${base}/api/v1/auth/login" \\
  -H "Content-Type: application/x-www-form-urlencoded" \\
  -d "username=admin@example.com&password=secretpassword"`);
    assert.equal(r.status, 200);
    assert.equal(r.json.message, 'Login successful');
    assert.deepEqual(Object.keys(r.json.data), ['access_token', 'refresh_token', 'token_type']);
    assert.equal(r.json.data.token_type, 'bearer');
  });

  it('POST /auth/refresh?refresh_token=… (the seed\'s curl)', async () => {
    const { refresh } = await signedIn();
    const r = await curl(`curl -X POST "${base}/api/v1/auth/refresh?refresh_token=${refresh}"`);
    assert.equal(r.status, 200);
    assert.equal(r.json.message, 'Token refreshed successfully');
    assert.deepEqual(Object.keys(r.json.data), ['access_token', 'refresh_token', 'token_type']);
    assert.notEqual(r.json.data.refresh_token, refresh);
  });

  it('login as multipart/form-data (a FastAPI form takes both encodings): 200', async () => {
    const r = await curl(`curl -X POST "${base}/api/v1/auth/login" -F username=admin@example.com -F password=secretpassword`);
    assert.equal(r.status, 200);
    assert.equal(r.json.message, 'Login successful');
    const wrong = await curl(`curl -X POST "${base}/api/v1/auth/login" -F username=admin@example.com -F password=wrong`);
    assert.equal(wrong.status, 401);
    // Only login reads multipart: sign-up, beside it under /api/v1, still refuses it.
    const signup = await curl(`curl -X POST "${base}/api/v1/auth/signup" -F username=bob -F email=bob@example.com -F password=secretpassword`);
    assert.equal(signup.status, 415);
    assert.equal(await s.warden.storage.users.findByLogin('bob'), null);
  });

  it('body-less POSTs that carry Content-Type: application/json (as clients send on every call) read as no body', async () => {
    const { access, refresh } = await signedIn();
    const json = '-H "Content-Type: application/json"';
    const r = await curl(`curl -X POST "${base}/api/v1/auth/refresh?refresh_token=${refresh}" ${json}`);
    assert.equal(r.status, 200);
    assert.equal(r.json.message, 'Token refreshed successfully');
    const out = await curl(`curl -X POST "${base}/api/v1/auth/logout" -H "Authorization: Bearer ${r.json.data.access_token}" ${json}`);
    assert.equal(out.status, 200);
    assert.equal((await call(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${r.json.data.access_token}` } })).status, 403);
    // Malformed JSON is still refused, and a route that needs a body finds none.
    const bad = await call(`${base}/api/v1/auth/logout`, { headers: { authorization: `Bearer ${access}`, 'content-type': 'application/json' }, body: '{' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'ERR_BAD_JSON');
    const empty = await curl(`curl -X POST "${base}/api/v1/auth/signup" ${json}`);
    assert.equal(empty.status, 422);
  });

  it('GET /auth/me (the seed\'s curl)', async () => {
    const { access } = await signedIn();
    const r = await curl(`curl -X GET "${base}/api/v1/auth/me" \\
  -H "Authorization: Bearer ${access}"`);
    assert.equal(r.status, 200);
    assert.equal(r.json.message, 'User profile retrieved');
    // The seed's fields, in its order, then Warden's email_verified (issue 12).
    assert.deepEqual(Object.keys(r.json.data), ['user_id', 'email', 'full_name', 'is_active', 'roles', 'email_verified']);
    assert.equal(r.json.data.email, 'admin@example.com');
    assert.equal(r.json.data.full_name, 'Admin User');
    assert.equal(r.json.data.is_active, true);
    assert.deepEqual(r.json.data.roles, ['admin', 'user']);
    assert.match(r.json.data.user_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  // ---- the seed's error tables ----

  it('login: 401 for wrong credentials', async () => {
    const r = await call(`${base}/api/v1/auth/login`, { form: { username: 'admin@example.com', password: 'wrong-password' } });
    assert.equal(r.status, 401);
    assert.equal(r.json.data, null);
    const nobody = await call(`${base}/api/v1/auth/login`, { form: { username: 'nobody@example.com', password: 'secretpassword' } });
    assert.equal(nobody.status, 401);
  });

  it('refresh: 401 for an invalid or expired refresh token', async () => {
    const { access } = await signedIn();
    assert.equal((await call(`${base}/api/v1/auth/refresh?refresh_token=garbage`, { method: 'POST' })).status, 401);
    assert.equal((await call(`${base}/api/v1/auth/refresh?refresh_token=${access}`, { method: 'POST' })).status, 401);
    const login = await call(`${base}/api/v1/auth/login`, { form: { username: 'admin@example.com', password: 'secretpassword' } });
    const expired = await clock.during(31 * 86400 * 1000, // past REFRESH_TOKEN_EXPIRES_DAYS
      () => call(`${base}/api/v1/auth/refresh?refresh_token=${login.json.data.refresh_token}`, { method: 'POST' }));
    assert.equal(expired.status, 401);
    assert.equal(expired.json.message, 'Token has expired');
  });

  it('me: 403 for an invalid or expired token', async () => {
    const { access } = await signedIn();
    const bad = await call(`${base}/api/v1/auth/me`, { headers: { authorization: 'Bearer not.a.token' } });
    assert.equal(bad.status, 403);
    const expired = await clock.during(16 * 60 * 1000, // past ACCESS_TOKEN_EXPIRES_MINUTES
      () => call(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${access}` } }));
    assert.equal(expired.status, 403);
    assert.equal(expired.json.message, 'Token has expired');
    assert.equal((await call(`${base}/api/v1/auth/me`)).status, 403);
  });

  it('me: 404 for a user that no longer exists, 400 for an inactive user', async () => {
    // A sessionless token for an id that has no user (as another service holding the key could mint).
    const { createTokenIssuer } = await import('../toolkit/src/tokens/issue.js');
    const mint = createTokenIssuer({ keys: s.warden.keys, accessExpiresIn: 900, refreshExpiresIn: 3600, clock });
    const gone = mint.createAccessToken('00000000-0000-4000-8000-000000000000');
    const r404 = await call(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${gone}` } });
    assert.equal(r404.status, 404);
    assert.equal(r404.json.message, 'User not found');

    const u = await call(`${base}/api/v1/auth/signup`, { json: { username: 'sleepy', email: 'sleepy@example.com', password: 'secretpassword' } });
    const login = await call(`${base}/api/v1/auth/login`, { form: { username: 'sleepy@example.com', password: 'secretpassword' } });
    // Marked inactive behind Warden's back (directly in the database): the profile says so with 400.
    await s.warden.storage.users.update(u.json.data.id, { isActive: false });
    const r400 = await call(`${base}/api/v1/auth/me`, { headers: { authorization: `Bearer ${login.json.data.access_token}` } });
    assert.equal(r400.status, 400);
    assert.equal(r400.json.message, 'Inactive user');
    const relogin = await call(`${base}/api/v1/auth/login`, { form: { username: 'sleepy@example.com', password: 'secretpassword' } });
    assert.equal(relogin.status, 400);
  });
});
