// The sign-in throttle over Redis (REDIS_URL): two instances count one set of failures, so N
// instances do not grant N times the attempts; with Redis unreachable (a closed port, a partition
// through a TCP proxy) sign-in keeps working within a bounded time and the throttle keeps counting
// in memory; once the network heals the counters go back to Redis. No key holds a login as typed
// (a Redis snapshot or MONITOR would hold users' addresses): the login part is a hash. Real Redis, never mocked; each
// test has its own key prefix and deletes its keys.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { createRedisCounters, type RedisCounters } from '../src/accounts/redis-counters.js';
import { loginKey } from '../src/accounts/throttle.js';
import { createMemoryStorage, type Storage } from '../src/storage/index.js';
import { freePort } from './helpers/child-warden.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';

const skip = await redisSkip();
const LIMITS = { SIGNIN_MAX_FAILURES: '4', SIGNIN_MAX_FAILURES_PER_IP: '100', SIGNIN_WINDOW_MINUTES: '10' };

describe('sign-in throttle over Redis', skip !== undefined ? { skip } : {}, () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A key prefix of this test's own; its keys are deleted after the test. */
  function prefix(): string {
    const p = `${testChannel('throttle:')}:`;
    cleanups.push(async () => {
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${p}*`);
      if (keys.length > 0) await r.del(...keys);
      r.disconnect();
    });
    return p;
  }

  async function instance(counters: RedisCounters, storage: Storage, env: Record<string, string> = {}, logStream?: NodeJS.WritableStream): Promise<Running> {
    const s = await startServer({ ...LIMITS, ...env }, { storage, throttleCounters: counters, ...(logStream ? { logStream } : {}) });
    cleanups.push(async () => {
      await s.close();
      await counters.close();
    });
    return s;
  }

  async function userOn(s: Running, name = 'victim'): Promise<void> {
    const r = await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } });
    assert.equal(r.status, 201);
  }
  const signin = (s: Running, username: string, password: string) => call(`${s.url}/api/auth/signin`, { json: { username, password } });

  it('two instances count failures together: 2 on A and 2 on B lock the pair on both', async () => {
    const storage = createMemoryStorage(); // one database for both instances
    const p = prefix();
    const a = await instance(createRedisCounters(REDIS_URL, { prefix: p }), storage);
    const b = await instance(createRedisCounters(REDIS_URL, { prefix: p }), storage);
    await userOn(a);
    for (const s of [a, a, b, b]) assert.equal((await signin(s, 'victim', 'wrong-password')).status, 401);
    for (const s of [a, b]) {
      const locked = await signin(s, 'victim', 'password-123');
      assert.equal(locked.status, 429, 'alone, each instance has seen 2 of 4');
      assert.ok(Number(locked.headers.get('retry-after')) > 500);
    }
  });

  it('no key holds a login: what was typed (an address, in any case or spelling) is a hash in the key, one per account whichever spelling', async () => {
    const storage = createMemoryStorage();
    const p = prefix();
    const a = await instance(createRedisCounters(REDIS_URL, { prefix: p }), storage);
    const b = await instance(createRedisCounters(REDIS_URL, { prefix: p }), storage);
    await userOn(a, 'Mallory.Target');
    const direct = new Redis(REDIS_URL);
    cleanups.push(async () => direct.disconnect());
    // The account's address, its username, an unknown address: every key they touch (each instance's memory holds the same keys).
    const typed = ['mallory.target@example.com', ' MALLORY.TARGET@EXAMPLE.COM', 'Mallory.Target', 'nobody-here@example.org'];
    for (const [i, login] of typed.entries()) assert.equal((await signin(i % 2 ? b : a, login, 'wrong-password')).status, 401);
    const keys = await direct.keys(`${p}*`);
    assert.ok(keys.length >= 3, keys.join('\n'));
    const secrets = ['mallory', 'example.com', 'nobody-here', 'example.org', '@'];
    for (const key of keys) {
      for (const part of secrets) assert.ok(!key.toLowerCase().includes(part), `${key} holds ${part}`);
      assert.match(key.slice(p.length), /^(l:127\.0\.0\.1:[0-9a-f]{32}|i:127\.0\.0\.1)$/);
    }
    // Both spellings of the address are one budget (and the username's, an alias of the account): 3 failures on the account.
    assert.equal(await direct.get(`${p}l:127.0.0.1:${loginKey('Mallory.Target@example.com')}`), '3');
  });

  it('a success clears the pair\'s shared count; each instance\'s own memory only ever adds caution', async () => {
    const storage = createMemoryStorage();
    const p = prefix();
    const a = await instance(createRedisCounters(REDIS_URL, { prefix: p }), storage);
    const b = await instance(createRedisCounters(REDIS_URL, { prefix: p }), storage);
    await userOn(a);
    const direct = new Redis(REDIS_URL);
    cleanups.push(async () => direct.disconnect());
    for (const s of [a, b, a]) assert.equal((await signin(s, 'victim', 'wrong-password')).status, 401);
    assert.equal(await direct.get(`${p}l:127.0.0.1:${loginKey('victim')}`), '3');
    assert.equal((await signin(b, 'victim', 'password-123')).status, 200);
    assert.equal(await direct.get(`${p}l:127.0.0.1:${loginKey('victim')}`), null, 'cleared for every instance');
    assert.equal(await direct.get(`${p}i:127.0.0.1`), '3', 'the IP\'s count is not cleared by a success');
    // B forgot its failure; A still remembers its own two (its memory is a floor, never a ceiling).
    for (let i = 0; i < 3; i++) assert.equal((await signin(b, 'victim', 'wrong-password')).status, 401);
    assert.equal((await signin(b, 'victim', 'password-123')).status, 200, 'B: three failures since the success');
    for (let i = 0; i < 2; i++) assert.equal((await signin(a, 'victim', 'wrong-password')).status, 401);
    assert.equal((await signin(a, 'victim', 'password-123')).status, 429, 'A: its own two and two more (Redis has seen two)');
  });

  it('REDIS_URL alone puts the counters in Redis (default prefix warden:throttle:)', async () => {
    const login = `wired-${randomBytes(6).toString('hex')}`;
    const key = `warden:throttle:l:127.0.0.1:${loginKey(login)}`;
    const direct = new Redis(REDIS_URL);
    cleanups.push(async () => {
      await direct.del(key);
      direct.disconnect();
    });
    // A bus of its own, so this test's server stays off the default revocation channel.
    const bus = { publish: async () => {}, subscribe: async () => {}, close: async () => {} };
    // No per-IP limit: an IP key under the default prefix would be shared with every other run.
    const s = await startServer({ ...LIMITS, SIGNIN_MAX_FAILURES_PER_IP: '0', REDIS_URL }, { storage: createMemoryStorage(), bus });
    cleanups.push(() => s.close());
    assert.equal((await signin(s, login, 'wrong-password')).status, 401);
    assert.equal(await direct.get(key), '1');
    assert.ok(Number(await direct.pttl(key)) > 590_000, 'the window (10 minutes) is the key\'s lifetime');
  });

  it('ready(): once it resolves a count goes to Redis; against a closed port it resolves too, and a count fails over', async () => {
    const p = `warden-test:ready:${randomBytes(4).toString('hex')}:`;
    const counters = createRedisCounters(REDIS_URL, { prefix: p });
    const direct = new Redis(REDIS_URL);
    cleanups.push(async () => {
      await counters.close();
      await direct.del(`${p}k`);
      direct.disconnect();
    });
    // Straight after creation, with no offline queue, a count fails unless the start waited.
    await counters.ready();
    await counters.hit(['k'], 60_000);
    assert.equal(await direct.get(`${p}k`), '1');
    const nowhere = createRedisCounters(`redis://127.0.0.1:${await freePort()}`, { prefix: p });
    cleanups.push(() => nowhere.close());
    await nowhere.ready();
    await assert.rejects(nowhere.hit(['k'], 60_000));
  });

  it('Redis unreachable (a closed port): sign-in works, the throttle counts in memory, one warning is logged', async () => {
    const closed = await freePort();
    const lines: string[] = [];
    const logStream = new Writable({ write: (chunk, _e, done) => (lines.push(chunk.toString()), done()) });
    const s = await instance(createRedisCounters(`redis://127.0.0.1:${closed}`, { prefix: prefix() }), createMemoryStorage(), { LOG_LEVEL: 'warn' }, logStream);
    await userOn(s);
    assert.equal((await signin(s, 'victim', 'password-123')).status, 200);
    for (let i = 0; i < 4; i++) assert.equal((await signin(s, 'victim', 'wrong-password')).status, 401);
    assert.equal((await signin(s, 'victim', 'password-123')).status, 429);
    const warnings = lines.filter((l) => l.includes('sign-in throttle'));
    assert.equal(warnings.length, 1, lines.join(''));
    assert.match(warnings[0]!, /Redis is not answering/);
    assert.ok(!lines.join('').includes('password-123'));
  });

  it('Redis partitioned (no answer, sockets open): sign-ins answer within a bound, memory throttles; healed, Redis counts again', async () => {
    const target = new URL(REDIS_URL);
    const proxy: FaultProxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 6379) });
    cleanups.push(() => proxy.close());
    const p = prefix();
    const s = await instance(createRedisCounters(`redis://${proxy.address}`, { prefix: p }), createMemoryStorage());
    await userOn(s);
    const direct = new Redis(REDIS_URL);
    cleanups.push(async () => direct.disconnect());
    assert.equal((await signin(s, 'victim', 'wrong-password')).status, 401);
    assert.equal(await direct.get(`${p}l:127.0.0.1:${loginKey('victim')}`), '1', 'counted in Redis while healthy');

    proxy.blackhole();
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      assert.equal((await signin(s, 'victim', 'wrong-password')).status, 401);
      assert.ok(Date.now() - started < 3000, 'a partitioned Redis never holds a sign-in up for long');
    }
    assert.equal((await signin(s, 'victim', 'password-123')).status, 429, 'the four failures were counted in memory');
    assert.equal(await direct.get(`${p}l:127.0.0.1:${loginKey('victim')}`), '1', 'nothing reached Redis meanwhile');

    await proxy.heal();
    // After its pause (seconds of real time) the throttle tries Redis again, on a new connection.
    const deadline = Date.now() + 30_000;
    for (let n = 0; ; n++) {
      // A new login each time (an unknown one is counted all the same), so memory never locks it.
      assert.equal((await signin(s, `later${n}`, 'wrong-password')).status, 401);
      if ((await direct.get(`${p}l:127.0.0.1:${loginKey(`later${n}`)}`)) === '1') break;
      assert.ok(Date.now() < deadline, 'the counters never went back to Redis after the partition healed');
      await new Promise((r) => setTimeout(r, 250));
    }
  });
});
