// Two administrators removing each other at the same moment: exactly one wins, the other is 409
// ERR_CONFLICT, and an active administrator remains. The interleaving is forced: another
// connection holds both administrators' rows (PostgreSQL: a row lock; SQLite: the write lock)
// until both requests are waiting on it, i.e. past anything they read before writing.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../src/storage/index.js';
import { openSqlite } from '../src/storage/sqlite-driver.js';
import { call, startServer, type Running } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'last-admin-race-password-1';

/** What each of the two does to the other (or to themselves), as [method, path, body] of `who` given ids. */
type Move = (ids: { me: string; other: string }) => [string, string, unknown];
const demote: Move = ({ other }) => ['PATCH', `/users/${other}`, { roles: ['user'] }];
const deactivate: Move = ({ other }) => ['PATCH', `/users/${other}`, { is_active: false }];
const remove: Move = ({ other }) => ['DELETE', `/users/${other}`, undefined];
const demoteSelf: Move = ({ me }) => ['PATCH', `/users/${me}`, { roles: ['user'] }];
const deleteSelf: Move = () => ['DELETE', '/auth/me', { current_password: PASSWORD }];
const CASES: [string, Move, Move][] = [
  ['demote each other', demote, demote],
  ['deactivate each other', deactivate, deactivate],
  ['delete each other', remove, remove],
  ['one demotes themselves while the other deletes their own account', demoteSelf, deleteSelf],
];

/** A database the server uses, and a way to hold both administrators' rows from another connection. */
interface Held {
  storage: Storage;
  hold(ids: string[]): Promise<void>;
  /** Resolves once both requests wait on the hold (they read what they read before it). */
  bothWaiting(answered: () => string | undefined): Promise<void>;
  release(): Promise<void>;
  close(): Promise<void>;
}

/** Counts the calls of the store writes these requests make first (SQLite has no lock view to ask). */
function arrivals(inner: Storage): { storage: Storage; count: () => number } {
  let n = 0;
  const users = { ...inner.users };
  const sessions = { ...inner.sessions };
  users.update = (...a) => (n++, inner.users.update(...a));
  users.delete = (...a) => (n++, inner.users.delete(...a));
  sessions.endAllForUser = (...a) => (n++, inner.sessions.endAllForUser(...a));
  return { storage: { ...inner, users, sessions }, count: () => n };
}

