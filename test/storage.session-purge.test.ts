// The hourly session purge finds its due sessions through indexes (migrations 10 and 12), never by
// reading the sessions table: at a million sessions one batch read of the whole table held SQLite's
// only thread about 0.25 s. The plan of the statement the store actually runs is checked on both
// engines; which sessions it deletes is the conformance suite's (storage.conformance.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Storage } from '../src/storage/index.js';
import { postgresPlan, sqlitePlan } from './helpers/plans.js';
import { scratchSchema } from './helpers/storage.js';

const HOUR = 3_600_000;
const NOW = 1_800_000_000_000;
const BEFORE = NOW - 168 * HOUR;

/** Sessions of every kind the purge tells apart: ended, past either deadline, live; due and not. */
async function sessionsOfEveryKind(s: Storage): Promise<void> {
  const userId = randomUUID();
  await s.users.create({ id: userId, username: `u${userId.slice(0, 8)}`, email: `${userId}@example.com`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'x' });
  const kinds = [
    { expiresAt: NOW + HOUR, idleExpiresAt: NOW + HOUR, endedAt: BEFORE - 1 },
    { expiresAt: NOW + HOUR, idleExpiresAt: NOW + HOUR, endedAt: BEFORE + 1 },
    { expiresAt: BEFORE - 1, idleExpiresAt: NOW + HOUR },
    { expiresAt: NOW + HOUR, idleExpiresAt: BEFORE - 1 },
    { expiresAt: BEFORE - 1, idleExpiresAt: BEFORE - 1 },
    { expiresAt: NOW + HOUR, idleExpiresAt: NOW + HOUR },
  ];
  for (const k of kinds) {
    const session = await s.sessions.create({ id: randomUUID(), userId, refreshJti: randomUUID(), createdAt: BEFORE - HOUR, expiresAt: k.expiresAt, idleExpiresAt: k.idleExpiresAt, userAgent: null, ip: null });
    if (k.endedAt !== undefined) await s.sessions.end(session.id, 'logout', k.endedAt);
  }
}

describe('session purge plan (SQLite)', () => {
  it('reads index ranges, no scan of sessions', async () => {
    const plan = await sqlitePlan(sessionsOfEveryKind, async (s) => assert.equal(await s.sessions.purge(BEFORE, 500), 4), /DELETE FROM sessions/);
    assert.ok(!plan.some((l) => /\bSCAN sessions\b/.test(l)), plan.join(' | '));
    assert.equal(plan.filter((l) => /SEARCH sessions USING INDEX sessions_(ended|expires|live_deadlines)_idx/.test(l)).length, 3, plan.join(' | '));
  });
});

describe('session purge plan (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_purge');

  it('reads index ranges, no scan of sessions', { skip }, async () => {
    const plan = await postgresPlan(url!, schema, sessionsOfEveryKind, async (s) => assert.equal(await s.sessions.purge(BEFORE, 500), 4), /DELETE FROM sessions/, async (c) => {
      // The planner picks by the table's statistics: 20,000 sessions as a deployment holds them
      // (live ones with deadlines ahead, a week of ended ones, 1 in 100 due), then ANALYZE.
      await c.query(`INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, idle_expires_at, ended_at)
        SELECT gen_random_uuid()::text, (SELECT id FROM users LIMIT 1), gen_random_uuid()::text, $1::bigint, $1::bigint,
          $1::bigint + (i % 30) * 86400000, $1::bigint + (i % 14) * 86400000,
          CASE WHEN i % 3 = 0 THEN $1::bigint - (i % 101) * 6000000 END
        FROM generate_series(1::bigint, 20000) AS i`, [NOW]);
      await c.query('ANALYZE sessions');
    });
    assert.ok(!plan.some((l) => /Seq Scan on sessions\b/.test(l)), plan.join(' | '));
    for (const index of ['sessions_ended_idx', 'sessions_expires_idx', 'sessions_live_deadlines_idx']) {
      assert.ok(plan.some((l) => l.includes(index)), `${index} in ${plan.join(' | ')}`);
    }
    assert.equal(plan.filter((l) => /Index Cond/.test(l)).length, 4, `each range bounded, and the lookup by id: ${plan.join(' | ')}`);
  });
});
