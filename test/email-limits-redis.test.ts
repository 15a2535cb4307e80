// The mail limit's counters in Redis during an outage: a Redis that stops answering costs a mail
// request a bounded wait, never a hang nor a 503 (it is counted in the instance's memory meanwhile);
// once Redis answers again, the count is kept there again. "Never a hang" is shown by the answer
// itself: it comes while the proxy passes no byte, so nothing waited on Redis (the suite's timeout
// only turns a hang into a failure). The test's clock is never asserted: on a starved machine the
// server's first connection can miss REDIS_TIMEOUT_MS (its ready check) and count in memory for a
// while, as it should, so each "counted in Redis" waits for the count to get there.
// (Redis is faulted through a TCP proxy of the test's own; the shared server is never touched.)
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { eventually } from './helpers/smtp.js';

const skip = await redisSkip();

describe('mail limits in Redis when Redis fails', { ...(skip !== undefined ? { skip } : {}), timeout: 120_000 }, () => {
  let proxy: FaultProxy;
  let s: Running;
  let redis: Redis;
  before(async () => {
    redis = new Redis(REDIS_URL);
    const target = new URL(REDIS_URL);
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 6379) });
    // Only the limit goes through the proxy: the revocation bus gets its own channel on the real server.
    // Each request names a fresh address; the per-IP count is off, as every run on this machine
    // (127.0.0.1 against the one shared Redis) would add to the same key and meet 429 within the hour.
    s = await startServer({ REDIS_URL: `redis://${proxy.address}`, MAIL_LIMIT_PER_ADDRESS: '1000', MAIL_LIMIT_PER_IP: '0' }, {
      bus: createRedisBus(REDIS_URL, testChannel()),
    });
  });
  after(async () => {
    await s.close();
    await proxy.close();
    redis.disconnect();
  });

  /** A reset asked for a fresh address; resolves with it once answered 202. */
  const forgotFresh = async () => {
    const email = `r-${randomBytes(3).toString('hex')}@example.com`;
    const r = await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } });
    assert.equal(r.status, 202, r.text);
    return email;
  };
  const countedInRedis = async (email: string) =>
    (await redis.get(`warden:limit:mail-address:${createHash('sha256').update(email).digest('hex').slice(0, 32)}`)) === '1';

  /** Asks for resets (fresh addresses) until one is counted in Redis. */
  const countsInRedis = (what: string) => eventually(async () => ((await countedInRedis(await forgotFresh())) ? true : undefined), what, 15_000);

  it('silent Redis: 202 while it answers nothing, counted in memory; answering again: counted in Redis', async () => {
    await countsInRedis('the count in Redis while it answers');
    proxy.blackhole();
    assert.equal(await countedInRedis(await forgotFresh()), false);
    await proxy.heal();
    await countsInRedis('the count in Redis again');
  });

  it('Redis gone (connections refused): 202, then counted in Redis once it is back', async () => {
    await proxy.down();
    assert.equal(await countedInRedis(await forgotFresh()), false);
    await proxy.heal();
    await countsInRedis('the count in Redis again');
  });
});
