// Variables meant for Warden that it does not read (src/config/unread.ts): a team moving from Flask
// brings flask-jwt-extended's names (JWT_SECRET_KEY), Flask-SQLAlchemy's and Flask-Mail's, or a
// slip of Warden's own (DATABASE_URI). Each is named, with what Warden reads instead, by the
// server's start, `warden config check` and a refused start, never with its value.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { configRows } from '../src/config/load.js';
import { unreadVariables } from '../src/config/unread.js';
import { buildCli, warden } from './helpers/cli.js';
import { freePort, startChildWarden } from './helpers/child-warden.js';
import { PYTHON, pythonMissing } from './helpers/python.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'warden-unread-'));

describe('variables meant for Warden that it does not read', () => {
  before(buildCli);

  it('every option flask-jwt-extended reads is a Warden setting or is named with what to set instead (the installed package lists them)', {
    skip: pythonMissing('import flask_jwt_extended', 'python3-python-flask-jwt-extended', 'its option names are not checked'),
  }, () => {
    // The options as the library itself defaults them on an app, not a list copied from its docs.
    const names = execFileSync(PYTHON, ['-c', [
      'import flask, flask_jwt_extended',
      'app = flask.Flask("x"); flask_jwt_extended.JWTManager(app)',
      'print("\\n".join(sorted(k for k in app.config if k.startswith("JWT_"))))',
    ].join('\n')], { encoding: 'utf8' }).trim().split('\n');
    assert.ok(names.length >= 30, `flask-jwt-extended listed ${names.length} options`);
    const settings = new Set(configRows().map((r) => r.setting.env));
    const cwd = tmp();
    try {
      const env = Object.fromEntries(names.map((n) => [n, 'x']));
      const notices = unreadVariables(env, cwd);
      for (const name of names) {
        if (settings.has(name)) continue; // JWT_TOKEN_LOCATION, JWT_HEADER_NAME, JWT_HEADER_TYPE: same names, read
        assert.equal(notices.filter((n) => n.startsWith(`${name} `)).length, 1, `${name} is named once`);
      }
      assert.equal(notices.length, names.filter((n) => !settings.has(n)).length, 'nothing else is named');
      assert.ok(notices.includes("JWT_SECRET_KEY is flask-jwt-extended's name and Warden does not read it: set SECRET_KEY"), notices.join('\n'));
      assert.ok(notices.includes("JWT_ACCESS_TOKEN_EXPIRES is flask-jwt-extended's name and Warden does not read it: set ACCESS_TOKEN_EXPIRES_MINUTES (minutes, not seconds)"));
      assert.ok(notices.includes('JWT_CSRF_METHODS is not a Warden setting; Warden ignores it'));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('Flask-Security\'s sign-up switch and password minimum, as the installed package names them, are named with SIGNUP_ENABLED and PASSWORD_MIN_LENGTH', {
    skip: pythonMissing('import flask_security', 'python3-flask-security', 'its option names are not checked'),
  }, () => {
    // The names and defaults as the library itself holds them (SECURITY_ is the prefix it reads them under).
    const defaults = JSON.parse(execFileSync(PYTHON, ['-c', [
      'import json, flask_security.core as c',
      'print(json.dumps({k: c._default_config[k] for k in ("REGISTERABLE", "PASSWORD_LENGTH_MIN")}))',
    ].join('\n')], { encoding: 'utf8' })) as Record<string, unknown>;
    assert.deepEqual(defaults, { REGISTERABLE: false, PASSWORD_LENGTH_MIN: 8 }, 'closed by default there, open here: the notice says so');
    const cwd = tmp();
    try {
      writeFileSync(join(cwd, '.env'), 'SECURITY_PASSWORD_LENGTH_MIN=12\n');
      assert.deepEqual(unreadVariables({ SECURITY_REGISTERABLE: 'False', SECURITY_PASSWORD_SALT: 'x' }, cwd), [
        "SECURITY_PASSWORD_LENGTH_MIN (in .env) is Flask-Security's name and Warden does not read it: set PASSWORD_MIN_LENGTH (8 to 64)",
        "SECURITY_REGISTERABLE is Flask-Security's name and Warden does not read it: set SIGNUP_ENABLED (open unless `false`: Flask-Security's is closed unless `True`)",
      ], 'SECURITY_PASSWORD_SALT is a Warden setting (its imported users\' salt): not named');
      for (const name of ['SIGNUP_ENABLED', 'PASSWORD_MIN_LENGTH', 'SECURITY_PASSWORD_SALT']) {
        assert.ok(configRows().some((r) => r.setting.env === name), `${name} is a Warden setting`);
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('slips of Warden\'s names are named with the setting meant; the rest of the environment is left alone, and all of .env is named', () => {
    const cwd = tmp();
    try {
      writeFileSync(join(cwd, '.env'), 'POSTGRES_PASSWORD=pw\nACCESS_TOKEN_EXPIRE_MINUTES=5\nSECRET_KEY=k\n');
      const notices = unreadVariables({
        DATABASE_URI: 'x', REFRESH_TOKEN_EXPIRE_DAYS: 'x', SMTP_URLS: 'x', SQLALCHEMY_DATABASE_URI: 'x', MAIL_SERVER: 'x',
        // An ordinary environment: none of it is Warden's, none of it is named.
        PATH: '/bin', HOME: '/root', HOSTNAME: 'web-1', NODE_OPTIONS: '', REDIS_PORT: '6379', SMTP_PORT: '25', PGDATA: '/var/lib', LANG: 'C',
        KUBERNETES_SERVICE_HOST: '10.0.0.1', WARDEN_PORT: 'tcp://10.0.0.2:8000', npm_config_cache: '/root/.npm',
        POSTGRES_PASSWORD: undefined, // unset in the environment: .env's counts
      }, cwd);
      assert.deepEqual(notices, [
        'ACCESS_TOKEN_EXPIRE_MINUTES (in .env) is not a Warden setting: did you mean ACCESS_TOKEN_EXPIRES_MINUTES?',
        'DATABASE_URI is not a Warden setting: did you mean DATABASE_URL?',
        "MAIL_SERVER is Flask-Mail's name and Warden does not read it: set SMTP_URL (one URL: smtp://user:pass@host:port)",
        'POSTGRES_PASSWORD (in .env) is not a Warden setting; Warden ignores it',
        'REFRESH_TOKEN_EXPIRE_DAYS is not a Warden setting: did you mean REFRESH_TOKEN_EXPIRES_DAYS?',
        'SMTP_URLS is not a Warden setting: did you mean SMTP_URL?',
        "SQLALCHEMY_DATABASE_URI is Flask-SQLAlchemy's name and Warden does not read it: set DATABASE_URL (sqlite:<path> or postgres://…)",
      ]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('a name written in lower case, as FastAPI\'s settings read it whatever its case (seed 001\'s access_token_expire_minutes), is named with the setting meant', () => {
    const cwd = tmp();
    try {
      writeFileSync(join(cwd, '.env'), 'secret_key=k\nalgorithm=HS256\naccess_token_expire_minutes=30\njwt_secret_key=k\ndebug=1\njwt_expires_hours=8\n');
      const notices = unreadVariables({ Database_Url: 'x', http_proxy: 'x', no_proxy: 'x', npm_config_cache: 'x', npm_lifecycle_event: 'test' }, cwd);
      assert.deepEqual(notices, [
        'Database_Url is not a Warden setting: did you mean DATABASE_URL?',
        'access_token_expire_minutes (in .env) is not a Warden setting: did you mean ACCESS_TOKEN_EXPIRES_MINUTES?',
        'algorithm (in .env) is not a Warden setting: did you mean ALGORITHM?',
        'debug (in .env) is not a Warden setting; Warden ignores it',
        "jwt_expires_hours (in .env) is seed 000's name and Warden does not read it: set ACCESS_TOKEN_EXPIRES_MINUTES (minutes, not hours)",
        "jwt_secret_key (in .env) is flask-jwt-extended's name and Warden does not read it: set SECRET_KEY",
        'secret_key (in .env) is not a Warden setting: did you mean SECRET_KEY?',
      ]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('config check lists them and still exits 0; a refused production start names JWT_SECRET_KEY beside the missing key; no value is printed', async () => {
    const cwd = tmp();
    const secret = randomBytes(24).toString('hex');
    try {
      writeFileSync(join(cwd, '.env'), `MAIL_PASSWORD=${secret}\n`);
      const checked = await warden(['config', 'check', '--json'], { cwd, env: { JWT_SECRET_KEY: secret, DATABASE_URI: `postgres://u:${secret}@db/app` } });
      assert.equal(checked.code, 0, checked.stderr);
      assert.deepEqual(checked.json.unread, [
        'DATABASE_URI is not a Warden setting: did you mean DATABASE_URL?',
        "JWT_SECRET_KEY is flask-jwt-extended's name and Warden does not read it: set SECRET_KEY",
        "MAIL_PASSWORD (in .env) is Flask-Mail's name and Warden does not read it: set SMTP_URL (one URL: smtp://user:pass@host:port)",
      ]);
      const human = await warden(['config', 'check'], { cwd, env: { JWT_SECRET_KEY: secret } });
      assert.equal(human.code, 0);
      assert.match(human.stdout, /^configuration: OK\nnot read:\n {2}- JWT_SECRET_KEY is flask-jwt-extended's name/);

      const refused = await warden(['serve'], { cwd, env: { NODE_ENV: 'production', JWT_SECRET_KEY: secret, DATABASE_URL: 'memory:' } });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /Invalid configuration:\n[\s\S]*\nNot read:\n {2}- JWT_SECRET_KEY is flask-jwt-extended's name and Warden does not read it: set SECRET_KEY\n/);
      for (const out of [checked.stdout, human.stdout, refused.stdout, refused.stderr]) assert.ok(!out.includes(secret), 'no value is printed');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('the server logs each as a warning at start, and starts', async () => {
    const secret = randomBytes(24).toString('hex');
    const server = await startChildWarden(await freePort(), { DATABASE_URL: 'memory:', JWT_SECRET_KEY: secret, JWT_COOKIE_SECURE: 'false' });
    try {
      const warnings = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string })
        .filter((l) => l.level === 40).map((l) => l.msg);
      assert.ok(warnings.includes("JWT_COOKIE_SECURE is flask-jwt-extended's name and Warden does not read it: set COOKIE_SECURE"), warnings.join('\n'));
      assert.ok(warnings.includes("JWT_SECRET_KEY is flask-jwt-extended's name and Warden does not read it: set SECRET_KEY"));
      assert.ok(!server.output().includes(secret), 'no value is logged');
    } finally {
      await server.stop();
    }
  });
});
