// PostgreSQL's refresh rotation: a HOT update since migration 11 (no index of sessions holds a
// column a rotation changes, except the idle deadline's hour, which it moves at most once an hour);
// a database that already has sessions counts them right once migrated; and the rotation, a named
// prepared statement, keeps working when another instance's migration adds columns under it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { IDLE_HOUR_MS } from '../src/storage/migrations.js';
import { createPostgresStorage, type Storage } from '../src/storage/index.js';
import { postgresBefore, scratchSchema } from './helpers/storage.js';
import { eventually } from './helpers/smtp.js';

const HOUR = IDLE_HOUR_MS;
const BASE = 472_300 * HOUR; // an hour boundary in 2023

async function userWithSession(s: Storage, idleExpiresAt: number): Promise<{ userId: string; sessionId: string; jti: string }> {
  const userId = randomUUID();
  await s.users.create({
    id: userId, username: `u${userId.slice(0, 8)}`, email: `${userId}@example.com`, fullName: null,
    roles: ['user'], isActive: true, passwordHash: 'x', createdAt: BASE - HOUR,
  });
  const jti = randomUUID();
  const session = await s.sessions.create({
    id: randomUUID(), userId, refreshJti: jti, createdAt: BASE - HOUR, expiresAt: BASE + 100 * HOUR,
    idleExpiresAt, userAgent: null, ip: null,
  });
  return { userId, sessionId: session.id, jti };
}

describe('sessions on PostgreSQL after migration 11', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_hot');

  it('a refresh rotation within the same hour of idle deadline is a HOT update', { skip }, async () => {
    const s = createPostgresStorage(url!, { schema });
    await s.migrate();
    const { userId, sessionId, jti: first } = await userWithSession(s, BASE + 10);
    let jti = first;
    const rotations = 20;
    for (let i = 1; i <= rotations; i++) {
      const newJti = randomUUID();
      const r = await s.sessions.rotate({ id: sessionId, presentedJti: jti, newJti, now: BASE - HOUR + i, idleExpiresAt: BASE + 10 + i, graceMs: 0, userId });
      assert.equal(r.status, 'rotated');
      jti = newJti;
    }
    // A backend reports its table statistics when it exits: close the storage, then wait (bounded)
    // for the counts to arrive.
    await s.close();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const stats = await eventually(async () => {
        const { rows } = await c.query<{ upd: string; hot: string }>(
          `SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'sessions'`, [schema]);
        const counted = { upd: Number(rows[0]?.upd ?? 0), hot: Number(rows[0]?.hot ?? 0) };
        return counted.upd >= rotations ? counted : undefined;
      }, 'the sessions table\'s update counts', 20_000);
      assert.equal(stats.upd, rotations, 'every rotation counted');
      assert.equal(stats.hot, rotations, 'every rotation a HOT update');
    } finally {
      await c.end();
    }
  });

  it('the prepared rotation keeps working after columns are added to sessions and users (a rolling upgrade)', { skip }, async () => {
    const s = createPostgresStorage(url!, { schema: `${schema}_roll` });
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await s.migrate();
      const { userId, sessionId, jti: first } = await userWithSession(s, BASE + 10);
      let jti = first;
      const rotate = async (i: number) => {
        const newJti = randomUUID();
        const r = await s.sessions.rotate({ id: sessionId, presentedJti: jti, newJti, now: BASE - HOUR + i, idleExpiresAt: BASE + 10 + i, graceMs: 0, userId });
        assert.equal(r.status, 'rotated');
        assert.equal(r.status === 'rotated' && r.user?.id, userId);
        jti = newJti;
      };
      // Prepared on every connection the pool hands out (rotations in parallel take several).
      for (let i = 0; i < 3; i++) await rotate(i);
      await c.query(`ALTER TABLE ${schema}_roll.sessions ADD COLUMN added_later TEXT; ALTER TABLE ${schema}_roll.users ADD COLUMN added_later TEXT`);
      for (let i = 3; i < 6; i++) await rotate(i);
      assert.equal((await s.sessions.get(sessionId))!.refreshJti, jti);
    } finally {
      await s.close();
      await c.query(`DROP SCHEMA IF EXISTS ${schema}_roll CASCADE`);
      await c.end();
    }
  });

  it('a database that has sessions counts them right once migrated', { skip }, async () => {
    const s = createPostgresStorage(url!, { schema: `${schema}_old` });
    const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}_old` });
    await c.connect();
    try {
      await postgresBefore(c, `${schema}_old`, 11);
      const userId = randomUUID();
      await c.query(`INSERT INTO users (id, username, username_lower, email, roles, is_active, password_hash, created_at, updated_at)
        VALUES ($1, 'early', 'early', 'early@example.com', '["user"]', true, 'x', 1, 1)`, [userId]);
      // Idle deadlines on both sides of the hour boundary and of a moment within the hour.
      const deadlines = [-1, 0, 1, 1_000, HOUR - 1, HOUR, 5 * HOUR].map((x) => BASE + x);
      for (const idle of deadlines) {
        await c.query(`INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, idle_expires_at)
          VALUES ($1, $2, 'j', 1, 1, $3, $4)`, [randomUUID(), userId, BASE + 100 * HOUR, idle]);
      }
      await s.migrate();
      for (const now of [BASE - 1, BASE, BASE + 500, BASE + 1_000, BASE + HOUR - 1, BASE + 2 * HOUR]) {
        assert.equal(await s.sessions.countLive(now), deadlines.filter((x) => x > now).length, `now = BASE + ${now - BASE}`);
      }
    } finally {
      await c.query(`DROP SCHEMA IF EXISTS ${schema}_old CASCADE`);
      await c.end();
      await s.close();
    }
  });
});