async function untilTrue(check: () => boolean | Promise<boolean>, answered: () => string | undefined): Promise<void> {
  for (;;) {
    if (await check()) return;
    const early = answered();
    assert.equal(early, undefined, `a request was answered while the rows were held: ${early}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

async function sqliteHeld(): Promise<Held> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-last-admin-race-'));
  const path = join(dir, 'warden.db');
  const spied = arrivals(createSqliteStorage(path, { queryTimeoutMs: 60_000 }));
  await spied.storage.migrate();
  const other = openSqlite(path);
  let before = 0;
  return {
    storage: spied.storage,
    async hold() {
      before = spied.count();
      other.exec('BEGIN IMMEDIATE');
    },
    // Each write retries from a timer while the lock is held (whenFree): called is waiting.
    bothWaiting: (answered) => untilTrue(() => spied.count() >= before + 2, answered),
    async release() {
      other.exec('ROLLBACK');
    },
    async close() {
      other.close();
      await spied.storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresHeld(db: { url?: string; schema: string }): Promise<Held> {
  // The server's connections carry a name of their own, so that only their waits are counted.
  const app = `${db.schema}_srv`;
  const storage = createPostgresStorage(`${db.url!}?application_name=${app}`, { schema: db.schema, queryTimeoutMs: 60_000 });
  await storage.migrate();
  const lock = new pg.Client({ connectionString: db.url, options: `-c search_path=${db.schema}` });
  await lock.connect();
  return {
    storage,
    async hold(ids) {
      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM users WHERE id = ANY($1) FOR NO KEY UPDATE', [ids]);
    },
    // Waiting on a lock: on ours, or on the other request's once that one has taken it.
    // (Inside the holding transaction pg_stat_activity is a snapshot of its first read: cleared each time.)
    bothWaiting: (answered) => untilTrue(async () => (await lock.query('SELECT pg_stat_clear_snapshot()'), (await lock.query(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND cardinality(pg_blocking_pids(pid)) > 0', [app],
    )).rows[0].n >= 2), answered),
    async release() {
      await lock.query('COMMIT');
    },
    async close() {
      await lock.end();
      await storage.close();
    },
  };
}

describe('two administrators removing each other at once', async () => {
  // A schema of its own per case: the first sign-up is the administrator.
  const pgDbs = await Promise.all(CASES.map(() => scratchSchema('warden_last_admin')));
  const kinds: { name: string; skip?: string; open: (i: number) => Promise<Held> }[] = [
    { name: 'SQLite', open: sqliteHeld },
    { name: 'PostgreSQL', ...(pgDbs[0]!.skip !== undefined ? { skip: pgDbs[0]!.skip } : {}), open: (i) => postgresHeld(pgDbs[i]!) },
  ];

  for (const kind of kinds) {
    for (const [i, [name, first, second]] of CASES.entries()) {
      it(`${kind.name}: ${name}: exactly one goes through, an active administrator remains`, kind.skip !== undefined ? { skip: kind.skip } : {}, async () => {
        const held = await kind.open(i);
        let s: Running | undefined;
        try {
          s = await startServer({ ACCOUNT_SELF_DELETE: 'true' }, { storage: held.storage });
          const ids: Record<string, string> = {};
          const tokens: Record<string, string> = {};
          for (const who of ['ada', 'bea']) {
            // The first sign-up is the administrator; the second is made one by the first.
            const made = await call(`${s.url}/api/v1/auth/signup`, {
              json: { username: who, email: `${who}@example.com`, password: PASSWORD, roles: ['admin'] },
              headers: tokens.ada ? { authorization: `Bearer ${tokens.ada}` } : {},
            });
            assert.equal(made.status, 201, made.text);
            ids[who] = made.json.data.id;
            const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: who, password: PASSWORD } });
            assert.equal(login.status, 200, login.text);
            tokens[who] = login.json.data.access_token;
          }
          for (const who of ['ada', 'bea']) assert.deepEqual((await s.warden.storage.users.findById(ids[who]!))!.roles, ['admin']);

          await held.hold([ids.ada!, ids.bea!]);
          const answers: string[] = [];
          const go = (who: 'ada' | 'bea', move: Move) => {
            const [method, path, json] = move({ me: ids[who]!, other: ids[who === 'ada' ? 'bea' : 'ada']! });
            const r = call(`${s!.url}/api/v1${path}`, { method, ...(json === undefined ? {} : { json }), headers: { authorization: `Bearer ${tokens[who]}` } });
            void r.then((x) => answers.push(`${who}: ${x.status} ${x.text}`), () => {});
            return r;
          };
          const racing = [go('ada', first), go('bea', second)];
          await held.bothWaiting(() => answers[0]);
          await held.release();
          const [a, b] = await Promise.all(racing);
          const statuses = [a!.status, b!.status].sort();
          assert.deepEqual(statuses, [200, 409], `${a!.status} ${a!.text} / ${b!.status} ${b!.text}`);
          const lost = a!.status === 409 ? a! : b!;
          assert.equal(lost.json.code, 'ERR_CONFLICT');
          assert.match(lost.json.message, /last active administrator/);
          const admins = (await s.warden.storage.users.list({ role: 'admin', active: true, limit: 10, offset: 0 })).users;
          assert.equal(admins.length, 1, 'one active administrator remains');
          // The one that remains still administers (signing in again: a deletion that lost the race
          // had already refused its target's tokens).
          const again = await call(`${s.url}/api/v1/auth/login`, { form: { username: admins[0]!.username, password: PASSWORD } });
          assert.equal(again.status, 200, again.text);
          assert.equal((await call(`${s.url}/api/v1/users`, { headers: { authorization: `Bearer ${again.json.data.access_token}` } })).status, 200);
        } finally {
          await s?.close();
          await held.close();
        }
      });
    }
  }
});
