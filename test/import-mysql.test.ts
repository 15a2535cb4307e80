// `warden import --from mysql://…` with the built binary, on a real MariaDB (the machine's, at
// 127.0.0.1:3306; TEST_MYSQL_URL overrides): a Flask-SQLAlchemy + Flask-Security application on
// MySQL/MariaDB (PyMySQL's layout: BIGINT ids, TINYINT(1) booleans, DATETIME without a zone, a
// zero date, a bcrypt hash stored as bytes, utf8mb4 names, roles in a join table) into a SQLite
// Warden. Dry run, run, rerun; the users then sign in over HTTP with their old passwords.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { after, before, describe, it } from 'node:test';
import { CURRENT_HASH_PREFIX } from '../src/accounts/argon2-hasher.js';
import { buildCli, warden, type CliResult } from './helpers/cli.js';
import { call, startServer } from './helpers/server.js';

interface FixtureRow { kind: string; password: string; hash: string }
const fixtures = (JSON.parse(readFileSync(new URL('./fixtures/legacy-hashes/hashes.json', import.meta.url), 'utf8')) as { rows: FixtureRow[] }).rows;
const hashOf = (kind: string) => fixtures.find((r) => r.kind === kind && r.password.length >= 8)!;

const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';

/** Undefined when MySQL/MariaDB answers at MYSQL_URL, else why the suite is skipped. */
async function mysqlMissing(): Promise<string | undefined> {
  try {
    const c = await mysql.createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await c.end();
    return undefined;
  } catch (e) {
    return `MySQL/MariaDB not reachable at ${MYSQL_URL.replace(/:[^:@/]*@/, ':***@')} (${(e as Error).message}): start it (apt-get install mariadb-server) or set TEST_MYSQL_URL`;
  }
}

const report = (r: CliResult) => {
  assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
  assert.ok(r.json, r.stdout + r.stderr);
  return r.json;
};

const skip = await mysqlMissing();

