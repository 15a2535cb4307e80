// Entry point of the storage layer: the contract, the adapters, and openStorage(), which picks
// the adapter from DATABASE_URL and migrates before handing the storage out.
import { parseDatabaseUrl } from './database-url.js';
import { createMemoryStorage } from './memory.js';
import { createPostgresStorage, type PostgresOptions } from './postgres.js';
import { createSqliteStorage } from './sqlite.js';
import type { AppliedMigration, Storage } from './types.js';

export * from './types.js';
export { createMemoryStorage } from './memory.js';
export { createSqliteStorage } from './sqlite.js';
export { createPostgresStorage, type PostgresOptions } from './postgres.js';
export { MIGRATIONS, type Migration } from './migrations.js';
export { parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
export { StorageUnavailable, isConnectionFailure, watchAvailability, type StorageStatus, type WatchedStorage } from './availability.js';

/** Options for openStorage(): every adapter's, and PostgreSQL's timeouts (ignored by the others). */
export type OpenOptions = Omit<PostgresOptions, 'schema' | 'max'> & {
  /** Told the migrations this opening applied (none when the schema was up to date). */
  migrated?: (applied: AppliedMigration[]) => void;
  /** false: open as it is, applying nothing (a read-only command checks pendingMigrations() itself). Default true. */
  migrate?: boolean;
};

/** Opens the storage DATABASE_URL names and applies pending migrations (unless `migrate: false`). */
export async function openStorage(databaseUrl: string, opened: OpenOptions = {}): Promise<Storage> {
  const { migrated, migrate = true, ...options } = opened;
  const target = parseDatabaseUrl(databaseUrl);
  const storage =
    target.kind === 'memory' ? createMemoryStorage(options)
    : target.kind === 'sqlite' ? createSqliteStorage(target.path, options)
    : createPostgresStorage(target.url, options);
  if (!migrate) return storage;
  try {
    const applied = await storage.migrate(); // not inside `migrated?.(…)`: that would skip it when unset
    migrated?.(applied);
  } catch (e) {
    // Don't leak a pool or a file handle when start-up fails.
    await storage.close().catch(() => {});
    throw e;
  }
  return storage;
}
