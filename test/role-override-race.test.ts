// Two role changes of one user at once: the role override (what the user's live tokens carry from
// their next request) must end as the users row does, on every instance. The override was written
// after the change's commit, so two changes could commit in one order and write their overrides
// in the other: the row said ["user"], the override ["user","admin"], and the user's tokens were
// an administrator's. Forced: the first change is held once its store write has resolved (its
// commit made), while the second runs from start to end; then the first goes on.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import { createPostgresStorage, type Storage } from '../src/storage/index.js';
import { REDIS_URL, redisSkip, testChannel, watchedBus } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

const PASSWORD = 'role-override-race-password-1';
const GRANT = ['user', 'admin'];
const REVOKE = ['user'];

/** `inner`, whose users.update setting `roles` resolves only once released, after its write. */
function holdingRoleChange(inner: Storage, roles: readonly string[]) {
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let reached!: () => void;
  const written = new Promise<void>((r) => (reached = r));
  const users = { ...inner.users };
  users.update = async (...a) => {
    const out = await inner.users.update(...a);
    if (a[1].roles !== undefined && a[1].roles.join() === roles.join()) {
      reached();
      await released;
    }
    return out;
  };
  return { storage: { ...inner, users } as Storage, written, release };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The administrator's token, and the user's id and token (roles ["user"]), signed in on `s`. */
async function people(s: Running): Promise<{ admin: string; userId: string; user: string }> {
  assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } })).status, 201);
  const admin = (await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: PASSWORD } })).json.data.access_token as string;
  const made = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'tom', email: 'tom@example.com', password: PASSWORD } });
  assert.equal(made.status, 201, made.text);
  const user = (await call(`${s.url}/api/v1/auth/login`, { form: { username: 'tom', password: PASSWORD } })).json.data.access_token as string;
  return { admin, userId: made.json.data.id, user };
}

const setRoles = (s: Running, admin: string, id: string, roles: readonly string[]) =>
  call(`${s.url}/api/v1/users/${id}`, { method: 'PATCH', json: { roles }, headers: bearer(admin) });

/** The stored users row's roles and the stored override's, which must agree. */
async function stored(storage: Storage, id: string): Promise<{ row: string[]; override: unknown }> {
  const row = (await storage.users.findById(id))!.roles;
  const o = (await storage.revocations.listLive(Date.now())).find((r) => r.kind === 'roles' && r.key === id);
  return { row, override: o === undefined ? undefined : JSON.parse(o.value) };
}

describe('two role changes of one user at once', async () => {
  const db = await scratchSchema('warden_role_override');
  const shared = await scratchSchema('warden_role_override');
  const redis = db.skip ?? (await redisSkip());

  it('one instance: the override left is the later change\'s, and the user is no administrator', db.skip !== undefined ? { skip: db.skip } : {}, async () => {
    const inner = createPostgresStorage(db.url!, { schema: db.schema });
    await inner.migrate();
    const held = holdingRoleChange(inner, GRANT);
    const s = await startServer({}, { storage: held.storage });
    try {
      const { admin, userId, user } = await people(s);
      const grant = setRoles(s, admin, userId, GRANT);
      await Promise.race([held.written, grant.then((r) => assert.fail(`answered before its write was held: ${r.status} ${r.text}`))]); // committed, not yet answered
      const revoke = await setRoles(s, admin, userId, REVOKE);
      assert.equal(revoke.status, 200, revoke.text);
      held.release();
      assert.equal((await grant).status, 200);

      assert.deepEqual(await stored(inner, userId), { row: REVOKE, override: REVOKE });
      const r = await call(`${s.url}/api/v1/users`, { headers: bearer(user) });
      assert.equal(r.status, 403, `the user's token still carries the revoked role: ${r.status} ${r.text}`);
    } finally {
      await s.close();
      await inner.close();
    }
  });

  it('two instances over Redis: each one\'s index keeps the later change\'s override, whichever record came last', redis !== undefined ? { skip: redis } : {}, async () => {
    const { schema } = shared;
    const inner = [createPostgresStorage(db.url!, { schema }), createPostgresStorage(db.url!, { schema })] as const;
    await inner[0].migrate();
    const held = holdingRoleChange(inner[0], GRANT);
    const channel = testChannel('warden-role-override-');
    const buses = [watchedBus(createRedisBus(REDIS_URL, channel)), watchedBus(createRedisBus(REDIS_URL, channel))] as const;
    const a = await startServer({}, { storage: held.storage, bus: buses[0].bus });
    const b = await startServer({}, { storage: inner[1], bus: buses[1].bus });
    try {
      const { admin, userId, user } = await people(a);
      const grant = setRoles(a, admin, userId, GRANT);
      await Promise.race([held.written, grant.then((r) => assert.fail(`answered before its write was held: ${r.status} ${r.text}`))]);
      // The revocation on B, heard by both (B hears its own message too).
      let heard = buses.map((x) => x.applied(userId));
      const revoke = await setRoles(b, admin, userId, REVOKE);
      assert.equal(revoke.status, 200, revoke.text);
      await Promise.all(heard);
      // Then A's grant goes on: what A records after it is heard by both as well.
      heard = buses.map((x) => x.applied(userId));
      held.release();
      assert.equal((await grant).status, 200);
      await Promise.all(heard);

      assert.deepEqual(await stored(inner[1], userId), { row: REVOKE, override: REVOKE });
      for (const [name, s] of [['A', a], ['B', b]] as const) {
        const r = await call(`${s.url}/api/v1/users`, { headers: bearer(user) });
        assert.equal(r.status, 403, `on ${name}, the user's token still carries the revoked role: ${r.status} ${r.text}`);
      }
    } finally {
      await a.close();
      await b.close();
      for (const s of inner) await s.close();
    }
  });
});
