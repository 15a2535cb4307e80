// A Warden that dies as a process does in a crash (SIGKILL: no finally, no shutdown, nothing
// flushed) right after one chosen storage write has resolved, i.e. committed. Run as a child by
// test/helpers/crash.ts; what it was asked (CRASH_SPEC, JSON):
//   env:   the configuration (loadConfig's input)
//   db:    { kind: 'sqlite', path } or { kind: 'postgres', url, schema }: the database, migrated
//   after: 'store.method' (e.g. 'users.update'): the write after which it dies; 'a|b': whichever of them comes first
//   nth:   which call of it (default 1)
// It prints `READY <url>` once it listens.
import { loadConfig } from '../../src/config.js';
import { createWarden } from '../../src/server.js';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../../src/storage/index.js';

export interface CrashSpec {
  env: Record<string, string>;
  db: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema: string };
  after: string;
  nth?: number;
}

const spec = JSON.parse(process.env.CRASH_SPEC ?? '') as CrashSpec;
const inner: Storage = spec.db.kind === 'sqlite' ? createSqliteStorage(spec.db.path) : createPostgresStorage(spec.db.url, { schema: spec.db.schema });
let left = spec.nth ?? 1;

/** The store with its `after` method dying once its nth call has resolved. */
function dying<T extends object>(name: string, store: T): T {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function' || !spec.after.split('|').includes(`${name}.${String(prop)}`)) return v;
      return async (...args: unknown[]) => {
        const out = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (--left === 0) process.kill(process.pid, 'SIGKILL');
        return out;
      };
    },
  });
}

const stores = ['users', 'sessions', 'revocations', 'emailTokens', 'outbox', 'devices', 'factors', 'challenges', 'events', 'deliveries'] as const;
const storage = { ...inner } as Storage;
for (const s of stores) (storage as unknown as Record<string, object>)[s] = dying(s, inner[s]);
storage.migrate = () => inner.migrate();
storage.pendingMigrations = () => inner.pendingMigrations();
storage.newerMigrations = () => inner.newerMigrations();
storage.ping = () => inner.ping();
storage.close = () => inner.close();

const warden = await createWarden(loadConfig(spec.env), { storage });
await warden.app.listen({ port: 0, host: '127.0.0.1' });
const a = warden.app.server.address();
process.stdout.write(`READY http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}\n`);
