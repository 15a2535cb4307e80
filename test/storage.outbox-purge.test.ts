// The hourly clean-up of finished mails finds them through an index (migration 14), a batch at a
// time, never by reading the outbox: with a million rows and none due, one read of the whole table
// held SQLite's only thread 0.14–0.15 s an hour. The plan of the statement the store actually runs
// is checked on both engines; which mails it deletes is the conformance suite's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../src/storage/index.js';
import { scratchSchema, spyPostgresQueries } from './helpers/storage.js';

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

describe('mail outbox purge plan (SQLite)', () => {
  it('reads the finished-mails index, no scan of the outbox', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-outbox-purge-'));
    const path = join(dir, 'warden.db');
    const s = createSqliteStorage(path);
    const seen: string[] = [];
    const prepare = Database.prototype.prepare;
    try {
      await s.migrate();
      await mails(s);
      Database.prototype.prepare = function (this: Database.Database, source: string) {
        seen.push(source);
        return prepare.call(this, source);
      } as typeof prepare;
      assert.equal(await s.outbox.purge(BEFORE, 500), 1, 'the one sent before the cut-off, not the pending one');
    } finally {
      Database.prototype.prepare = prepare;
      await s.close();
    }
    const text = seen.find((t) => /DELETE FROM mail_outbox/.test(t));
    assert.ok(text, `the purge's statement among ${seen.length} prepared`);
    const db = new Database(path, { readonly: true });
    try {
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(...Array.from(text.matchAll(/\?/g), () => null)) as Array<{ detail: string }>).map((r) => r.detail);
      assert.ok(!plan.some((l) => /\bSCAN mail_outbox\b/.test(l)), plan.join(' | '));
      assert.ok(plan.some((l) => /SEARCH mail_outbox USING (COVERING )?INDEX mail_outbox_done_idx/.test(l)), plan.join(' | '));
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('mail outbox purge plan (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_outbox_purge');

  it('reads the finished-mails index, no scan of the outbox', { skip }, async () => {
    const s = createPostgresStorage(url!, { schema });
    let purge: { text: string; values: unknown[] } | undefined;
    try {
      await s.migrate();
      await mails(s);
      const undo = spyPostgresQueries((q, values) => {
        const text = typeof q === 'string' ? q : q.text;
        if (text !== undefined && /DELETE FROM mail_outbox/.test(text)) purge = { text, values: values ?? [] };
      });
      try {
        assert.equal(await s.outbox.purge(BEFORE, 500), 1, 'the one sent before the cut-off, not the pending one');
      } finally {
        undo();
      }
    } finally {
      await s.close();
    }
    assert.ok(purge, "the purge's statement was seen");
    const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      // A week of finished mails, as a deployment holds them, 1 in 100 due, then ANALYZE.
      await c.query(`INSERT INTO mail_outbox (id, template, recipient, data, prepared, status, attempts, created_at, next_attempt_at, deadline)
        SELECT gen_random_uuid()::text, 'password-changed', 'a@example.com', '{}', true, 'sent', 1,
          $1::bigint - (i % 101) * 6000000, $1::bigint, $1::bigint
        FROM generate_series(1::bigint, 20000) AS i`, [NOW]);
      await c.query('ANALYZE mail_outbox');
      const plan = (await c.query(`EXPLAIN ${purge.text}`, purge.values)).rows.map((r: Record<string, unknown>) => String(r['QUERY PLAN']));
      assert.ok(!plan.some((l) => /Seq Scan on mail_outbox\b/.test(l)), plan.join(' | '));
      assert.ok(plan.some((l) => l.includes('mail_outbox_done_idx')), plan.join(' | '));
    } finally {
      await c.end();
    }
  });
});
