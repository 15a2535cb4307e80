// The password policy NIST SP 800-63B 5.1.1.2 asks for, beyond length: a new password is not on
// PASSWORD_BLOCKLIST_FILE (plain lines, or Pwned Passwords' SHA-1 lines), nor the account's
// username, email address or its local part (PASSWORD_CONTEXT_CHECK, on by default). Over HTTP,
// every way a password is set refuses one with 422 naming the field (sign-up on both routes, one's
// own change, the mailed reset as JSON and as its page's form, an administrator's creation and
// change), without saying which list; the built CLI's users create / set-password likewise; sign-in
// and imports are never held to it; a file that cannot be used stops the start, naming the line.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError } from '../src/config.js';
import { buildCli, warden } from './helpers/cli.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';
import { linkIn, startSmtp, type TestSmtp } from './helpers/smtp.js';

const APP_URL = 'http://warden.test';
const sha1 = (s: string) => createHash('sha1').update(s, 'utf8').digest('hex');
// On the list as written, as an upper-case SHA-1 with Pwned Passwords' count, as a lower-case one.
const LISTED = 'sunshine2024';
const LISTED_BY_DIGEST = 'iloveyou1234';
const LISTED_LOWER_DIGEST = 'football-fan';
const LIST = ['qwerty12345', LISTED, `${sha1(LISTED_BY_DIGEST).toUpperCase()}:37615`, sha1(LISTED_LOWER_DIGEST), ''].join('\r\n');
const TOO_COMMON = /is too common: it is on a list of breached or commonly used passwords; choose another/;
const NOT_A_NAME = /must not be the username or the email address/;
const GOOD = 'a-perfectly-fine-pass';
const name = () => `u${randomBytes(5).toString('hex')}`;
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const dir = mkdtempSync(join(tmpdir(), 'h99-policy-'));
const listFile = join(dir, 'blocklist.txt');
writeFileSync(listFile, LIST);
after(() => rmSync(dir, { recursive: true, force: true }));

async function login(s: Running, username: string, password: string) {
  return call(`${s.url}/api/v1/auth/login`, { form: { username, password } });
}

function refused(r: { status: number; text: string; json: any }, field: string, why: RegExp) {
  assert.equal(r.status, 422, r.text);
  assert.equal(r.json.code, 'ERR_VALIDATION');
  assert.equal(r.json.field, field);
  assert.match(r.text, why);
}

