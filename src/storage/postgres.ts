// PostgreSQL adapter (pg Pool). Several server instances may share the database, so every
// check-then-act is either one conditional statement or a transaction holding the right lock:
//  - rotate: one statement on the happy path (a compare-and-swap UPDATE … RETURNING, the events
//    it records inserted from its row, the user joined: one round trip), shared by the rotations
//    asked in the same turn of the event loop; a miss is judged under SELECT … FOR UPDATE so
//    exactly one of N racing callers wins;
//  - createFirst: LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE (conflicts with itself and with
//    plain inserts) around the emptiness check and the insert;
//  - users.update/delete with `keep` (the last administrator): the holders' rows locked FOR UPDATE
//    in id order before the check and the write (sql-stores.ts, keepHolder);
//  - migrate: pg_advisory_xact_lock so instances starting together apply each migration once.
// The stores themselves are shared with SQLite (sql-stores.ts); this file keeps the pool, the
// transactions and those locks.
//
// The network may fail in the worst way: a partition leaves sockets open and silent. Every wait is
// bounded (connect, pool slot, statement), a connection whose statement timed out is destroyed,
// and the first such failure replaces the whole pool: its other connections lived through the same
// fault and may stay silent for good, so none of them is reused.
import { Socket } from 'node:net';
import pg from 'pg';
import { StorageUnavailable, isConnectionFailure, isResourceShortage } from './availability.js';
import { MIGRATIONS, migrationStep, newerOf, pendingOf } from './migrations.js';
import { USERS } from './columns.js';
import { eventsOf, newUserRecord, rotationEvents } from './rules.js';
import { bulkInsertStatement, rotationsStatement, type BatchedRotation } from './postgres-bulk.js';
import { perTurn } from './per-turn.js';
import { POSTGRES, ROWS_PER_INSERT, Script, chunks, insertRows, render, runPlanAsync, sql, storageError, type Plan, type Result, type Row, type Sql } from './sql.js';
import { sqlStatements, sqlStores } from './sql-stores.js';
import { UniqueViolation, type AppliedMigration, type Emit, type RotateResult, type RotateStatus, type Storage, type StorageOptions } from './types.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

/**
 * Whether named prepared statements are in use (see shaped() in sql.ts). A pooler that hands each
 * transaction another server connection without tracking them (PgBouncer's transaction pooling
 * before 1.21) answers a named statement with "does not exist" (26000) or "already exists" (42P05):
 * both refused before anything ran, so the statement is run again unnamed, and from then on every
 * statement is (the storage logs nothing; DATABASE_PREPARED_STATEMENTS=false skips the first miss).
 */
interface Prepared { on: boolean }
const PREPARED_MISSES = new Set(['26000', '42P05']);

/**
 * Runs one statement on a pool or a transaction's client; `unreachable` turns a connection failure
 * into the error to throw. `prepared`: whether names are used, on the pool only: a refusal inside a
 * transaction would abort it, so the statement could not simply run again (inside one, the
 * rotation's rare miss path, the text is sent as is).
 */
function executor(db: Queryable, unreachable: (e: unknown) => Error, prepared?: Prepared): (s: Sql | Script) => Promise<Result> {
  return async (s) => {
    try {
      if (s instanceof Script) return (await db.query(s.text), { rows: [], changes: 0 });
      const { text, values, name } = render(POSTGRES, s);
      if (name !== undefined && prepared?.on) {
        try {
          const r = await db.query<Row>({ name, text, values });
          return { rows: r.rows, changes: r.rowCount ?? 0 };
        } catch (e) {
          if (!PREPARED_MISSES.has((e as { code?: string }).code ?? '')) throw e;
          prepared.on = false;
        }
      }
      const r = await db.query<Row>(text, values);
      return { rows: r.rows, changes: r.rowCount ?? 0 };
    } catch (e) {
      throw isConnectionFailure(e) ? unreachable(e) : isResourceShortage(e) ? new StorageUnavailable(storageError(POSTGRES, e)) : storageError(POSTGRES, e);
    }
  };
}

