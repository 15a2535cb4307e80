// SQLite's live-deadlines index holds the idle deadline's hour (migration 16), kept by triggers that
// write sessions.idle_hour only when the hour changes, so that a refresh within the hour writes no
// entry into that index. Checked here: the column follows every write of the deadline (insert,
// rotation, across an hour), a database migrated from version 15 gets it for its existing sessions,
// countLive reads the index, and a rotation within the hour leaves the index's pages alone.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MIGRATIONS, SCHEMA_MIGRATIONS_DDL } from '../src/storage/migrations.js';
import { createSqliteStorage, type Storage } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { sqlitePlan } from './helpers/plans.js';

const HOUR = 3_600_000;
const NOW = 1_800_000_000_000 + 30 * 60_000; // half past an hour

async function withFile(body: (path: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-idle-hour-'));
  try {
    await body(join(dir, 'warden.db'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function userOn(s: Storage): Promise<string> {
  const id = randomUUID();
  await s.users.create({ id, username: `u${id.slice(0, 8)}`, email: `${id}@example.com`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'x' });
  return id;
}

/** A migrated SQLite file with one user and one session (idle deadline NOW + 1 h), its refresh jti. */
async function withSession(body: (s: Storage, path: string, id: string, jti: string) => Promise<void>): Promise<void> {
  await withFile(async (path) => {
    const s = createSqliteStorage(path);
    try {
      await s.migrate();
      const userId = await userOn(s);
      const id = randomUUID();
      const jti = randomUUID();
      await s.sessions.create({ id, userId, refreshJti: jti, createdAt: NOW, expiresAt: NOW + 48 * HOUR, idleExpiresAt: NOW + HOUR, userAgent: null, ip: null });
      await body(s, path, id, jti);
    } finally {
      await s.close();
    }
  });
}

const hours = (path: string) => {
  const db = openSqlite(path, { readonly: true });
  try {
    return prepare(db, 'SELECT id, idle_hour, idle_expires_at FROM sessions').all() as Array<{ id: string; idle_hour: number; idle_expires_at: number }>;
  } finally {
    db.close();
  }
};

describe('sessions.idle_hour (SQLite, migration 16)', () => {
  it('follows the idle deadline: at creation, at each rotation, across an hour', async () => {
    await withSession(async (s, path, id, first) => {
      assert.equal(hours(path)[0]!.idle_hour, Math.floor((NOW + HOUR) / HOUR), 'at creation');
      let jti = first;
      for (const idle of [NOW + HOUR + 60_000, NOW + HOUR + 20 * 60_000, NOW + 2 * HOUR, NOW + 5 * HOUR - 1]) {
        const next = randomUUID();
        const r = await s.sessions.rotate({ id, presentedJti: jti, newJti: next, now: NOW, idleExpiresAt: idle, graceMs: 0 });
        assert.equal(r.status, 'rotated');
        jti = next;
        const [row] = hours(path);
        assert.equal(row!.idle_expires_at, idle);
        assert.equal(row!.idle_hour, Math.floor(idle / HOUR));
      }
    });
  });

  it('a database at version 15 gets the hour of every existing session', async () => {
    await withFile(async (path) => {
      const db = openSqlite(path);
      db.function('warden_nfc', { deterministic: true }, (t: unknown) => (typeof t === 'string' ? t.normalize('NFC') : t));
      db.exec(SCHEMA_MIGRATIONS_DDL);
      for (const m of MIGRATIONS.filter((x) => x.version <= 15)) {
        db.exec(m.sqlite);
        prepare(db, 'INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, 0)').run(m.version, m.name);
      }
      prepare(db, "INSERT INTO users (id, username, username_lower, email, roles, password_hash, created_at, updated_at) VALUES ('u', 'u', 'u', 'u@example.com', '[]', 'x', 0, 0)").run();
      const add = prepare(db, "INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, idle_expires_at) VALUES (?, 'u', 'j', 0, 0, ?, ?)");
      for (let i = 0; i < 50; i++) add.run(`s${i}`, NOW + 48 * HOUR, NOW + i * 17 * 60_000);
      db.close();
      const s = createSqliteStorage(path);
      try {
        assert.deepEqual((await s.migrate()).map((m) => m.version), MIGRATIONS.filter((m) => m.version > 15).map((m) => m.version));
        const rows = hours(path);
        assert.equal(rows.length, 50);
        for (const r of rows) assert.equal(r.idle_hour, Math.floor(r.idle_expires_at / HOUR), r.id);
        // Live at NOW: those whose idle deadline is still ahead (i ≥ 1).
        assert.equal(await s.sessions.countLive(NOW), 49);
        assert.equal(await s.sessions.countLive(NOW + 17 * 60_000), 48);
      } finally {
        await s.close();
      }
    });
  });

  it('countLive reads the live-deadlines index, not the table', async () => {
    const plan = await sqlitePlan(async (s) => {
      const userId = await userOn(s);
      await s.sessions.create({ id: randomUUID(), userId, refreshJti: randomUUID(), createdAt: NOW, expiresAt: NOW + 48 * HOUR, idleExpiresAt: NOW + HOUR, userAgent: null, ip: null });
    }, async (s) => assert.equal(await s.sessions.countLive(NOW), 1), /count\(\*\)/);
    assert.ok(!plan.some((l) => /\bSCAN sessions\b/.test(l)), plan.join(' | '));
    assert.equal(plan.filter((l) => /SEARCH sessions USING (COVERING )?INDEX sessions_live_deadlines_idx/.test(l)).length, 2, plan.join(' | '));
  });

  it('a rotation within the hour writes no page of the live-deadlines index', async () => {
    await withSession(async (s, path, id, jti) => {
      const db = openSqlite(path);
      try {
        db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
        assert.equal((await s.sessions.rotate({ id, presentedJti: jti, newJti: randomUUID(), now: NOW, idleExpiresAt: NOW + HOUR + 60_000, graceMs: 0 })).status, 'rotated');
        // The pages the rotation's commit wrote, from the WAL's frame headers, named by dbstat.
        const wal = readFileSync(`${path}-wal`);
        const written = new Set<number>();
        for (let off = 32; off + 24 <= wal.length; off += 24 + 4096) written.add(wal.readUInt32BE(off));
        const index = new Set((prepare(db, "SELECT pageno FROM dbstat WHERE name = 'sessions_live_deadlines_idx'").all() as Array<{ pageno: number }>).map((r) => r.pageno));
        assert.ok(written.size > 0);
        assert.deepEqual([...written].filter((p) => index.has(p)), []);
      } finally {
        db.close();
      }
    });
  });
});
