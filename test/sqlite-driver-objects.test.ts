// No better-sqlite3 object Warden makes is ever left to the garbage collector (sqlite-driver.ts).
// On Node 24, better-sqlite3 12 aborts the whole process (SIGABRT, `Assertion failed:
// (env) != nullptr`) when the collector finalizes one of its objects with no Node environment
// current; `warden serve` did so at start on a new SQLite file, and CLI commands at exit. On Node 20
// the collection of such an object does no harm, so this test asserts what prevents the abort: after
// a server's storage has migrated, checked its migrations, answered health checks and closed, after an
// import has read an old application's SQLite table, a forced collection finalizes none of the
// objects the driver handed out (counted by wrapping its prepare() and iterate()).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import { sqliteSource } from '../src/cli/import/sources.js';
import { createSqliteStorage, type NewUser } from '../src/storage/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Every Database, Statement and StatementIterator handed out from now on, and how many were finalized. */
function watchDriverObjects() {
  const seen = new WeakSet<object>();
  const count = { made: 0, finalized: 0 };
  const finalized = new FinalizationRegistry<void>(() => void count.finalized++);
  const watch = (o: object) => {
    if (seen.has(o)) return;
    seen.add(o);
    count.made++;
    finalized.register(o);
  };
  const proto = Database.prototype as unknown as { prepare: (...a: unknown[]) => Database.Statement };
  const prepare = proto.prepare;
  // pragma() and Warden's own calls both prepare through the prototype's prepare.
  proto.prepare = function (this: Database.Database, ...args: unknown[]) {
    watch(this);
    const statement = prepare.apply(this, args);
    watch(statement);
    const iterate = statement.iterate;
    statement.iterate = function (this: Database.Statement, ...a: unknown[]) {
      const it = (iterate as (...b: unknown[]) => object).apply(this, a);
      watch(it);
      return it;
    } as typeof statement.iterate;
    return statement;
  };
  return { count, restore: () => void (proto.prepare = prepare) };
}

/** Collections until finalizers had their turn (they run from the event loop, after a collection). */
async function collect(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('better-sqlite3 objects are never left to the garbage collector (Node 24 aborts when one is)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-driver-objects-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the watch itself sees a dropped statement finalized (else a zero below would prove nothing)', async () => {
    const w = watchDriverObjects();
    try {
      const db = new Database(':memory:');
      db.prepare('SELECT 1').get();
      db.close();
      await collect();
      assert.ok(w.count.made >= 2, `objects seen: ${w.count.made}`);
      assert.ok(w.count.finalized >= 1, 'a statement dropped by the test itself was finalized');
    } finally {
      w.restore();
    }
  });

  it('a storage (migrations, migration checks, health checks, close) and an import source: none finalized', async () => {
    const w = watchDriverObjects();
    try {
      await (async () => {
        const storage = createSqliteStorage(join(dir, 'warden.db'));
        await storage.migrate();
        await storage.pendingMigrations();
        await storage.newerMigrations();
        for (let i = 0; i < 20; i++) await storage.ping();
        const old = new Database(join(dir, 'old.db'));
        old.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT); INSERT INTO users (username) VALUES ('ann'), ('bob')");
        old.close();
        const source = await sqliteSource(join(dir, 'old.db'), 'users', undefined);
        let rows = 0;
        for await (const batch of source.items()) rows += batch.length;
        assert.equal(rows, 2);
        await source.close();
        await storage.close();
      })();
      await collect();
      assert.ok(w.count.made >= 8, `objects the driver handed out: ${w.count.made}`);
      assert.equal(w.count.finalized, 0, `of ${w.count.made} driver objects, ${w.count.finalized} were finalized by the garbage collector`);
    } finally {
      w.restore();
    }
  });

  it('the bulk writer keeps its statements and, past 16, goes on writing on a new connection: every row written', async () => {
    // Its worker cannot be watched from here; what it does instead of dropping statements
    // (closing its connection, which frees them in SQLite, and opening another) must lose nothing.
    const storage = createSqliteStorage(join(dir, 'bulk.db'));
    try {
      await storage.migrate();
      let n = 0;
      const batch = (size: number): NewUser[] => Array.from({ length: size }, () => {
        const i = n++;
        return { id: randomUUID(), username: `bulk${i}`, email: `bulk${i}@example.org`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'none', createdAt: 1_700_000_000_000 + i };
      });
      // 40 batches of 40 sizes: 40 statement texts, two reconnections.
      for (let size = 1; size <= 40; size++) assert.equal((await storage.users.insertMany(batch(size))).length, size);
      assert.equal(await storage.users.count(), n);
      assert.equal(n, 820);
    } finally {
      await storage.close();
    }
  });
});
