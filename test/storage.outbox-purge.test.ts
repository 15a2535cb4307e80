// The hourly clean-up of finished mails finds them through an index (migration 14), a batch at a
// time, never by reading the outbox: with a million rows and none due, one read of the whole table
// held SQLite's only thread 0.14–0.15 s an hour. The plan of the statement the store actually runs
// is checked on both engines; which mails it deletes is the conformance suite's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Storage } from '../src/storage/index.js';
import { postgresPlan, sqlitePlan } from './helpers/plans.js';
import { scratchSchema } from './helpers/storage.js';

const NOW = 1_800_000_000_000;
const BEFORE = NOW - 7 * 86_400_000;

/** Sent before the cut-off (due), sent after it, and pending from before it (never due). */
async function mails(s: Storage): Promise<void> {
  const add = (createdAt: number) => s.outbox.add({
    id: randomUUID(), template: 'password-changed', recipient: 'a@example.com', data: {}, prepared: true, createdAt, deadline: NOW + 86_400_000,
  });
  for (const at of [BEFORE - 2, BEFORE + 1, BEFORE - 1]) await add(at);
  const claimed = await s.outbox.claim('me', NOW, NOW + 1000, 10);
  for (const m of claimed) if (m.createdAt !== BEFORE - 1) await s.outbox.sent(m.id, NOW);
}

const purge = async (s: Storage) => assert.equal(await s.outbox.purge(BEFORE, 500), 1, 'the one sent before the cut-off, not the pending one');

describe('mail outbox purge plan (SQLite)', () => {
  it('reads the finished-mails index, no scan of the outbox', async () => {
    const plan = await sqlitePlan(mails, purge, /DELETE FROM mail_outbox/);
    assert.ok(!plan.some((l) => /\bSCAN mail_outbox\b/.test(l)), plan.join(' | '));
    assert.ok(plan.some((l) => /SEARCH mail_outbox USING (COVERING )?INDEX mail_outbox_done_idx/.test(l)), plan.join(' | '));
  });
});

describe('mail outbox purge plan (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_outbox_purge');

  it('reads the finished-mails index, no scan of the outbox', { skip }, async () => {
    const plan = await postgresPlan(url!, schema, mails, purge, /DELETE FROM mail_outbox/, async (c) => {
      // A week of finished mails, as a deployment holds them, 1 in 100 due, then ANALYZE.
      await c.query(`INSERT INTO mail_outbox (id, template, recipient, data, prepared, status, attempts, created_at, next_attempt_at, deadline)
        SELECT gen_random_uuid()::text, 'password-changed', 'a@example.com', '{}', true, 'sent', 1,
          $1::bigint - (i % 101) * 6000000, $1::bigint, $1::bigint
        FROM generate_series(1::bigint, 20000) AS i`, [NOW]);
      await c.query('ANALYZE mail_outbox');
    });
    assert.ok(!plan.some((l) => /Seq Scan on mail_outbox\b/.test(l)), plan.join(' | '));
    assert.ok(plan.some((l) => l.includes('mail_outbox_done_idx')), plan.join(' | '));
  });
});
