// PASSWORD_MIN_LENGTH raises the length a new password needs (8 by default, NIST SP 800-63B's
// floor; 12 or 15 where a compliance rule asks for it, as Supabase's GOTRUE_PASSWORD_MIN_LENGTH,
// Kratos's min_password_length, Keycloak's length policy and better-auth's minPasswordLength do).
// Over HTTP: every way a password is set refuses a shorter one with 422 naming the field (sign-up on
// both routes, an administrator's creation and change, the change of one's own, the mailed reset as
// JSON and as its page's form, whose input carries the minimum), counted in NFKC as before; a
// password set before the minimum was raised still signs in; /openapi.json states the minimum.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, warden } from './helpers/cli.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';
import { linkIn, startSmtp, type TestSmtp } from './helpers/smtp.js';

const APP_URL = 'http://warden.test';
const ELEVEN = 'elevenchars'; // 11 characters
const TWELVE = 'twelve-chars'; // 12
const name = () => `u${randomBytes(5).toString('hex')}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function login(s: Running, username: string, password: string) {
  return call(`${s.url}/api/v1/auth/login`, { form: { username, password } });
}

describe('PASSWORD_MIN_LENGTH=12', () => {
  let smtp: TestSmtp;
  let s: Running;
  let admin: string;
  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      PASSWORD_MIN_LENGTH: '12',
      ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1',
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile,
      MAIL_FROM: 'Warden <no-reply@warden.test>', APP_URL, MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
    });
    const r = await login(s, 'root', 'root-password-1');
    assert.equal(r.status, 200, r.text);
    admin = r.json.data.access_token as string;
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });

  it('sign-up on both routes: 11 characters is 422 naming password, 12 is created', async () => {
    for (const path of ['/api/auth/signup', '/api/v1/auth/signup']) {
      const u = name();
      const short = await call(`${s.url}${path}`, { json: { username: u, email: `${u}@example.com`, password: ELEVEN } });
      assert.equal(short.status, 422, short.text);
      assert.equal(short.json.code, 'ERR_VALIDATION');
      assert.equal(short.json.field, 'password');
      assert.match(short.text, /must be at least 12 characters/);
      assert.equal(await s.warden.storage.users.findByLogin(u), null);
      const ok = await call(`${s.url}${path}`, { json: { username: u, email: `${u}@example.com`, password: TWELVE } });
      assert.equal(ok.status, 201, ok.text);
    }
  });

  it('counts characters in NFKC, as hashed: 11 accented letters typed as letter + combining accent are 11, not 22', async () => {
    const u = name();
    const decomposed = 'e\u0301'.repeat(11);
    const r = await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: decomposed } });
    assert.equal(r.status, 422, r.text);
  });

  it('an administrator\'s creation and change of a password, and one\'s own change, are held to it', async () => {
    const u = name();
    const created = await call(`${s.url}/api/v1/users`, { json: { username: u, email: `${u}@example.com`, password: ELEVEN }, headers: bearer(admin) });
    assert.equal(created.status, 422, created.text);
    assert.equal(created.json.field, 'password');
    const made = await call(`${s.url}/api/v1/users`, { json: { username: u, email: `${u}@example.com`, password: TWELVE }, headers: bearer(admin) });
    assert.equal(made.status, 201, made.text);
    const id = made.json.data.id as string;
    const patched = await call(`${s.url}/api/v1/users/${id}`, { method: 'PATCH', json: { password: ELEVEN }, headers: bearer(admin) });
    assert.equal(patched.status, 422, patched.text);
    assert.match(patched.text, /must be at least 12 characters/);

    const mine = (await login(s, u, TWELVE)).json.data.access_token as string;
    const change = await call(`${s.url}/api/v1/auth/password`, { json: { current_password: TWELVE, new_password: ELEVEN }, headers: bearer(mine) });
    assert.equal(change.status, 422, change.text);
    assert.equal(change.json.field, 'new_password');
    assert.equal((await login(s, u, TWELVE)).status, 200, 'the refused change changed nothing');
  });

  it('the mailed reset: its page\'s input asks for 12, its form and the JSON route refuse 11 and leave the link usable', async () => {
    const u = name();
    const email = `${u}@example.com`;
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email, password: TWELVE } })).status, 201);
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } })).status, 202);
    const mail = await smtp.waitFor((m) => m.to === email && /password/i.test(m.subject) && /reset\?token=/.test(m.text));
    const link = linkIn(mail);
    const token = new URL(link).searchParams.get('token')!;
    const page = await call(`${s.url}/api/v1/auth/password/reset?token=${encodeURIComponent(token)}`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /name="new_password" minlength="12"/);
    const form = await call(`${s.url}/api/v1/auth/password/reset`, { form: { token, new_password: ELEVEN }, headers: { accept: 'text/html' } });
    assert.equal(form.status, 422, form.text);
    assert.match(form.text, /The password must be at least 12 characters/);
    assert.match(form.text, /minlength="12"/);
    const json = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token, new_password: ELEVEN } });
    assert.equal(json.status, 422, json.text);
    assert.equal(json.json.field, 'new_password');
    const done = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token, new_password: 'a-new-password-of-twelve+' } });
    assert.equal(done.status, 200, done.text);
  });

  it('/openapi.json states the minimum where a password is set', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json;
    const said = (schema: { properties: Record<string, { description?: string }> }, field: string) => schema.properties[field]!.description ?? '';
    const body = (path: string, method = 'post') => doc.paths[path][method].requestBody.content['application/json'].schema;
    assert.match(said(body('/api/auth/signup'), 'password'), /at least 12 characters/);
    assert.match(said(body('/api/v1/auth/signup'), 'password'), /at least 12 characters/);
    assert.match(said(body('/api/v1/users'), 'password'), /at least 12 characters/);
    assert.match(said(body('/api/v1/users/{id}', 'patch'), 'password'), /at least 12 characters/);
    assert.match(said(body('/api/v1/auth/password'), 'new_password'), /at least 12 characters/);
    assert.match(said(body('/api/v1/auth/password/reset'), 'new_password'), /at least 12 characters/);
  });
});

describe('raising PASSWORD_MIN_LENGTH over existing passwords', () => {
  it('a password set under the old minimum still signs in on every sign-in route; only a new one is held to the new minimum', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h95-minlen-'));
    const DATABASE_URL = `sqlite:${join(dir, 'warden.db')}`;
    try {
      const before8 = await startServer({ DATABASE_URL });
      const u = name();
      try {
        assert.equal((await call(`${before8.url}/api/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: 'eight-ch' } })).status, 201);
      } finally {
        await before8.close();
      }
      const raised = await startServer({ DATABASE_URL, PASSWORD_MIN_LENGTH: '16' });
      try {
        assert.equal((await login(raised, u, 'eight-ch')).status, 200);
        assert.equal((await call(`${raised.url}/api/auth/signin`, { json: { username: u, password: 'eight-ch' } })).status, 200);
        assert.equal((await call(`${raised.url}/token`, { form: { username: u, password: 'eight-ch' } })).status, 200);
        const access = (await login(raised, u, 'eight-ch')).json.data.access_token as string;
        const change = await call(`${raised.url}/api/v1/auth/password`, { json: { current_password: 'eight-ch', new_password: 'fifteen-chars-x' }, headers: bearer(access) });
        assert.equal(change.status, 422, change.text);
        assert.match(change.text, /must be at least 16 characters/);
      } finally {
        await raised.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('raising PASSWORD_MIN_LENGTH over the configured administrator (ADMIN_*)', () => {
  it('a server whose ADMIN_PASSWORD is shorter than the new minimum still starts once that administrator exists, and it signs in; a new database refuses it naming ADMIN_PASSWORD', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h100-minlen-admin-'));
    const admin = { ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'ten-chars!' };
    try {
      const DATABASE_URL = `sqlite:${join(dir, 'warden.db')}`;
      await (await startServer({ DATABASE_URL, ...admin })).close();
      const raised = await startServer({ DATABASE_URL, ...admin, PASSWORD_MIN_LENGTH: '12' });
      try {
        assert.equal((await login(raised, 'root', 'ten-chars!')).status, 200);
      } finally {
        await raised.close();
      }
      await assert.rejects(startServer({ DATABASE_URL: `sqlite:${join(dir, 'new.db')}`, ...admin, PASSWORD_MIN_LENGTH: '12' }),
        /ADMIN_PASSWORD: must be at least 12 characters/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('PASSWORD_MIN_LENGTH and the warden command (the built binary)', () => {
  it('`users create` and `users set-password` refuse a shorter password (exit 1, the rule named), and take one long enough', async () => {
    await buildCli();
    const cwd = mkdtempSync(join(tmpdir(), 'h95-minlen-cli-'));
    const env = { SECRET_KEY: TEST_SECRET, DATA_DIR: join(cwd, 'data'), PASSWORD_MIN_LENGTH: '12', LOG_LEVEL: 'silent' };
    const run = (args: string[], input: string) => warden(args, { cwd, env, input });
    try {
      const short = await run(['users', 'create', '--username', 'alice', '--email', 'alice@example.com', '--password-stdin'], ELEVEN);
      assert.equal(short.code, 1);
      assert.equal(short.stderr, 'warden: password: must be at least 12 characters\n');
      assert.equal((await run(['users', 'create', '--username', 'alice', '--email', 'alice@example.com', '--password-stdin'], TWELVE)).code, 0);
      const set = await run(['users', 'set-password', 'alice', '--password-stdin'], ELEVEN);
      assert.equal(set.code, 1);
      assert.match(set.stderr, /password: must be at least 12 characters/);
      assert.equal((await run(['users', 'set-password', 'alice', '--password-stdin'], 'another-twelve')).code, 0);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('PASSWORD_MIN_LENGTH bounds', () => {
  it('below 8 (NIST SP 800-63B\'s floor) or above 64 stops the start naming it; unset is 8', async () => {
    await assert.rejects(startServer({ PASSWORD_MIN_LENGTH: '6' }), /PASSWORD_MIN_LENGTH/);
    await assert.rejects(startServer({ PASSWORD_MIN_LENGTH: '65' }), /PASSWORD_MIN_LENGTH/);
    const s = await startServer({});
    try {
      const u = name();
      const seven = await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: 'seven-c' } });
      assert.equal(seven.status, 422);
      assert.match(seven.text, /must be at least 8 characters/);
      assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: 'eight-ch' } })).status, 201);
    } finally {
      await s.close();
    }
  });
});
