// Sign-ins of one user at the same moment at MAX_SESSIONS_PER_USER: each opened its session, then
// ended the others' beyond the limit, so two sign-ins that had both inserted before either trimmed
// ended each other: both answered 200 with tokens already refused, and the user had no live
// session at all (MAX_SESSIONS_PER_USER=1, two tabs). Forced: every sign-in's session insert
// returns only once all of them have (on PostgreSQL two instances sharing the database and Redis).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import type { Storage } from '../src/storage/index.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

const PASSWORD = 'session-limit-race-password-1';
const RACERS = 4;
const LIMIT = 1;

/** Each storage with its session inserts held, once returned, until `n` of them (over all) have returned. */
function barrier(inners: Storage[], n: number): Storage[] {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return inners.map((inner) => {
    const sessions = { ...inner.sessions };
    sessions.create = async (...a) => {
      const made = await inner.sessions.create(...a);
      if (++arrived === n) release();
      await all;
      return made;
    };
    return { ...inner, sessions };
  });
}

const factories = (await storageFactories()).filter((f) => f.name !== 'memory');
const redis = await redisSkip();

for (const f of factories) {
  const skip = f.skip ?? (f.name === 'postgres' ? redis : undefined);
  describe(`sign-ins racing at the session limit on ${f.name}`, skip !== undefined ? { skip } : {}, () => {
    after(() => f.cleanup());

    it(`${RACERS} sign-ins at once with MAX_SESSIONS_PER_USER=${LIMIT}: exactly the limit stays live, one session.ended each for the others`, async () => {
      const first = await f.create();
      const inners = f.name === 'postgres' ? [first, f.reopen(first)!] : [first];
      const env = { MAX_SESSIONS_PER_USER: String(LIMIT) };
      const channel = testChannel('session-limit-race:');
      const servers: Running[] = [];
      try {
        const plain = await startServer(env, { storage: first });
        servers.push(plain);
        const made = await call(`${plain.url}/api/v1/auth/signup`, { json: { username: 'tabs', email: 'tabs@example.com', password: PASSWORD } });
        assert.equal(made.status, 201, made.text);
        const userId = made.json.data.id as string;
        const held = barrier(inners, RACERS);
        for (const storage of held) {
          servers.push(await startServer(env, { storage, ...(f.name === 'postgres' ? { bus: createRedisBus(REDIS_URL, channel) } : {}) }));
        }
        const racing = servers.slice(1);
        const answers = await Promise.all(Array.from({ length: RACERS }, (_, i) =>
          call(`${racing[i % racing.length]!.url}/api/v1/auth/login`, { form: { username: 'tabs', password: PASSWORD } })));
        assert.deepEqual(answers.map((a) => a.status), Array(RACERS).fill(200), answers.map((a) => a.text).join(' / '));

        const live = await first.sessions.listActive(userId, Date.now(), { limit: 10, offset: 0 });
        assert.equal(live.total, LIMIT, 'the sign-ins ended each other: no live session is left');
        // The survivor's tokens work on every instance; every other sign-in's are refused.
        const verified = await Promise.all(answers.map((a, i) =>
          call(`${racing[i % racing.length]!.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${a.json.data.access_token}` } })));
        assert.equal(verified.filter((v) => v.status === 200).length, LIMIT);
        const ended = await first.events.list({ types: ['session.ended'], userId, limit: 10 });
        assert.equal(ended.length, RACERS - LIMIT);
        assert.ok(ended.every((e) => (e.details as { reason?: string }).reason === 'limit'));
      } finally {
        for (const s of servers) await s.close();
        for (const s of inners) await s.close();
      }
    });
  });
}