const SAFE_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresOptions extends StorageOptions {
  /** Schema for all tables (created by migrate()); lower-case letters, digits and '_'. Default: the server's search_path. */
  schema?: string;
  /** Pool size (default 10). */
  max?: number;
  /** Longest wait for a new connection or a free pool slot, in ms (default 2000). */
  connectTimeoutMs?: number;
  /**
   * Named prepared statements for the statements run at every refresh (default true). Off for a
   * pooler that hands each transaction another server connection and does not track them
   * (PgBouncer's transaction pooling before 1.21, or without max_prepared_statements); they also
   * turn themselves off at the first refusal from such a pooler (see executor()).
   */
  preparedStatements?: boolean;
}

/** How long close() waits for the pool to end before cutting its sockets. */
const CLOSE_WAIT_MS = 1000;
/** The bound on each migration statement (and on waiting for another instance's migration). */
const MIGRATION_TIMEOUT_MS = 15 * 60_000;
/**
 * The longest a migration waits for one table lock before it steps back. While an ALTER or CREATE
 * INDEX waits behind another transaction (a pg_dump holds its tables for as long as it runs), every
 * query of that table queues behind the waiting migration: without a bound, a migration of
 * milliseconds stopped every refresh for as long as the backup ran.
 */
const MIGRATION_LOCK_WAIT_MS = 1000;
/** After a lock wait gave up: the first rest (doubling, up to the last) before the migration tries again. */
const MIGRATION_LOCK_RETRY_MS = [1000, 30_000] as const;
/** Every table the migrations create (and nothing else a shared schema may hold). */
const WARDEN_TABLES = [...new Set(MIGRATIONS.flatMap((m) => [...m.postgres.matchAll(/CREATE TABLE (?:IF NOT EXISTS )?(\w+)/g)].map((x) => x[1]!)))];
/** lock_not_available: the lock_timeout passed. */
const LOCK_NOT_AVAILABLE = '55P03';
// pg-pool's error when every connection is busy for longer than the connect timeout: the database
// is slow or the pool too small, not unreachable, so the pool's connections are kept.
const POOL_BUSY = 'timeout exceeded when trying to connect';

