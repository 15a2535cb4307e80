// Two Warden instances sharing PostgreSQL and Redis: a sign-out or a session ended on one is
// refused by the other, which learns it over Redis pub/sub and checks it in memory.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import { testClock } from './helpers/clock.js';
import { sharedDatabase, sharedSkip, type SharedDatabase } from './helpers/instances.js';
import { REDIS_URL, watchedBus } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';

const skip = await sharedSkip();

describe('two instances, PostgreSQL + Redis', skip !== undefined ? { skip } : {}, () => {
  let a: Running;
  let b: Running;
  let db: SharedDatabase;
  let onA: ReturnType<typeof watchedBus>;
  let onB: ReturnType<typeof watchedBus>;
  const clock = testClock(); // shared by both instances, as synchronised clocks are
  before(async () => {
    db = await sharedDatabase();
    onA = watchedBus(createRedisBus(REDIS_URL, db.channel));
    onB = watchedBus(createRedisBus(REDIS_URL, db.channel));
    a = await startServer({}, { storage: db.storages[0], bus: onA.bus, clock });
    b = await startServer({}, { storage: db.storages[1], bus: onB.bus, clock });
  });
  after(async () => {
    await a.close();
    await b.close();
    await db.close();
  });

  const verifyOn = (s: Running, token: string) => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });

  it('a sign-out on A is refused on B', async () => {
    await call(`${a.url}/api/auth/signup`, { json: { username: 'shared', email: 'shared@example.com', password: 'password-123' } });
    const login = await call(`${a.url}/api/auth/signin`, { json: { username: 'shared', password: 'password-123' } });
    const token = login.json.access_token;
    assert.equal((await verifyOn(b, token)).status, 200);
    // The token is session-bound: signing out ends its session, and B learns the session id.
    const sid = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).sid;
    const seen = onB.applied(sid);
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
    const seenOnA = onA.applied(sid);
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
    const c = await startServer({}, { storage: db.reopen() });
    try {
      assert.equal((await verifyOn(c, login.json.access_token)).status, 401);
    } finally {
      await c.close();
    }
  });
});
