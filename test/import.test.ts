// `warden import --from` with the built binary, on the two layouts the migration guide covers: a
// Flask-SQLAlchemy application's SQLite file (integer ids, werkzeug hashes, Flask-Security's
// roles_users join table and confirmed_at) into a SQLite Warden, and a fastapi-users PostgreSQL
// table (UUID ids, no usernames, is_superuser, is_verified) into a PostgreSQL Warden. Dry run, run, rerun (nothing changes), rejects
// row by row, --update; then the imported users sign in over HTTP with their old passwords.
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { CURRENT_HASH_PREFIX } from '../src/accounts/argon2-hasher.js';
import { openStorage } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { CLI, buildCli, warden, type CliResult } from './helpers/cli.js';
import { call, startServer } from './helpers/server.js';
import { postgresUrlOrSkip } from './helpers/storage.js';

interface FixtureRow { kind: string; password: string; hash: string }
const fixtures = (JSON.parse(readFileSync(new URL('./fixtures/legacy-hashes/hashes.json', import.meta.url), 'utf8')) as { rows: FixtureRow[] }).rows;
const hashOf = (kind: string) => fixtures.find((r) => r.kind === kind && r.password.length >= 8)!;

const ok = (r: CliResult, what = '') => assert.equal(r.code, 0, `${what} exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
/** An import with rejects exits 1 and still prints its report. */
const report = (r: CliResult) => {
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
  assert.ok(r.json, r.stdout + r.stderr);
  return r.json;
};
const reasons = (json: { rejects: { row: string; reason: string }[] }) => Object.fromEntries(json.rejects.map((x) => [x.row, x.reason]));

before(() => buildCli(), { timeout: 300_000 });

let jqMissing: string | undefined;
try {
  execFileSync('jq', ['--version'], { stdio: 'ignore' });
} catch {
  jqMissing = 'jq not found (apt-get install jq): the dumpdata conversion the import suggests not checked';
}

describe('import from a Flask-SQLAlchemy SQLite database', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-import-sqlite-'));
  const source = join(dir, 'app.db');
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden', 'warden.db')}` };
  const cli = (args: string[]) => warden(args, { cwd: dir, env });
  const ROLES_QUERY = 'SELECT roles_users.user_id, role.name FROM roles_users JOIN role ON role.id = roles_users.role_id';
  const importArgs = ['import', '--from', `sqlite:${source}`, '--table', 'user', '--roles-query', ROLES_QUERY, '--json'];
  const alice = hashOf('werkzeug-pbkdf2-sha256-1000');
  const bob = hashOf('werkzeug-scrypt-1024-8-2');
  const carol = hashOf('passlib-bcrypt-2b-4');

  before(() => {
    // What Flask-SQLAlchemy + Flask-Security create for a User(db.Model) with roles.
    const db = openSqlite(source);
    db.exec(`
      CREATE TABLE role (id INTEGER NOT NULL PRIMARY KEY, name VARCHAR(80) UNIQUE);
      CREATE TABLE user (
        id INTEGER NOT NULL PRIMARY KEY, username VARCHAR(80) NOT NULL UNIQUE, email VARCHAR(120) NOT NULL UNIQUE,
        name VARCHAR(120), password_hash VARCHAR(256), active BOOLEAN, confirmed_at DATETIME, created_at DATETIME, last_login DATETIME
      );
      CREATE TABLE roles_users (user_id INTEGER REFERENCES user (id), role_id INTEGER REFERENCES role (id));
      INSERT INTO role (id, name) VALUES (1, 'admin'), (2, 'user'), (3, 'editor');
    `);
    const add = prepare(db, 'INSERT INTO user (id, username, email, name, password_hash, active, confirmed_at, created_at, last_login) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)');
    add.run(1, 'alice', 'alice@example.com', 'Alice Liddell', alice.hash, 1, '2023-01-02 04:00:00', '2023-01-02 03:04:05.678901');
    add.run(2, 'bob', 'Bob@Example.com', null, bob.hash, 0, null, '2023-02-03 04:05:06'); // never confirmed his address
    add.run(3, 'carol', 'carol@example.com', 'Carol', carol.hash, 1, '2023-03-05 00:00:00', '2023-03-04 05:06:07');
    add.run(4, 'x y', 'xy@example.com', null, alice.hash, 1, null, '2023-04-05 06:07:08'); // not a Warden username
    add.run(5, 'alice2', 'ALICE@example.com', null, alice.hash, 1, null, '2023-04-05 06:07:08'); // alice's email, in other case
    add.run(6, 'eve', 'eve@example.com', null, 'sha1$5f3a$0d4c8f1b6e2a7d9c3b5a1f0e8d7c6b5a4f3e2d1c', 1, null, '2023-05-06 07:08:09'); // Django's SHA-1
    prepare(db, 'INSERT INTO roles_users (user_id, role_id) VALUES (?, ?)').run(1, 1);
    prepare(db, 'INSERT INTO roles_users (user_id, role_id) VALUES (?, ?)').run(1, 2);
    prepare(db, 'INSERT INTO roles_users (user_id, role_id) VALUES (?, ?)').run(3, 3);
    db.close();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const expectedRejects = {
    'row 4 (id 4)': 'username: must be 3 to 64 letters A–Z or a–z (no accents or other scripts), digits, "_", "." or "-"',
    'row 5 (id 5)': 'email: same email as row 1 (id 1), compared in lower case', // ALICE@ and alice@
    'row 6 (id 6)': 'password_hash: legacy-digest hash (unsupported: a single fast digest (werkzeug < 2.3 method="sha256", Django sha1/md5/crypt): werkzeug\'s and Django\'s sha and md5 ones are imported with --fast-digests werkzeug or --fast-digests django)',
  };

  it('a dry run reports every row and writes nothing', async () => {
    const r = report(await cli([...importArgs, '--dry-run']));
    assert.deepEqual([r.dry_run, r.rows, r.created, r.updated, r.unchanged, r.rejected], [true, 6, 3, 0, 0, 3]);
    assert.deepEqual(reasons(r), expectedRejects);
    assert.deepEqual(r.columns_not_imported, ['last_login']);
    assert.equal(existsSync(join(dir, 'warden')), false, 'not even the database is created');
  });

  it('imports the valid rows with their roles, ids kept as legacy ids; the rejects are reported and not written', async () => {
    const run = await cli(importArgs);
    assert.equal(run.code, 1, 'rows were rejected');
    const r = report(run);
    assert.deepEqual([r.rows, r.created, r.rejected], [6, 3, 3]);
    assert.deepEqual(reasons(r), expectedRejects);
    const users = (await cli(['users', 'list', '--all', '--json'])).json as Record<string, any>[];
    const by = Object.fromEntries(users.map((u) => [u.username, u]));
    assert.deepEqual(Object.keys(by).sort(), ['alice', 'bob', 'carol']);
    assert.deepEqual(
      [by.alice.legacy_id, by.alice.email, by.alice.full_name, by.alice.roles, by.alice.is_active, by.alice.created_at],
      ['1', 'alice@example.com', 'Alice Liddell', ['admin', 'user'], true, '2023-01-02T03:04:05.678Z'],
    );
    assert.deepEqual([by.bob.email, by.bob.roles, by.bob.is_active], ['bob@example.com', ['user'], false]);
    assert.deepEqual([by.alice.email_verified, by.bob.email_verified, by.carol.email_verified], [true, false, true], 'from confirmed_at');
    assert.deepEqual(by.carol.roles, ['editor']);
    assert.deepEqual(by.alice.password_hash, { format: 'werkzeug-pbkdf2', current: false, usable: true });
    const stats = await cli(['users', 'stats', '--json']);
    assert.equal(stats.json.legacy_hash, 3);
  });

  it('a --roles-query returning one column (the ids alone) is refused (exit 2), not run giving nobody a role', async () => {
    const r = await cli(['import', '--from', `sqlite:${source}`, '--table', 'user', '--roles-query', 'SELECT user_id FROM roles_users', '--json']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /--roles-query must return two columns, the user id and the role name \(it returns 1\)/);
  });

  it('a --roles-query that fails says so: the error names the query, not only the database', async () => {
    const r = await cli(['import', '--from', `sqlite:${source}`, '--table', 'user', '--roles-query', 'SELECT user_id, name FROM user_roles', '--dry-run']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /--roles-query: no such table: user_roles/);
  });

  it('a second run changes nothing', async () => {
    const before = (await cli(['users', 'list', '--all', '--json'])).json;
    const r = report(await cli(importArgs));
    assert.deepEqual([r.created, r.updated, r.unchanged, r.rejected], [0, 0, 3, 3]);
    assert.deepEqual((await cli(['users', 'list', '--all', '--json'])).json, before);
  });

  it('--update applies what changed at the source; a fixed row is imported', async () => {
    const db = openSqlite(source);
    prepare(db, 'UPDATE user SET active = 1, name = ? WHERE id = 2').run('Bob Builder');
    prepare(db, 'UPDATE user SET username = ? WHERE id = 4').run('x_y');
    db.close();
    const r = report(await cli([...importArgs, '--update']));
    assert.deepEqual([r.created, r.updated, r.unchanged, r.rejected], [1, 1, 2, 2]);
    const bob = (await cli(['users', 'show', 'bob', '--json'])).json;
    assert.deepEqual([bob.is_active, bob.full_name], [true, 'Bob Builder']);
    ok(await cli(['users', 'show', 'x_y']));
  });

  it('the imported users sign in over HTTP with their old passwords, and are upgraded to argon2id', async () => {
    const s = await startServer(env);
    try {
      for (const [login, row] of [['alice', alice], ['bob@example.com', bob], ['carol', carol]] as const) {
        const r = await call(`${s.url}/api/auth/signin`, { json: { username: login, password: row.password } });
        assert.equal(r.status, 200, `${login}: ${r.text}`);
        const u = (await s.warden.storage.users.findByLogin(login))!;
        assert.ok(u.passwordHash.startsWith(CURRENT_HASH_PREFIX));
      }
    } finally {
      await s.close();
    }
    assert.equal((await cli(['users', 'list', '--legacy-hash', '--all', '--json'])).json.length, 1, 'x_y has not signed in yet');
  });
});