export function createPostgresStorage(url: string, opts: PostgresOptions = {}): Storage {
  const { schema } = opts;
  const clock = opts.clock ?? Date.now;
  if (schema !== undefined && !SAFE_SCHEMA.test(schema)) {
    throw new Error(`postgres schema must match ${SAFE_SCHEMA} (got "${schema}")`);
  }
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2000;
  const queryTimeoutMs = opts.queryTimeoutMs ?? 2500;
  const prepared: Prepared = { on: opts.preparedStatements ?? true };
  const abandonedMs = Math.max(10_000, 2 * queryTimeoutMs);
  // PgBouncer (transaction mode) is told to ignore the startup parameter above, and itself keeps a
  // server connection in a transaction for as long as its client's socket stays open: a partition
  // between Warden and the pooler left each server connection it caught idle in a transaction for
  // good (until TCP keepalive, hours), and with them the pool: every request 503 after it healed.
  // SET LOCAL lasts the transaction only, so it never leaks to the pooler's next client; it goes in
  // BEGIN's own query string, no extra round trip.
  const begin = new Script(`BEGIN; SET LOCAL idle_in_transaction_session_timeout = ${abandonedMs}`);

  /**
   * A pool and the sockets it opened, so that they can be cut when ending it politely hangs.
   * Migrations get their own single connection with a long statement bound: building an index
   * on a large table may take minutes, and a second instance waits for the first one's lock.
   */
  function newPool(purpose: 'requests' | 'migrations' = 'requests'): { pool: pg.Pool; sockets: Set<Socket> } {
    const sockets = new Set<Socket>();
    const statementMs = purpose === 'requests' ? queryTimeoutMs : MIGRATION_TIMEOUT_MS;
    const pool = new pg.Pool({
      connectionString: url,
      max: purpose === 'requests' ? (opts.max ?? 10) : 1,
      // Set at connection start-up, so no query can ever run on a connection with the wrong path.
      ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
      connectionTimeoutMillis: connectTimeoutMs,
      query_timeout: statementMs,
      statement_timeout: statementMs,
      // A transaction whose client vanished holds its row locks until the server gives up on it
      // (set again in each transaction's BEGIN, for a pooler that drops this startup parameter).
      idle_in_transaction_session_timeout: abandonedMs,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
      idleTimeoutMillis: 10_000,
      stream: () => {
        const socket = new Socket();
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        return socket;
      },
    });
    // An idle client losing its connection (server restart) emits 'error' on the pool; unhandled,
    // that would crash the process. The pool discards the client; the next query reconnects or fails.
    pool.on('error', () => {});
    // A checked-out client has no pool listener (pg-pool removes it on checkout), and a connection
    // reset or a server restart (57P01) mid-transaction emits 'error' on the client itself: without
    // this, the process dies. The query in flight still fails, and the pool drops the client.
    pool.on('connect', (client) => client.on('error', () => {}));
    return { pool, sockets };
  }

  /** Ends a pool within CLOSE_WAIT_MS: a connection silenced by a partition never answers a polite goodbye. */
  async function endPool(p: { pool: pg.Pool; sockets: Set<Socket> }): Promise<void> {
    if (p.pool.ended || p.pool.ending) return;
    let timer: NodeJS.Timeout | undefined;
    const ended = p.pool.end().catch(() => {});
    await Promise.race([ended, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_WAIT_MS)))]);
    clearTimeout(timer);
    for (const socket of p.sockets) socket.destroy();
  }

  let current = newPool();
  let closed = false;
  /** The error for a connection failure on `used`; the first one on the current pool replaces it. */
  const unreachable = (used: pg.Pool) => (e: unknown): Error => {
    const busy = e instanceof Error && e.message === POOL_BUSY;
    if (used === current.pool && !closed && !busy) {
      const old = current;
      current = newPool();
      void endPool(old);
    }
    return e instanceof StorageUnavailable ? e : new StorageUnavailable(e);
  };

  /** Runs `fn` in a transaction on one pooled connection; a failed connection is not reused. */
  async function tx<T>(fn: (run: (s: Sql | Script) => Promise<Result>) => Promise<T>, pool = current.pool): Promise<T> {
    const failed = unreachable(pool);
    let c: pg.PoolClient;
    try {
      c = await pool.connect();
    } catch (e) {
      throw isConnectionFailure(e) ? failed(e) : e;
    }
    const exec = executor(c, failed);
    try {
      await exec(begin);
      const out = await fn(exec);
      await exec(new Script('COMMIT'));
      c.release();
      return out;
    } catch (e) {
      // A connection that failed is destroyed without a ROLLBACK (which would only wait out another
      // timeout); one the server turned down for want of a resource (disk full) is sound.
      if (e instanceof StorageUnavailable && !e.shortage) {
        c.release(e);
        throw e;
      }
      let broken: Error | undefined;
      await c.query('ROLLBACK').catch((re: Error) => (broken = re));
      c.release(broken);
      throw e;
    }
  }

  /**
   * Statistics for what the migrations changed. A column added by rewriting the table (migration
   * 11's idle_hour) has none until autovacuum analyzes it, which table rewrites do not prompt: after
   * an upgrade with 3 million sessions the hourly purge planned its idle-deadline range without
   * them, walked every live session's index entry, and took 439 ms with none due (2.5 ms once
   * analyzed). ANALYZE reads a sample and blocks neither reads nor writes; Warden's tables only.
   */
  async function analyzeAfterMigrating(pool: pg.Pool): Promise<void> {
    const tables = await pool.query<{ name: string }>(
      `SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename = ANY($1) ORDER BY tablename`,
      [WARDEN_TABLES]);
    if (tables.rows.length > 0) await pool.query(`ANALYZE ${tables.rows.map((t) => t.name).join(', ')}`);
  }

  // Each statement runs on the pool of the moment; pg-pool destroys a client whose query failed.
  const exec = (s: Sql | Script): Promise<Result> => {
    const { pool } = current;
    return executor(pool, unreachable(pool), prepared)(s);
  };
  const st = sqlStatements(POSTGRES, clock);
  const shared = sqlStores(st, exec, (plan) => tx((run) => runPlanAsync(plan, run)));
  // Bulk inserts in flight (see insertMany): the last one of several statements, and those of one since.
  let exclusiveBulk: Promise<void> = Promise.resolve();
  const sharedBulk = new Set<Promise<void>>();

  // Refresh rotations, the one write every client makes every few minutes, go to the database
  // together: those asked in one turn of the event loop are one statement (rotationsStatement), so
  // one round trip and one commit for them all, where each alone was both (most of a rotation's
  // cost, the two sides of the socket included). A session asked twice in one turn, a statement
  // refused, and every swap that did not match are then taken one by one, as a lone rotation is.
  type Queued = BatchedRotation & { events: Emit<RotateStatus> | undefined; resolve: (r: RotateResult) => void; reject: (e: unknown) => void };
  const alone = (q: Queued): void => void rotateOne(q).then(q.resolve, q.reject);
  const rotations = perTurn<Queued>((batch) => {
    if (batch.length === 1) return alone(batch[0]!);
    const seen = new Set<string>();
    const together: Queued[] = [];
    const after: Queued[] = [];
    for (const q of batch) (seen.has(q.args.id) ? after : (seen.add(q.args.id), together)).push(q);
    // In id order, as endSessions locks: two batches (two instances) then meet their common rows in
    // the same order. Were they to deadlock anyway, the one refused is taken one by one (rotateMany).
    together.sort((x, y) => (x.args.id < y.args.id ? -1 : x.args.id > y.args.id ? 1 : 0));
    void rotateMany(together).then(() => after.forEach(alone));
  });
  /** The migrations recorded as applied; to_regclass follows the search path (the schema): none before the first. */
  async function appliedMigrations(): Promise<AppliedMigration[]> {
    const present = (await exec(sql`SELECT to_regclass('schema_migrations') IS NOT NULL AS present`)).rows[0]?.present === true;
    return present ? (await exec(sql`SELECT version, name FROM schema_migrations`)).rows.map((r) => ({ version: Number(r.version), name: String(r.name) })) : [];
  }

  async function rotateMany(batch: Queued[]): Promise<void> {
    let rows: Row[];
    try {
      rows = (await exec(rotationsStatement(batch))).rows;
    } catch (e) {
      // Unreachable: so it is for each of them. Refused (a value one of them brought): each alone,
      // so that only its own caller hears of it.
      if (e instanceof StorageUnavailable) batch.forEach((q) => q.reject(e));
      else batch.forEach(alone);
      return;
    }
    const swapped = new Map(rows.map((r) => [(r.s as Row).id as string, r]));
    for (const q of batch) {
      const hit = swapped.get(q.args.id);
      if (hit) q.resolve(st.swapped(q.args, hit));
      else void rotateMissed(q).then(q.resolve, q.reject);
    }
  }
  async function rotateOne(q: Queued): Promise<RotateResult> {
    // One atomic statement (rotateSwap), its events written only if it matched. Concurrent callers
    // queue on the row lock and re-check the WHERE against the committed row, so only the first can match.
    const [hit] = (await exec(st.rotateSwap(q.args, q.onSwap))).rows;
    return hit ? st.swapped(q.args, hit) : rotateMissed(q);
  }
  /** A swap that did not match, decided under the row lock (the verdict and a reuse ending see the same row), in one transaction with what it records. */
  function rotateMissed(q: Queued): Promise<RotateResult> {
    const missed = function* (): Plan<RotateResult> {
      return yield* st.withUser(q.args, yield* st.rotateMiss(q.args));
    };
    return tx((run) => runPlanAsync(st.withEvents(missed(), rotationEvents(q.events)), run));
  }

  return {
    kind: 'postgres',
    users: {
      ...shared.users,
      createFirst: (user, events) =>
        tx(async (run) => {
          await run(new Script('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE'));
          return runPlanAsync(st.withEvents(st.createFirst(user), events), run);
        }),
      insertMany(users, events) {
        // One statement per chunk (postgres-bulk.ts), on the bet that no row collides: the rows
        // come checked, so a collision is rare (a sign-up meanwhile). When one does, the chunk is
        // undone and redone skipping collisions. A batch of several chunks is one transaction.
        const now = clock();
        const parts = chunks(users.map((n) => newUserRecord(n, now)), ROWS_PER_INSERT).map((part) => ({ part, statement: bulkInsertStatement(part, events, false) }));
        const insert = async (run: (s: Sql | Script) => Promise<Result>, { part, statement }: (typeof parts)[number], savepoint: boolean) => {
          if (savepoint) await run(new Script('SAVEPOINT bulk_insert'));
          try {
            await run(statement);
            return part.map((u) => u.id);
          } catch (e) {
            if (!(e instanceof UniqueViolation) && (e as { code?: unknown }).code !== '23505') throw e;
            if (savepoint) await run(new Script('ROLLBACK TO SAVEPOINT bulk_insert'));
            return (await run(bulkInsertStatement(part, events, true))).rows.map((r) => r.id as string);
          }
        };
        // A batch of one statement runs beside the others of one statement (an import keeps two in
        // flight: PostgreSQL then works on two cores, 30% more rows/s). They cannot deadlock: each
        // statement locks one users_count row, then its count rows in key order (migration 10). A
        // batch of several statements, which takes those locks once per statement, runs alone:
        // after every bulk insert asked before it, and before any asked after it.
        if (parts.length <= 1) {
          const done = exclusiveBulk.then(() => (parts.length === 0 ? [] : insert(exec, parts[0]!, false)));
          const settled = done.then(() => undefined, () => undefined);
          sharedBulk.add(settled);
          void settled.then(() => sharedBulk.delete(settled));
          return done;
        }
        const done = Promise.all([exclusiveBulk, ...sharedBulk]).then(() => tx(async (run) => {
          const inserted: string[] = [];
          for (const part of parts) inserted.push(...(await insert(run, part, true)));
          return inserted;
        }));
        exclusiveBulk = done.then(() => undefined, () => undefined);
        return done;
      },
    },
    sessions: {
      ...shared.sessions,
      rotate: (a, events) => new Promise<RotateResult>((resolve, reject) => {
        rotations.add({ args: a, events, onSwap: eventsOf(events, 'rotated'), resolve, reject });
      }),
    },
    revocations: shared.revocations,
    factors: shared.factors,
    challenges: shared.challenges,
    emailTokens: { ...shared.emailTokens, issue: (t) => tx((run) => runPlanAsync(st.issueToken(t), run)) },
    outbox: shared.outbox,
    devices: shared.devices,
    events: shared.events,
    deliveries: shared.deliveries,

    async migrate() {
      // One transaction per migration, each under an advisory lock keyed by schema: a second
      // instance waits, then finds the version applied and moves on. DDL is transactional in
      // PostgreSQL, so a failed migration leaves nothing half-done.
      const lockKey = `warden:migrations:${schema ?? ''}`;
      const migrator = newPool('migrations');
      const applied: AppliedMigration[] = [];
      const giveUpAt = Date.now() + MIGRATION_TIMEOUT_MS;
      let rest: number = MIGRATION_LOCK_RETRY_MS[0];
      try {
        for (;;) {
          let step: AppliedMigration | null;
          try {
            step = await tx(async (run) => {
              await run(sql`SELECT pg_advisory_xact_lock(hashtext(${lockKey}))`);
              // Set after the advisory lock: waiting for another instance's migration is not bounded so.
              await run(new Script(`SET LOCAL lock_timeout = ${MIGRATION_LOCK_WAIT_MS}`));
              if (schema !== undefined) {
                // Looked up first: CREATE SCHEMA IF NOT EXISTS still demands CREATE on the database,
                // which a least-privilege role using a pre-created schema does not have.
                const found = await run(sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`);
                if (found.rows.length === 0) await run(new Script(`CREATE SCHEMA ${schema}`));
              }
              return runPlanAsync(migrationStep('postgres', clock()), run);
            }, migrator.pool);
          } catch (e) {
            // A table held by another transaction: the step was rolled back. Let the queries queued
            // behind it through, rest, and try again, until the migration's own bound.
            if ((e as { code?: unknown }).code !== LOCK_NOT_AVAILABLE || Date.now() + rest > giveUpAt) throw e;
            await new Promise((resolve) => setTimeout(resolve, rest));
            rest = Math.min(rest * 2, MIGRATION_LOCK_RETRY_MS[1]);
            continue;
          }
          if (step === null) {
            // Best effort: the migrations are committed, and autovacuum analyzes in the end anyway.
            if (applied.length > 0) await analyzeAfterMigrating(migrator.pool).catch(() => undefined);
            return applied;
          }
          applied.push(step);
          rest = MIGRATION_LOCK_RETRY_MS[0];
        }
      } finally {
        await endPool(migrator);
      }
    },
    async pendingMigrations() {
      return pendingOf((await appliedMigrations()).map((m) => m.version));
    },
    async newerMigrations() {
      return newerOf(await appliedMigrations());
    },
    async ping() {
      await exec(sql`SELECT 1`);
    },
    poolStats: () => ({ total: current.pool.totalCount, idle: current.pool.idleCount, waiting: current.pool.waitingCount }),
    async close() {
      rotations.flush(); // asked before close: sent now, on the pool still open
      closed = true;
      await endPool(current);
    },
  };
}
