// Seed 002: the course's FastAPI app. POST /login takes its User model {username, email, password}
// and answers 201 {"message": "welcome user", "new_user"}; the next lessons add the token that protected routes
// validate. Replayed as the course's student would post it, then the token on protected routes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, curl, startServer, type Running } from './helpers/server.js';

describe('seed 002: the course\'s POST /login', () => {
  let s: Running;
  let base: string;
  before(async () => {
    s = await startServer();
    base = s.url;
    const r = await call(`${base}/api/auth/signup`, { json: { username: 'student', email: 'student@example.com', password: 'course-password' } });
    assert.equal(r.status, 201);
  });
  after(() => s.close());

  const login = (email: string, password: string) => curl(`curl -X POST ${base}/login \\
  -H "Content-Type: application/json" \\
  -d '{"username": "student", "email": "${email}", "password": "${password}"}'`);

  it('the User model as the course posts it: 201 {"message": "welcome user", new_user, access_token, token_type: "bearer"}', async () => {
    const r = await login('student@example.com', 'course-password');
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.json), ['message', 'new_user', 'access_token', 'token_type']);
    assert.equal(r.json.message, 'welcome user');
    assert.equal(r.json.new_user, 'student'); // the course's client reads it
    // It is the account's username, not an echo of the body's (sign-in is by email).
    const other = await call(`${base}/login`, { json: { username: 'mallory', email: 'student@example.com', password: 'course-password' } });
    assert.equal(other.status, 201);
    assert.equal(other.json.new_user, 'student');
    assert.equal(r.json.token_type, 'bearer');
    const claims = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.type, 'access');
    assert.equal(claims.fresh, true);
  });

  it('the token works on every protected route, sign-out included', async () => {
    const token = (await login('student@example.com', 'course-password')).json.access_token;
    const auth = { authorization: `Bearer ${token}` };
    const me = await call(`${base}/api/v1/auth/me`, { headers: auth });
    assert.equal(me.status, 200);
    assert.equal(me.json.data.email, 'student@example.com');
    assert.equal((await call(`${base}/api/v1/auth/verify`, { headers: auth })).status, 200);
    assert.equal((await call(`${base}/api/v1/auth/sessions`, { headers: auth })).status, 200);
    // A fresh token from a password check may change the password.
    const pw = await call(`${base}/api/v1/auth/password`, { json: { current_password: 'course-password', new_password: 'course-password-2' }, headers: auth });
    assert.equal(pw.status, 200);
    assert.equal((await call(`${base}/api/v1/auth/password`, { json: { current_password: 'course-password-2', new_password: 'course-password' }, headers: auth })).status, 200);
    const out = await call(`${base}/api/auth/signout`, { method: 'POST', headers: auth });
    assert.equal(out.status, 200);
    assert.equal((await call(`${base}/api/v1/auth/verify`, { headers: auth })).status, 401);
  });

  it('without a username, and as a form, the email still signs in', async () => {
    assert.equal((await call(`${base}/login`, { json: { email: 'student@example.com', password: 'course-password' } })).status, 201);
    assert.equal((await call(`${base}/login`, { form: { email: 'student@example.com', password: 'course-password' } })).status, 201);
  });

  it('wrong credentials: 401, the same whether the email has an account or not', async () => {
    const wrong = await login('student@example.com', 'not-the-password');
    const nobody = await login('nobody@example.com', 'course-password');
    for (const r of [wrong, nobody]) {
      assert.equal(r.status, 401);
      assert.equal(r.json.detail, 'Incorrect username or password');
      assert.deepEqual(r.headers['www-authenticate'], ['Bearer']);
    }
    assert.deepEqual(wrong.json, nobody.json);
    assert.equal((await call(`${base}/login`, { json: { email: '', password: '' } })).status, 401);
  });

  it('422 as FastAPI validates the model (a password is never echoed back)', async () => {
    const missing = await call(`${base}/login`, { json: { username: 'student', password: 'course-password' } });
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.json, {
      detail: [{ type: 'missing', loc: ['body', 'email'], msg: 'Field required', input: { username: 'student', password: '[redacted]' } }],
    });
    const types = await call(`${base}/login`, { json: { username: 7, email: 'student@example.com', password: 12345678 } });
    assert.equal(types.status, 422);
    assert.deepEqual(types.json.detail, [
      { type: 'string_type', loc: ['body', 'username'], msg: 'Input should be a valid string', input: 7 },
      { type: 'string_type', loc: ['body', 'password'], msg: 'Input should be a valid string', input: '[redacted]' },
    ]);
    const list = await call(`${base}/login`, { json: ['student@example.com'] });
    assert.equal(list.status, 422);
    assert.deepEqual(list.json.detail, [{
      type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: ['student@example.com'],
    }]);
    const none = await call(`${base}/login`, { method: 'POST' });
    assert.equal(none.status, 422);
    assert.deepEqual(none.json.detail, [{ type: 'missing', loc: ['body'], msg: 'Field required', input: null }]);
  });

  it('bodies nested thousands deep: 422, their echo cut short; a password is redacted at any depth', async () => {
    const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
    const list = await call(`${base}/login`, { body: deep(5000), headers: { 'content-type': 'application/json' } });
    assert.equal(list.status, 422);
    assert.equal(list.json.detail[0].type, 'model_attributes_type');
    assert.match(JSON.stringify(list.json.detail[0].input), /^\[{8}"\[truncated\]"\]{8}$/);
    const field = await call(`${base}/login`, { body: `{"email": ${deep(8000)}, "password": "course-password"}`, headers: { 'content-type': 'application/json' } });
    assert.equal(field.status, 422);
    assert.deepEqual(field.json.detail.map((d: { loc: string[] }) => d.loc), [['body', 'email']]);
    const nested = await call(`${base}/login`, { json: { username: { password: 'course-password', inner: [{ password: 'x' }] }, password: 'course-password' } });
    assert.equal(nested.status, 422);
    assert.doesNotMatch(nested.text, /course-password|"x"/);
  });

  it('/docs describes the model as the route takes it: the username takes no part, the email is required', async () => {
    const doc = (await call(`${base}/openapi.json`)).json;
    for (const media of Object.values(doc.paths['/login'].post.requestBody.content) as { schema: { properties: Record<string, { description?: string }>; required: string[] } }[]) {
      assert.deepEqual(media.schema.required, ['email', 'password']);
      assert.equal(media.schema.properties.username!.description, 'accepted and ignored: the email signs in');
    }
    // As described: a username without an email is refused, whichever account it names.
    const r = await call(`${base}/login`, { json: { username: 'student', password: 'course-password' } });
    assert.equal(r.status, 422);
  });

  it('other media types: 415; malformed JSON: 400', async () => {
    assert.equal((await call(`${base}/login`, { body: 'hi', headers: { 'content-type': 'text/plain' } })).status, 415);
    const bad = await call(`${base}/login`, { body: '{"email":', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.code, 'ERR_BAD_JSON');
  });
});