describe('PASSWORD_BLOCKLIST_FILE and PASSWORD_CONTEXT_CHECK over HTTP', () => {
  let smtp: TestSmtp;
  let s: Running;
  let admin: string;
  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      PASSWORD_BLOCKLIST_FILE: listFile,
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

  it('sign-up on both routes refuses a listed password, written or as a SHA-1 line in either case, with 422 naming the field and not the list', async () => {
    for (const path of ['/api/auth/signup', '/api/v1/auth/signup']) {
      for (const password of [LISTED, LISTED_BY_DIGEST, LISTED_LOWER_DIGEST, 'ｓｕｎｓｈｉｎｅ２０２４' /* NFKC: sunshine2024 */]) {
        const u = name();
        const r = await call(`${s.url}${path}`, { json: { username: u, email: `${u}@example.com`, password } });
        refused(r, 'password', TOO_COMMON);
        assert.doesNotMatch(r.text, /sha-?1|digest|pwned|blocklist|PASSWORD_BLOCKLIST_FILE|line/i);
        assert.equal(await s.warden.storage.users.findByLogin(u), null);
      }
      // Case-sensitive: another case is another password.
      const u = name();
      assert.equal((await call(`${s.url}${path}`, { json: { username: u, email: `${u}@example.com`, password: 'Sunshine2024' } })).status, 201);
    }
  });

  it('sign-up refuses the username, the address or its local part as the password, in any case', async () => {
    const u = `policy${randomBytes(3).toString('hex')}`; // 12 characters
    const email = `${u}@example.com`;
    for (const password of [u, u.toUpperCase(), email, email.toUpperCase()]) {
      refused(await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email, password } }), 'password', NOT_A_NAME);
    }
    const other = name();
    const local = `firstname.lastname${randomBytes(2).toString('hex')}`;
    refused(await call(`${s.url}/api/auth/signup`, { json: { username: other, email: `${local}@example.com`, password: local } }), 'password', NOT_A_NAME);
    // Containing it is not being it.
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email, password: `${u}-and-more` } })).status, 201);
  });

  it('one\'s own change refuses a listed password and one\'s own names; the refused change changes nothing', async () => {
    const u = `change${randomBytes(3).toString('hex')}`;
    const email = `${u}@example.com`;
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email, password: GOOD } })).status, 201);
    const mine = (await login(s, u, GOOD)).json.data.access_token as string;
    const change = (new_password: string) => call(`${s.url}/api/v1/auth/password`, { json: { current_password: GOOD, new_password }, headers: bearer(mine) });
    refused(await change(LISTED_BY_DIGEST), 'new_password', TOO_COMMON);
    refused(await change(u.toUpperCase()), 'new_password', NOT_A_NAME);
    refused(await change(email), 'new_password', NOT_A_NAME);
    assert.equal((await login(s, u, GOOD)).status, 200, 'the refused changes changed nothing');
    assert.equal((await change('another-fine-password')).status, 200);
  });

  it('the mailed reset refuses a listed password and the username, as JSON and on its page, and leaves the link usable', async () => {
    const u = `reset${randomBytes(4).toString('hex')}`;
    const email = `${u}@example.com`;
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: u, email, password: GOOD } })).status, 201);
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } })).status, 202);
    const mail = await smtp.waitFor((m) => m.to === email && /reset\?token=/.test(m.text));
    const token = new URL(linkIn(mail)).searchParams.get('token')!;
    const form = await call(`${s.url}/api/v1/auth/password/reset`, { form: { token, new_password: LISTED }, headers: { accept: 'text/html' } });
    assert.equal(form.status, 422, form.text);
    assert.match(form.text, /The password is too common: it is on a list of breached or commonly used passwords; choose another/);
    refused(await call(`${s.url}/api/v1/auth/password/reset`, { json: { token, new_password: LISTED_LOWER_DIGEST } }), 'new_password', TOO_COMMON);
    refused(await call(`${s.url}/api/v1/auth/password/reset`, { json: { token, new_password: u } }), 'new_password', NOT_A_NAME);
    const done = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token, new_password: 'a-reset-password-ok' } });
    assert.equal(done.status, 200, done.text);
    assert.equal((await login(s, u, 'a-reset-password-ok')).status, 200);
  });

  it('an administrator\'s creation and change of a password are held to it', async () => {
    const u = `admin${randomBytes(4).toString('hex')}`;
    const email = `${u}@example.com`;
    refused(await call(`${s.url}/api/v1/users`, { json: { username: u, email, password: LISTED }, headers: bearer(admin) }), 'password', TOO_COMMON);
    refused(await call(`${s.url}/api/v1/users`, { json: { username: u, email, password: u }, headers: bearer(admin) }), 'password', NOT_A_NAME);
    const made = await call(`${s.url}/api/v1/users`, { json: { username: u, email, password: GOOD }, headers: bearer(admin) });
    assert.equal(made.status, 201, made.text);
    const id = made.json.data.id as string;
    const patch = (json: Record<string, unknown>) => call(`${s.url}/api/v1/users/${id}`, { method: 'PATCH', json, headers: bearer(admin) });
    refused(await patch({ password: LISTED_BY_DIGEST }), 'password', TOO_COMMON);
    refused(await patch({ password: email }), 'password', NOT_A_NAME);
    // The address the change gives the account counts too.
    refused(await patch({ email: 'newaddress-of-theirs@example.com', password: 'newaddress-of-theirs' }), 'password', NOT_A_NAME);
    assert.equal((await login(s, u, GOOD)).status, 200, 'nothing changed');
    assert.equal((await patch({ password: 'admin-chosen-password' })).status, 200);
  });

  it('/openapi.json says so beside each password that is set', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json;
    const said = (path: string, field: string, method = 'post') =>
      (doc.paths[path][method].requestBody.content['application/json'].schema.properties[field].description ?? '') as string;
    for (const [path, field, method] of [
      ['/api/auth/signup', 'password'], ['/api/v1/auth/signup', 'password'], ['/api/v1/users', 'password'], ['/api/v1/users/{id}', 'password', 'patch'],
      ['/api/v1/auth/password', 'new_password'], ['/api/v1/auth/password/reset', 'new_password'],
    ] as const) {
      const text = said(path, field, method);
      assert.match(text, /not on the server's list of common or breached passwords/, path);
      assert.match(text, /not the username, the email address or its part before the @/, path);
    }
    assert.equal(said('/api/v1/auth/login', 'password').includes('list'), false);
  });
});

describe('without PASSWORD_BLOCKLIST_FILE, and with PASSWORD_CONTEXT_CHECK=false', () => {
  it('by default the names are refused and no list is said; turned off, a password equal to the username is taken', async () => {
    const on = await startServer({});
    try {
      const u = `defaults${randomBytes(3).toString('hex')}`;
      refused(await call(`${on.url}/api/v1/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: u } }), 'password', NOT_A_NAME);
      assert.equal((await call(`${on.url}/api/v1/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: LISTED } })).status, 201);
      const text = (await call(`${on.url}/openapi.json`)).json.paths['/api/v1/auth/signup'].post.requestBody.content['application/json'].schema.properties.password.description as string;
      assert.doesNotMatch(text, /list/);
      assert.match(text, /not the username/);
    } finally {
      await on.close();
    }
    const off = await startServer({ PASSWORD_CONTEXT_CHECK: 'false' });
    try {
      const u = `offcheck${randomBytes(3).toString('hex')}`;
      assert.equal((await call(`${off.url}/api/v1/auth/signup`, { json: { username: u, email: `${u}@example.com`, password: u } })).status, 201);
      const mine = (await login(off, u, u)).json.data.access_token as string;
      assert.equal((await call(`${off.url}/api/v1/auth/password`, { json: { current_password: u, new_password: `${u}@example.com` }, headers: bearer(mine) })).status, 200);
      const text = (await call(`${off.url}/openapi.json`)).json.paths['/api/v1/auth/signup'].post.requestBody.content['application/json'].schema.properties.password.description as string;
      assert.doesNotMatch(text, /username/);
    } finally {
      await off.close();
    }
  });
});

