// An address-change link used while the session that asked for it is being ended: the link is
// tied to that session (a thief's, perhaps), whose end voids it. The confirmation checked the
// session, then wrote the address; a sign-out everywhere answered between the two left the
// address changed after it. Forced: the confirmation, its checks made, is held at the token's use
// until the sign-out has been answered (on PostgreSQL by another instance sharing the database and
// Redis). The link that was tied to no session (mailed before migration 15) is held likewise.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { newEmailToken } from '../src/accounts/email-tokens.js';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import type { Storage } from '../src/storage/index.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { gate } from './helpers/gate.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

const PASSWORD = 'email-change-race-password-1';

/** `inner` with its next use of an email token held until released. */
function gated(inner: Storage) {
  const g = gate();
  const emailTokens = { ...inner.emailTokens };
  emailTokens.consume = (...a) => g.pass(undefined, () => inner.emailTokens.consume(...a));
  return { storage: { ...inner, emailTokens }, hold: () => g.hold() };
}

const factories = (await storageFactories()).filter((f) => f.name !== 'memory');
const redis = await redisSkip();
const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid;

for (const f of factories) {
  const skip = f.skip ?? (f.name === 'postgres' ? redis : undefined);
  describe(`an address change confirmed while its session ends, on ${f.name}`, skip !== undefined ? { skip } : {}, () => {
    after(() => f.cleanup());

    for (const bound of [true, false]) {
      it(`${bound ? 'a link tied to its session' : 'a link tied to none'}: refused once the sign-out everywhere is answered, the address unchanged, no email.changed`, async () => {
        const first = await f.create();
        const inners = f.name === 'postgres' ? [first, f.reopen(first)!] : [first];
        const g = gated(inners[0]!);
        const channel = testChannel('email-change-race:');
        const servers: Running[] = [];
        try {
          const bus = () => (f.name === 'postgres' ? { bus: createRedisBus(REDIS_URL, channel) } : {});
          servers.push(await startServer({}, { storage: g.storage, ...bus() }));
          servers.push(inners.length > 1 ? await startServer({}, { storage: inners[1]!, ...bus() }) : servers[0]!);
          const [confirming, signingOut] = servers as [Running, Running];
          const made = await call(`${confirming.url}/api/v1/auth/signup`, { json: { username: 'mover', email: 'old@example.com', password: PASSWORD } });
          assert.equal(made.status, 201, made.text);
          const userId = made.json.data.id as string;
          const login = await call(`${confirming.url}/api/v1/auth/login`, { form: { username: 'mover', password: PASSWORD } });
          const access = login.json.data.access_token as string;
          const { token, hash } = newEmailToken();
          const now = Date.now();
          await first.emailTokens.issue({ hash, userId, purpose: 'email', email: 'new@example.com', createdAt: now, expiresAt: now + 3_600_000, sessionId: bound ? sidOf(access) : null });

          const gate = g.hold();
          const confirmingNow = call(`${confirming.url}/api/v1/auth/email/confirm`, { json: { token } });
          await gate.arrived; // the session was found live, the token not yet used
          const out = await call(`${signingOut.url}/api/v1/auth/logout?scope=global`, { method: 'POST', headers: { authorization: `Bearer ${access}` } });
          assert.equal(out.status, 200, out.text);
          gate.release();
          const confirmed = await confirmingNow;

          assert.equal(confirmed.status, 400, `the address changed after the sign-out was answered: ${confirmed.text}`);
          assert.equal(confirmed.json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');
          assert.equal((await first.users.findById(userId))!.email, 'old@example.com');
          assert.deepEqual(await first.events.list({ types: ['email.changed'], userId, limit: 10 }), []);
        } finally {
          for (const s of new Set(servers)) await s.close();
          for (const s of inners) await s.close();
        }
      });
    }
  });
}
