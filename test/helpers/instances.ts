// Several Warden instances as a deployment runs them: one PostgreSQL database (a fresh schema), each
// instance on its own handle as a separate process would open it, and a Redis channel of their own.
// The tests start the servers themselves (their options differ); this holds what they share.
import type { Storage } from '../../src/storage/types.js';
import { redisSkip, testChannel } from './redis.js';
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
