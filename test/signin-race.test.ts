// A sign-in whose password check a deactivation, a deletion or a password reset overtakes: the
// change's sign-out everywhere has already run when the sign-in opens its session, so that session
// must not open (a working token for an account that is deactivated, gone, or whose old password
// was just replaced; a deleted one's session insert was a 500). Forced: the sign-in, its password
// checked, is held at the session insert until the change has been answered (on PostgreSQL by
// another instance sharing the database and Redis).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { newEmailToken } from '../src/accounts/email-tokens.js';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../src/storage/index.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { gate } from './helpers/gate.js';
import { call, startServer, type Running } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'signin-race-password-1';

/** `inner` with its session inserts for `hold`'s user held until released. */
function gated(inner: Storage) {
  const g = gate<string>();
  const sessions = { ...inner.sessions };
  sessions.create = (...a) => g.pass(a[0].userId, () => inner.sessions.create(...a));
  return {
    storage: { ...inner, sessions },
    /** The next session insert of this user waits for release(); arrived resolves when it does. */
    hold: (userId: string) => g.hold((id) => id === userId),
  };
}

interface Deployment {
  /** The instance signing in (its session inserts gated), and the one making the change. */
  signIn: Running;
  change: Running;
  storage: Storage;
  hold: ReturnType<typeof gated>['hold'];
  close(): Promise<void>;
}

async function sqlite(env: Record<string, string>): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-signin-race-'));
  const inner = createSqliteStorage(join(dir, 'warden.db'));
  await inner.migrate();
  const g = gated(inner);
  const s = await startServer(env, { storage: g.storage });
  return {
    signIn: s, change: s, storage: inner, hold: g.hold,
    async close() {
      await s.close();
      await inner.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(db: { url?: string; schema: string }, env: Record<string, string>): Promise<Deployment> {
  const storages = [createPostgresStorage(db.url!, { schema: db.schema }), createPostgresStorage(db.url!, { schema: db.schema })];
  await storages[0]!.migrate();
  const g = gated(storages[0]!);
  const channel = testChannel('signin-race:');
  const a = await startServer(env, { storage: g.storage, bus: createRedisBus(REDIS_URL, channel) });
  const b = await startServer(env, { storage: storages[1]!, bus: createRedisBus(REDIS_URL, channel) });
  return {
    signIn: a, change: b, storage: storages[0]!, hold: g.hold,
    async close() {
      await a.close();
      await b.close();
      for (const s of storages) await s.close();
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`);
      await c.end();
    },
  };
}

type Change = (d: Deployment, user: { id: string; email: string }, admin: string) => Promise<{ status: number; text: string }>;
const CHANGES: [string, Change, number, string][] = [
  ['an administrator deactivates the user', (d, u, admin) =>
    call(`${d.change.url}/api/v1/users/${u.id}`, { method: 'PATCH', json: { is_active: false }, headers: { authorization: `Bearer ${admin}` } }), 400, 'ERR_USER_INACTIVE'],
  ['an administrator deletes the user', (d, u, admin) =>
    call(`${d.change.url}/api/v1/users/${u.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${admin}` } }), 401, 'ERR_BAD_CREDENTIALS'],
  ['the password is reset', async (d, u) => {
    const { token, hash } = newEmailToken();
    const now = Date.now();
    await d.storage.emailTokens.issue({ hash, userId: u.id, purpose: 'reset', email: u.email, createdAt: now, expiresAt: now + 3_600_000 });
    return call(`${d.change.url}/api/v1/auth/password/reset`, { json: { token, new_password: 'another-password-2' } });
  }, 401, 'ERR_BAD_CREDENTIALS'],
];

describe('a sign-in overtaken by a change of its user', async () => {
  const db = await scratchSchema('warden_signin_race');
  const pgSkip = db.skip ?? (await redisSkip());
  const kinds: { name: string; skip?: string; open: (env: Record<string, string>) => Promise<Deployment> }[] = [
    { name: 'SQLite', open: sqlite },
    { name: 'PostgreSQL, two instances', ...(pgSkip !== undefined ? { skip: pgSkip } : {}), open: (env) => postgres(db, env) },
  ];
  for (const kind of kinds) {
    it(`${kind.name}: opens no session once the change is answered`, kind.skip !== undefined ? { skip: kind.skip } : {}, async () => {
      const d = await kind.open({});
      try {
        const admin = await call(`${d.signIn.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } });
        assert.equal(admin.status, 201, admin.text);
        const adminToken = (await call(`${d.signIn.url}/api/v1/auth/login`, { form: { username: 'root', password: PASSWORD } })).json.data.access_token;
        for (const [i, [name, change, status, code]] of CHANGES.entries()) {
          const email = `user${i}@example.com`;
          const made = await call(`${d.signIn.url}/api/v1/auth/signup`, { json: { username: `user${i}`, email, password: PASSWORD } });
          assert.equal(made.status, 201, made.text);
          const user = { id: made.json.data.id as string, email };

          const gate = d.hold(user.id);
          const signingIn = call(`${d.signIn.url}/api/v1/auth/login`, { form: { username: email, password: PASSWORD } });
          await gate.arrived; // the password is checked; the session not yet written
          const changed = await change(d, user, adminToken);
          assert.equal(changed.status, 200, `${name}: ${changed.text}`);
          gate.release();
          const signedIn = await signingIn;

          assert.equal(signedIn.status, status, `${name}: the sign-in was answered ${signedIn.status} ${signedIn.text}`);
          assert.equal(signedIn.json.code, code, name);
          const live = await d.storage.sessions.listActive(user.id, Date.now(), { limit: 10, offset: 0 });
          assert.equal(live.total, 0, `${name}: a live session remains`);
          const succeeded = await d.storage.events.list({ types: ['signin.succeeded'], userId: user.id, limit: 10 });
          assert.equal(succeeded.length, 0, `${name}: a signin.succeeded event was written`);
          const failed = await d.storage.events.list({ types: ['signin.failed'], limit: 1 });
          assert.equal(failed.length, 1, `${name}: the refusal is recorded`);
        }
      } finally {
        await d.close();
      }
    });
  }
});
