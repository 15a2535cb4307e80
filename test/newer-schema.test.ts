// A database a newer Warden migrated, opened by this one (a rollback, or an instance not yet
// upgraded in a rolling upgrade): `warden migrate` must not call it "up to date" at this version's
// number, and stops (exit 1) naming what the newer version applied; a server still starts and
// serves on it (migrations only add), logging a warning that says so.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { latestVersion } from '../src/storage/migrations.js';
import { createPostgresStorage } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { buildCli, warden } from './helpers/cli.js';
import { call, startServer } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const LATEST = latestVersion();
const FUTURE = { version: LATEST + 1, name: 'from a newer Warden' };

describe('a database migrated by a newer Warden (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-newer-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const env = { DATABASE_URL: `sqlite:${join(dir, 'warden.db')}` };

  it('warden migrate says so and stops; a server serves on it with a warning', async () => {
    await buildCli();
    assert.equal((await warden(['migrate'], { cwd: dir, env })).code, 0);
    const db = openSqlite(join(dir, 'warden.db'));
    db.exec('ALTER TABLE users ADD COLUMN added_later TEXT');
    prepare(db, 'INSERT INTO schema_migrations VALUES (?, ?, 0)').run(FUTURE.version, FUTURE.name);
    db.close();

    const r = await warden(['migrate'], { cwd: dir, env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout, /up to date/);
    assert.ok(r.stderr.includes(`schema at version ${FUTURE.version}, newer than this Warden knows (${LATEST})`), r.stderr);
    assert.ok(r.stderr.includes(`${FUTURE.version} ${FUTURE.name}`), r.stderr);

    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _e, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
    const s = await startServer({ ...env, LOG_LEVEL: 'info' }, { logStream });
    try {
      const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string; migrations?: string[] })
        .find((l) => l.msg.includes('newer than this Warden knows'));
      assert.ok(warning, lines.join('\n'));
      assert.equal(warning.level, 40);
      assert.deepEqual(warning.migrations, [`${FUTURE.version} ${FUTURE.name}`]);
      const signup = await call(`${s.url}/api/auth/signup`, { method: 'POST', json: { username: 'later', email: 'later@example.com', password: 'later-pass-123' } });
      assert.equal(signup.status, 201);
    } finally {
      await s.close();
    }
  });
});

describe('a database migrated by a newer Warden (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_newer');

  it('newerMigrations names what this version does not know; migrate applies nothing', { skip }, async () => {
    const s = createPostgresStorage(url!, { schema });
    try {
      await s.migrate();
      assert.deepEqual(await s.newerMigrations(), []);
      const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
      await c.connect();
      await c.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [FUTURE.version, FUTURE.name]);
      await c.end();
      assert.deepEqual(await s.migrate(), []);
      assert.deepEqual(await s.newerMigrations(), [FUTURE]);
      assert.deepEqual(await s.pendingMigrations(), []);
    } finally {
      await s.close();
    }
  });
});
