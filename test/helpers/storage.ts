// Storage factories for tests: memory, SQLite (temp files) and PostgreSQL (one fresh schema per
// storage, so runs and tests never see each other's rows). Reused by any test that needs a real
// database, e.g. HTTP race tests.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import type Database from 'better-sqlite3';
import pg from 'pg';
import {
  createMemoryStorage, createPostgresStorage, createSqliteStorage, type Storage, type StorageOptions,
} from '../../src/storage/index.js';
import { MIGRATIONS, SCHEMA_MIGRATIONS_DDL } from '../../src/storage/migrations.js';
import { prepare } from '../../src/storage/sqlite-driver.js';

const DEFAULT_URLS = ['postgres://postgres@127.0.0.1:5432/test', 'postgres://root@127.0.0.1:5432/test'];

const masked = (url: string): string => url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');

async function reachable(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  c.on('error', () => {});
  try {
    await c.connect();
    await c.query('SELECT 1');
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    await c.end().catch(() => {});
  }
}

/**
 * What the names of the schemas tests create begin with, before their own prefix: TEST_SCHEMA_PREFIX
 * and `_`, on a PostgreSQL shared with others who each keep to a prefix; nothing by default.
 */
export function schemaPrefix(): string {
  const p = process.env.TEST_SCHEMA_PREFIX;
  return p === undefined || p === '' ? '' : `${p}_`;
}

let probe: Promise<{ url?: string; skip?: string }> | undefined;

/**
 * The PostgreSQL URL to test against (TEST_DATABASE_URL, else the local defaults), or why the
 * PostgreSQL tests are skipped. With CI set an unreachable server is an error, not a skip:
 * CI must not pass green without having tested PostgreSQL.
 */
export function postgresUrlOrSkip(): Promise<{ url?: string; skip?: string }> {
  probe ??= (async () => {
    const candidates = process.env.TEST_DATABASE_URL ? [process.env.TEST_DATABASE_URL] : DEFAULT_URLS;
    let reason = '';
    for (const url of candidates) {
      const err = await reachable(url);
      if (err === null) return { url };
      reason = err;
    }
    const msg = `PostgreSQL not reachable at ${candidates.map(masked).join(' or ')} (${reason}): start it or set TEST_DATABASE_URL`;
    if (process.env.CI) throw new Error(`${msg} [CI is set, so this is a failure, not a skip]`);
    return { skip: msg };
  })();
  return probe;
}

/**
 * A schema of its own on the test PostgreSQL, for a suite that builds a database by hand: its name
 * (not yet created), and the URL or why PostgreSQL is skipped. Call it in a describe(): the schema
 * is dropped after that suite.
 */
export async function scratchSchema(prefix: string): Promise<{ url?: string; skip?: string; schema: string }> {
  const { url, skip } = await postgresUrlOrSkip();
  const schema = `${schemaPrefix()}${prefix}_${randomBytes(4).toString('hex')}`;
  after(async () => {
    if (!url) return;
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await c.end();
  });
  return { ...(url !== undefined ? { url } : {}), ...(skip !== undefined ? { skip } : {}), schema };
}

/**
 * Makes `schema` a PostgreSQL database as an older Warden left it: the migrations before `version`
 * applied and recorded, none after. `client`'s search_path must name the schema.
 */
export async function postgresBefore(client: pg.Client, schema: string, version: number): Promise<void> {
  await client.query(`CREATE SCHEMA ${schema}; ${SCHEMA_MIGRATIONS_DDL}`);
  for (const m of MIGRATIONS.filter((x) => x.version < version)) {
    await client.query(m.postgres);
    await client.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
  }
}

/** Makes `db` a SQLite database as an older Warden left it: postgresBefore's twin. */
export function sqliteBefore(db: Database.Database, version: number): void {
  db.exec(SCHEMA_MIGRATIONS_DDL);
  for (const m of MIGRATIONS.filter((x) => x.version < version)) {
    db.exec(m.sqlite);
    prepare(db, 'INSERT INTO schema_migrations VALUES (?, ?, 0)').run(m.version, m.name);
  }
}

