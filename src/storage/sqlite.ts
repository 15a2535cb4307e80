// SQLite adapter (better-sqlite3). The driver is synchronous, so within one process calls are
// naturally serialised; atomicity across processes sharing the file comes from single conditional
// statements and BEGIN IMMEDIATE transactions (which take the write lock before reading).
// The stores themselves are shared with PostgreSQL (sql-stores.ts); this file keeps the
// connection, the statement cache and the transactions around the multi-statement plans.
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { USERS } from './columns.js';
import { migrationStep, newerOf, pendingOf } from './migrations.js';
import { newUserRecord, rotationEvents } from './rules.js';
import { SQLITE, Script, insertRow, insertRows, insertSlices, insertValues, render, runPlan, sql, storageError, type Plan, type Result, type Row, type Sql } from './sql.js';
import { SQLITE_PRAGMAS, sqliteBulkWriter, type BulkStep, type BulkWriter } from './sqlite-bulk.js';
import { openSqlite, prepare, setPragma } from './sqlite-driver.js';
import { StorageUnavailable, errorCode, isResourceShortage } from './availability.js';
import { perTurn } from './per-turn.js';
import { sqlStatements, sqlStores } from './sql-stores.js';
import type { AppliedMigration, RotateResult, Storage, StorageOptions } from './types.js';

/**
 * A new database file, and a folder made for it, are its owner's only (as the development key is):
 * the file holds password hashes and, while a mail waits, its live link. SQLite gives the -wal and
 * -shm files the database's mode. An existing file keeps the mode its operator chose.
 */
