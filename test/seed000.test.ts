// Seed 000's curl commands, turned from Windows cmd (^ continuations) into sh with the same
// paths, headers and bodies, run against a real server. Then the cookie path and the privilege rule.
// Each test starts its own server on an empty database and builds the users it needs.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { testClock } from './helpers/clock.js';
import { call, cookieHeader, cookiesFrom, curl, startServer, type Running } from './helpers/server.js';

describe('seed 000: the /api flow with curl', () => {
  let s: Running;
  let base: string;
  const clock = testClock();
  beforeEach(async () => {
    s = await startServer({}, { clock });
    base = s.url;
  });
  afterEach(() => s.close());

  const signup = (name: string, auth = '') => `curl -X POST ${base}/api/auth/signup \\
-H "Content-Type: application/json" ${auth} \\
-d "{\\"username\\": \\"${name}\\", \\"email\\": \\"${name}@example.com\\", \\"password\\": \\"adminpass123\\", \\"roles\\": [\\"ROLE_ADMIN\\"]}"`;

  /** What the first test does with curl: admin1 (the first account) and admin2, granted ROLE_ADMIN by admin1. */
  async function twoAdmins(): Promise<void> {
    const admin = { password: 'adminpass123', roles: ['ROLE_ADMIN'] };
    assert.equal((await call(`${base}/api/auth/signup`, { json: { username: 'admin1', email: 'admin1@example.com', ...admin } })).status, 201);
    const login = await call(`${base}/api/auth/signin`, { json: { username: 'admin1', password: 'adminpass123' } });
    const r = await call(`${base}/api/auth/signup`, {
      json: { username: 'admin2', email: 'admin2@example.com', ...admin }, headers: { authorization: `Bearer ${login.json.access_token}` },
    });
    assert.equal(r.status, 201);
  }

  it('signs up admin1 (the first account may take ROLE_ADMIN) and, with its token, admin2', async () => {
    const r1 = await curl(signup('admin1'));
    assert.equal(r1.status, 201);
    assert.equal(r1.json.username, 'admin1');
    assert.deepEqual(r1.json.roles, ['ROLE_ADMIN']);
    assert.equal(r1.json.password_hash, undefined);
    assert.equal(JSON.stringify(r1.json).includes('argon2'), false);

    const login = await curl(`curl -X POST ${base}/api/auth/signin -H "Content-Type: application/json" -d "{\\"username\\": \\"admin1\\", \\"password\\": \\"adminpass123\\"}"`);
    assert.equal(login.status, 200);
    const r2 = await curl(signup('admin2', `-H "Authorization: Bearer ${login.json.access_token}"`));
    assert.equal(r2.status, 201);
    assert.deepEqual(r2.json.roles, ['ROLE_ADMIN']);
  });

  it('signs in admin2 with JSON: tokens, user and the four cookies', async () => {
    await twoAdmins();
    const r = await curl(`curl -X POST ${base}/api/auth/signin  \\
-H "Content-Type: application/json" \\
-d "{\\"username\\": \\"admin2\\", \\"password\\": \\"adminpass123\\"}"`);
    assert.equal(r.status, 200);
    assert.equal(r.json.token_type, 'bearer');
    assert.equal(r.json.username, 'admin2');
    assert.equal(r.json.email, 'admin2@example.com');
    assert.deepEqual(r.json.roles, ['ROLE_ADMIN']);
    assert.match(r.json.id, /^[0-9a-f-]{36}$/);
    assert.equal(r.json.access_token.split('.').length, 3);
    assert.equal(r.json.refresh_token.split('.').length, 3);
    const cookies = r.headers['set-cookie']!.join('\n');
    for (const name of ['access_token_cookie', 'refresh_token_cookie', 'csrf_access_token', 'csrf_refresh_token']) {
      assert.match(cookies, new RegExp(`^${name}=`, 'm'));
    }
    assert.match(r.headers['set-cookie']!.find((c) => c.startsWith('access_token_cookie='))!, /HttpOnly/);
    assert.doesNotMatch(r.headers['set-cookie']!.find((c) => c.startsWith('csrf_access_token='))!, /HttpOnly/);
    // The access token carries flask-jwt-extended's claims, in its order, plus roles and sid.
    const claims = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url').toString());
    assert.deepEqual(Object.keys(claims).slice(0, 8), ['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf', 'exp']);
    assert.equal(claims.fresh, true);
    assert.equal(claims.type, 'access');
    assert.equal(claims.sub, r.json.id);
  });

  it('signs in admin2 with a form, uses the Bearer token on /api/users, signs out, and the token is then revoked', async () => {
    await twoAdmins();
    const r = await curl(`curl -X POST ${base}/api/auth/signin \\
-H "Content-Type: application/x-www-form-urlencoded" \\
-d "username=admin2&password=adminpass123"`);
    assert.equal(r.status, 200);
    const admin2Token = r.json.access_token;

    const users = await curl(`curl -X GET ${base}/api/users \\
-H "Authorization: Bearer ${admin2Token}" \\
-H "Content-Type: application/json"`);
    assert.equal(users.status, 200);
    assert.deepEqual(users.json.map((u: { username: string }) => u.username).sort(), ['admin1', 'admin2']);

    // The seed's curls carry Content-Type: application/json on body-less calls too.
    const out = await curl(`curl -X POST ${base}/api/auth/signout \\
-H "Authorization: Bearer ${admin2Token}" \\
-H "Content-Type: application/json"`);
    assert.equal(out.status, 200);

    const again = await curl(`curl -X GET ${base}/api/users \\
-H "Authorization: Bearer ${admin2Token}" \\
-H "Content-Type: application/json"`);
    assert.equal(again.status, 401);
    assert.equal(again.json.detail, 'Token has been revoked');
    assert.match(again.headers['www-authenticate']![0]!, /^Bearer error="invalid_token"/);
  });

  it('a multipart sign-in (a page posting new FormData(form)) is 415 as the README says; the same fields url-encoded sign in', async () => {
    await twoAdmins();
    const form = new FormData();
    form.set('username', 'admin1');
    form.set('password', 'adminpass123');
    const multipart = await fetch(`${base}/api/auth/signin`, { method: 'POST', body: form });
    assert.equal(multipart.status, 415);
    assert.equal(((await multipart.json()) as { detail: string }).detail, 'Unsupported Media Type. Use either application/json or application/x-www-form-urlencoded.');
    const encoded = await fetch(`${base}/api/auth/signin`, { method: 'POST', body: new URLSearchParams(form as unknown as Record<string, string>) });
    assert.equal(encoded.status, 200);
  });

  it('the username field may hold the email, in any case', async () => {
    await twoAdmins();
    const r = await call(`${base}/api/auth/signin`, { json: { username: 'ADMIN1@Example.com', password: 'adminpass123' } });
    assert.equal(r.status, 200);
    assert.equal(r.json.username, 'admin1');
  });

  it('the cookie path: /api/users with only the cookie; sign-out needs X-CSRF-TOKEN', async () => {
    await twoAdmins();
    const login = await call(`${base}/api/auth/signin`, { json: { username: 'admin1', password: 'adminpass123' } });
    const jar = cookiesFrom(login.headers);
    const onlyAccess = cookieHeader({ access_token_cookie: jar.access_token_cookie! });

    const users = await call(`${base}/api/users`, { headers: { cookie: onlyAccess } });
    assert.equal(users.status, 200);

    const noCsrf = await call(`${base}/api/auth/signout`, { method: 'POST', headers: { cookie: onlyAccess } });
    assert.equal(noCsrf.status, 401);
    assert.equal(noCsrf.json.detail, 'Missing CSRF token');

    const wrongCsrf = await call(`${base}/api/auth/signout`, { method: 'POST', headers: { cookie: onlyAccess, 'x-csrf-token': 'not-it' } });
    assert.equal(wrongCsrf.status, 401);
    assert.equal(wrongCsrf.json.detail, 'CSRF double submit tokens do not match');

    // The refused attempts changed nothing: the cookie still works.
    assert.equal((await call(`${base}/api/users`, { headers: { cookie: onlyAccess } })).status, 200);

    const ok = await call(`${base}/api/auth/signout`, { method: 'POST', headers: { cookie: onlyAccess, 'x-csrf-token': jar.csrf_access_token! } });
    assert.equal(ok.status, 200);
    const cleared = ok.headers.getSetCookie().join('\n');
    assert.match(cleared, /access_token_cookie=;/);
    assert.match(cleared, /refresh_token_cookie=;/);
    assert.equal((await call(`${base}/api/users`, { headers: { cookie: onlyAccess } })).status, 401);
  });

  it('refresh by cookie rotates the pair; the old refresh token is then refused', async () => {
    await twoAdmins();
    const login = await call(`${base}/api/auth/signin`, { form: { username: 'admin1', password: 'adminpass123' } });
    const jar = cookiesFrom(login.headers);
    const r = await call(`${base}/api/auth/refresh`, {
      method: 'POST',
      headers: { cookie: cookieHeader({ refresh_token_cookie: jar.refresh_token_cookie! }), 'x-csrf-token': jar.csrf_refresh_token! },
    });
    assert.equal(r.status, 200);
    assert.notEqual(r.json.refresh_token, login.json.refresh_token);
    const fresh = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url').toString()).fresh;
    assert.equal(fresh, false);
    // past REFRESH_REUSE_GRACE_SECONDS (10): within it the retired token would get the current one
    const reuse = await clock.during(10_000, () => call(`${base}/api/auth/refresh`, { json: { refresh_token: login.json.refresh_token } }));
    assert.equal(reuse.status, 401);
    // An access token is not a refresh token.
    const wrong = await call(`${base}/api/auth/refresh`, { method: 'POST', headers: { authorization: `Bearer ${login.json.access_token}` } });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.json.code, 'ERR_JWT_WRONG_TYPE');
  });
});

