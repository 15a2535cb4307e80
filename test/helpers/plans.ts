// The query plan of a statement a store actually runs, on either engine: the statement is captured
// as the store sends it (better-sqlite3's prepare, pg's query), then EXPLAINed with its values.
// For the tests that a purge or a listing reads index ranges, never a whole table.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../../src/storage/index.js';
import { openSqlite, prepare } from '../../src/storage/sqlite-driver.js';
import { spyPostgresQueries } from './storage.js';

/**
 * On a fresh SQLite file: `fill` (unwatched), then `run` while the statements prepared are seen;
 * the plan (EXPLAIN QUERY PLAN's details) of the first one matching `pattern`.
 */
export async function sqlitePlan(fill: (s: Storage) => Promise<void>, run: (s: Storage) => Promise<void>, pattern: RegExp): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-plan-'));
  const path = join(dir, 'warden.db');
  const s = createSqliteStorage(path);
  const seen: string[] = [];
  const original = Database.prototype.prepare;
  try {
    await s.migrate();
    await fill(s);
    Database.prototype.prepare = function (this: Database.Database, source: string) {
      seen.push(source);
      return original.call(this, source);
    } as typeof original;
    await run(s);
  } finally {
    Database.prototype.prepare = original;
    await s.close();
  }
  const text = seen.find((t) => pattern.test(t));
  assert.ok(text, `${pattern} among the ${seen.length} statements prepared`);
  const db = openSqlite(path, { readonly: true });
  try {
    return (prepare(db, `EXPLAIN QUERY PLAN ${text}`).all(...Array.from(text.matchAll(/\?/g), () => null)) as Array<{ detail: string }>).map((r) => r.detail);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * In `schema` on PostgreSQL: `fill`, then `run` while the queries sent are seen; then `load`
 * (the rows and ANALYZE the planner decides by) and the EXPLAIN lines of the first query matching
 * `pattern`, with the values it was sent with.
 */
export async function postgresPlan(
  url: string, schema: string, fill: (s: Storage) => Promise<void>, run: (s: Storage) => Promise<void>, pattern: RegExp, load: (c: pg.Client) => Promise<void>,
): Promise<string[]> {
  const s = createPostgresStorage(url, { schema });
  let seen: { text: string; values: unknown[] } | undefined;
  try {
    await s.migrate();
    await fill(s);
    const undo = spyPostgresQueries((q, values) => {
      const text = typeof q === 'string' ? q : q.text;
      if (seen === undefined && text !== undefined && pattern.test(text)) seen = { text, values: values ?? [] };
    });
    try {
      await run(s);
    } finally {
      undo();
    }
  } finally {
    await s.close();
  }
  assert.ok(seen, `${pattern} among the queries sent`);
  const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
  await c.connect();
  try {
    await load(c);
    return (await c.query(`EXPLAIN ${seen.text}`, seen.values)).rows.map((r: Record<string, unknown>) => String(r['QUERY PLAN']));
  } finally {
    await c.end();
  }
}
