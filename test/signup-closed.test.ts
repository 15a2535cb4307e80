// SIGNUP_ENABLED=false closes self-service sign-up, as an internal tool whose accounts an
// administrator makes needs (Supabase's GOTRUE_DISABLE_SIGNUP, Keycloak's registration switch,
// Kratos's registration flow, better-auth's disableSignUp): over HTTP, both sign-up routes refuse
// anyone but an administrator with 403 ERR_SIGNUP_DISABLED, whatever the body, before anything is
// counted or created, the empty database's first sign-up too; an administrator's creations, the
// configured administrator and the `warden` command's go on; /openapi.json says so.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

const PASSWORD = 'signup-closed-pw-1';
const name = () => `u${randomBytes(5).toString('hex')}`;
const someone = (username = name()) => ({ username, email: `${username}@example.com`, password: PASSWORD });
const ROUTES = ['/api/auth/signup', '/api/v1/auth/signup'] as const;

async function tokenOf(s: Running, username: string, password: string): Promise<string> {
  const r = await call(`${s.url}/api/v1/auth/login`, { form: { username, password } });
  assert.equal(r.status, 200, r.text);
  return r.json.data.access_token as string;
}

describe('SIGNUP_ENABLED=false', () => {
  let s: Running;
  before(async () => {
    s = await startServer({
      SIGNUP_ENABLED: 'false', SIGNUP_LIMIT_PER_IP: '2',
      ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1',
    });
  });
  after(() => s.close());

  it('refuses an anonymous sign-up on both routes with 403 ERR_SIGNUP_DISABLED, in each family\'s shape, and creates nothing', async () => {
    const v0 = someone();
    const r0 = await call(`${s.url}/api/auth/signup`, { json: v0 });
    assert.equal(r0.status, 403, r0.text);
    assert.deepEqual(r0.json, { detail: 'Sign-up is closed on this server: an administrator creates accounts', code: 'ERR_SIGNUP_DISABLED' });
    const v1 = someone();
    const r1 = await call(`${s.url}/api/v1/auth/signup`, { form: v1 });
    assert.equal(r1.status, 403, r1.text);
    assert.equal(r1.json.code, 'ERR_SIGNUP_DISABLED');
    assert.equal(r1.json.message, 'Sign-up is closed on this server: an administrator creates accounts');
    for (const u of [v0, v1]) assert.equal(await s.warden.storage.users.findByLogin(u.username), null);
  });

  it('refuses whatever the body says, before validating it or counting it against SIGNUP_LIMIT_PER_IP', async () => {
    for (const path of ROUTES) {
      for (const body of [{ username: 'x', email: 'not-an-address', password: 'short' }, { ...someone(), roles: ['admin'] }]) {
        const r = await call(`${s.url}${path}`, { json: body });
        assert.equal(r.status, 403, `${path} ${r.text}`);
        assert.equal(r.json.code, 'ERR_SIGNUP_DISABLED');
      }
    }
  });

  it('refuses a signed-in user who is no administrator', async () => {
    const admin = await tokenOf(s, 'root', 'root-password-1');
    const member = someone();
    assert.equal((await call(`${s.url}/api/v1/users`, { json: member, headers: { authorization: `Bearer ${admin}` } })).status, 201);
    const token = await tokenOf(s, member.username, PASSWORD);
    for (const path of ROUTES) {
      const r = await call(`${s.url}${path}`, { json: someone(), headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.json.code, 'ERR_SIGNUP_DISABLED');
    }
  });

  it('an administrator still creates accounts through either sign-up route and POST /api/v1/users, past the sign-up limit', async () => {
    const auth = { authorization: `Bearer ${await tokenOf(s, 'root', 'root-password-1')}` };
    for (const path of [...ROUTES, ...ROUTES, '/api/v1/users']) {
      const u = someone();
      const r = await call(`${s.url}${path}`, { json: u, headers: auth });
      assert.equal(r.status, 201, `${path} ${r.text}`);
      assert.notEqual(await s.warden.storage.users.findByLogin(u.username), null);
    }
  });

  it('/openapi.json lists ERR_SIGNUP_DISABLED under both sign-up operations\' 403, with the body they answer, and says sign-up is closed', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json;
    const v0 = doc.paths['/api/auth/signup'].post;
    const v1 = doc.paths['/api/v1/auth/signup'].post;
    for (const op of [v0, v1]) {
      assert.match(op.summary as string, /closed/i);
      assert.match(op.responses['403'].description as string, /`ERR_SIGNUP_DISABLED`/);
    }
    const answered = await call(`${s.url}/api/auth/signup`, { json: someone() });
    const examples = v0.responses['403'].content['application/json'].examples ?? v0.responses['403'].content['application/json']['x-examples'];
    const example = examples?.ERR_SIGNUP_DISABLED?.value ?? JSON.stringify(v0.responses['403']);
    assert.deepEqual(answered.json, example);
  });
});

describe('SIGNUP_ENABLED=false on an empty database', () => {
  it('the first sign-up is refused too (no bootstrap administrator); ADMIN_* and `warden users create` make it instead', async () => {
    const s = await startServer({ SIGNUP_ENABLED: 'false', FIRST_SIGNUP_ADMIN: 'true' });
    try {
      for (const path of ROUTES) {
        const r = await call(`${s.url}${path}`, { json: { ...someone(), roles: ['admin'] } });
        assert.equal(r.status, 403, r.text);
        assert.equal(r.json.code, 'ERR_SIGNUP_DISABLED');
      }
      assert.equal(await s.warden.storage.users.count(), 0);
    } finally {
      await s.close();
    }
  });
});

describe('SIGNUP_ENABLED unset', () => {
  let s: Running;
  before(async () => { s = await startServer({}); });
  after(() => s.close());

  it('sign-up stays open on both routes, and /openapi.json does not call it closed', async () => {
    for (const path of ROUTES) assert.equal((await call(`${s.url}${path}`, { json: someone() })).status, 201);
    const doc = (await call(`${s.url}/openapi.json`)).json;
    assert.doesNotMatch(doc.paths['/api/auth/signup'].post.summary as string, /closed/i);
  });

  it('SIGNUP_ENABLED takes a boolean: `no` closes sign-up, `closed` stops the start naming it', async () => {
    await assert.rejects(startServer({ SIGNUP_ENABLED: 'closed' }), /SIGNUP_ENABLED/);
    const no = await startServer({ SIGNUP_ENABLED: 'no' });
    try {
      assert.equal((await call(`${no.url}/api/auth/signup`, { json: someone() })).status, 403);
    } finally {
      await no.close();
    }
  });
});