function createPrivately(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    closeSync(openSync(path, 'wx', 0o600));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/** `path` is a file path (its folder is created) or ':memory:'. */
export function createSqliteStorage(path: string, opts: StorageOptions = {}): Storage {
  const clock = opts.clock ?? Date.now;
  if (path !== ':memory:') createPrivately(path);
  // Through sqlite-driver.ts, as every statement below: on Node 24 a driver object the garbage
  // collector finalizes can abort the process.
  const db = openSqlite(path);
  for (const p of SQLITE_PRAGMAS) setPragma(db, p);
  // Migration 13's normalize(), which SQLite lacks (JavaScript's is the one emailKey uses).
  db.function('warden_nfc', { deterministic: true }, (text: unknown) => (typeof text === 'string' ? text.normalize('NFC') : text));
  // The driver is synchronous: SQLite's own wait for another connection's write lock (busy_timeout)
  // would stop this thread, every request with it (forward auth too), for as long as it waited.
  // It answers SQLITE_BUSY at once instead, and whenFree() tries again from a timer, up to the bound.
  setPragma(db, 'busy_timeout = 0');
  const waitMs = opts.queryTimeoutMs ?? 2500;

  // Statements are prepared lazily (the tables don't exist until migrate() has run) and kept.
  const cache = new Map<string, Database.Statement>();
  // Positional statements (Sql.positional) in raw mode: rows as arrays of values.
  const rawCache = new Map<string, Database.Statement>();
  const exec = (s: Sql | Script): Result => {
    try {
      if (s instanceof Script) return (db.exec(s.text), { rows: [], changes: 0 });
      const { text, values } = render(SQLITE, s);
      const stmts = s.positional ? rawCache : cache;
      let stmt = stmts.get(text);
      if (!stmt) {
        stmt = prepare(db, text);
        if (s.positional && stmt.reader) stmt.raw(true);
        stmts.set(text, stmt);
      }
      if (stmt.reader) {
        const rows = stmt.all(...values) as Row[];
        return { rows, changes: rows.length };
      }
      return { rows: [], changes: stmt.run(...values).changes };
    } catch (e) {
      throw storageError(SQLITE, e);
    }
  };
  /**
   * Runs `body` in one BEGIN IMMEDIATE transaction: no other process writes between its statements.
   * Only BEGIN may answer SQLITE_BUSY (nothing done yet, so whenFree() may try again); whatever fails
   * after it is rolled back and thrown as something whenFree() will not retry: a plan is a generator,
   * run once.
   */
  const [begin, commit, rollback] = ['BEGIN IMMEDIATE', 'COMMIT', 'ROLLBACK'].map((text) => prepare(db, text)) as [Database.Statement, Database.Statement, Database.Statement];
  const immediately = <T>(body: () => T): T => {
    begin.run();
    try {
      const out = body();
      commit.run();
      return out;
    } catch (e) {
      if (db.inTransaction) rollback.run();
      throw unavailableIfShort(e);
    }
  };
  /** The migrations recorded as applied (read only; none before the first migration). */
  const hasMigrationsTable = prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  let migrationsApplied: Database.Statement | undefined; // once the table exists
  const appliedMigrations = (): AppliedMigration[] => {
    try {
      if (hasMigrationsTable.get() === undefined) return [];
      migrationsApplied ??= prepare(db, 'SELECT version, name FROM schema_migrations');
      return (migrationsApplied.all() as AppliedMigration[]).map((r) => ({ version: Number(r.version), name: r.name }));
    } catch (e) {
      throw storageError(SQLITE, e);
    }
  };
  const pendingMigrations = async () => pendingOf((await whenFree(appliedMigrations, waitMs)).map((m) => m.version));
  const locked = <T>(plan: Plan<T>, withinMs = waitMs): Promise<T> => whenFree(() => immediately(() => runPlan(plan, exec)), withinMs);
  /** A plan in a savepoint of the transaction under way (better-sqlite3 nests its transactions so). */
  const savepoint = db.transaction((plan: Plan<unknown>) => runPlan(plan, exec));

  // Group commit for refresh rotations, the one write every client makes every few minutes: those
  // that arrive in one turn of the event loop share a transaction, so one commit (and its fsync,
  // most of a rotation's cost with synchronous = FULL) covers them all. Each runs in a savepoint of
  // its own (better-sqlite3 nests transactions so): one that fails is undone and refused alone.
  // Every caller is answered after the commit, never before its rotation is durable.
  type Queued = { plan: Plan<RotateResult>; resolve: (r: RotateResult) => void; reject: (e: unknown) => void };
  // A rotation alone needs no savepoint: if it fails, the whole transaction is undone, which is
  // what its savepoint would have undone (two statements and a statement journal fewer a refresh).
  const rotateAll = (batch: Queued[]) => batch.length === 1 ? [{ ok: true as const, value: runPlan(batch[0]!.plan, exec) }] : batch.map((q) => {
    try {
      return { ok: true as const, value: savepoint(q.plan) as RotateResult };
    } catch (error) {
      // SQLite rolled the whole transaction back itself (disk full, I/O error): the batch fails as one.
      if (!db.inTransaction) throw error;
      return { ok: false as const, error };
    }
  });
  const rotations = perTurn<Queued>((batch) => {
    whenFree(() => immediately(() => rotateAll(batch)), waitMs).then(
      (outcomes) => outcomes.forEach((o, i) => (o.ok ? batch[i]!.resolve(o.value) : batch[i]!.reject(unavailableIfShort(o.error)))),
      // BEGIN or COMMIT failed (locked past the bound, disk full): nothing of the batch was written.
      (e: unknown) => batch.forEach((q) => q.reject(e)),
    );
  });

  const selectOne = prepare(db, 'SELECT 1');
  const st = sqlStatements(SQLITE, clock);
  let bulk: BulkWriter | undefined;
  const shared = sqlStores(st, (s) => whenFree(() => exec(s), waitMs), locked);

  return {
    kind: 'sqlite',
    users: {
      ...shared.users,
      // The emptiness check and the insert share one write-locked transaction, so two processes
      // racing to create the first account cannot both see an empty table.
      createFirst: async (user, events) => locked(st.withEvents(st.createFirst(user), events)),
      async insertMany(users, events) {
        // A file's bulk inserts run in a worker (sqlite-bulk.ts), so their commits do not block
        // this thread; an in-memory database has no other connection, and runs the plan here.
        if (path === ':memory:' || users.length === 0) return locked(st.insertMany(users, events));
        bulk ??= sqliteBulkWriter(path);
        // Sent whole, on the bet that no row collides: each chunk of users must insert every row.
        const now = clock();
        const records = users.map((n) => newUserRecord(n, now));
        const steps: BulkStep[] = insertSlices(SQLITE, records).map((part) => ({
          ...render(SQLITE, insertRows(SQLITE, USERS, part, ' ON CONFLICT DO NOTHING')), expect: part.length,
        }));
        for (const s of st.eventRows(events ? records.flatMap((r) => events(r.id)) : [])) steps.push(render(SQLITE, s));
        let committed: boolean;
        try {
          committed = await bulk.run(steps);
        } catch (e) {
          throw unavailableIfShort(storageError(SQLITE, e));
        }
        // One did (a sign-up meanwhile, a duplicate in the batch): nothing was written; the plan
        // skips the colliding rows and writes the events of the others, here.
        return committed ? records.map((r) => r.id) : locked(st.insertMany(users, events));
      },
    },
    sessions: {
      ...shared.sessions,
      // The compare-and-swap and, when it misses, the judgement of the row share one write lock,
      // and one commit with the other rotations of this turn (see rotateAll).
      rotate: (a, events) => new Promise<RotateResult>((resolve, reject) => {
        rotations.add({ plan: st.withEvents(st.rotate(a), rotationEvents(events)), resolve, reject });
      }),
    },
    revocations: shared.revocations,
    factors: shared.factors,
    challenges: shared.challenges,
    emailTokens: { ...shared.emailTokens, issue: async (t) => locked(st.issueToken(t)) },
    outbox: shared.outbox,
    devices: shared.devices,
    events: shared.events,
    deliveries: shared.deliveries,

    async migrate() {
      // A file already up to date needs no write lock: reading is never blocked by a writer (WAL),
      // so a command or an instance started beside a long write (an import) does not wait for it.
      if ((await pendingMigrations()).length === 0) return [];
      // One migration per write-locked transaction: a second process waits, then finds it applied.
      const applied: AppliedMigration[] = [];
      for (let m; (m = await locked(migrationStep('sqlite', clock()), MIGRATION_WAIT_MS)) !== null;) applied.push(m);
      return applied;
    },
    pendingMigrations,
    newerMigrations: async () => newerOf(await whenFree(appliedMigrations, waitMs)),
    async ping() {
      selectOne.get();
    },
    async close() {
      rotations.flush();
      await bulk?.close();
      if (db.open) db.close();
    },
  };
}

/** How long a migration waits for another process's write lock (another instance migrating). */
const MIGRATION_WAIT_MS = 15 * 60_000;

/** SQLite's errors that say "not now" (a full disk, an I/O error) as StorageUnavailable: 503, not 500. */
function unavailableIfShort(e: unknown): unknown {
  return !(e instanceof StorageUnavailable) && isResourceShortage(e) ? new StorageUnavailable(e) : e;
}

/**
 * Runs `run` (synchronous: one statement, or one transaction through immediately()) and, while
 * SQLite answers SQLITE_BUSY (another connection holds the write lock), runs it again from a timer,
 * backing off from 1 ms to 16 ms, for at most `withinMs`; then StorageUnavailable. A statement, or
 * a BEGIN IMMEDIATE, that SQLite refused as busy did nothing. The clock is read only once refused.
 */
async function whenFree<T>(run: () => T, withinMs: number): Promise<T> {
  let deadline: number | undefined;
  for (let wait = 1; ; wait = Math.min(2 * wait, 16)) {
    try {
      return run();
    } catch (e) {
      deadline ??= performance.now() + withinMs;
      if (!errorCode(e)?.startsWith('SQLITE_BUSY') || performance.now() + wait > deadline) throw unavailableIfShort(e);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}
