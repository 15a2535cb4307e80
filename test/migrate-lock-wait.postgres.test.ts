// A migration whose table another transaction holds (a pg_dump holds every table it reads for as
// long as it runs; any long query does the same) must not stop that table's traffic for all that
// time. Waiting for ACCESS EXCLUSIVE, an ALTER queues every later query of the table behind it:
// measured, a refresh on an instance still serving waited 12.8 s behind a migration of a few
// milliseconds while a 15 s transaction read sessions. Migrations now give up a lock wait after a
// second, let the queue through, and try again until the other transaction ends.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { latestVersion } from '../src/storage/migrations.js';
import { createPostgresStorage } from '../src/storage/index.js';
import { postgresBefore, scratchSchema } from './helpers/storage.js';

describe('a migration waiting for a table another transaction holds (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_lockwait');

  it('lets the table\'s queries through meanwhile, and applies once the holder is done', { skip }, async () => {
    const client = (searchPath = true) => new pg.Client({ connectionString: url, ...(searchPath ? { options: `-c search_path=${schema}` } : {}) });
    const setup = client();
    await setup.connect();
    // As an older Warden left it: migration 15 (ALTER TABLE email_tokens ADD COLUMN) still to apply.
    await postgresBefore(setup, schema, 15);
    await setup.end();

    // A backup's read of email_tokens, open until the test ends it.
    const holder = client();
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query('SELECT count(*) FROM email_tokens');

    const storage = createPostgresStorage(url!, { schema });
    const migrating = storage.migrate();
    const outcome = migrating.then(() => 'applied', (e: unknown) => e);

    // Until the migration is queued on the table (its ALTER waits for the holder's lock).
    const watcher = client(false);
    await watcher.connect();
    const waiting = async () => (await watcher.query(
      `SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = 'email_tokens' AND NOT l.granted`, [schema])).rows.length > 0;
    while (!(await waiting())) await new Promise((resolve) => setTimeout(resolve, 20));

    // Another instance's query of that table, bounded as DATABASE_QUERY_TIMEOUT_MS bounds it.
    const reader = client();
    await reader.connect();
    await reader.query('SET statement_timeout = 2500');
    const started = Date.now();
    const read = await reader.query('SELECT count(*) AS n FROM email_tokens').then(() => 'answered', (e: Error) => e.message);
    const waited = Date.now() - started;
    await holder.query('COMMIT'); // whatever the answer: the migration must be able to finish
    assert.equal(read, 'answered', `a query of the table waited ${waited} ms behind the migration`);
    assert.equal(await outcome, 'applied');
    const column = await reader.query(`SELECT 1 FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'email_tokens' AND column_name = 'session_id'`, [schema]);
    assert.equal(column.rows.length, 1);
    assert.deepEqual(await storage.pendingMigrations(), []);
    assert.equal(Math.max(...(await reader.query('SELECT version FROM schema_migrations')).rows.map((r: { version: number }) => Number(r.version))), latestVersion());
    await Promise.all([holder.end(), watcher.end(), reader.end(), storage.close()]);
  });
});
