// A password reset overtaken by an administrator's deactivation: the reset checked that the account
// was active, then wrote the new password; a deactivation answered between the two left a
// deactivated account with the link's password (and its address marked proven, a password.reset
// event, a "password changed" notice), where the reset, a moment later, is refused
// ERR_USER_INACTIVE. Forced: the reset, its checks made and its token used, is held at its write
// until the deactivation has been answered (on PostgreSQL by another instance sharing the database
// and Redis).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { newEmailToken } from '../src/accounts/email-tokens.js';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import type { Storage } from '../src/storage/index.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { gate } from './helpers/gate.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

const PASSWORD = 'reset-deactivation-race-password-1';

/** `inner` with its next write of a password, or of a verified address, held until released. */
function gated(inner: Storage) {
  const g = gate<Parameters<Storage['users']['update']>[1]>();
  const users = { ...inner.users };
  users.update = (...a) => g.pass(a[1], () => inner.users.update(...a));
  return { storage: { ...inner, users }, hold: () => g.hold((patch) => patch.passwordHash !== undefined || patch.emailVerified === true) };
}

const factories = (await storageFactories()).filter((f) => f.name !== 'memory');
const redis = await redisSkip();

for (const f of factories) {
  const skip = f.skip ?? (f.name === 'postgres' ? redis : undefined);
  describe(`a password reset overtaken by a deactivation, on ${f.name}`, skip !== undefined ? { skip } : {}, () => {
    after(() => f.cleanup());

    it('is refused ERR_USER_INACTIVE once the deactivation is answered: the password unchanged, no password.reset', async () => {
      const first = await f.create();
      const inners = f.name === 'postgres' ? [first, f.reopen(first)!] : [first];
      const g = gated(inners[0]!);
      const channel = testChannel('reset-deactivation-race:');
      const servers: Running[] = [];
      try {
        const bus = () => (f.name === 'postgres' ? { bus: createRedisBus(REDIS_URL, channel) } : {});
        servers.push(await startServer({}, { storage: g.storage, ...bus() }));
        servers.push(inners.length > 1 ? await startServer({}, { storage: inners[1]!, ...bus() }) : servers[0]!);
        const [resetting, deactivating] = servers as [Running, Running];
        assert.equal((await call(`${resetting.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } })).status, 201);
        const admin = (await call(`${resetting.url}/api/v1/auth/login`, { form: { username: 'root', password: PASSWORD } })).json.data.access_token as string;
        const made = await call(`${resetting.url}/api/v1/auth/signup`, { json: { username: 'target', email: 'target@example.com', password: PASSWORD } });
        const userId = made.json.data.id as string;
        const before = (await first.users.findById(userId))!;
        const { token, hash } = newEmailToken();
        const now = Date.now();
        await first.emailTokens.issue({ hash, userId, purpose: 'reset', email: 'target@example.com', createdAt: now, expiresAt: now + 3_600_000 });

        const gate = g.hold();
        const resettingNow = call(`${resetting.url}/api/v1/auth/password/reset`, { json: { token, new_password: 'the-links-password-2' } });
        await gate.arrived; // the account found active, the token used; the password not yet written
        const off = await call(`${deactivating.url}/api/v1/users/${userId}`, { method: 'PATCH', json: { is_active: false }, headers: { authorization: `Bearer ${admin}` } });
        assert.equal(off.status, 200, off.text);
        gate.release();
        const reset = await resettingNow;

        assert.equal(reset.status, 400, `the reset was answered ${reset.status} ${reset.text}`);
        assert.equal(reset.json.code, 'ERR_USER_INACTIVE');
        const now2 = (await first.users.findById(userId))!;
        assert.equal(now2.passwordHash, before.passwordHash, 'the deactivated account got the link\'s password');
        assert.equal(now2.emailVerified, before.emailVerified);
        assert.deepEqual(await first.events.list({ types: ['password.reset'], userId, limit: 10 }), []);
      } finally {
        for (const s of new Set(servers)) await s.close();
        for (const s of inners) await s.close();
      }
    });

    it('a verification link overtaken the same way is refused ERR_USER_INACTIVE: the address not marked verified, no email.verified', async () => {
      const first = await f.create();
      const inners = f.name === 'postgres' ? [first, f.reopen(first)!] : [first];
      const g = gated(inners[0]!);
      const channel = testChannel('verify-deactivation-race:');
      const servers: Running[] = [];
      try {
        const bus = () => (f.name === 'postgres' ? { bus: createRedisBus(REDIS_URL, channel) } : {});
        servers.push(await startServer({}, { storage: g.storage, ...bus() }));
        servers.push(inners.length > 1 ? await startServer({}, { storage: inners[1]!, ...bus() }) : servers[0]!);
        const [verifying, deactivating] = servers as [Running, Running];
        assert.equal((await call(`${verifying.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: PASSWORD, roles: ['admin'] } })).status, 201);
        const admin = (await call(`${verifying.url}/api/v1/auth/login`, { form: { username: 'root', password: PASSWORD } })).json.data.access_token as string;
        // Made in the store, not signed up: a sign-up's own verification mail would issue a token
        // that supersedes this one, whenever its outbox gets to it.
        const userId = randomUUID();
        await first.users.create({ id: userId, username: 'target', email: 'target@example.com', fullName: null, roles: ['user'], isActive: true, passwordHash: 'unusable' });
        const { token, hash } = newEmailToken();
        const now = Date.now();
        await first.emailTokens.issue({ hash, userId, purpose: 'verify', email: 'target@example.com', createdAt: now, expiresAt: now + 3_600_000 });

        const gate = g.hold();
        const verifyingNow = call(`${verifying.url}/api/v1/auth/verify`, { json: { token } });
        // The account found active, the token used; the address not yet marked (an answer first is a failure, not a hang).
        await Promise.race([gate.arrived, verifyingNow.then((r) => assert.fail(`answered before its write: ${r.status} ${r.text}`))]);
        const off = await call(`${deactivating.url}/api/v1/users/${userId}`, { method: 'PATCH', json: { is_active: false }, headers: { authorization: `Bearer ${admin}` } });
        assert.equal(off.status, 200, off.text);
        gate.release();
        const verified = await verifyingNow;

        assert.equal(verified.status, 400, `the verification was answered ${verified.status} ${verified.text}`);
        assert.equal(verified.json.code, 'ERR_USER_INACTIVE');
        assert.equal((await first.users.findById(userId))!.emailVerified, false);
        assert.deepEqual(await first.events.list({ types: ['email.verified'], userId, limit: 10 }), []);
      } finally {
        for (const s of new Set(servers)) await s.close();
        for (const s of inners) await s.close();
      }
    });
  });
}
