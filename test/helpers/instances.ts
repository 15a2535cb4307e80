// Several Warden instances as a deployment runs them: one PostgreSQL database (a fresh schema), each
// instance on its own handle as a separate process would open it, and a Redis channel of their own.
// The tests start the servers themselves (their options differ); this holds what they share.
import assert from 'node:assert/strict';
import pg from 'pg';
import { createPostgresStorage } from '../../src/storage/index.js';
import type { Storage } from '../../src/storage/types.js';
import { redisSkip, testChannel } from './redis.js';
import { startServer, type Running } from './server.js';
import { storageFactories } from './storage.js';

const postgresFactory = async () => (await storageFactories()).find((f) => f.name === 'postgres')!;

/** Why tests of instances sharing PostgreSQL and Redis cannot run here (either missing), or undefined. */
export async function sharedSkip(): Promise<string | undefined> {
  return (await postgresFactory()).skip ?? (await redisSkip());
}

export interface SharedDatabase {
  /** One handle per instance (at least two) on the same fresh schema, the first migrated. */
  storages: readonly [Storage, Storage, ...Storage[]];
  /** A Redis channel of this deployment's own, for the instances' revocation buses. */
  channel: string;
  /** One more handle on it (an instance started later); closed with the others. */
  reopen(): Storage;
  /** Closes every handle and drops the schema. Stop the servers first. */
  close(): Promise<void>;
}

/** A fresh PostgreSQL schema with `handles` handles on it, and a Redis channel. */
export async function sharedDatabase(handles = 2): Promise<SharedDatabase> {
  const postgres = await postgresFactory(); // a factory of its own: its cleanup drops this schema only
  const first = await postgres.create();
  const storages = [first, ...Array.from({ length: Math.max(1, handles - 1) }, () => postgres.reopen(first)!)] as unknown as SharedDatabase['storages'];
  const extra: Storage[] = [];
  return {
    storages,
    channel: testChannel(),
    reopen() {
      const s = postgres.reopen(first)!;
      extra.push(s);
      return s;
    },
    async close() {
      for (const s of [...storages, ...extra.splice(0)]) await s.close();
      await postgres.cleanup();
    },
  };
}

/**
 * Warden servers on one PostgreSQL schema, each on a handle of its own (as separate processes),
 * whose connections carry one application_name, and a connection of the test's own (`lock`) that
 * holds rows or a table in a transaction while requests pile up behind it: a race, forced.
 */
export async function heldRace(db: { url?: string; schema: string }, servers: number, opts: { max?: number; env?: Record<string, string> } = {}) {
  const app = `${db.schema}_srv`;
  const url = `${db.url!}?application_name=${app}`;
  const storages = Array.from({ length: servers }, () => createPostgresStorage(url, { schema: db.schema, queryTimeoutMs: 60_000, ...(opts.max ? { max: opts.max } : {}) }));
  await storages[0]!.migrate();
  const running: Running[] = [];
  for (const storage of storages) running.push(await startServer(opts.env ?? {}, { storage }));
  const lock = new pg.Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
  await lock.connect();
  /** Until `n` of the servers' statements (those containing `statement`, if given) wait on a lock; fails if a request was answered meanwhile. */
  const waiting = async (n: number, answers: readonly string[], statement?: string): Promise<void> => {
    for (;;) {
      // Inside lock's transaction pg_stat_activity is a snapshot of its first read: cleared each time.
      await lock.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await lock.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND cardinality(pg_blocking_pids(pid)) > 0
           AND ($2::text IS NULL OR strpos(query, $2) > 0)`, [app, statement ?? null]);
      if (rows[0].n >= n) return;
      assert.deepEqual(answers, [], 'a request was answered while the lock was held');
    }
  };
  return {
    servers: running,
    lock,
    /**
     * Takes the lock `hold` asks for in lock's transaction, sends `requests`, and once every one of
     * them waits on it (their statements containing `statement`, if given; none answered), lets
     * go: their answers, in the order sent.
     */
    async behind<T extends { status: number; text: string }>(hold: string, values: unknown[], requests: Array<() => Promise<T>>, statement?: string): Promise<T[]> {
      await lock.query('BEGIN');
      await lock.query(hold, values);
      const answers: string[] = [];
      const racing = requests.map((send) => {
        const r = send();
        void r.then((a) => answers.push(`${a.status} ${a.text}`), () => {});
        return r;
      });
      await waiting(requests.length, answers, statement);
      await lock.query('COMMIT');
      return Promise.all(racing);
    },
    async close(): Promise<void> {
      await lock.end();
      for (const s of running) await s.close();
      for (const s of storages) await s.close();
    },
  };
}
