// A Django project moves to Warden as README's "Migrating from Flask/FastAPI" says for Django: its
// <!-- django-import --> block (a view renaming only the usernames Warden does not take, the
// superuser and staff flags and the groups as roles, `user` kept for everyone) runs as written on
// a project Debian's Django made (test/interop/django_users.py), then every imported user signs in
// at /token with their old password, and roles come out as the README says.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, buildCli, warden } from './helpers/cli.js';
import { PYTHON, pythonMissing } from './helpers/python.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';

const run = promisify(execFile);
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const block = /<!-- django-import:start -->\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];

let sqliteMissing: string | undefined;
try {
  execFileSync('sqlite3', ['-version'], { stdio: 'ignore' });
} catch {
  sqliteMissing = 'sqlite3 not found (apt-get install sqlite3): the README\'s Django import block not run';
}
const skip = pythonMissing('import django, argon2, bcrypt', 'python3-django python3-argon2 python3-bcrypt', 'the import of a Django project\'s users not checked') ?? sqliteMissing;

/** An HS256 token of the given claims, as djangorestframework-simplejwt signs with the shared key. */
function simplejwt(claims: Record<string, unknown>): string {
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', TEST_SECRET).update(input).digest('base64url')}`;
}

describe('a Django project\'s users, imported with the README\'s block', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-django-'));
  const appDb = join(dir, 'db.sqlite3');
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden.db')}` };
  let s: Running;
  let output = '';

  before(async () => {
    await buildCli();
    await run(PYTHON, [new URL('./interop/django_users.py', import.meta.url).pathname, appDb], { timeout: 60_000 });
    assert.ok(block, 'README has the django-import block');
    const script = `warden() { node "${CLI}" "$@"; }\n${block.replaceAll('/srv/django-app/db.sqlite3', appDb)}`;
    // Rows are rejected (no email, a duplicate, an unusable password): the import exits 1.
    const result = await run('sh', ['-c', script], { cwd: dir, env: { ...process.env, ...env } }).catch((e: { code: number; stdout: string; stderr: string }) => e);
    output = result.stdout;
    assert.ok(!('code' in result) || result.code === 1, `${result.stdout}${result.stderr}`);
    s = await startServer({ ...env, LEGACY_REFRESH_TOKENS: 'true' });
  }, { timeout: 300_000 });
  after(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rejects only the rows the README names, each with its reason', () => {
    assert.match(output, /created\s+12\b/, output);
    assert.match(output, /rejected\s+3\b/, output);
    assert.match(output, /row 6 \(id 6\): email: is required/);
    assert.match(output, /row 8 \(id 8\): email: same email as row 7 \(id 7\), compared in lower case/);
    assert.match(output, /row 9 \(id 9\): password_hash: is Django's mark of a user without a password/);
  });

  it('every imported user signs in with the old password, by username, the one made from the email, or the email', async () => {
    const signins: [string, string][] = [
      ['alice', 'alice-pass-1'], ['bob', 'bob-pass-22'], ['carol', 'carol-pass-3'], ['dave', 'dave-pass-4'],
      ['erin', 'erin-pass-5'], ['heidi', 'heidi-pass-8'], ['Admin', 'admin-pass-10'], ['staffer', 'staff-pass-11'],
      ['etienne', 'etienne-pass'], ['zed', 'zed-pass-13'], ['jo@example.com', 'jo-pass-14'],
    ];
    for (const [username, password] of signins) {
      const r = await call(`${s.url}/token`, { form: { username, password } });
      assert.equal(r.status, 200, `${username}: ${r.text}`);
    }
    const inactive = await call(`${s.url}/token`, { form: { username: 'mallory', password: 'mallory-pass' } });
    assert.deepEqual([inactive.status, inactive.json.detail], [400, 'Inactive user']);
  });

  it('roles: the flags and the groups, and user for everyone', async () => {
    const roles = async (login: string) => [...(await s.warden.storage.users.findByLogin(login))!.roles].sort();
    assert.deepEqual(await roles('Admin'), ['admin', 'staff', 'user']);
    assert.deepEqual(await roles('staffer'), ['staff', 'user']);
    assert.deepEqual(await roles('alice'), ['editors', 'user']);
    assert.deepEqual(await roles('bob'), ['user']);
    const list = await warden(['users', 'list', '--json'], { cwd: dir, env });
    // "jo" is too short: made from the email, with a suffix (the README's ann.smith-3f9a1c).
    const names = (list.json as { username: string }[]).map((u) => u.username.replace(/^jo-[0-9a-f]{6}$/, 'jo-…')).sort();
    assert.deepEqual(names, ['Admin', 'Bob', 'alice', 'carol', 'dave', 'erin', 'etienne', 'heidi', 'jo-…', 'mallory', 'staffer', 'zed']);
  });

  it('simplejwt\'s tokens, with the key shared: "Token claims are invalid", even with LEGACY_REFRESH_TOKENS', async () => {
    const now = Math.floor(Date.now() / 1000);
    const refresh = simplejwt({ token_type: 'refresh', exp: now + 3600, iat: now, jti: randomUUID().replaceAll('-', ''), user_id: 1 });
    const access = simplejwt({ token_type: 'access', exp: now + 300, iat: now, jti: randomUUID().replaceAll('-', ''), user_id: 1 });
    const r = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: refresh } });
    assert.deepEqual([r.status, r.json.detail], [401, 'Token claims are invalid']);
    const v = await call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${access}` } });
    assert.equal(v.status, 401);
  });
});