describe('a PASSWORD_BLOCKLIST_FILE that cannot be used stops the start', () => {
  const bad = (file: string, content: string | Buffer) => (writeFileSync(join(dir, file), content), join(dir, file));
  it('missing, a folder, empty, not UTF-8 (still compressed), a control character, NTLM lines: each a configuration error naming it and the line', async () => {
    await assert.rejects(startServer({ PASSWORD_BLOCKLIST_FILE: join(dir, 'nope.txt') }), (e) =>
      e instanceof ConfigError && e.problems[0] === `PASSWORD_BLOCKLIST_FILE points to "${join(dir, 'nope.txt')}", which does not exist`);
    mkdirSync(join(dir, 'a-folder'));
    const cases: [string, string][] = [
      [join(dir, 'a-folder'), 'is not a file'],
      [bad('empty.txt', '\n\n'), 'holds no password (an empty file is most likely a failed download)'],
      [bad('list.7z', Buffer.from([0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c, 0x00, 0x04])), 'line 1 is not UTF-8 text (a compressed file? unpack it first)'],
      [bad('nul.txt', 'password1\npass\u0000word\n'), 'line 2 holds a control character (is this a text file of passwords, one per line?)'],
      [bad('ntlm.txt', '0001256EA9D9E19B8CB3BB9E8F6C1E3A:4\n'), 'line 1 looks like a hash with a count but not a SHA-1 of 40 hex digits (Pwned Passwords\' NTLM file? use its SHA-1 file)'],
    ];
    for (const [file, why] of cases) {
      await assert.rejects(startServer({ PASSWORD_BLOCKLIST_FILE: file }), (e) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.deepEqual(e.problems, [`PASSWORD_BLOCKLIST_FILE: ${file}: ${why}`]);
        return true;
      });
    }
  });
});

describe('the warden command, imports and sign-in (the built binary, a database reused)', () => {
  it('users create / set-password refuse a listed password or the username; import takes one; it signs in; a bad list stops every command', async () => {
    await buildCli();
    const cwd = mkdtempSync(join(tmpdir(), 'h99-policy-cli-'));
    const env = { SECRET_KEY: TEST_SECRET, DATA_DIR: join(cwd, 'data'), PASSWORD_BLOCKLIST_FILE: listFile, LOG_LEVEL: 'silent' };
    const run = (args: string[], input?: string, more: Record<string, string> = {}) => warden(args, { cwd, env: { ...env, ...more }, ...(input === undefined ? {} : { input }) });
    try {
      const listed = await run(['users', 'create', '--username', 'alice', '--email', 'alice@example.com', '--password-stdin'], LISTED_BY_DIGEST);
      assert.equal(listed.code, 1);
      assert.equal(listed.stderr, 'warden: password: is too common: it is on a list of breached or commonly used passwords; choose another\n');
      const own = await run(['users', 'create', '--username', 'alice-smith', '--email', 'alice@example.com', '--password-stdin'], 'Alice-Smith');
      assert.equal(own.code, 1);
      assert.equal(own.stderr, 'warden: password: must not be the username or the email address\n');
      assert.equal((await run(['users', 'create', '--username', 'alice', '--email', 'alice@example.com', '--password-stdin'], GOOD)).code, 0);
      const set = await run(['users', 'set-password', 'alice', '--password-stdin'], LISTED);
      assert.equal(set.code, 1);
      assert.match(set.stderr, TOO_COMMON);
      // An import brings passwords people already have: not held to the list (nor to their names).
      writeFileSync(join(cwd, 'users.csv'), ['username,email,password', `bob,bob@example.com,${LISTED}`, 'carol-anne,carol@example.com,carol-anne'].join('\n'));
      const imported = await run(['import', 'users.csv', '--json']);
      assert.equal(imported.code, 0, imported.stderr + imported.stdout);
      // Sign-in checks no policy: the imported passwords sign in on a server holding the list.
      const s = await startServer({ DATABASE_URL: `sqlite:${join(cwd, 'data', 'warden.db')}`, PASSWORD_BLOCKLIST_FILE: listFile });
      try {
        assert.equal((await login(s, 'bob', LISTED)).status, 200);
        assert.equal((await login(s, 'carol-anne', 'carol-anne')).status, 200);
        assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'bob', password: LISTED } })).status, 200);
      } finally {
        await s.close();
      }
      const gz = join(cwd, 'list.gz');
      writeFileSync(gz, Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00]));
      for (const args of [['users', 'list'], ['serve']]) {
        const broken = await run(args, undefined, { PASSWORD_BLOCKLIST_FILE: gz, PORT: '49917' });
        assert.equal(broken.code, 1, args.join(' '));
        assert.match(broken.stderr, new RegExp(`PASSWORD_BLOCKLIST_FILE: ${gz.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: line 1 is not UTF-8 text`), args.join(' '));
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
