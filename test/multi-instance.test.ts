// Two Warden instances sharing PostgreSQL and Redis: a sign-out or a session ended on one is
// refused by the other, which learns it over Redis pub/sub and checks it in memory.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import type { RevocationBus } from '../src/revocation/bus.js';
import type { RevocationRecord } from '../src/revocation/records.js';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import type { Storage } from '../src/storage/types.js';
import { testClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisSkip(): Promise<string | undefined> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return undefined;
  } catch (e) {
    const why = `Redis not reachable at ${REDIS_URL} (${(e as Error).message}): start it or set TEST_REDIS_URL`;
    if (process.env.CI) throw new Error(why);
    return why;
  } finally {
    r.disconnect();
  }
}

/** A bus that tells the test when a record from a peer has been applied. */
function observed(bus: RevocationBus, events: EventEmitter): RevocationBus {
  return {
    ...bus,
    subscribe: (onRecord, onResync) => bus.subscribe((r: RevocationRecord) => {
      onRecord(r);
      events.emit('applied', r);
    }, onResync),
  };
}

const postgres = (await storageFactories()).find((f) => f.name === 'postgres')!;
const skip = postgres.skip ?? (await redisSkip());

describe('two instances, PostgreSQL + Redis', skip !== undefined ? { skip } : {}, () => {
  let a: Running;
  let b: Running;
  let storageA: Storage;
  let storageB: Storage;
  const appliedOnA = new EventEmitter();
  const appliedOnB = new EventEmitter();
  const clock = testClock(); // shared by both instances, as synchronised clocks are
  before(async () => {
    const channel = `warden:test:${randomBytes(4).toString('hex')}`;
    storageA = await postgres.create();
    storageB = postgres.reopen(storageA)!;
    a = await startServer({}, { storage: storageA, bus: observed(createRedisBus(REDIS_URL, channel), appliedOnA), clock });
    b = await startServer({}, { storage: storageB, bus: observed(createRedisBus(REDIS_URL, channel), appliedOnB), clock });
  });
  after(async () => {
    await a.close();
    await b.close();
    await storageA.close();
    await storageB.close();
    await postgres.cleanup();
  });

  const verifyOn = (s: Running, token: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });
  // Resolves when the instance has applied the peer's record for `key` (bounded: 5 s).
  const appliedFor = (key: string, events = appliedOnB) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the peer never learnt of ${key}`)), 5000);
    const on = (r: RevocationRecord) => {
      if (r.key !== key) return;
      clearTimeout(timer);
      events.off('applied', on);
      resolve();
    };
    events.on('applied', on);
  });

  it('a sign-out on A is refused on B', async () => {
    await call(`${a.url}/api/auth/signup`, { json: { username: 'shared', email: 'shared@example.com', password: 'password-123' } });
    const login = await call(`${a.url}/api/auth/signin`, { json: { username: 'shared', password: 'password-123' } });
    const token = login.json.access_token;
    assert.equal((await verifyOn(b, token)).status, 200);
    // The token is session-bound: signing out ends its session, and B learns the session id.
    const sid = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid;
    const seen = appliedFor(sid);
    assert.equal((await call(`${a.url}/api/auth/signout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status, 200);
    await seen;
    const r = await verifyOn(b, token);
    assert.equal(r.status, 401);
    assert.equal(r.json.message, 'Token has been revoked');
  });

  it('refresh reuse detected on B ends the session for A too', async () => {
    const login = await call(`${a.url}/api/v1/auth/login`, { form: { username: 'shared@example.com', password: 'password-123' } });
    const { access_token, refresh_token } = login.json.data;
    const rotated = await call(`${b.url}/api/v1/auth/refresh?refresh_token=${refresh_token}`, { method: 'POST' });
    assert.equal(rotated.status, 200);
    const sid = JSON.parse(Buffer.from(refresh_token.split('.')[1], 'base64url').toString()).sid;
    const seenOnA = appliedFor(sid, appliedOnA);
    // past REFRESH_REUSE_GRACE_SECONDS (10): within it the retired token would get the current one
    const reuse = await clock.during(10_000, () => call(`${b.url}/api/v1/auth/refresh?refresh_token=${refresh_token}`, { method: 'POST' }));
    assert.equal(reuse.status, 401);
    assert.equal((await verifyOn(b, access_token)).status, 401);
    await seenOnA;
    assert.equal((await verifyOn(a, rotated.json.data.access_token)).status, 401);
  });

  it('an instance started later loads the revocations from the database', async () => {
    const login = await call(`${a.url}/api/auth/signin`, { json: { username: 'shared', password: 'password-123' } });
    await call(`${a.url}/api/auth/signout`, { method: 'POST', headers: { authorization: `Bearer ${login.json.access_token}` } });
    const storageC = postgres.reopen(storageA)!;
    const c = await startServer({}, { storage: storageC });
    try {
      assert.equal((await verifyOn(c, login.json.access_token)).status, 401);
    } finally {
      await c.close();
      await storageC.close();
    }
  });
});
