// The mail limit's counters in Redis during an outage: a Redis that stops answering costs a mail
// request a bounded wait and a 503, never a hang; once Redis answers again, so does the limit.
// (Redis is faulted through a TCP proxy of the test's own; the shared server is never touched.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { eventually } from './helpers/smtp.js';

const skip = await redisSkip();

describe('mail limits in Redis when Redis fails', skip !== undefined ? { skip } : {}, () => {
  let proxy: FaultProxy;
  let s: Running;
  before(async () => {
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
  });
  const forgot = () => call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: `r-${randomBytes(3).toString('hex')}@example.com` } });

  it('silent Redis: 503 within bounded time; answering again: 202', async () => {
    assert.equal((await forgot()).status, 202);
    proxy.blackhole();
    const t0 = Date.now();
    const r = await forgot();
    assert.equal(r.status, 503);
    assert.equal(r.json.code, 'ERR_UNAVAILABLE');
    assert.ok(Date.now() - t0 < 3000, `answered after ${Date.now() - t0} ms`);
    await proxy.heal();
    await eventually(async () => ((await forgot()).status === 202 ? true : undefined), 'the limit working again');
  });

  it('Redis gone (connections refused): 503, then 202 once it is back', async () => {
    await proxy.down();
    const t0 = Date.now();
    assert.equal((await forgot()).status, 503);
    assert.ok(Date.now() - t0 < 3000);
    await proxy.heal();
    await eventually(async () => ((await forgot()).status === 202 ? true : undefined), 'the limit working again');
  });
});