describe('single fast digests: --fast-digests werkzeug (a Flask app of werkzeug < 2.3, method="sha256"), django and hex', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-import-digests-'));
  const source = join(dir, 'app.db');
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden', 'warden.db')}` };
  const cli = (args: string[]) => warden(args, { cwd: dir, env });
  const flaskArgs = ['import', '--from', `sqlite:${source}`, '--table', 'user', '--json'];
  // Made by Debian's werkzeug 2.2 and Django 3.2 (test/fixtures/legacy-hashes/make.py).
  const werkzeug = ['werkzeug-sha256', 'werkzeug-sha1', 'werkzeug-md5', 'werkzeug-sha512'].map(hashOf);
  const django = ['django-sha1', 'django-md5', 'django-unsalted-sha1', 'django-unsalted-md5'].map(hashOf);
  const djangoCsv = join(dir, 'auth_user.csv');
  const hexCsv = join(dir, 'hand_written.csv');
  const HEX_USERS = [['hex0', 'a sha256 hex password', createHash('sha256').update('a sha256 hex password').digest('hex')],
    ['hex1', 'an MD5 one, upper case', createHash('md5').update('an MD5 one, upper case').digest('hex').toUpperCase()]] as const;

  before(() => {
    const db = openSqlite(source);
    db.exec('CREATE TABLE user (id INTEGER NOT NULL PRIMARY KEY, username VARCHAR(80) NOT NULL UNIQUE, email VARCHAR(120) NOT NULL UNIQUE, password VARCHAR(256))');
    const add = prepare(db, 'INSERT INTO user (id, username, email, password) VALUES (?, ?, ?, ?)');
    werkzeug.forEach((r, i) => add.run(i + 1, `flask${i}`, `flask${i}@example.com`, r.hash));
    add.run(9, 'plainly', 'plainly@example.com', 'plain$$an old plain password'); // werkzeug's method="plain"
    db.close();
    writeFileSync(djangoCsv, ['id,username,email,password_hash', ...django.map((r, i) => `${i + 1},dj${i},dj${i}@example.com,${r.hash}`)].join('\n') + '\n');
    writeFileSync(hexCsv, ['id,username,email,password_hash', ...HEX_USERS.map(([u, , h], i) => `${i + 1},${u},${u}@example.com,${h}`)].join('\n') + '\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('without the flag every row is rejected, naming it; with it they import, and a rerun changes nothing', async () => {
    const refused = report(await cli([...flaskArgs, '--dry-run']));
    assert.equal(refused.rejected, 5);
    for (const why of Object.values(reasons(refused))) assert.match(why as string, /--fast-digests werkzeug/);

    const run = report(await cli([...flaskArgs, '--fast-digests', 'werkzeug']));
    assert.deepEqual([run.created, run.rejected], [5, 0]);
    const users = (await cli(['users', 'list', '--all', '--json'])).json as Record<string, any>[];
    const by = Object.fromEntries(users.map((u) => [u.username, u]));
    assert.deepEqual(by.flask0.password_hash, { format: 'werkzeug-digest', current: false, usable: true });
    assert.deepEqual(by.plainly.password_hash, { format: 'argon2', current: true, usable: true }, 'a plain password is hashed at import');
    assert.deepEqual([report(await cli([...flaskArgs, '--fast-digests', 'werkzeug'])).unchanged], [5]);

    const dj = report(await cli(['import', djangoCsv, '--fast-digests', 'django', '--legacy-prefix', 'django', '--json']));
    assert.deepEqual([dj.created, dj.rejected], [4, 0]);
    // Read as werkzeug's, Django's salted SHA-1 would be another function: the import cannot tell, so the flag says.
    assert.equal((await cli(['users', 'list', '--legacy-hash', '--all', '--json'])).json.length, 8);

    // Hand-written code's hashlib.sha256(password.encode()).hexdigest(), and an upper-case MD5.
    const hexOnly = report(await cli(['import', hexCsv, '--legacy-prefix', 'hand', '--json']));
    assert.match(hexOnly.rejects[0].reason, /if it is a bare hex digest of the password, import with --fast-digests hex/);
    assert.deepEqual(report(await cli(['import', hexCsv, '--fast-digests', 'hex', '--legacy-prefix', 'hand', '--json'])).created, 2);
  });

  it('the users sign in over HTTP with their old passwords and are upgraded to argon2id; a wrong one is refused', async () => {
    const s = await startServer(env);
    try {
      const rows = [...werkzeug.map((r, i) => [`flask${i}`, r] as const), ...django.map((r, i) => [`dj${i}`, r] as const)];
      for (const [login, row] of rows) {
        assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: login, password: `${row.password}!` } })).status, 401, login);
        const r = await call(`${s.url}/api/auth/signin`, { json: { username: login, password: row.password } });
        assert.equal(r.status, 200, `${login}: ${r.text}`);
        assert.ok((await s.warden.storage.users.findByLogin(login))!.passwordHash.startsWith(CURRENT_HASH_PREFIX), login);
      }
      assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'plainly', password: 'an old plain password' } })).status, 200);
      for (const [username, password] of HEX_USERS) assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username, password } })).status, 200, username);
    } finally {
      await s.close();
    }
    assert.equal((await cli(['users', 'list', '--legacy-hash', '--all', '--json'])).json.length, 0);
  });
});

