// users.list at scale: the email filter is a substring search served by a trigram index (migration
// 8) instead of reading every user, and the unfiltered total is a count kept by triggers (migration
// 9) instead of counting every user. Both must stay exact through inserts (one and many), email
// changes and deletes, and cover users that existed before they did.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createPostgresStorage, createSqliteStorage, type NewUser, type Storage } from '../src/storage/index.js';
import { POSTGRES, SQLITE, render, sql } from '../src/storage/sql.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { scratchSchema, storageFactories } from './helpers/storage.js';

const user = (email: string): NewUser => ({
  id: randomUUID(), username: `u-${randomUUID()}`, email, fullName: null, roles: ['user'], isActive: true, passwordHash: 'h',
});
const emails = async (s: Storage, needle: string) => (await s.users.list({ limit: 100, offset: 0, email: needle })).users.map((u) => u.email).sort();

for (const f of await storageFactories()) {
  describe(`email search (${f.name})`, { skip: f.skip }, () => {
    after(() => f.cleanup());

    it('finds exactly the substring matches through inserts, email changes and deletes', async () => {
      const s = await f.create();
      try {
        const ann = await s.users.create(user('ann.smith@corp.io'));
        await s.users.create(user('bob_smith@corp.io'));
        await s.users.create(user('carol@home.net'));
        assert.deepEqual(await emails(s, 'smith@'), ['ann.smith@corp.io', 'bob_smith@corp.io']);
        assert.deepEqual(await emails(s, 'b_s'), ['bob_smith@corp.io'], "'_' is literal");
        assert.deepEqual(await emails(s, 'n.s'), ['ann.smith@corp.io'], "'.' is literal");
        assert.deepEqual(await emails(s, '%@'), [], "'%' is literal");
        assert.deepEqual(await emails(s, 'io'), ['ann.smith@corp.io', 'bob_smith@corp.io'], 'two characters: no trigram, same answer');
        await s.users.update(ann.id, { email: 'ann@home.net' });
        assert.deepEqual(await emails(s, 'smith@'), ['bob_smith@corp.io'], 'the old address is no longer found');
        assert.deepEqual(await emails(s, '@home.net'), ['ann@home.net', 'carol@home.net']);
        await s.users.delete(ann.id);
        assert.deepEqual(await emails(s, '@home.net'), ['carol@home.net']);
        assert.equal((await s.users.list({ limit: 1, offset: 0, email: '@home.net' })).total, 1);
      } finally {
        await s.close();
      }
    });
  });
}

for (const f of await storageFactories()) {
  describe(`users total (${f.name})`, { skip: f.skip }, () => {
    after(() => f.cleanup());

    it('stays exact through create, createFirst, insertMany and delete', async () => {
      const s = await f.create();
      try {
        const total = async () => (await s.users.list({ limit: 1, offset: 0 })).total;
        assert.equal(await total(), 0);
        await s.users.createFirst(user('first@corp.io'));
        const b = await s.users.create(user('b@corp.io'));
        assert.equal(await total(), 2);
        await s.users.insertMany([user('c@corp.io'), user('d@corp.io'), user('e@corp.io')]);
        assert.equal(await total(), 5);
        await s.users.delete(b.id);
        await assert.rejects(s.users.create(user('c@corp.io')), 'a refused insert counts nothing');
        assert.equal(await total(), 4);
        assert.equal(await total(), await s.users.count());
      } finally {
        await s.close();
      }
    });
  });
}

describe('email search index (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-email-search-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('covers users created before it existed (search and total), and the search reads no table but the index', async () => {
    const path = join(dir, 'old.db');
    let s = createSqliteStorage(path);
    await s.migrate();
    await s.users.create(user('early@corp.io'));
    await s.close();
    // Back to the schema before migrations 8 and 9, with a user the index never saw.
    const db = openSqlite(path);
    db.exec(`DROP TRIGGER users_email_search_insert; DROP TRIGGER users_email_search_update; DROP TRIGGER users_email_search_delete;
      DROP TABLE users_email_search; DROP TABLE users_email_search_rows;
      DROP TRIGGER users_count_insert; DROP TRIGGER users_count_delete; DROP TABLE users_count;
      DELETE FROM schema_migrations WHERE version IN (8, 9)`);
    prepare(db, `INSERT INTO users (id, username, username_lower, email, password_hash, created_at, updated_at) VALUES (?, 'old', 'old', 'old.timer@corp.io', 'h', 1, 1)`).run(randomUUID());
    db.close();
    s = createSqliteStorage(path);
    try {
      await s.migrate();
      assert.deepEqual(await emails(s, '@corp.io'), ['early@corp.io', 'old.timer@corp.io']);
      assert.equal((await s.users.list({ limit: 1, offset: 0 })).total, 2);
    } finally {
      await s.close();
    }
    const check = openSqlite(path, { readonly: true });
    try {
      const { text, values } = render(SQLITE, sql`SELECT * FROM users WHERE ${SQLITE.contains('email', 'corp')} ORDER BY created_at LIMIT 20`);
      const plan = (prepare(check, `EXPLAIN QUERY PLAN ${text}`).all(...values) as Array<{ detail: string }>).map((r) => r.detail);
      assert.ok(!plan.some((l) => /\bSCAN users\b/.test(l)), plan.join(' | '));
    } finally {
      check.close();
    }
  });
});

describe('email search index (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_email');

  it('covers users created before it existed (search and total), and can serve the search', { skip }, async () => {
    let s = createPostgresStorage(url!, { schema });
    await s.migrate();
    await s.users.create(user('early@corp.io'));
    await s.close();
    const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      await c.query(`DROP INDEX users_email_trgm_idx; DROP TABLE users_count; DROP FUNCTION users_count_move() CASCADE;
        DELETE FROM schema_migrations WHERE version IN (8, 9)`);
      await c.query(`INSERT INTO users (id, username, username_lower, email, password_hash, created_at, updated_at) VALUES ($1, 'old', 'old', 'old.timer@corp.io', 'h', 1, 1)`, [randomUUID()]);
      s = createPostgresStorage(url!, { schema });
      try {
        await s.migrate();
        assert.deepEqual(await emails(s, '@corp.io'), ['early@corp.io', 'old.timer@corp.io']);
        assert.equal((await s.users.list({ limit: 1, offset: 0 })).total, 2);
      } finally {
        await s.close();
      }
      // On a table this small the planner rightly prefers reading it; forbid that to see the index serve.
      const { text, values } = render(POSTGRES, sql`SELECT * FROM users WHERE ${POSTGRES.contains('email', 'corp')}`);
      await c.query('SET enable_seqscan = off');
      const plan = (await c.query(`EXPLAIN ${text}`, values)).rows.map((r: Record<string, unknown>) => String(r['QUERY PLAN']));
      assert.ok(plan.some((l) => l.includes('users_email_trgm_idx')), plan.join(' | '));
    } finally {
      await c.end();
    }
  });
});
