// Inviting a user: an administrator names an address (and perhaps a username, a full name, roles);
// the account exists at once with no usable password, and a mail with a link that works
// INVITE_LINK_DAYS lets the person choose one (PASSWORD_MIN_LENGTH held), which verifies the
// address and signs nothing in. The link works once, and a newer invitation, a password set any
// other way, a deactivation or a deletion voids it. Each invitation and acceptance is an audit
// event. Over real HTTP with the real SMTP sink, the built CLI, and migration 18 on SQLite and
// PostgreSQL (the email_tokens purpose CHECK).
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { createPostgresStorage, createSqliteStorage } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { buildCli, warden } from './helpers/cli.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';
import { linkIn, startSmtp, type Delivered, type TestSmtp } from './helpers/smtp.js';
import { postgresBefore, scratchSchema, sqliteBefore } from './helpers/storage.js';

const APP_URL = 'http://warden.test';
const DAY = 86_400_000;
const name = () => `inv${randomBytes(5).toString('hex')}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const tokenOf = (link: string) => new URL(link).searchParams.get('token')!;
const hashOf = (token: string) => createHash('sha256').update(token).digest('hex');

async function login(s: Running, username: string, password: string) {
  return call(`${s.url}/api/v1/auth/login`, { form: { username, password } });
}

function mailServerEnv(smtp: TestSmtp): Record<string, string> {
  return {
    SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile,
    MAIL_FROM: 'Warden <no-reply@warden.test>', APP_URL, MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
  };
}

describe('inviting a user', () => {
  let smtp: TestSmtp;
  let s: Running;
  let admin: string;
  let adminId: string;
  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      PASSWORD_MIN_LENGTH: '12', SIGNUP_ENABLED: 'false',
      ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1', ...mailServerEnv(smtp),
    });
    const r = await login(s, 'root', 'root-password-1');
    assert.equal(r.status, 200, r.text);
    admin = r.json.data.access_token as string;
    adminId = (await s.warden.storage.users.findByLogin('root'))!.id;
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });

  const invite = (body: Record<string, unknown>, token = admin) => call(`${s.url}/api/v1/users/invite`, { json: body, headers: bearer(token) });
  const invitationTo = (email: string, after = 0): Promise<Delivered> =>
    smtp.waitFor((m) => m.to === email && /invite\/accept\?token=/.test(m.text) && smtp.delivered.indexOf(m) >= after);
  const accept = (token: string, newPassword: string) => call(`${s.url}/api/v1/auth/invite/accept`, { json: { token, new_password: newPassword } });
  const audit = async (type: string, userId: string) =>
    ((await call(`${s.url}/api/v1/audit?type=${type}&user=${userId}`, { headers: bearer(admin) })).json.data.items as { type: string; actor_id: string; details: Record<string, unknown> }[]);

  it('creates the account with no usable password, mails a link that lives 7 days, whose page sets the password, verifies the address and signs nothing in', async () => {
    const u = name();
    const email = `${u}@example.com`;
    const r = await invite({ email, full_name: 'Ada Invited', roles: ['user', 'editor'] });
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.message, 'User invited');
    const id = r.json.data.id as string;
    assert.equal(r.json.data.username, u, 'made from the address');
    assert.deepEqual(r.json.data.roles, ['user', 'editor']);
    assert.equal(r.json.data.is_active, true);
    assert.equal(r.json.data.email_verified, false);
    assert.equal((await s.warden.storage.users.findById(id))!.passwordHash, '!', 'NO_PASSWORD, as an import without one');
    for (const guess of ['!', '', 'root-password-1']) assert.notEqual((await login(s, u, guess)).status, 200, 'nobody signs in before the link is used');

    const mail = await invitationTo(email);
    assert.match(mail.subject, /invited/i);
    assert.match(mail.text, /within 7 days/);
    assert.match(mail.text, /Ada Invited/);
    const link = linkIn(mail);
    assert.ok(link.startsWith(`${APP_URL}/api/v1/auth/invite/accept?token=`), link);
    const token = tokenOf(link);
    const row = (await s.warden.storage.emailTokens.find(hashOf(token), 'invite'))!;
    assert.equal(row.expiresAt - row.createdAt, 7 * DAY);

    const page = await call(`${s.url}/api/v1/auth/invite/accept?token=${token}`, { headers: { accept: 'text/html' } });
    assert.equal(page.status, 200, page.text);
    assert.match(page.text, /name="new_password" minlength="12"/);
    assert.match(page.text, /action="accept"/);
    assert.match(page.text, new RegExp(u));
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');

    const own = await accept(token, u);
    assert.equal(own.status, 422, 'the password policy holds: not the username');
    assert.match(own.text, /must not be the username/);
    const short = await accept(token, 'elevenchars');
    assert.equal(short.status, 422, short.text);
    assert.equal(short.json.field, 'new_password');
    const shortForm = await call(`${s.url}/api/v1/auth/invite/accept`, { form: { token, new_password: 'elevenchars' }, headers: { accept: 'text/html' } });
    assert.equal(shortForm.status, 422);
    assert.match(shortForm.text, /The password must be at least 12 characters/);

    const done = await call(`${s.url}/api/v1/auth/invite/accept`, { form: { token, new_password: 'my-own-password' }, headers: { accept: 'text/html' } });
    assert.equal(done.status, 200, done.text);
    assert.match(done.text, /Password set/);
    assert.equal(done.headers.get('set-cookie'), null, 'nothing signed in');
    const again = await accept(token, 'another-password');
    assert.equal(again.status, 400);
    assert.equal(again.json.code, 'ERR_EMAIL_TOKEN_USED');

    const signedIn = await login(s, email, 'my-own-password');
    assert.equal(signedIn.status, 200, signedIn.text);
    const me = await call(`${s.url}/api/v1/auth/me`, { headers: bearer(signedIn.json.data.access_token as string) });
    assert.equal(me.json.data.email_verified, true);

    const created = await audit('user.created', id);
    assert.deepEqual(created.map((e) => [e.actor_id, e.details]), [[adminId, { via: 'invite', roles: ['user', 'editor'] }]]);
    assert.deepEqual((await audit('user.invited', id)).map((e) => [e.actor_id, e.details]), [[adminId, { resent: false }]]);
    assert.deepEqual((await audit('user.invitation_accepted', id)).map((e) => e.actor_id), [id]);
  });

  it('sending it again voids the first link; once a password is set there is nothing to resend', async () => {
    const u = name();
    const email = `${u}@example.com`;
    const r = await invite({ email, username: `${u}_named` });
    assert.equal(r.json.data.username, `${u}_named`);
    const id = r.json.data.id as string;
    const first = tokenOf(linkIn(await invitationTo(email)));
    const mark = smtp.delivered.length;
    const resent = await call(`${s.url}/api/v1/users/${id}/invite`, { method: 'POST', headers: bearer(admin) });
    assert.equal(resent.status, 202, resent.text);
    const second = tokenOf(linkIn(await invitationTo(email, mark)));
    assert.notEqual(first, second);

    const old = await accept(first, 'my-own-password');
    assert.equal(old.json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED', old.text);
    const oldPage = await call(`${s.url}/api/v1/auth/invite/accept?token=${first}`, { headers: { accept: 'text/html' } });
    assert.equal(oldPage.status, 400);
    assert.match(oldPage.text, /send a new invitation/);
    assert.equal((await accept(second, 'my-own-password')).status, 200);
    assert.deepEqual((await audit('user.invited', id)).map((e) => e.details), [{ resent: true }, { resent: false }]);

    const twice = await call(`${s.url}/api/v1/users/${id}/invite`, { method: 'POST', headers: bearer(admin) });
    assert.equal(twice.status, 409, twice.text);
    assert.match(twice.json.message, /password reset/);
    assert.equal((await call(`${s.url}/api/v1/users/${randomUUID()}/invite`, { method: 'POST', headers: bearer(admin) })).status, 404);
    assert.equal((await call(`${s.url}/api/v1/users/not-an-id/invite`, { method: 'POST', headers: bearer(admin) })).status, 404);
  });

  it('a password set another way, a deactivation or a deletion voids the link', async () => {
    const invited = async () => {
      const u = name();
      const email = `${u}@example.com`;
      const id = (await invite({ email })).json.data.id as string;
      return { id, token: tokenOf(linkIn(await invitationTo(email))) };
    };
    const a = await invited();
    assert.equal((await call(`${s.url}/api/v1/users/${a.id}`, { method: 'PATCH', json: { password: 'set-by-the-admin' }, headers: bearer(admin) })).status, 200);
    assert.equal((await accept(a.token, 'my-own-password')).json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');

    const b = await invited();
    assert.equal((await call(`${s.url}/api/v1/users/${b.id}`, { method: 'PATCH', json: { is_active: false }, headers: bearer(admin) })).status, 200);
    assert.equal((await accept(b.token, 'my-own-password')).json.code, 'ERR_USER_INACTIVE');
    assert.equal((await call(`${s.url}/api/v1/users/${b.id}/invite`, { method: 'POST', headers: bearer(admin) })).json.code, 'ERR_USER_INACTIVE');

    const c = await invited();
    assert.equal((await call(`${s.url}/api/v1/users/${c.id}`, { method: 'DELETE', headers: bearer(admin) })).status, 200);
    assert.equal((await accept(c.token, 'my-own-password')).json.code, 'ERR_EMAIL_TOKEN_INVALID');
  });

  it('refuses what is not an administrator\'s well-formed invitation, creating nothing', async () => {
    const u = name();
    const email = `${u}@example.com`;
    assert.equal((await call(`${s.url}/api/v1/users/invite`, { json: { email } })).status, 401);
    const taken = await invite({ email: 'root@example.com' });
    assert.equal(taken.status, 409, taken.text);
    assert.equal((await invite({ email, username: 'root' })).status, 409);
    for (const body of [{}, { email: 'not-an-address' }, { email, username: 'a b' }, { email, password: 'chosen-by-admin' }, { email, is_active: false }, { email, roles: 'admin' }]) {
      const r = await invite(body);
      assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.code, 'ERR_VALIDATION');
    }
    assert.equal(await s.warden.storage.users.findByLogin(email), null);

    // A user who is not an administrator (made by one: sign-up is closed here).
    const p = name();
    assert.equal((await call(`${s.url}/api/v1/users`, { json: { username: p, email: `${p}@example.com`, password: 'plain-user-pass' }, headers: bearer(admin) })).status, 201);
    const plain = (await login(s, p, 'plain-user-pass')).json.data.access_token as string;
    assert.equal((await invite({ email }, plain)).status, 403);
    assert.equal(await s.warden.storage.users.findByLogin(email), null);
    const forged = await accept('A'.repeat(43), 'my-own-password');
    assert.equal(forged.json.code, 'ERR_EMAIL_TOKEN_INVALID');
    assert.equal((await accept('short', 'my-own-password')).status, 400);
  });

  it('/openapi.json documents the three routes, the minimum where the password is set', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json;
    const invitePost = doc.paths['/api/v1/users/invite'].post;
    assert.deepEqual(invitePost.requestBody.content['application/json'].schema.required, ['email']);
    assert.ok(invitePost.responses['201'] && invitePost.responses['409'] && invitePost.responses['501']);
    assert.ok(doc.paths['/api/v1/users/{id}/invite'].post.responses['202']);
    assert.ok(doc.paths['/api/v1/auth/invite/accept'].get.responses['200']);
    const body = doc.paths['/api/v1/auth/invite/accept'].post.requestBody.content['application/json'].schema;
    assert.match(body.properties.new_password.description, /at least 12 characters/);
  });
});

describe('INVITE_LINK_DAYS', () => {
  it('sets the link\'s life, said in the mail; out of 1 to 90 stops the start naming it', async () => {
    await assert.rejects(startServer({ INVITE_LINK_DAYS: '0' }), /INVITE_LINK_DAYS/);
    await assert.rejects(startServer({ INVITE_LINK_DAYS: '91' }), /INVITE_LINK_DAYS/);
    const smtp = await startSmtp();
    const s = await startServer({ INVITE_LINK_DAYS: '2', ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1', ...mailServerEnv(smtp) });
    try {
      const admin = (await login(s, 'root', 'root-password-1')).json.data.access_token as string;
      const email = `${name()}@example.com`;
      assert.equal((await call(`${s.url}/api/v1/users/invite`, { json: { email }, headers: bearer(admin) })).status, 201);
      const mail = await smtp.waitFor((m) => m.to === email);
      assert.match(mail.text, /within 2 days/);
      const row = (await s.warden.storage.emailTokens.find(hashOf(tokenOf(linkIn(mail))), 'invite'))!;
      assert.equal(row.expiresAt - row.createdAt, 2 * DAY);
    } finally {
      await s.close();
      await smtp.close();
    }
  });

  it('with email off (production without SMTP_URL) the invitation is 501 and creates nothing', async () => {
    const s = await startServer({ NODE_ENV: 'production', ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1' });
    try {
      const admin = (await login(s, 'root', 'root-password-1')).json.data.access_token as string;
      const email = `${name()}@example.com`;
      const r = await call(`${s.url}/api/v1/users/invite`, { json: { email }, headers: bearer(admin) });
      assert.equal(r.status, 501, r.text);
      assert.equal(await s.warden.storage.users.findByLogin(email), null);
    } finally {
      await s.close();
    }
  });
});

describe('warden users invite and resend-invite (the built binary)', () => {
  it('queues the invitation in the database; a running server sends it and its link sets the password', async () => {
    await buildCli();
    const cwd = mkdtempSync(join(tmpdir(), 'h98-invite-cli-'));
    const DATABASE_URL = `sqlite:${join(cwd, 'warden.db')}`;
    const env = { SECRET_KEY: TEST_SECRET, DATABASE_URL, LOG_LEVEL: 'silent' };
    const smtp = await startSmtp();
    try {
      const made = await warden(['users', 'invite', '--email', 'grace@example.com', '--full-name', 'Grace', '--roles', 'user,ops', '--json'], { cwd, env });
      assert.equal(made.code, 0, made.stderr);
      const view = JSON.parse(made.stdout) as { username: string; roles: string[]; password_hash: { usable: boolean } };
      assert.equal(view.username, 'grace');
      assert.deepEqual(view.roles, ['user', 'ops']);
      assert.equal(view.password_hash.usable, false);
      const again = await warden(['users', 'resend-invite', 'grace'], { cwd, env });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, 'grace: invitation mail queued for grace@example.com\n');
      const nobody = await warden(['users', 'resend-invite', 'nobody'], { cwd, env });
      assert.equal(nobody.code, 1);
      assert.match(nobody.stderr, /nobody: /);
      const events = (await warden(['audit', '--type', 'user.invited'], { cwd, env })).stdout.trim().split('\n').map((l) => JSON.parse(l) as { details: { resent: boolean } });
      assert.deepEqual(events.map((e) => e.details.resent).sort(), [false, true]);

      const s = await startServer({ DATABASE_URL, ...mailServerEnv(smtp) });
      try {
        // Both queued mails go; the first's link was superseded by the second's when it was made.
        await smtp.waitFor((m) => m.to === 'grace@example.com' && smtp.delivered.filter((x) => x.to === 'grace@example.com').length === 2);
        const links = smtp.delivered.filter((m) => m.to === 'grace@example.com').map((m) => tokenOf(linkIn(m)));
        const answers = await Promise.all(links.map(async (t) => (await call(`${s.url}/api/v1/auth/invite/accept`, { json: { token: t, new_password: 'graces-password' } })).status));
        assert.deepEqual(answers.sort(), [200, 400]);
        assert.equal((await login(s, 'grace', 'graces-password')).status, 200);
      } finally {
        await s.close();
      }
      const used = await warden(['users', 'resend-invite', 'grace'], { cwd, env });
      assert.equal(used.code, 1);
      assert.match(used.stderr, /has a password already/);
    } finally {
      await smtp.close();
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('refuses with email off in production, creating nothing', async () => {
    await buildCli();
    const cwd = mkdtempSync(join(tmpdir(), 'h98-invite-off-'));
    const env = { SECRET_KEY: TEST_SECRET, DATABASE_URL: `sqlite:${join(cwd, 'warden.db')}`, NODE_ENV: 'production', LOG_LEVEL: 'silent' };
    try {
      const r = await warden(['users', 'invite', '--email', 'off@example.com'], { cwd, env });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /email is off/);
      assert.equal((await warden(['users', 'show', 'off@example.com'], { cwd, env })).code, 1);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('migration 18: the invitation purpose of email_tokens', () => {
  const row = (userId: string, purpose: string) => ({ hash: randomBytes(8).toString('hex'), userId, purpose, email: 'kept@example.com', createdAt: 1, expiresAt: 2 });

  it('SQLite: the rebuilt table keeps its rows, takes invite tokens, and still refuses an unknown purpose', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'h98-m18-'));
    const file = join(dir, 'warden.db');
    try {
      const db = openSqlite(file);
      db.function('warden_nfc', { deterministic: true }, (t: unknown) => (typeof t === 'string' ? t.normalize('NFC') : t));
      sqliteBefore(db, 18);
      const uid = randomUUID();
      prepare(db, `INSERT INTO users (id, username, username_lower, email, roles, password_hash, created_at, updated_at) VALUES (?, 'kept', 'kept', 'kept@example.com', '[]', 'x', 1, 1)`).run(uid);
      const old = row(uid, 'reset');
      prepare(db, 'INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at, session_id) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(old.hash, uid, old.purpose, old.email, old.createdAt, old.expiresAt, 'sid-1');
      assert.throws(() => prepare(db, "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES ('h', ?, 'invite', 'e', 1, 2)").run(uid), /CHECK/);
      db.close();
      const s = createSqliteStorage(file);
      await s.migrate();
      assert.equal((await s.emailTokens.find(old.hash, 'reset'))!.sessionId, 'sid-1');
      const inv = row(uid, 'invite');
      await s.emailTokens.issue({ ...inv, purpose: 'invite' });
      assert.ok(await s.emailTokens.find(inv.hash, 'invite'));
      await s.close();
      const after = openSqlite(file);
      try {
        assert.throws(() => prepare(after, "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES ('h2', ?, 'other', 'e', 1, 2)").run(uid), /CHECK/);
        prepare(after, 'DELETE FROM users WHERE id = ?').run(uid);
        assert.equal((prepare(after, 'SELECT count(*) AS n FROM email_tokens').get() as { n: number }).n, 0, 'the foreign key still cascades');
        const indexes = (prepare(after, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'email_tokens' AND name NOT LIKE 'sqlite_%' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
        assert.deepEqual(indexes, ['email_tokens_expires_idx', 'email_tokens_user_idx']);
      } finally {
        after.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('PostgreSQL', async () => {
    const { url, skip, schema } = await scratchSchema('m18');
    it('the constraint takes invite tokens, keeps the rows and refuses an unknown purpose', { skip }, async () => {
      const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await c.connect();
      try {
        await postgresBefore(c, schema, 18);
        const uid = randomUUID();
        await c.query(`INSERT INTO users (id, username, username_lower, email, roles, password_hash, created_at, updated_at) VALUES ($1, 'kept', 'kept', 'kept@example.com', '[]', 'x', 1, 1)`, [uid]);
        const old = row(uid, 'verify');
        await c.query('INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [old.hash, uid, old.purpose, old.email, old.createdAt, old.expiresAt]);
        const s = createPostgresStorage(url!, { schema });
        try {
          await s.migrate();
          assert.ok(await s.emailTokens.find(old.hash, 'verify'));
          const inv = row(uid, 'invite');
          await s.emailTokens.issue({ ...inv, purpose: 'invite' });
          assert.ok(await s.emailTokens.find(inv.hash, 'invite'));
        } finally {
          await s.close();
        }
        await assert.rejects(c.query(`INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES ('h2', $1, 'other', 'e', 1, 2)`, [uid]), /email_tokens_purpose_check/);
      } finally {
        await c.end();
      }
    });
  });
});