describe('import from a fastapi-users PostgreSQL table', async () => {
  const { url, skip } = await postgresUrlOrSkip();
  const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const legacySchema = `legacy_app_${tag}`;
  const wardenSchema = `warden_import_${tag}`;
  const withSchema = (schema: string) => {
    const u = new URL(url ?? 'postgres://x@localhost/x');
    u.searchParams.set('options', `-c search_path=${schema}`);
    return u.toString();
  };
  const dir = mkdtempSync(join(tmpdir(), 'warden-import-pg-'));
  const env = { DATABASE_URL: withSchema(wardenSchema) };
  const cli = (args: string[]) => warden(args, { cwd: dir, env });
  const importArgs = [
    'import', '--from', withSchema(legacySchema), '--table', 'user', '--map', 'is_superuser=role:admin',
    '--roles-query', 'SELECT user_id, role FROM user_role', '--json',
  ];
  const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  const bcrypt = hashOf('bcrypt-2b-4');
  const argon = hashOf('argon2-cffi-default');
  let admin: pg.Client;

  before(async () => {
    if (skip) return;
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${legacySchema}; CREATE SCHEMA ${wardenSchema}`);
    // fastapi-users' SQLAlchemyBaseUserTableUUID, and a roles table an application added.
    await admin.query(`
      CREATE TABLE ${legacySchema}."user" (
        id UUID NOT NULL PRIMARY KEY, email VARCHAR(320) NOT NULL UNIQUE, hashed_password VARCHAR(1024) NOT NULL,
        is_active BOOLEAN NOT NULL, is_superuser BOOLEAN NOT NULL, is_verified BOOLEAN NOT NULL
      );
      CREATE TABLE ${legacySchema}.user_role (user_id UUID NOT NULL REFERENCES ${legacySchema}."user" (id), role TEXT NOT NULL)`);
    const add = `INSERT INTO ${legacySchema}."user" (id, email, hashed_password, is_active, is_superuser, is_verified) VALUES ($1, $2, $3, $4, $5, $6)`;
    await admin.query(add, [ids[0], 'root@corp.example', bcrypt.hash, true, true, true]);
    await admin.query(add, [ids[1], 'ann.smith@corp.example', argon.hash, true, false, false]);
    await admin.query(add, [ids[2], 'ann.smith@other.example', bcrypt.hash, false, false, true]); // same local part as ids[1]
    await admin.query(add, [ids[3], 'nobody at corp', bcrypt.hash, true, false, true]);
    await admin.query(add, [ids[4], 'plain@corp.example', 'hunter2', true, false, true]);
    await admin.query(`INSERT INTO ${legacySchema}.user_role (user_id, role) VALUES ($1, 'billing'), ($2, 'support')`, [ids[0], ids[1]]);
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (skip) return;
    await admin.query(`DROP SCHEMA ${legacySchema} CASCADE; DROP SCHEMA ${wardenSchema} CASCADE`);
    await admin.end();
  });

  const opts = skip !== undefined ? { skip } : {};

  it('--table takes the name bare or quoted as in SQL, with or without its schema', opts, async () => {
    for (const table of ['user', '"user"', `${legacySchema}.user`, `${legacySchema}."user"`, `"${legacySchema}"."user"`]) {
      const r = await cli(['import', '--from', withSchema(legacySchema), '--table', table, '--dry-run', '--json']);
      assert.equal(r.json?.rows, 5, `--table ${table}: ${r.stderr}`);
    }
    for (const table of ['"user', 'a.b.c', 'us"er', '"user"x', '']) {
      assert.equal((await cli(['import', '--from', withSchema(legacySchema), '--table', table, '--dry-run'])).code, 2, `--table ${table}`);
    }
  });

  it('a --roles-query returning one column is refused (exit 2)', opts, async () => {
    const r = await cli(['import', '--from', withSchema(legacySchema), '--table', 'user', '--roles-query', 'SELECT user_id FROM user_role', '--dry-run']);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /--roles-query must return two columns, the user id and the role name \(it returns 1\)/);
  });

  it('--table with its schema: a --roles-query naming none fails naming the query and the schema to add', opts, async () => {
    // The connection's search path is another schema's, as with a --from URL that sets none.
    const r = await cli(['import', '--from', withSchema(wardenSchema), '--table', `${legacySchema}.user`, '--roles-query', 'SELECT user_id, role FROM user_role', '--dry-run']);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`--roles-query: relation "user_role" does not exist \\(it runs as written: name the schema of its tables as --table ${legacySchema}\\.user does\\)`));
  });

  it('dry run, run, rerun: UUIDs kept, usernames made from emails, roles from the flag and the join table', opts, async () => {
    const dry = report(await cli([...importArgs, '--dry-run']));
    assert.deepEqual([dry.rows, dry.created, dry.rejected], [5, 3, 2]);
    // A dry run writes nothing, the schema included: the new database is still empty.
    const tables = await admin.query('SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1', [wardenSchema]);
    assert.equal(tables.rows[0].n, 0);

    const r = report(await cli(importArgs));
    assert.deepEqual([r.rows, r.created, r.rejected], [5, 3, 2]);
    assert.deepEqual(reasons(r), {
      [`row 4 (id ${ids[3]})`]: 'email: must be a valid email address',
      [`row 5 (id ${ids[4]})`]: 'password_hash: not a password hash Warden can verify (unsupported: not a recognised password hash format)',
    });
    assert.deepEqual(r.columns_not_imported, []);
    const users = (await cli(['users', 'list', '--all', '--json'])).json as Record<string, any>[];
    const by = Object.fromEntries(users.map((u) => [u.id, u]));
    assert.deepEqual([by[ids[0]!].username, by[ids[0]!].roles, by[ids[0]!].legacy_id], ['root', ['billing', 'admin'], null]);
    assert.deepEqual([by[ids[1]!].username, by[ids[1]!].roles], ['ann.smith', ['support']]);
    assert.match(by[ids[2]!].username, /^ann\.smith-[0-9a-f]{6}$/);
    assert.deepEqual([by[ids[2]!].roles, by[ids[2]!].is_active], [['user'], false]);
    assert.deepEqual([ids[0], ids[1], ids[2]].map((id) => by[id!].email_verified), [true, false, true], 'from is_verified');

    const again = report(await cli(importArgs));
    assert.deepEqual([again.created, again.updated, again.unchanged, again.rejected], [0, 0, 3, 2]);
    assert.deepEqual((await cli(['users', 'list', '--all', '--json'])).json, users);
  });

  it('a timestamp without time zone reads as UTC whatever the importing machine\'s TZ', opts, async () => {
    await admin.query(`CREATE TABLE ${legacySchema}.tz_user (email TEXT NOT NULL, password_hash TEXT NOT NULL, created_at TIMESTAMP NOT NULL, joined DATE)`);
    await admin.query(`INSERT INTO ${legacySchema}.tz_user VALUES ('tz@corp.example', $1, '2020-06-01 12:00:00', '2020-06-01')`, [bcrypt.hash]);
    const r = await warden(['import', '--from', withSchema(legacySchema), '--table', 'tz_user', '--json'], { cwd: dir, env: { ...env, TZ: 'America/New_York' } });
    assert.equal(report(r).created, 1, r.stderr);
    assert.equal((await cli(['users', 'show', 'tz@corp.example', '--json'])).json.created_at, '2020-06-01T12:00:00.000Z');
  });

  it('the imported users sign in over HTTP with their email and old password', opts, async () => {
    const s = await startServer(env);
    try {
      for (const [email, row] of [['root@corp.example', bcrypt], ['ann.smith@corp.example', argon]] as const) {
        const r = await call(`${s.url}/api/auth/signin`, { json: { username: email, password: row.password } });
        assert.equal(r.status, 200, `${email}: ${r.text}`);
        assert.ok((await s.warden.storage.users.findByLogin(email))!.passwordHash.startsWith(CURRENT_HASH_PREFIX));
      }
      const inactive = await call(`${s.url}/api/auth/signin`, { json: { username: 'ann.smith@other.example', password: bcrypt.password } });
      assert.equal(inactive.status, 400, inactive.text);
    } finally {
      await s.close();
    }
  });
});

describe('moving a Warden database from SQLite to PostgreSQL (README: "Moving from SQLite to PostgreSQL")', async () => {
  const { url, skip } = await postgresUrlOrSkip();
  const schema = `warden_move_${process.pid}_${randomBytes(4).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'warden-move-'));
  const sqliteFile = join(dir, 'data', 'warden.db');
  const fromSqlite = (args: string[]) => warden(args, { cwd: dir, env: { DATABASE_URL: `sqlite:${sqliteFile}` } });
  const pgUrl = (() => {
    const u = new URL(url ?? 'postgres://x@localhost/x');
    u.searchParams.set('options', `-c search_path=${schema}`);
    return u.toString();
  })();
  const toPostgres = (args: string[]) => warden(args, { cwd: dir, env: { DATABASE_URL: pgUrl } });
  const move = ['import', '--from', `sqlite:${sqliteFile}`, '--table', 'users', '--json'];
  const hash = hashOf('werkzeug-pbkdf2-sha256-default').hash;
  let admin: pg.Client;
  let moved: CliResult;

  before(async () => {
    if (skip) return;
    admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    // The SQLite deployment: a Flask app's users imported with their integer ids (one with a prefix), and one signed up in Warden.
    writeFileSync(join(dir, 'flask.csv'), ['id,username,email,password_hash', `7,ada,ada@example.com,${hash}`, `8,bea,bea@example.com,${hash}`].join('\n'));
    writeFileSync(join(dir, 'shop.csv'), ['id,username,email,password_hash', `7,cyd,cyd@example.com,${hash}`].join('\n'));
    ok(await fromSqlite(['import', 'flask.csv', '--json']));
    ok(await fromSqlite(['import', 'shop.csv', '--legacy-prefix', 'shop', '--json']));
    ok(await warden(['users', 'create', '--username', 'dee', '--email', 'dee@example.com', '--password-stdin'], { cwd: dir, env: { DATABASE_URL: `sqlite:${sqliteFile}` }, input: 'correct horse battery\n' }));
    ok(await toPostgres(['migrate']));
    moved = await toPostgres(move);
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (skip) return;
    await admin.query(`DROP SCHEMA ${schema} CASCADE`);
    await admin.end();
  });
  const opts = skip !== undefined ? { skip } : {};
  const show = async (cli: typeof fromSqlite, name: string) => {
    const r = await cli(['users', 'show', name, '--json']);
    ok(r, `users show ${name}`);
    return r.json as { id: string; legacy_id: string | null };
  };

  it('every user keeps its id and its legacy id; a rerun changes nothing', opts, async () => {
    const r = report(moved);
    assert.deepEqual([r.created, r.rejected], [4, 0], JSON.stringify(r.rejects));
    assert.ok(!JSON.stringify(r).includes('"legacy_id (--map'), 'legacy_id is imported, not listed among the columns left out');
    // What does not move is said: a user who had a second factor now signs in with the password alone.
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /^the source looks like a Warden database's users table \(username_lower\): only the accounts move; .*second factors and passkeys/);
    for (const name of ['ada', 'bea', 'cyd', 'dee']) {
      const [before, after] = [await show(fromSqlite, name), await show(toPostgres, name)];
      assert.deepEqual(after, { ...after, id: before.id, legacy_id: before.legacy_id }, name);
    }
    assert.deepEqual([(await show(toPostgres, 'ada')).legacy_id, (await show(toPostgres, 'cyd')).legacy_id, (await show(toPostgres, 'dee')).legacy_id], ['7', 'shop:7', null]);
    const rerun = report(await toPostgres(move));
    assert.deepEqual([rerun.created, rerun.unchanged, rerun.rejected], [0, 4, 0]);
  });

  it('a legacy_id that another user holds, that contradicts a stored one, or comes with an id that is not a UUID is rejected, and nothing is written', opts, async () => {
    const ada = await show(toPostgres, 'ada');
    writeFileSync(join(dir, 'conflicts.csv'), [
      'id,username,email,password_hash,legacy_id',
      `${randomUUID()},eve,eve@example.com,${hash},7`, // ada's legacy id
      `${ada.id},ada,ada@example.com,${hash},99`, // ada, with another legacy id
      `12,fay,fay@example.com,${hash},12`, // both kinds of old id
    ].join('\n'));
    for (const args of [['--json'], ['--update', '--json']]) {
      const r = report(await toPostgres(['import', 'conflicts.csv', ...args]));
      assert.deepEqual([r.created, r.updated ?? 0, r.rejected], [0, 0, 3], JSON.stringify(r));
      const why = reasons(r);
      assert.match(why['line 2']!, /^legacy_id: already held by another user/);
      assert.match(why['line 3']!, /^legacy_id: the user holds 7; an import gives a legacy id only to the users it creates/);
      assert.match(why['line 4']!, /^legacy_id: cannot be given with an id that is not a UUID/);
    }
    assert.equal((await toPostgres(['users', 'show', 'eve', '--json'])).code, 1);
    assert.equal((await show(toPostgres, 'ada')).legacy_id, '7');
  });
});

describe('import from files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-import-file-'));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden.db')}` };
  const cli = (args: string[]) => warden(args, { cwd: dir, env });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('CSV: plain passwords are hashed with argon2id; a malformed line is a reject of its own', async () => {
    writeFileSync(join(dir, 'users.csv'), [
      'id,username,email,password,full_name,roles,is_active,email_verified,created_at',
      `${randomUUID()},fay,fay@example.com,fay-password-1,"Fay, F.","admin,user",true,true,2020-01-01T00:00:00Z`,
      '2,gus,gus@example.com,short,,,,,',
      '3,"hal,hal@example.com,hal-password-1,,,,,',
    ].join('\n'));
    const r = report(await cli(['import', 'users.csv', '--json']));
    assert.deepEqual([r.rows, r.created, r.rejected], [3, 1, 2]);
    assert.equal(reasons(r)['line 3'], 'password: must be at least 8 characters');
    assert.deepEqual(r.rejects.map((x: { row: string }) => x.row), ['line 3', 'line 4'], 'in source order');
    assert.match(reasons(r)['line 4'] ?? '', /^not a CSV row/);
    const fay = (await cli(['users', 'show', 'fay', '--json'])).json;
    assert.deepEqual([fay.full_name, fay.roles, fay.email_verified, fay.password_hash.current], ['Fay, F.', ['admin', 'user'], true, true]);
  });

  it('a row without a password (none, or Django\'s unusable mark) is rejected, or with --allow-no-password imported without one: no password signs in, a set one does, --update keeps a stored one', async () => {
    const mark = `!${'aB3'.repeat(13)}x`; // set_unusable_password(): "!" and 40 letters and digits
    writeFileSync(join(dir, 'nopw.csv'), [
      'id,username,email,password_hash,password',
      '20,nopw1,nopw1@example.com,,',
      `21,nopw2,nopw2@example.com,${mark},`,
      `22,nopw3,nopw3@example.com,,${mark}`,
    ].join('\n'));
    const refused = report(await cli(['import', 'nopw.csv', '--json']));
    assert.deepEqual([refused.created, refused.rejected], [0, 3]);
    for (const reason of Object.values(reasons(refused))) assert.match(reason, /--allow-no-password imports such users without one/);
    const r = report(await cli(['import', 'nopw.csv', '--allow-no-password', '--json']));
    assert.deepEqual([r.created, r.rejected], [3, 0], JSON.stringify(r.rejects));
    const s = await startServer(env);
    try {
      for (const [login, password] of [['nopw1', ''], ['nopw2', mark], ['nopw3', '!'], ['nopw1', 'any-password-1']]) {
        assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: login, password } })).status, password === '' ? 400 : 401, `${login} with ${JSON.stringify(password)}`);
      }
    } finally {
      await s.close();
    }
    ok(await warden(['users', 'set-password', 'nopw1', '--password-stdin'], { cwd: dir, env, input: 'a-password-set-later' }));
    // A rerun with --update leaves the password now stored alone: the row has none to give.
    const again = report(await cli(['import', 'nopw.csv', '--allow-no-password', '--update', '--json']));
    assert.equal(again.rejected, 0);
    const s2 = await startServer(env);
    try {
      assert.equal((await call(`${s2.url}/api/auth/signin`, { json: { username: 'nopw1', password: 'a-password-set-later' } })).status, 200);
    } finally {
      await s2.close();
    }
  });

  it('JSON Lines: each line an object; a line that is not one is rejected', async () => {
    writeFileSync(join(dir, 'users.jsonl'), [
      JSON.stringify({ id: 'u-9', username: 'ivy', email: 'ivy@example.com', password_hash: hashOf('django-pbkdf2-sha256-1000').hash, roles: ['user'], is_active: true }),
      '[1, 2]',
      '{not json',
      '',
    ].join('\n'));
    const r = report(await cli(['import', 'users.jsonl', '--json']));
    assert.deepEqual([r.rows, r.created, r.rejected], [3, 1, 2]);
    assert.deepEqual(reasons(r), { 'line 2': 'not a JSON object', 'line 3': 'not valid JSON' });
    assert.equal((await cli(['users', 'show', 'ivy', '--json'])).json.legacy_id, 'u-9');
    const human = await cli(['import', 'users.jsonl']);
    assert.match(human.stdout, /unchanged\s+1 \(already there; --update overwrites\)/);
    assert.match(human.stdout, /line 2: not a JSON object/);
  });

  it('a JSON array (Django\'s dumpdata) is refused as a whole (exit 2) saying how to make JSON Lines of it', async () => {
    const user = { model: 'auth.user', pk: 7, fields: { password: hashOf('django-pbkdf2-sha256-1000').hash, username: 'dumped', email: 'dumped@example.com' } };
    writeFileSync(join(dir, 'dump.json'), `${JSON.stringify([user], null, 2)}\n`); // dumpdata --indent 2
    writeFileSync(join(dir, 'dump1.json'), `\uFEFF ${JSON.stringify([user])}`);
    for (const file of ['dump.json', 'dump1.json']) {
      const r = await cli(['import', file, '--dry-run']);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /a JSON array, not JSON Lines \(one object per line\): convert it, e\.g\. jq -c '\.\[\]'/);
      assert.doesNotMatch(r.stdout + r.stderr, /rejected|dumped@|pbkdf2/);
    }
  });

  it('the jq line the refusal gives for Django\'s dumpdata makes JSON Lines that import, hash and all', { skip: jqMissing }, async () => {
    const dumped = hashOf('django-pbkdf2-sha256-1000');
    const user = { model: 'auth.user', pk: 8, fields: { password: dumped.hash, last_login: null, is_superuser: true, username: 'dumped2', email: 'dumped2@example.com', is_active: true } };
    writeFileSync(join(dir, 'dump2.json'), `${JSON.stringify([user], null, 2)}\n`);
    const refused = await cli(['import', 'dump2.json', '--dry-run']);
    assert.equal(refused.code, 2, refused.stderr);
    const program = /Django's dumpdata[^:]*: jq -c '([^']+)'/.exec(refused.stderr)?.[1];
    assert.ok(program, refused.stderr);
    const lines = await new Promise<string>((resolve, reject) => execFile('jq', ['-c', program, join(dir, 'dump2.json')], (e, out) => (e ? reject(e) : resolve(out))));
    writeFileSync(join(dir, 'dump2.jsonl'), lines);
    const r = report(await cli(['import', 'dump2.jsonl', '--map', 'is_superuser=role:admin', '--json']));
    assert.deepEqual([r.rows, r.created, r.rejected], [1, 1, 0], JSON.stringify(r.rejects));
    const shown = (await cli(['users', 'show', 'dumped2', '--json'])).json;
    assert.equal(shown.legacy_id, '8');
    assert.deepEqual(shown.roles, ['admin']);
    assert.equal(shown.password_hash.format, 'django-pbkdf2');
  });

  it('a CSV without a header line: refused as a whole (exit 2), and its first row, a password, is never printed', async () => {
    writeFileSync(join(dir, 'noheader.csv'), '1,alice,alice@example.com,MyS3cretPassw0rd!\n2,bob,bob@example.com,An0therSecret!!\n');
    writeFileSync(join(dir, 'oneline.csv'), '1,alice,alice@example.com,MyS3cretPassw0rd!\n'); // read as a header with no row after it
    for (const args of [['import', 'noheader.csv', '--dry-run'], ['import', 'noheader.csv', '--json'], ['import', 'oneline.csv', '--json']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stdout + r.stderr, /no column holds the email; the first line must name the columns/);
      assert.doesNotMatch(r.stdout + r.stderr, /MyS3cret|alice@example/);
    }
  });

  it('an Excel export separated by ";": refused naming the separator (exit 2, no row printed), then imported with --delimiter', async () => {
    const hash = hashOf('werkzeug-pbkdf2-sha256-default').hash;
    writeFileSync(join(dir, 'excel.csv'), `\uFEFFid;username;email;password_hash;full_name\r\n71;semi;Semi@Example.com;${hash};"Semi, Colon; Jr."\r\n`);
    const refused = await cli(['import', 'excel.csv', '--dry-run']);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /the first line's columns are separated by ";", not by commas; say so with --delimiter ';'/);
    assert.doesNotMatch(refused.stdout + refused.stderr, /Semi@|pbkdf2/);
    const r = report(await cli(['import', 'excel.csv', '--delimiter', ';', '--json']));
    assert.deepEqual([r.rows, r.created, r.rejected], [1, 1, 0]);
    const semi = (await cli(['users', 'show', 'semi', '--json'])).json;
    assert.deepEqual([semi.email, semi.full_name, semi.legacy_id], ['semi@example.com', 'Semi, Colon; Jr.', '71']);
    const wrong = await cli(['import', 'excel.csv', '--delimiter', ':']);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--delimiter.*must be ",", ";", "tab" or "\|"/);
  });

  it('lines ending in a lone CR (a classic Mac export): refused as a whole (exit 2), no cell of it printed', async () => {
    writeFileSync(join(dir, 'mac.csv'), 'id,username,email,password\r1,crab,crab@example.com,CrabSecret-1\r2,cron,cron@example.com,CronSecret-2\r');
    for (const args of [['import', 'mac.csv', '--dry-run'], ['import', 'mac.csv', '--json']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /its lines end with a lone CR \(a classic Mac export\), not LF or CRLF: convert it first, e\.g\. tr /);
      assert.doesNotMatch(r.stdout + r.stderr, /Secret|crab@/);
    }
  });

  it('UTF-16 (Excel\'s "Unicode Text"), CSV or JSON Lines: refused as a whole (exit 2) saying how to convert it', async () => {
    const text = '\uFEFFusername,email,password\r\nsixteen,sixteen@example.com,SixteenSecret-1\r\n';
    writeFileSync(join(dir, 'utf16.csv'), Buffer.from(text, 'utf16le'));
    writeFileSync(join(dir, 'utf16.jsonl'), Buffer.from(`${JSON.stringify({ email: 'sixteen@example.com', password: 'SixteenSecret-1' })}\n`, 'utf16le'));
    for (const file of ['utf16.csv', 'utf16.jsonl']) {
      const r = await cli(['import', file, '--dry-run']);
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /not UTF-8 text \(NUL bytes: UTF-16, as Excel's "Unicode Text" writes\?\): convert it first, e\.g\. iconv -f utf-16 -t utf-8/);
      assert.doesNotMatch(r.stdout + r.stderr, /Sixteen|S\u0000i/);
    }
    // A stray NUL in one cell of a UTF-8 file is that row's problem, not the file's.
    writeFileSync(join(dir, 'nul.csv'), 'username,email,password\nnully,nul\u0000ly@example.com,NullySecret-1\nokay,okay@example.com,OkaySecret-1\n');
    const nul = report(await cli(['import', 'nul.csv', '--dry-run', '--json']));
    assert.deepEqual([nul.rows, nul.created, nul.rejected], [2, 1, 1]);
  });

  it('a folder is refused naming it; a pipe needs --format and then imports', async () => {
    const folder = await cli(['import', dir, '--dry-run']);
    assert.equal(folder.code, 1);
    assert.match(folder.stderr, /cannot read .*: a folder, not a file/);
    // A mistyped name says so in words, not as the system's error code.
    const missing = await cli(['import', 'no-such-users.csv', '--dry-run']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^warden: cannot read no-such-users\.csv: no such file$/m);
    const fifo = join(dir, 'users.pipe');
    await new Promise<void>((resolve, reject) => execFile('mkfifo', [fifo], (e) => (e ? reject(e) : resolve())));
    const unnamed = await cli(['import', fifo, '--dry-run']);
    assert.equal(unnamed.code, 2, 'nothing is read from the pipe to guess its format');
    assert.match(unnamed.stderr, /not a regular file: say its format with --format csv or --format jsonl/);
    // The writer: opening a FIFO for writing waits for its reader, the import.
    const writing = new Promise<void>((resolve, reject) => execFile('sh', ['-c', `printf 'username,email,password\\npia,pia@example.com,pia-password-1\\n' > ${fifo}`], (e) => (e ? reject(e) : resolve())));
    const piped = report(await cli(['import', fifo, '--format', 'csv', '--dry-run', '--json']));
    await writing;
    assert.deepEqual([piped.rows, piped.created], [1, 1]);
  });

  it('bytes that are not UTF-8 (a latin-1 export): the row is rejected, not stored with U+FFFD in its address and password', async () => {
    writeFileSync(join(dir, 'latin1.csv'), Buffer.concat([
      Buffer.from('username,email,password,full_name\n'),
      Buffer.from('latin,jos\xe9@example.com,caf\xe9-password-1,Jos\xe9\n', 'latin1'),
      Buffer.from('utf8,jos\u00e9@example.org,caf\u00e9-password-1,Jos\u00e9\n', 'utf8'),
    ]));
    const r = report(await cli(['import', 'latin1.csv', '--json']));
    assert.deepEqual([r.rows, r.created, r.rejected], [2, 1, 1]);
    assert.match(reasons(r)['line 2'] ?? '', /^not UTF-8 text/);
    assert.equal((await cli(['users', 'show', 'utf8', '--json'])).json.email, 'jos\u00e9@example.org');
  });

  it('a structure where a name belongs is rejected, not stored as "[object Object]"', async () => {
    writeFileSync(join(dir, 'names.jsonl'), `${JSON.stringify({ username: 'obj', email: 'obj@example.com', password: 'obj-password-1', full_name: { first: 'A' } })}\n`);
    const r = report(await cli(['import', 'names.jsonl', '--json']));
    assert.deepEqual([r.created, r.rejected], [0, 1]);
    assert.equal(reasons(r)['line 1'], 'full_name: must be text');
  });

  it('--legacy-prefix: a second application\'s ids, overlapping the first one\'s, are stored as NAME:ID and match only its own users', async () => {
    const hash = hashOf('werkzeug-pbkdf2-sha256-default').hash;
    writeFileSync(join(dir, 'blog.csv'), ['id,username,email,password_hash', `1,blog1,blog1@example.com,${hash}`, `2,blog2,blog2@example.com,${hash}`].join('\n'));
    writeFileSync(join(dir, 'shop.csv'), ['id,username,email,password_hash', `1,shop1,shop1@example.com,${hash}`, `2,shop2,shop2@example.com,${hash}`].join('\n'));
    const blog = report(await cli(['import', 'blog.csv', '--json']));
    assert.deepEqual([blog.created, blog.rejected], [2, 0]);
    // Without a prefix the shop's ids 1 and 2 are the blog's users.
    const unprefixed = report(await cli(['import', 'shop.csv', '--dry-run', '--json']));
    assert.deepEqual([unprefixed.created, unprefixed.unchanged], [0, 2]);
    const shop = report(await cli(['import', 'shop.csv', '--legacy-prefix', 'shop', '--json']));
    assert.deepEqual([shop.created, shop.unchanged, shop.rejected], [2, 0, 0]);
    const legacyOf = async (name: string) => (await cli(['users', 'show', name, '--json'])).json.legacy_id;
    assert.deepEqual([await legacyOf('blog1'), await legacyOf('shop1'), await legacyOf('shop2')], ['1', 'shop:1', 'shop:2']);
    // A rerun with the same prefix matches the shop's users again.
    const rerun = report(await cli(['import', 'shop.csv', '--legacy-prefix', 'shop', '--json']));
    assert.deepEqual([rerun.created, rerun.unchanged], [0, 2]);
    const bad = await cli(['import', 'shop.csv', '--legacy-prefix', 'a:b', '--json']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--legacy-prefix.*must be 1 to 32 letters/);
  });

  it('--update with a new password supersedes the reset links already mailed; a rerun leaves a new one alone', async () => {
    const csv = (password: string) => writeFileSync(join(dir, 'reset.csv'), ['username,email,password', `rhea,rhea@example.com,${password}`].join('\n'));
    csv('rhea-password-1');
    assert.equal(report(await cli(['import', 'reset.csv', '--json'])).created, 1);
    const issue = async (hash: string) => {
      const storage = await openStorage(env.DATABASE_URL);
      try {
        const u = (await storage.users.findByLogin('rhea'))!;
        await storage.emailTokens.issue({ hash, userId: u.id, purpose: 'reset', email: u.email, createdAt: Date.now(), expiresAt: Date.now() + 3_600_000 });
      } finally {
        await storage.close();
      }
    };
    const superseded = async (hash: string) => {
      const storage = await openStorage(env.DATABASE_URL);
      try {
        return (await storage.emailTokens.find(hash, 'reset'))!.supersededAt !== null;
      } finally {
        await storage.close();
      }
    };
    const before = randomBytes(32).toString('hex');
    await issue(before);
    csv('rhea-password-2'); // the source changed her password after the link was mailed
    assert.equal(report(await cli(['import', 'reset.csv', '--update', '--json'])).updated, 1);
    assert.equal(await superseded(before), true, 'the old password\'s link no longer resets the new one');
    const after = randomBytes(32).toString('hex');
    await issue(after);
    assert.equal(report(await cli(['import', 'reset.csv', '--update', '--json'])).unchanged, 1);
    assert.equal(await superseded(after), false, 'an unchanged password leaves the link usable');
  });

  it('a progress line on a terminal only', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) from util-linux for a terminal' }, async () => {
    writeFileSync(join(dir, 'more.csv'), ['username,email,password_hash', ...Array.from({ length: 50 }, (_, i) => `tty${i},tty${i}@example.com,${hashOf('bcrypt-2b-4').hash}`)].join('\n'));
    const piped = await cli(['import', 'more.csv', '--dry-run']);
    ok(piped);
    assert.ok(!piped.stdout.includes('\r'), 'no progress line into a pipe');
    // script(1) gives the command a terminal and copies what it writes there to our stdout.
    const command = `${process.execPath} ${CLI} import more.csv --dry-run --batch-size 10`;
    const tty = await new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/script', ['-qec', command, '/dev/null'], { cwd: dir, env: { ...env, PATH: process.env.PATH ?? '' } }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
    });
    assert.match(tty, /\r\u001b\[K\d+ rows: \d+ created, 0 updated, 0 unchanged, 0 rejected/);
    assert.match(tty, /would create\s+50/);
  });
});
