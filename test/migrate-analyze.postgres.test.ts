// After an upgrade's migrations, PostgreSQL has statistics for what they added. Migration 11 adds
// sessions.idle_hour by rewriting the table, and a rewrite does not prompt autovacuum to analyze:
// with 3 million sessions upgraded from version 9, the hourly purge's idle-deadline range, planned
// without statistics for idle_hour, walked every live session's index entry (439 ms with none due;
// 2.5 ms after ANALYZE).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresStorage } from '../src/storage/index.js';
import { postgresBefore, scratchSchema } from './helpers/storage.js';

describe('statistics after migrating (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_analyze');

  it('a column a migration added to a table with rows has statistics once migrate() returns', { skip }, async () => {
    const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await c.connect();
    await postgresBefore(c, schema, 11); // as version 10 left it, with sessions written by it
    await c.query(`INSERT INTO users (id, username, username_lower, email, password_hash, created_at, updated_at) VALUES ('u1', 'u1', 'u1', 'u1@example.com', 'x', 0, 0)`);
    await c.query(`INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, idle_expires_at)
      SELECT 's' || i, 'u1', 'j' || i, 0, 0, 1800000000000 + i * 60000, 1790000000000 + i * 60000 FROM generate_series(1, 5000) AS i`);
    await c.query('ANALYZE sessions');

    const storage = createPostgresStorage(url!, { schema });
    const applied = await storage.migrate();
    assert.ok(applied.some((m) => m.version === 11), JSON.stringify(applied));
    const stats = await c.query(`SELECT n_distinct FROM pg_stats WHERE schemaname = $1 AND tablename = 'sessions' AND attname = 'idle_hour'`, [schema]);
    assert.equal(stats.rows.length, 1, 'sessions.idle_hour has statistics');
    await Promise.all([c.end(), storage.close()]);
  });
});