describe('import from a Flask-SQLAlchemy application on MySQL/MariaDB', skip !== undefined ? { skip } : {}, () => {
  const database = `warden_import_${process.pid}_${randomBytes(4).toString('hex')}`;
  const source = (() => {
    const u = new URL(MYSQL_URL);
    u.pathname = `/${database}`;
    return u.toString();
  })();
  const dir = mkdtempSync(join(tmpdir(), 'warden-import-mysql-'));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden', 'warden.db')}` };
  const cli = (args: string[]) => warden(args, { cwd: dir, env });
  const ROLES_QUERY = 'SELECT roles_users.user_id, role.name FROM roles_users JOIN role ON role.id = roles_users.role_id';
  const importArgs = ['import', '--from', source, '--table', 'user', '--roles-query', ROLES_QUERY, '--json'];
  const alice = hashOf('werkzeug-pbkdf2-sha256-1000');
  const bob = hashOf('bcrypt-2b-4');
  const BIG = '9007199254740993'; // 2^53 + 1: a JavaScript number would round it to ...992
  let admin: mysql.Connection;

  before(async () => {
    await buildCli();
    admin = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
    await admin.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`);
    // What Flask-SQLAlchemy + Flask-Security create on MySQL for a User(db.Model) with roles.
    await admin.query(`
      USE \`${database}\`;
      CREATE TABLE role (id INT NOT NULL PRIMARY KEY, name VARCHAR(80) UNIQUE);
      CREATE TABLE user (
        id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, username VARCHAR(80) NOT NULL UNIQUE, email VARCHAR(120) NOT NULL UNIQUE,
        name VARCHAR(120), password_hash VARBINARY(256), active TINYINT(1), confirmed_at DATETIME NULL, created_at DATETIME(6)
      );
      CREATE TABLE roles_users (user_id BIGINT, role_id INT);
      INSERT INTO role (id, name) VALUES (1, 'admin'), (2, 'editor');`);
    // A zero date is what old MySQL modes stored for "none".
    await admin.query("SET SESSION sql_mode = ''");
    const add = 'INSERT INTO user (id, username, email, name, password_hash, active, confirmed_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';
    await admin.query(add, [BIG, 'alice', 'alice@example.com', 'Alice Liddell 🐇', alice.hash, 1, '2023-01-02 04:00:00', '2023-01-02 03:04:05.678901']);
    await admin.query(add, [2, 'bob', 'bób@example.com', null, Buffer.from(bob.hash), 0, '0000-00-00 00:00:00', '2023-02-03 04:05:06']);
    await admin.query(add, [3, 'x y', 'xy@example.com', null, alice.hash, 1, null, '2023-04-05 06:07:08']); // not a Warden username
    await admin.query('INSERT INTO roles_users (user_id, role_id) VALUES (?, 1), (?, 2)', [BIG, BIG]);
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await admin?.query(`DROP DATABASE IF EXISTS \`${database}\``);
    await admin?.end();
  });

  it('dry run, run, rerun: big ids kept exactly as legacy ids, roles from the join table, dates read as UTC, a zero date as none, a hash in bytes as its text', async () => {
    const dry = report(await cli([...importArgs, '--dry-run']));
    assert.deepEqual([dry.rows, dry.created, dry.rejected], [3, 2, 1]);
    const r = report(await cli(importArgs));
    assert.deepEqual([r.rows, r.created, r.rejected], [3, 2, 1]);
    assert.deepEqual(r.rejects.map((x: { row: string; reason: string }) => [x.row, x.reason]), [['row 2 (id 3)', 'username: must be 3 to 64 letters A–Z or a–z (no accents or other scripts), digits, "_", "." or "-"']]);
    const users = (await cli(['users', 'list', '--all', '--json'])).json as Record<string, any>[];
    const by = Object.fromEntries(users.map((u) => [u.username, u]));
    assert.deepEqual(
      [by.alice.legacy_id, by.alice.roles, by.alice.full_name, by.alice.email_verified, by.alice.is_active, by.alice.created_at],
      [BIG, ['admin', 'editor'], 'Alice Liddell 🐇', true, true, '2023-01-02T03:04:05.678Z'],
    );
    assert.deepEqual([by.bob.legacy_id, by.bob.email, by.bob.email_verified, by.bob.is_active, by.bob.password_hash.format], ['2', 'bób@example.com', false, false, 'bcrypt']);
    const again = report(await cli(importArgs));
    assert.deepEqual([again.created, again.updated, again.unchanged, again.rejected], [0, 0, 2, 1]);
  });

  it('--table takes the name bare, in backticks or double quotes, with or without its database; a bad one is exit 2; an unreachable server is exit 1 without its password', async () => {
    for (const table of ['user', '`user`', '"user"', `${database}.user`, `\`${database}\`.\`user\``]) {
      const r = await cli(['import', '--from', source, '--table', table, '--dry-run', '--json']);
      assert.equal(r.json?.rows, 3, `--table ${table}: ${r.stderr}`);
    }
    for (const table of ['`user', 'a.b.c', 'us`er', '']) {
      assert.equal((await cli(['import', '--from', source, '--table', table, '--dry-run'])).code, 2, `--table ${table}`);
    }
    const gone = await cli(['import', '--from', 'mysql://app:s3cret-pw@127.0.0.1:1/app', '--table', 'user', '--dry-run']);
    assert.equal(gone.code, 1, gone.stderr);
    assert.match(gone.stderr, /^warden: mysql:\/\/app:\*\*\*@127\.0\.0\.1:1\/app: .*ECONNREFUSED/);
    assert.ok(!gone.stderr.includes('s3cret-pw'));
  });

  it('the imported users sign in over HTTP with their old passwords, and are upgraded to argon2id', async () => {
    await admin.query(`UPDATE \`${database}\`.user SET active = 1 WHERE id = 2`);
    report(await cli([...importArgs, '--update']));
    const s = await startServer(env);
    try {
      for (const [login, row] of [['alice', alice], ['bób@example.com', bob]] as const) {
        const r = await call(`${s.url}/api/auth/signin`, { json: { username: login, password: row.password } });
        assert.equal(r.status, 200, `${login}: ${r.text}`);
        assert.ok((await s.warden.storage.users.findByLogin(login))!.passwordHash.startsWith(CURRENT_HASH_PREFIX));
      }
    } finally {
      await s.close();
    }
  });
});
