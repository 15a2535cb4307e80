// Entry point of the storage layer: the contract, the adapters, and openStorage(), which picks
// the adapter from DATABASE_URL and migrates before handing the storage out.
import { fileURLToPath } from 'node:url';
import { createMemoryStorage } from './memory.js';
import { createPostgresStorage } from './postgres.js';
import { createSqliteStorage } from './sqlite.js';
import type { Storage } from './types.js';

export * from './types.js';
export { createMemoryStorage } from './memory.js';
export { createSqliteStorage } from './sqlite.js';
export { createPostgresStorage, type PostgresOptions } from './postgres.js';
export { MIGRATIONS, type Migration } from './migrations.js';

const ACCEPTED = 'sqlite:<path> (or sqlite://<path>, file:<path>), postgres://user@host:port/db (or postgresql://) or memory:';

/** The URL with any password or user hidden, for error messages. */
function masked(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

/** Which adapter a DATABASE_URL selects, and with what argument. Throws on anything else. */
export function parseDatabaseUrl(url: string):
  | { kind: 'memory' }
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string } {
  const u = url.trim();
  if (/^memory:$/i.test(u)) return { kind: 'memory' };
  if (/^postgres(ql)?:\/\//i.test(u)) return { kind: 'postgres', url: u };
  let path: string | undefined;
  // sqlite:///abs/x.db and sqlite://rel/x.db both just drop the "//"; file:// is a real file URL.
  if (/^sqlite:\/\//i.test(u)) path = u.slice('sqlite://'.length);
  else if (/^sqlite:/i.test(u)) path = u.slice('sqlite:'.length);
  else if (/^file:\/\//i.test(u)) path = fileURLToPath(u);
  else if (/^file:/i.test(u)) path = u.slice('file:'.length);
  if (path === undefined) throw new Error(`DATABASE_URL must be ${ACCEPTED} (got "${masked(url)}")`);
  if (path === '') throw new Error(`DATABASE_URL names no SQLite file (got "${url}"); expected ${ACCEPTED}`);
  return { kind: 'sqlite', path };
}

/** Opens the storage DATABASE_URL names and applies pending migrations. */
export async function openStorage(databaseUrl: string): Promise<Storage> {
  const target = parseDatabaseUrl(databaseUrl);
  const storage =
    target.kind === 'memory' ? createMemoryStorage()
    : target.kind === 'sqlite' ? createSqliteStorage(target.path)
    : createPostgresStorage(target.url);
  try {
    await storage.migrate();
  } catch (e) {
    // Don't leak a pool or a file handle when start-up fails.
    await storage.close().catch(() => {});
    throw e;
  }
  return storage;
}
