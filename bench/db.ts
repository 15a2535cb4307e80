// Database plumbing the storage benches share: Warden wired exactly as the server wires it, on a
// storage the bench opens (a fresh SQLite file or a fresh PostgreSQL schema), and the raw driver
// connections the baselines use. Everything goes through the public storage and accounts API, so
// a change inside the stores (say, a new column) does not break the bench.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { loadConfig } from '../src/config.js';
import { createWarden, type Warden } from '../src/server.js';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../src/storage/index.js';
import { workDir } from './lib.js';

export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used, or undefined when it can. */
export async function postgresUnavailable(): Promise<string | undefined> {
  const c = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (e) {
    return `PostgreSQL not reachable at ${POSTGRES_URL.replace(/:[^:@/]*@/, ':***@')} (${(e as Error).message}); set BENCH_POSTGRES_URL`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export interface BenchDb {
  kind: 'sqlite' | 'postgres';
  /** A new storage handle on this database (each with its own pool, for PostgreSQL). */
  open(opts?: { max?: number }): Promise<Storage>;
  /** Runs raw SQL with `?` placeholders on a connection (PostgreSQL: a pool of `max`) of the bench's own, same file or schema. */
  raw(opts?: { max?: number }): RawDb;
  /** Drops the schema (PostgreSQL) and closes what is open. */
  drop(): Promise<void>;
  /** Where it lives, for notes. */
  where: string;
}

export interface RawDb {
  /** One statement; rows for a query. `?` placeholders in both dialects. */
  query(text: string, values?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /** Rows changed by one statement. */
  run(text: string, values?: readonly unknown[]): Promise<number>;
  /** The same as a named prepared statement, parsed and planned once per connection (PostgreSQL only; SQLite's are all prepared). */
  runPrepared?(name: string, text: string, values?: readonly unknown[]): Promise<number>;
  /** The synchronous form, SQLite only (its raw baseline is a plain loop, no event loop between). */
  runSync?(text: string, values?: readonly unknown[]): number;
  close(): Promise<void>;
}

/** A fresh database: a new SQLite file, or a new schema in the PostgreSQL test database. */
export async function freshDb(kind: 'sqlite' | 'postgres', label: string): Promise<BenchDb> {
  const handles: Array<{ close(): Promise<void> }> = [];
  if (kind === 'sqlite') {
    const file = join(workDir, `${label}-${randomUUID()}.db`);
    return {
      kind, where: file,
      async open() {
        const s = createSqliteStorage(file);
        await s.migrate();
        handles.push(s);
        return s;
      },
      raw() {
        // The same settings as Warden's SQLite adapter, so the baseline commits the same way.
        const db = new Database(file);
        db.pragma('journal_mode = WAL');
        db.pragma('busy_timeout = 5000');
        db.pragma('synchronous = FULL');
        const stmts = new Map<string, Database.Statement>();
        const stmt = (t: string) => stmts.get(t) ?? (stmts.set(t, db.prepare(t)), stmts.get(t)!);
        const r: RawDb = {
          query: async (t, v = []) => stmt(t).all(...v) as Record<string, unknown>[],
          run: async (t, v = []) => stmt(t).run(...v).changes,
          runSync: (t, v = []) => stmt(t).run(...v).changes,
          close: async () => void db.close(),
        };
        handles.push(r);
        return r;
      },
      async drop() {
        for (const h of handles.splice(0)) await h.close().catch(() => undefined);
      },
    };
  }
  const schema = `bench_${label}_${randomUUID().slice(0, 8)}`.replace(/[^a-z0-9_]/g, '_');
  return {
    kind, where: `${POSTGRES_URL.replace(/:[^:@/]*@/, ':***@')} schema ${schema}`,
    async open(o = {}) {
      const s = createPostgresStorage(POSTGRES_URL, { schema, max: o.max });
      await s.migrate();
      handles.push(s);
      return s;
    },
    raw(o = {}) {
      const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: o.max ?? 10, options: `-c search_path=${schema}` });
      const text = (t: string) => {
        let n = 0;
        return t.replace(/\?/g, () => `$${++n}`);
      };
      const r: RawDb = {
        query: async (t, v = []) => (await pool.query(text(t), [...v])).rows as Record<string, unknown>[],
        run: async (t, v = []) => (await pool.query(text(t), [...v])).rowCount ?? 0,
        runPrepared: async (name, t, v = []) => (await pool.query({ name, text: text(t), values: [...v] })).rowCount ?? 0,
        close: () => pool.end(),
      };
      handles.push(r);
      return r;
    },
    async drop() {
      for (const h of handles.splice(0)) await h.close().catch(() => undefined);
      const c = new pg.Client({ connectionString: POSTGRES_URL });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await c.end();
    },
  };
}

/** A Warden wired as src/server.ts wires it (accounts, revocation, guard), on the given storage. */
export async function wardenOn(storage: Storage, secret: string): Promise<Warden> {
  const config = loadConfig({
    SECRET_KEY: secret, DATA_DIR: workDir, DATABASE_URL: 'memory:', LOG_LEVEL: 'silent', COOKIE_SECURE: 'false', HOST: '127.0.0.1', PORT: '0',
  });
  return createWarden(config, { storage });
}

/** Runs `workers` loops of `op` for `seconds`; completions per second and each op's latency (ms). */
export async function closedLoop(workers: number, seconds: number, op: (worker: number) => Promise<unknown>): Promise<{ perSecond: number; latencies: Float64Array; count: number }> {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: workers }, async (_, w) => {
    while (performance.now() < end) {
      const s = performance.now();
      await op(w);
      lat.push(performance.now() - s);
    }
  }));
  const elapsed = (performance.now() - t0) / 1000;
  return { perSecond: lat.length / elapsed, latencies: Float64Array.from(lat), count: lat.length };
}

/** The same for a synchronous op (SQLite's raw baseline): a plain loop; each call does `perCall` ops. */
export function syncLoop(seconds: number, op: () => unknown, perCall = 1): { perSecond: number; latencies: Float64Array; count: number } {
  const lat: number[] = [];
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  while (performance.now() < end) {
    const s = performance.now();
    op();
    lat.push(performance.now() - s);
  }
  return { perSecond: (lat.length * perCall) / ((performance.now() - t0) / 1000), latencies: Float64Array.from(lat), count: lat.length * perCall };
}
