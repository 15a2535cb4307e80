// A Flask-Security application's users, hashed by Flask-Security itself (Debian's
// python3-flask-security, test/interop/flask_security_app.py): its default double hash (passlib's
// scheme over an HMAC-SHA512 under SECURITY_PASSWORD_SALT, the password NFKD-normalised first) for
// bcrypt, argon2, pbkdf2_sha512 and sha512_crypt. `warden import --from sqlite: --flask-security`
// with the app's salt in Warden's environment; the users sign in over HTTP with their passwords and
// are upgraded to argon2id. Without the flag the import warns (fs_uniquifier); without the salt the
// flag is refused, and a server without it refuses those sign-ins like a wrong password, logging
// why, never the salt or a hash.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { CURRENT_HASH_PREFIX } from '../src/accounts/argon2-hasher.js';
import { buildCli, warden } from './helpers/cli.js';
import { PYTHON, pythonMissing } from './helpers/python.js';
import { call, startServer } from './helpers/server.js';

const APP = new URL('./interop/flask_security_app.py', import.meta.url).pathname;
const SALT = 'the-flask-apps-password-salt-81f3';
const skip = pythonMissing('import flask_security', 'python3-flask-security', 'Flask-Security\'s double-hashed passwords are not imported');

// "ﬁ" (a ligature) and "Å" change under NFKD: Flask-Security hashed the decomposed form, whichever
// spelling comes (`typed`); after the upgrade Warden hashes NFKC, which any spelling reaches too.
const USERS: { username: string; email: string; password: string; scheme: string; typed?: string }[] = [
  { username: 'admin', email: 'admin@example.com', password: 'bcrypt default ﬁligree Å', scheme: 'bcrypt' },
  { username: 'argon', email: 'argon@example.com', password: 'an argon2 password', scheme: 'argon2' },
  { username: 'pbk', email: 'pbk@example.com', password: 'a pbkdf2_sha512 one', scheme: 'pbkdf2_sha512' },
  { username: 'crypt', email: 'crypt@example.com', password: 'and sha512_crypt', scheme: 'sha512_crypt' },
  { username: 'decomposed', email: 'decomposed@example.com', password: 'ﬁligree Å', scheme: 'bcrypt', typed: 'ﬁligree Å'.normalize('NFKD') },
];

describe('import from a Flask-Security application (--flask-security)', { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-flask-security-'));
  const source = join(dir, 'app.db');
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden', 'warden.db')}` };
  const args = ['import', '--from', `sqlite:${source}`, '--table', 'user', '--roles-query',
    'SELECT roles_users.user_id, role.name FROM roles_users JOIN role ON role.id = roles_users.role_id', '--json'];

  before(async () => {
    await buildCli();
    await new Promise<void>((resolve, reject) => {
      const child = execFile(PYTHON, [APP, source, SALT], (err, _out, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve()));
      child.stdin!.end(JSON.stringify(USERS));
    });
  }, { timeout: 300_000 });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('without --flask-security the report warns; the flag without the salt is refused before anything is read', async () => {
    const plain = await warden([...args, '--dry-run'], { cwd: dir, env });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.json.created, USERS.length, 'the hashes parse as bcrypt, argon2, …');
    assert.match(plain.json.warnings[0], /Flask-Security users table \(fs_uniquifier\).*--flask-security/);
    const human = await warden(args.filter((a) => a !== '--json').concat('--dry-run'), { cwd: dir, env });
    assert.match(human.stdout, /^warning: the source looks like a Flask-Security users table/m);

    const noSalt = await warden([...args, '--flask-security'], { cwd: dir, env });
    assert.equal(noSalt.code, 2);
    assert.match(noSalt.stdout + noSalt.stderr, /--flask-security needs SECURITY_PASSWORD_SALT/);
  });

  it('imports them with the salt in Warden\'s environment; they sign in over HTTP and are upgraded; a rerun changes nothing', async () => {
    const withSalt = { ...env, SECURITY_PASSWORD_SALT: SALT };
    const r = await warden([...args, '--flask-security'], { cwd: dir, env: withSalt });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual([r.json.created, r.json.rejected, r.json.warnings], [USERS.length, 0, []]);
    assert.deepEqual(report(await warden([...args, '--flask-security'], { cwd: dir, env: withSalt })), [0, USERS.length]);

    // A server without the salt: the same 401 as a wrong password, and one line saying why.
    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _e, done) { lines.push(String(chunk)); done(); } });
    const blind = await startServer({ ...env, LOG_LEVEL: 'info' }, { logStream });
    try {
      const refused = await call(`${blind.url}/api/auth/signin`, { json: { username: 'admin', password: USERS[0]!.password } });
      assert.equal(refused.status, 401);
    } finally {
      await blind.close();
    }
    const why = lines.find((l) => l.includes('stored password hash cannot be verified'));
    assert.ok(why, lines.join(''));
    assert.match(why, /"hashFormat":"flask-security".*needs SECURITY_PASSWORD_SALT/);
    assert.ok(!lines.join('').includes(SALT) && !lines.join('').includes('$2b$'), 'neither the salt nor a hash in the log');

    const s = await startServer({ ...env, SECURITY_PASSWORD_SALT: SALT });
    try {
      for (const u of USERS) {
        const typed = u.typed ?? u.password;
        assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: u.username, password: `${typed}!` } })).status, 401, u.scheme);
        const ok = await call(`${s.url}/api/auth/signin`, { json: { username: u.username, password: typed } });
        assert.equal(ok.status, 200, `${u.username}: ${ok.text}`);
        assert.ok((await s.warden.storage.users.findByLogin(u.username))!.passwordHash.startsWith(CURRENT_HASH_PREFIX), u.scheme);
        assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: u.email, password: typed } })).status, 200, `${u.username}, upgraded`);
      }
      assert.deepEqual((await call(`${s.url}/api/auth/signin`, { json: { username: 'admin', password: USERS[0]!.password } })).json.roles, ['admin'], 'with the role from roles_users');
      assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'admin', password: USERS[0]!.password.normalize('NFKD') } })).status, 200, 'upgraded, any spelling');
    } finally {
      await s.close();
    }
  });
});

const report = (r: { code: number; json: { created: number; unchanged: number } }) => {
  assert.equal(r.code, 0);
  return [r.json.created, r.json.unchanged];
};
