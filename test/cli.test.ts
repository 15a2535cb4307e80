// The built `warden` binary, run as an operator would: help on every command without side
// effects, exit codes (0 done, 1 failed, 2 usage), `config check` with secrets masked, the users
// and sessions commands on a database, and a change made by the CLI that a running server
// (sharing its database and Redis) honours on its next request.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, warden, type CliResult } from './helpers/cli.js';
import { freePort } from './helpers/child-warden.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { postgresUrlOrSkip } from './helpers/storage.js';
import { MIGRATIONS } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';

const PASSWORD = 'correct-horse-42';

const tmp = (prefix: string) => mkdtempSync(join(tmpdir(), prefix));

/** Polls `check` until it holds or the deadline passes; returns whether it held. */
async function eventually(check: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

const ok = (r: CliResult, what = '') => assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);

before(() => buildCli(), { timeout: 300_000 });

describe('warden CLI: usage', () => {
  const COMMANDS = [
    [], ['serve'], ['migrate'], ['config'], ['config', 'check'], ['users'], ['users', 'create'], ['users', 'list'], ['users', 'stats'],
    ['users', 'show'], ['users', 'set-roles'], ['users', 'set-password'], ['users', 'disable'], ['users', 'enable'], ['users', 'password-reset'], ['users', 'factors'], ['users', 'factors', 'list'], ['users', 'factors', 'reset'], ['users', 'delete'],
    ['sessions'], ['sessions', 'list'], ['sessions', 'revoke'], ['import'], ['keygen'],
  ];

  it('--help on every command: exit 0, the usage on stdout, nothing created in the folder', async () => {
    const cwd = tmp('warden-cli-help-');
    try {
      for (const cmd of COMMANDS) {
        const r = await warden([...cmd, '--help'], { cwd });
        ok(r, cmd.join(' '));
        assert.match(r.stdout, new RegExp(`^Usage: warden${cmd.length ? ` ${cmd.join(' ')}` : ''}`), cmd.join(' '));
      }
      ok(await warden(['help', 'users'], { cwd }));
      ok(await warden(['--version'], { cwd }));
      assert.deepEqual(readdirSync(cwd), []);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('unknown commands and options, missing arguments, a group without its command: the usage and exit 2, nothing created', async () => {
    const cwd = tmp('warden-cli-usage-');
    try {
      const cases: [string[], RegExp][] = [
        [['serv'], /unknown command 'serv'/],
        [['--port', '80'], /unknown option '--port'/],
        [['users', 'lst'], /unknown command 'lst'/],
        [['users', 'list', '--bogus'], /unknown option '--bogus'/],
        [['users', 'show'], /missing required argument 'user'/],
        [['users', 'list', '--limit', 'ten'], /--limit <n>' argument 'ten' is invalid/],
        // A limit of none would answer "no users" with users there, as if the database were empty.
        [['users', 'list', '--limit', '0'], /--limit <n>' argument '0' is invalid\. not a whole number from 1/],
        [['users'], /Usage: warden users/],
        [['import'], /give a FILE or --from DATABASE/],
        [['import', '--from', 'sqlite:x.db'], /--from needs --table/],
        [['users', 'delete', 'someone'], /add --yes/],
        [['keygen'], /missing required argument 'alg'/],
        [['keygen', 'HS1'], /unknown algorithm "HS1"/],
        [['users', 'list', '--active', '--inactive'], /exclude each other/],
      ];
      for (const [args, message] of cases) {
        const r = await warden(args, { cwd });
        assert.equal(r.code, 2, `${args.join(' ')}: exit ${r.code}, ${r.stderr}`);
        assert.match(r.stderr, message, args.join(' '));
      }
      assert.match((await warden(['serv'], { cwd })).stderr, /Usage: warden \[options\] \[command\]/, 'the usage follows the error');
      // A wrong usage the command finds itself prints that command's usage too.
      for (const [args, usage] of [[['import'], /Usage: warden import \[options\] \[file\]/], [['users', 'list', '--active', '--inactive'], /Usage: warden users list/]] as const) {
        assert.match((await warden([...args], { cwd })).stderr, usage, args.join(' '));
      }
      assert.deepEqual(readdirSync(cwd), [], 'no data folder, no key, no database');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('a reader slower than the command still gets every byte: the output is flushed before exit', async () => {
    const cwd = tmp('warden-cli-pipe-');
    try {
      // 3,000 rejected rows: a report several times the size of a pipe's buffer.
      writeFileSync(join(cwd, 'bad.csv'), ['email,username,password', ...Array.from({ length: 3000 }, (_, i) => `u${i}@example.com,not valid ${i},password-123`)].join('\n'));
      const r = await warden(['import', 'bad.csv', '--dry-run', '--json'], { cwd, readAfterMs: 500 });
      assert.equal(r.code, 1, r.stderr);
      assert.ok(r.stdout.length > 200_000, `${r.stdout.length} bytes`);
      assert.equal(r.json?.rejects?.length, 3000, 'the whole report, parsed');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('a reader that stops early (`| head`): the command ends quietly with its own exit code, no stack trace', async () => {
    const cwd = tmp('warden-cli-head-');
    try {
      // A werkzeug hash (test/fixtures/legacy-hashes): nothing to hash on import.
      const hash = 'pbkdf2:sha256:1000$3T4W0pXq$97e31ef3dd9fd00a3cb79ae1b0fe7adc103e3054c3d2194c977245d366a3bca2';
      writeFileSync(join(cwd, 'users.csv'), ['email,username,password_hash', ...Array.from({ length: 3000 }, (_, i) => `u${i}@example.com,user${i},${hash}`)].join('\n'));
      writeFileSync(join(cwd, 'bad.csv'), ['email,username,password', ...Array.from({ length: 3000 }, (_, i) => `u${i}@example.com,not valid ${i},password-123`)].join('\n'));
      ok(await warden(['import', 'users.csv'], { cwd }));
      const cases: [string[], number][] = [
        [['audit'], 0], [['audit', '--format', 'text'], 0], [['users', 'list', '--all'], 0], [['users', 'list', '--all', '--json'], 0],
        [['import', 'bad.csv', '--dry-run', '--json'], 1], [['import', 'bad.csv', '--dry-run'], 1], // rows rejected: 1, as without the pipe
      ];
      for (const [args, code] of cases) {
        const r = await warden(args, { cwd, closeAfter: 100 });
        assert.equal(r.stderr, '', `${args.join(' ')}: nothing on stderr`);
        assert.equal(r.code, code, args.join(' '));
      }
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('a URL password holding "@" or a space (the drivers take both unencoded) is hidden whole by config check', async () => {
    // Drivers and WHATWG URLs end the user information at its last "@"; a mask that stopped at the
    // first "@", or at a space, printed the rest of the password.
    const cwd = tmp('warden-cli-at-');
    try {
      const tails = ['db-tail-7f3a', 'redis-tail-91c2', 'smtp-tail-04be', 'hook-tail-5d6e', 'spaced-tail-a8b1'];
      const env = {
        SECRET_KEY: `s3cret-${randomBytes(24).toString('hex')}`,
        DATABASE_URL: `postgres://app:Tr0ub@${tails[0]}@db.internal:5432/app`,
        REDIS_URL: `redis://default:pa@ss@${tails[1]}@127.0.0.1:6379`,
        SMTP_URL: `smtp://mailer:m@${tails[2]}@mail.internal:587`,
        MAIL_FROM: 'Example <no-reply@example.com>',
        WEBHOOK_URLS: `https://hooks.example.com/in https://u:h@${tails[3]}@siem.example.com/x|signin.*`,
        WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
      };
      const json = await warden(['config', 'check', '--json'], { cwd, env });
      ok(json);
      const settings = Object.fromEntries(json.json.settings.map((s: { name: string; value: string }) => [s.name, s.value]));
      assert.equal(settings.DATABASE_URL, 'postgres://app:***@db.internal:5432/app');
      assert.equal(settings.REDIS_URL, 'redis://default:***@127.0.0.1:6379');
      assert.equal(settings.SMTP_URL, 'smtp://mailer:***@mail.internal:587');
      assert.equal(settings.WEBHOOK_URLS, 'https://hooks.example.com/in https://u:***@siem.example.com/x|signin.*');
      const spaced = await warden(['config', 'check', '--json'], { cwd, env: { ...env, REDIS_URL: `redis://default:two words ${tails[4]}@127.0.0.1:6379` } });
      ok(spaced);
      assert.equal(spaced.json.settings.find((s: { name: string }) => s.name === 'REDIS_URL').value, 'redis://default:***@127.0.0.1:6379');
      const human = await warden(['config', 'check'], { cwd, env });
      ok(human);
      for (const out of [json.stdout, human.stdout, spaced.stdout]) {
        for (const tail of tails) assert.equal(out.includes(tail), false, `${tail} printed:\n${out}`);
      }

    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('a change made while Redis refuses connections is stored and said not broadcast on stderr, the URL\'s password hidden', async () => {
    // A refused connection is known at once, without the 5 s wait: the warning was written only
    // when that wait ran out, so a refused Redis left the operator reading "their tokens are refused"
    // while running instances learnt of it at their next resync.
    const cwd = tmp('warden-cli-redis-down-');
    try {
      const tail = 'redis-tail-91c2';
      const env = {
        SECRET_KEY: `s3cret-${randomBytes(24).toString('hex')}`, DATABASE_URL: `sqlite:${join(cwd, 'warden.db')}`,
        REDIS_URL: `redis://default:pa@ss@${tail}@127.0.0.1:${await freePort()}`,
      };
      const created = await warden(['users', 'create', '--username', 'carol', '--email', 'carol@example.com', '--password-stdin'], { cwd, env, input: `${PASSWORD}\n` });
      ok(created);
      const disabled = await warden(['users', 'disable', 'carol'], { cwd, env });
      ok(disabled);
      assert.match(disabled.stdout, /carol: deactivated/);
      assert.match(disabled.stderr, /^warden: warning: Redis at redis:\/\/default:\*\*\*@127\.0\.0\.1:\d+ unreachable \(.+\); changes are stored but not broadcast/);
      for (const out of [created.stderr, disabled.stderr]) assert.equal(out.includes(tail), false, out);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('config check: a refused DATABASE_URL whose password holds "@" quotes no part of it (helper-82)', async () => {
    const cwd = tmp('warden-cli-config-at-');
    try {
      const password = `p@ss@w0rd-${randomBytes(6).toString('hex')}`;
      const env = { SECRET_KEY: `s3cret-${randomBytes(24).toString('hex')}`, DATABASE_URL: `mysql://app:${password}@db.internal/app` };
      const bad = await warden(['config', 'check'], { cwd, env });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /DATABASE_URL must be sqlite:/);
      const tail = password.slice(password.lastIndexOf('@') + 1);
      assert.ok(!bad.stdout.includes(tail) && !bad.stderr.includes(tail), 'the refusal quotes no part of the password');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });

  it('config check: the effective values, secrets and URL passwords masked, exit 1 naming every problem; it creates nothing', async () => {
    const cwd = tmp('warden-cli-config-');
    try {
      const secret = `s3cret-${randomBytes(24).toString('hex')}`;
      writeFileSync(join(cwd, '.env'), 'ACCESS_TOKEN_EXPIRES_MINUTES=20\n');
      const mfaKey = randomBytes(32).toString('hex');
      const webhookSecret = `whsec_${randomBytes(32).toString('base64')}`;
      const env = {
        SECRET_KEY: secret, ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'hunter2-hunter2', DATABASE_URL: 'postgres://app:dbpass@db.internal:5432/app',
        MFA_ENCRYPTION_KEY: mfaKey, WEBHOOK_SECRET: webhookSecret,
        WEBHOOK_URLS: 'https://hooks.example.com/in?token=hooktok123&team=ops https://u:hookpass@siem.example.com/x?api_key=k9k9|signin.*,user.deleted',
      };
      const good = await warden(['config', 'check', '--json'], { cwd, env });
      ok(good);
      const settings = Object.fromEntries(good.json.settings.map((s: { name: string }) => [s.name, s]));
      assert.deepEqual(settings.SECRET_KEY, { name: 'SECRET_KEY', value: '********', source: 'environment' });
      assert.equal(settings.ADMIN_PASSWORD.value, '********');
      assert.equal(settings.MFA_ENCRYPTION_KEY.value, '********', 'the key TOTP secrets are encrypted with');
      assert.equal(settings.WEBHOOK_SECRET.value, '********', 'the key webhook deliveries are signed with');
      assert.equal(settings.DATABASE_URL.value, 'postgres://app:***@db.internal:5432/app');
      // A credential in a URL's query is hidden too, in every URL of a list; the rest stays readable.
      assert.equal(settings.WEBHOOK_URLS.value, 'https://hooks.example.com/in?token=***&team=ops https://u:***@siem.example.com/x?api_key=***|signin.*,user.deleted', 'the event filter still shown');
      assert.deepEqual(settings.ACCESS_TOKEN_EXPIRES_MINUTES, { name: 'ACCESS_TOKEN_EXPIRES_MINUTES', value: '20', source: '.env' });
      assert.deepEqual(settings.PORT, { name: 'PORT', value: '8000', source: 'default' });
      assert.match(good.json.keys, /^HS256 from SECRET_KEY/);
      // The sender and links the server computes when MAIL_FROM and APP_URL are unset.
      assert.equal(good.json.mail, `written to ${join(cwd, 'data', 'outbox')}/*.eml (no SMTP_URL), from Warden <warden@localhost>, links at http://localhost:8000`);
      const smtp = await warden(['config', 'check', '--json'], { cwd, env: { ...env, SMTP_URL: 'smtp://mailer:mailpass@mail.internal:587', PORT: '9000' } });
      assert.equal(smtp.json.mail, 'SMTP smtp://mailer:***@mail.internal:587, from Warden <warden@localhost>, links at http://localhost:9000');
      const human = await warden(['config', 'check'], { cwd, env });
      ok(human);
      for (const out of [good.stdout, human.stdout]) {
        assert.ok(!out.includes(secret) && !out.includes('hunter2') && !out.includes('dbpass'), 'no secret is printed');
        assert.ok(!out.includes('hooktok123') && !out.includes('hookpass') && !out.includes('k9k9'), 'no webhook credential is printed');
        assert.ok(!out.includes(mfaKey) && !out.includes(webhookSecret.slice(6)), 'no key is printed');
      }

      const bad = await warden(['config', 'check'], { cwd, env: { PORT: 'eighty', COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'false' } });
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /2 problems/);
      assert.match(bad.stdout, /PORT must be a whole number/);
      assert.match(bad.stdout, /COOKIE_SAMESITE=none requires COOKIE_SECURE=true/);
      assert.match(bad.stdout, /PORT\s+eighty\s+environment/);

      // Mid-rotation (README "Rotating keys", step 1): the keys that verify beside the signer, and
      // SECRET_KEY, left in the environment, named as unused.
      const keysDir = tmp('warden-cli-keys-');
      ok(await warden(['keygen', 'EdDSA', '--kid', 'ed-next', '--jwks', join(keysDir, 'keys.json')], { cwd, env }));
      const rotating = await warden(['config', 'check', '--json'], { cwd, env: { ...env, JWKS_FILE: join(keysDir, 'keys.json') } });
      rmSync(keysDir, { recursive: true, force: true });
      ok(rotating);
      assert.match(rotating.json.keys, /^HS256 from JWKS_FILE \S+ \(kid hs-[\w-]+\); also verifying ed-next \(EdDSA\); SECRET_KEY unused while JWKS_FILE is set$/);
      assert.ok(!rotating.stdout.includes(secret));

      const fromDefaults = await warden(['config', 'check'], { cwd, env: {} });
      ok(fromDefaults);
      assert.match(fromDefaults.stdout, /development key .*secret\.key \(generated at the first start/);
      assert.match(fromDefaults.stdout, /does not exist yet/);
      assert.deepEqual(readdirSync(cwd), ['.env'], 'no data folder, no key file, no database');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

describe('warden CLI: users and sessions on a SQLite database', () => {
  let cwd: string;
  let env: Record<string, string>;
  const run = (args: string[], input?: string) => warden(args, { cwd, env, ...(input !== undefined ? { input } : {}) });
  before(() => {
    cwd = tmp('warden-cli-users-');
    env = { DATABASE_URL: `sqlite:${join(cwd, 'db', 'warden.db')}` };
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));

  it('read-only commands refuse a database that does not exist, and do not create it', async () => {
    for (const args of [['users', 'list'], ['users', 'show', 'x'], ['users', 'stats'], ['sessions', 'list', 'x']]) {
      const r = await run(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, /no database at .*warden\.db/);
    }
    assert.equal(existsSync(join(cwd, 'db')), false);
  });

  const lastMigration = MIGRATIONS.reduce((a, b) => (b.version > a.version ? b : a));
  /**
   * A SQLite database as the previous release left it (the last migration not yet applied), after
   * `setup` (a warden command taking the password on stdin) if given, and a u.csv to import.
   */
  async function behind(dir: string, setup?: string[]) {
    const file = join(dir, 'warden.db');
    const env = { DATABASE_URL: `sqlite:${file}` };
    ok(await warden(['migrate'], { cwd: dir, env }));
    if (setup) ok(await warden(setup, { cwd: dir, env, input: PASSWORD }));
    const db = openSqlite(file);
    prepare(db, 'DELETE FROM schema_migrations WHERE version = ?').run(lastMigration.version);
    db.close();
    writeFileSync(join(dir, 'u.csv'), 'username,email,password\nbeh,beh@example.com,behind-password-1\n');
    const refused = (r: { code: number; stdout: string; stderr: string }, args: string[]) => {
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.ok(r.stderr.includes(`needs a migration this command does not apply (${lastMigration.version} ${lastMigration.name}): run "warden migrate" first`), r.stderr);
    };
    return { file, env, refused };
  }

  it('read-only commands and dry runs apply no migration: behind, they say so and change nothing', async () => {
    const dir = tmp('warden-cli-behind-');
    try {
      const { file, env: behindEnv, refused } = await behind(dir);
      for (const args of [['users', 'list'], ['users', 'stats'], ['audit'], ['import', 'u.csv', '--dry-run']]) refused(await warden(args, { cwd: dir, env: behindEnv }), args);
      const after = openSqlite(file, { readonly: true });
      assert.equal((prepare(after, 'SELECT count(*) AS n FROM schema_migrations WHERE version = ?').get(lastMigration.version) as { n: number }).n, 0, 'still not applied');
      after.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('commands that write apply no migration either: behind, they refuse and change nothing', async () => {
    // An operator's new CLI on a database the servers have not migrated yet: "users disable" must
    // not rewrite the schema (migration 11 locks the sessions table) as a side effect.
    const dir = tmp('warden-cli-behind-writes-');
    try {
      const { file, env: behindEnv, refused } = await behind(dir, ['users', 'create', '--username', 'erin', '--email', 'erin@example.com', '--password-stdin']);
      const writes: { args: string[]; input?: string }[] = [
        { args: ['users', 'disable', 'erin'] },
        { args: ['users', 'set-roles', 'erin', 'admin'] },
        { args: ['users', 'create', '--username', 'frank', '--email', 'frank@example.com', '--password-stdin'], input: PASSWORD },
        { args: ['sessions', 'revoke', 'erin'] },
        { args: ['import', 'u.csv'] },
      ];
      for (const { args, input } of writes) refused(await warden(args, { cwd: dir, env: behindEnv, ...(input !== undefined ? { input } : {}) }), args);
      const after = openSqlite(file, { readonly: true });
      assert.equal((prepare(after, 'SELECT count(*) AS n FROM schema_migrations WHERE version = ?').get(lastMigration.version) as { n: number }).n, 0, 'still not applied');
      assert.deepEqual(prepare(after, 'SELECT username, is_active FROM users').all(), [{ username: 'erin', is_active: 1 }], 'nothing written');
      after.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('migrate, create, list, show, set-roles, disable, enable, set-password, stats, delete, with --json for scripts', async () => {
    // A new database: every migration is applied and named; run again, none is.
    const first = await run(['migrate']);
    ok(first);
    const count = MIGRATIONS.length;
    assert.match(first.stdout, new RegExp(`schema at version ${Math.max(...MIGRATIONS.map((m) => m.version))} \\(applied ${count} migrations\\)`));
    const lines = first.stdout.split('\n');
    for (const m of MIGRATIONS) assert.ok(lines.includes(`  ${m.version} ${m.name}`), `migration ${m.version} named`);
    const again = await run(['migrate', '--json']);
    ok(again);
    assert.deepEqual(again.json.applied, []);
    assert.match((await run(['migrate'])).stdout, /\(up to date: nothing to apply\)/);
    const created = await run(['users', 'create', '--username', 'alice', '--email', 'Alice@Example.com', '--roles', 'admin,user', '--full-name', 'Alice A', '--password-stdin', '--json'], `${PASSWORD}\n`);
    ok(created);
    assert.deepEqual(
      { ...created.json, id: undefined, created_at: undefined, updated_at: undefined },
      {
        id: undefined, username: 'alice', email: 'alice@example.com', email_verified: true, full_name: 'Alice A', roles: ['admin', 'user'], is_active: true,
        created_at: undefined, updated_at: undefined, legacy_id: null, password_hash: { format: 'argon2', current: true, usable: true },
      },
    );
    const id = created.json.id as string;

    const dup = await run(['users', 'create', '--username', 'ALICE', '--email', 'other@example.com', '--password-stdin'], PASSWORD);
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /Username already registered/);
    const weak = await run(['users', 'create', '--username', 'bob', '--email', 'bob@example.com', '--password-stdin', '--json'], 'short');
    assert.equal(weak.code, 1);
    assert.equal(weak.json.error.code, 'ERR_VALIDATION');
    // Every mistake at once, one line each (and listed under --json), nothing created.
    const worse = await run(['users', 'create', '--username', 'b b', '--email', 'nope', '--password-stdin'], 'short');
    assert.equal(worse.code, 1);
    assert.equal(worse.stderr, 'warden: username: must be 3 to 64 letters A–Z or a–z (no accents or other scripts), digits, "_", "." or "-"\nwarden: email: must be a valid email address\nwarden: password: must be at least 8 characters\n');
    const worseJson = await run(['users', 'create', '--username', 'b b', '--email', 'nope', '--password-stdin', '--json'], 'short');
    assert.deepEqual(worseJson.json.error.fields.map((f: { field: string }) => f.field), ['username', 'email', 'password']);
    const noPassword = await run(['users', 'create', '--username', 'bob', '--email', 'bob@example.com']);
    assert.equal(noPassword.code, 2, 'no terminal and no --password-stdin');

    const list = await run(['users', 'list', '--json']);
    ok(list);
    assert.deepEqual(list.json.map((u: { id: string }) => u.id), [id]);
    assert.equal((await run(['users', 'show', 'alice@example.com', '--json'])).json.id, id);
    assert.equal((await run(['users', 'show', id, '--json'])).json.username, 'alice');
    const missing = await run(['users', 'show', 'nobody']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no user "nobody"/);

    assert.deepEqual((await run(['users', 'set-roles', 'alice', 'editor,user', 'auditor', '--json'])).json.roles, ['editor', 'user', 'auditor']);
    assert.equal((await run(['users', 'disable', 'alice', '--json'])).json.is_active, false);
    assert.deepEqual((await run(['users', 'list', '--inactive', '--json'])).json.length, 1);
    assert.deepEqual((await run(['users', 'list', '--active', '--json'])).json.length, 0);
    assert.equal((await run(['users', 'enable', 'alice', '--json'])).json.is_active, true);
    const setPassword = await run(['users', 'set-password', 'alice', '--password-stdin'], 'another-password-99');
    ok(setPassword);
    assert.match(setPassword.stdout, /alice: password changed; their sessions are ended; a notice is queued for alice@example\.com/);

    const stats = await run(['users', 'stats', '--json']);
    ok(stats);
    assert.deepEqual({ ...stats.json, by_format: undefined }, { users: 1, active: 1, inactive: 0, current_hash: 1, legacy_hash: 0, unusable_hash: 0, by_format: undefined });
    assert.deepEqual((await run(['users', 'list', '--legacy-hash', '--all', '--json'])).json, []);

    ok(await run(['sessions', 'list', 'alice']));
    // The CLI only queues the mail in the database; a running server's worker makes the link and sends it.
    const reset = await run(['users', 'password-reset', 'alice', '--json']);
    ok(reset);
    assert.equal(reset.json.email, 'alice@example.com');
    const db = openSqlite(join(cwd, 'db', 'warden.db'), { readonly: true });
    try {
      // The owner is told of the password set above, as of an administrator's change through the API.
      assert.deepEqual(prepare(db, `SELECT template, recipient, status FROM mail_outbox ORDER BY template`).all(), [
        { template: 'password-changed', recipient: 'alice@example.com', status: 'pending' },
        { template: 'password-reset', recipient: 'alice@example.com', status: 'pending' },
      ]);
    } finally {
      db.close();
    }
    assert.equal((await run(['users', 'password-reset', 'nobody'])).code, 1);
    const factors = await run(['users', 'factors', 'list', 'alice', '--json']);
    ok(factors);
    assert.deepEqual(factors.json, { user: 'alice', totp: [], passkeys: [], recovery_codes_remaining: 0 });
    assert.equal((await run(['users', 'factors', 'reset', 'alice', '--json'])).json.user, 'alice');
    ok(await run(['users', 'delete', 'alice', '--yes']));
    assert.deepEqual((await run(['users', 'list', '--json'])).json, []);
  });
});

describe('warden CLI: a running server honours the changes it makes', async () => {
  const { url: pgUrl, skip: pgSkip } = await postgresUrlOrSkip();
  const redisWhy = await redisSkip();

  /** A server and the CLI's environment on one database and one Redis channel of their own (no Redis: `redis: false`). */
  async function setup(databaseUrl: string, redis = true) {
    const channel = testChannel('cli:');
    const env: Record<string, string> = redis ? { DATABASE_URL: databaseUrl, REDIS_URL, REDIS_CHANNEL: channel } : { DATABASE_URL: databaseUrl };
    const server = await startServer(env);
    const cwd = tmp('warden-cli-live-');
    return { server, cwd, env, cli: (args: string[]) => warden(args, { cwd, env }) };
  }

  async function signedIn(s: Running, username: string) {
    await call(`${s.url}/api/auth/signup`, { json: { username, email: `${username}@example.com`, password: PASSWORD } });
    const r = await call(`${s.url}/api/auth/signin`, { json: { username, password: PASSWORD } });
    assert.equal(r.status, 200, r.text);
    return r.json.access_token as string;
  }
  const verify = (s: Running, token: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });

  async function exercise(ctx: Awaited<ReturnType<typeof setup>>) {
    const { server: s, cli } = ctx;
    // disable: the token is refused on the next request
    const carol = await signedIn(s, 'carol');
    assert.equal((await verify(s, carol)).status, 200);
    ok(await cli(['users', 'disable', 'carol']));
    assert.ok(await eventually(async () => (await verify(s, carol)).status === 401), 'the disabled user\'s token is refused');
    assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'carol', password: PASSWORD } })).status, 400, 'and sign-in too');

    // set-roles: the live token carries the new roles
    const dan = await signedIn(s, 'dan');
    ok(await cli(['users', 'set-roles', 'dan', 'editor']));
    assert.ok(await eventually(async () => (await verify(s, dan)).headers.get('x-auth-roles') === 'editor'), 'roles overridden');

    // sessions list: a client's user agent reaches the operator's terminal without its controls
    // (U+009B, a C1 CSI, starts an escape sequence for some terminals; U+0085 breaks the line).
    await call(`${s.url}/api/auth/signup`, { json: { username: 'fay', email: 'fay@example.com', password: PASSWORD } });
    const odd = await call(`${s.url}/api/auth/signin`, { json: { username: 'fay', password: PASSWORD }, headers: { 'user-agent': 'agent\u009b31m\u0085red' } });
    assert.equal(odd.status, 200, odd.text);
    const shown = await cli(['sessions', 'list', 'fay']);
    ok(shown);
    assert.match(shown.stdout, /agent\ufffd31m\ufffdred/);
    assert.doesNotMatch(shown.stdout, /[\u0080-\u009f]/);

    // sessions revoke: refused
    const erin = await signedIn(s, 'erin');
    const listed = await cli(['sessions', 'list', 'erin', '--json']);
    ok(listed);
    assert.equal(listed.json.length, 1);
    const revoked = await cli(['sessions', 'revoke', 'erin', '--json']);
    ok(revoked);
    assert.deepEqual(revoked.json.ended, [listed.json[0].id]);
    assert.ok(await eventually(async () => (await verify(s, erin)).status === 401), 'the revoked session\'s token is refused');
  }

  it('PostgreSQL + Redis: disable, set-roles and sessions revoke reach the server at once', { skip: pgSkip ?? redisWhy ?? false }, async () => {
    const schema = `warden_cli_${process.pid}_${randomBytes(4).toString('hex')}`;
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const u = new URL(pgUrl!);
    u.searchParams.set('options', `-c search_path=${schema}`);
    const ctx = await setup(u.toString());
    try {
      await exercise(ctx);
    } finally {
      await ctx.server.close();
      rmSync(ctx.cwd, { recursive: true, force: true });
      await admin.query(`DROP SCHEMA ${schema} CASCADE`);
      await admin.end();
    }
  });

  /** The CLI and a server on one SQLite file, with Redis or not. */
  async function onSqlite(redis: boolean) {
    const dir = tmp('warden-cli-sqlite-');
    const ctx = await setup(`sqlite:${join(dir, 'shared.db')}`, redis);
    try {
      await exercise(ctx);
    } finally {
      await ctx.server.close();
      rmSync(ctx.cwd, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('the same SQLite file + Redis: the same', { skip: redisWhy ?? false }, () => onSqlite(true));

  it('the same SQLite file without Redis: the server reads the changes from the database (REVOCATION_POLL_MS)', () => onSqlite(false));

  it('keygen prints a private JWK', async () => {
    const cwd = tmp('warden-cli-keygen-');
    try {
      const r = await warden(['keygen', 'EdDSA', '--kid', 'k1'], { cwd });
      ok(r);
      assert.equal(r.json.keys[0].kid, 'k1');
      assert.equal((await warden(['keygen', 'HS1'], { cwd })).code, 2, 'an algorithm that is none of them: wrong usage');
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});