export interface StorageFactory {
  readonly name: 'memory' | 'sqlite' | 'postgres';
  /** Set when this kind cannot run here; pass it to describe()/it() as `skip`. */
  readonly skip?: string;
  /** A fresh, empty storage, migrated unless `migrate: false`, on `clock` if given. The caller closes it. */
  create(opts?: { migrate?: boolean } & StorageOptions): Promise<Storage>;
  /** Another, unmigrated handle on the same database as `of` (as a second process would open it); null for memory. */
  reopen(of: Storage): Storage | null;
  /** Removes what create() made: temp files, schemas. Close the storages first. */
  cleanup(): Promise<void>;
}

function memoryFactory(): StorageFactory {
  return {
    name: 'memory',
    async create({ migrate = true, ...options } = {}) {
      const s = createMemoryStorage(options);
      if (migrate) await s.migrate();
      return s;
    },
    reopen: () => null,
    async cleanup() {},
  };
}

function sqliteFactory(): StorageFactory {
  let dir: string | undefined;
  let n = 0;
  const paths = new WeakMap<Storage, string>();
  return {
    name: 'sqlite',
    async create({ migrate = true, ...options } = {}) {
      dir ??= mkdtempSync(join(tmpdir(), 'warden-storage-'));
      // A sub-folder that does not exist yet: the adapter must create it.
      const path = join(dir, `db${++n}`, 'warden.db');
      const s = createSqliteStorage(path, options);
      paths.set(s, path);
      if (migrate) await s.migrate();
      return s;
    },
    reopen(of) {
      const path = paths.get(of);
      if (!path) throw new Error('reopen: not a storage of this factory');
      const s = createSqliteStorage(path);
      paths.set(s, path);
      return s;
    },
    async cleanup() {
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresFactory(): Promise<StorageFactory> {
  const { url, skip } = await postgresUrlOrSkip();
  const runId = `${schemaPrefix() || 'warden_'}test_${process.pid}_${randomBytes(4).toString('hex')}`;
  const schemas: string[] = [];
  const schemaOf = new WeakMap<Storage, string>();
  const open = (schema: string, options: StorageOptions = {}): Storage => {
    const s = createPostgresStorage(url!, { ...options, schema });
    schemaOf.set(s, schema);
    return s;
  };
  return {
    name: 'postgres',
    ...(skip !== undefined ? { skip } : {}),
    async create({ migrate = true, ...options } = {}) {
      if (!url) throw new Error(skip);
      const schema = `${runId}_${schemas.length + 1}`;
      schemas.push(schema);
      const s = open(schema, options);
      if (migrate) await s.migrate();
      return s;
    },
    reopen(of) {
      const schema = schemaOf.get(of);
      if (!schema) throw new Error('reopen: not a storage of this factory');
      return open(schema);
    },
    async cleanup() {
      if (!url || schemas.length === 0) return;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        for (const schema of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
}

/** One factory per adapter; the PostgreSQL one carries `skip` when no server is reachable. */
export async function storageFactories(): Promise<StorageFactory[]> {
  return [memoryFactory(), sqliteFactory(), await postgresFactory()];
}

/**
 * The storage with every store method call counted by name ('sessions.endAllForUser', ...). In the
 * SQL adapters each of these methods is one statement (rotate and users.createFirst excepted), so
 * the counts are what a flow costs the database.
 */
export function countingStorage(inner: Storage): { storage: Storage; calls: Map<string, number>; total(): number } {
  const calls = new Map<string, number>();
  const wrap = <T extends object>(name: string, store: T): T => new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        const key = `${name}.${String(prop)}`;
        calls.set(key, (calls.get(key) ?? 0) + 1);
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const storage: Storage = {
    ...inner,
    kind: inner.kind,
    users: wrap('users', inner.users),
    sessions: wrap('sessions', inner.sessions),
    revocations: wrap('revocations', inner.revocations),
    migrate: () => inner.migrate(),
    ping: () => inner.ping(),
    close: () => inner.close(),
  };
  return { storage, calls, total: () => [...calls.values()].reduce((a, b) => a + b, 0) };
}

/** Calls `seen` with each query node-postgres is asked to send (its text, or its config: text, name) and its values; returns the undo. */
export function spyPostgresQueries(seen: (q: string | { text?: string; name?: string }, values?: unknown[]) => void): () => void {
  const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
  const query = proto.query;
  proto.query = function (this: unknown, ...a: unknown[]) {
    seen(a[0] as string | { text?: string; name?: string }, Array.isArray(a[1]) ? a[1] : undefined);
    return query.apply(this, a);
  };
  return () => void (proto.query = query);
}