describe('seed 000: who may grant roles', () => {
  let s: Running;
  beforeEach(async () => {
    s = await startServer();
  });
  afterEach(() => s.close());

  it('a second sign-up asking for ROLE_ADMIN without an admin token gets 403 and creates nothing', async () => {
    const first = await call(`${s.url}/api/auth/signup`, { json: { username: 'root1', email: 'root1@example.com', password: 'adminpass123', roles: ['ROLE_ADMIN'] } });
    assert.equal(first.status, 201);
    const second = await call(`${s.url}/api/auth/signup`, { json: { username: 'mallory', email: 'mallory@example.com', password: 'adminpass123', roles: ['ROLE_ADMIN'] } });
    assert.equal(second.status, 403);
    assert.equal(second.json.detail, 'Only an administrator may grant these roles');
    assert.equal(await s.warden.storage.users.findByLogin('mallory'), null);
    assert.equal(await s.warden.storage.users.count(), 1);
    // An account created inactive is refused the same way, and says so.
    const inactive = await call(`${s.url}/api/auth/signup`, { json: { username: 'sleeper', email: 'sleeper@example.com', password: 'adminpass123', is_active: false } });
    assert.equal(inactive.status, 403);
    assert.deepEqual(inactive.json, { detail: 'Only an administrator may create an inactive account', code: 'ERR_ROLES_FORBIDDEN' });
    assert.equal(await s.warden.storage.users.count(), 1);

    // A plain user's token does not help either.
    const plain = await call(`${s.url}/api/auth/signup`, { json: { username: 'plain', email: 'plain@example.com', password: 'adminpass123' } });
    assert.equal(plain.status, 201);
    assert.deepEqual(plain.json.roles, ['user']);
    const login = await call(`${s.url}/api/auth/signin`, { json: { username: 'plain', password: 'adminpass123' } });
    const withUser = await call(`${s.url}/api/auth/signup`, {
      json: { username: 'mallory', email: 'mallory@example.com', password: 'adminpass123', roles: ['admin'] },
      headers: { authorization: `Bearer ${login.json.access_token}` },
    });
    assert.equal(withUser.status, 403);
    assert.equal(await s.warden.storage.users.findByLogin('mallory'), null);
    // ...and a plain user may not list users.
    const list = await call(`${s.url}/api/users`, { headers: { authorization: `Bearer ${login.json.access_token}` } });
    assert.equal(list.status, 403);
  });

  it('a form sign-up names one role as roles=NAME (a form has no lists; Swagger UI sends a one-item array so), several by repeating it', async () => {
    const first = await call(`${s.url}/api/auth/signup`, { form: { username: 'root1', email: 'root1@example.com', password: 'adminpass123', roles: 'ROLE_ADMIN' } });
    assert.equal(first.status, 201, first.text);
    assert.deepEqual(first.json.roles, ['ROLE_ADMIN']);
    const login = await call(`${s.url}/api/auth/signin`, { json: { username: 'root1', password: 'adminpass123' } });
    const auth = { authorization: `Bearer ${login.json.access_token}`, 'content-type': 'application/x-www-form-urlencoded' };
    const two = await call(`${s.url}/api/v1/users`, { method: 'POST', headers: auth, body: 'username=two&email=two%40example.com&password=adminpass123&roles=user&roles=editor' });
    assert.equal(two.status, 201, two.text);
    assert.deepEqual(two.json.data.roles, ['user', 'editor']);
    const one = await call(`${s.url}/api/v1/auth/signup`, { method: 'POST', headers: auth, body: 'username=one&email=one%40example.com&password=adminpass123&roles=editor' });
    assert.equal(one.status, 201, one.text);
    assert.deepEqual(one.json.data.roles, ['editor']);
    // Still refused without an administrator's token, and JSON keeps asking for a list.
    const mallory = await call(`${s.url}/api/auth/signup`, { form: { username: 'mallory', email: 'mallory@example.com', password: 'adminpass123', roles: 'ROLE_ADMIN' } });
    assert.equal(mallory.status, 403);
    const json = await call(`${s.url}/api/auth/signup`, { json: { username: 'jsonuser', email: 'jsonuser@example.com', password: 'adminpass123', roles: 'user' } });
    assert.equal(json.status, 422);
    assert.equal(await s.warden.storage.users.count(), 3);
  });

  it('ten racing first sign-ups asking for admin: exactly one becomes admin', async () => {
    const fresh = await startServer();
    try {
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
        call(`${fresh.url}/api/auth/signup`, { json: { username: `racer${i}`, email: `racer${i}@example.com`, password: 'adminpass123', roles: ['ROLE_ADMIN'] } })));
      assert.equal(results.filter((r) => r.status === 201).length, 1);
      assert.equal(results.filter((r) => r.status === 403).length, 9);
      assert.equal(await fresh.warden.storage.users.count(), 1);
    } finally {
      await fresh.close();
    }
  });
});
