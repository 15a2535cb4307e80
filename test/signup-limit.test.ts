// The sign-up limit per client IP (SIGNUP_LIMIT_PER_IP per SIGNUP_WINDOW_MINUTES), over HTTP: what
// counts (every valid attempt, a taken name's too, on every sign-up route), what does not (a
// malformed body, an administrator's creations), and, with REDIS_URL, one count for every instance
// that holds through a Redis outage by counting in memory meanwhile. Clients are told apart with
// X-Forwarded-For behind TRUST_PROXY=1, each run with addresses of its own (the shared Redis keeps
// counts across runs).
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { after, before, describe, it } from 'node:test';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { REDIS_URL, redisSkip, testChannel } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { eventually } from './helpers/smtp.js';

const PASSWORD = 'signup-limit-pw-1';
const freshIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;
const name = () => `u${randomBytes(5).toString('hex')}`;

function signUp(s: Running, ip: string, body: Record<string, unknown>, path = '/api/auth/signup', headers: Record<string, string> = {}) {
  return call(`${s.url}${path}`, { json: body, headers: { 'x-forwarded-for': ip, ...headers } });
}
const someone = (username = name()) => ({ username, email: `${username}@example.com`, password: PASSWORD });

describe('sign-up limit per client IP (in memory)', () => {
  let s: Running;
  before(async () => {
    s = await startServer({
      SIGNUP_LIMIT_PER_IP: '3', TRUST_PROXY: '1',
      ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1',
    });
  });
  after(() => s.close());

  it('every valid attempt counts, a taken name and either route alike; past the limit 429 with Retry-After and nothing created', async () => {
    const ip = freshIp();
    const first = someone();
    assert.equal((await signUp(s, ip, first)).status, 201);
    assert.equal((await signUp(s, ip, first)).status, 409, 'taken: refused, and counted');
    assert.equal((await signUp(s, ip, someone(), '/api/v1/auth/signup')).status, 201);
    const late = someone();
    for (const path of ['/api/auth/signup', '/api/v1/auth/signup']) {
      const r = await signUp(s, ip, late, path);
      assert.equal(r.status, 429, r.text);
      assert.equal(r.json.code, 'ERR_RATE_LIMITED');
      const wait = Number(r.headers.get('retry-after'));
      assert.ok(wait >= 1 && wait <= 300, `Retry-After ${r.headers.get('retry-after')}`);
    }
    assert.equal(await s.warden.storage.users.findByLogin(late.username), null, 'a refused sign-up creates nothing');
    assert.equal((await signUp(s, freshIp(), late)).status, 201, 'another client is not affected');
  });

  it('a malformed sign-up is not counted: it changes nothing', async () => {
    const ip = freshIp();
    for (let i = 0; i < 5; i++) assert.equal((await signUp(s, ip, { username: name(), email: 'not-an-address', password: PASSWORD })).status, 422);
    assert.equal((await signUp(s, ip, someone())).status, 201);
  });

  it('an administrator\'s creations are not counted, on either route', async () => {
    const ip = freshIp();
    const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: 'root-password-1' }, headers: { 'x-forwarded-for': ip } });
    const auth = { authorization: `Bearer ${login.json.data.access_token as string}` };
    for (let i = 0; i < 4; i++) assert.equal((await signUp(s, ip, someone(), '/api/auth/signup', auth)).status, 201);
    for (let i = 0; i < 2; i++) assert.equal((await signUp(s, ip, someone(), '/api/v1/users', auth)).status, 201);
    // Their own sign-ups, from the same address, still have the whole budget.
    for (let i = 0; i < 3; i++) assert.equal((await signUp(s, ip, someone())).status, 201);
    assert.equal((await signUp(s, ip, someone())).status, 429);
  });

  it('SIGNUP_LIMIT_PER_IP=0: no limit', async () => {
    const open = await startServer({ SIGNUP_LIMIT_PER_IP: '0', TRUST_PROXY: '1' });
    try {
      const ip = freshIp();
      for (let i = 0; i < 8; i++) assert.equal((await signUp(open, ip, someone())).status, 201);
    } finally {
      await open.close();
    }
  });
});

const skip = await redisSkip();

describe('sign-up limit in Redis: one count for every instance, held through an outage', skip !== undefined ? { skip } : {}, () => {
  let proxy: FaultProxy;
  let a: Running;
  let b: Running;
  let redis: Redis;
  const logged: string[] = [];
  before(async () => {
    const target = new URL(REDIS_URL);
    proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 6379) });
    redis = new Redis(REDIS_URL);
    // Only the limit counters go through the proxy: each instance's revocation bus gets its own channel.
    const env = { REDIS_URL: `redis://${proxy.address}`, SIGNUP_LIMIT_PER_IP: '3', TRUST_PROXY: '1', LOG_LEVEL: 'info' };
    const logStream = new Writable({ write(chunk: Buffer, _enc, done) { logged.push(chunk.toString()); done(); } });
    a = await startServer(env, { bus: createRedisBus(REDIS_URL, testChannel()), logStream });
    b = await startServer(env, { bus: createRedisBus(REDIS_URL, testChannel()) });
  });
  after(async () => {
    await a.close();
    await b.close();
    await proxy.close();
    redis.disconnect();
  });

  it('the instances share one count', async () => {
    const ip = freshIp();
    assert.equal((await signUp(a, ip, someone())).status, 201);
    assert.equal((await signUp(b, ip, someone())).status, 201);
    assert.equal((await signUp(a, ip, someone())).status, 201);
    assert.equal((await signUp(b, ip, someone())).status, 429, 'the fourth, on the other instance');
  });

  it('Redis silent: sign-ups are answered within a bounded time, counted in memory; once it answers, counted there again', async () => {
    proxy.blackhole();
    const ip = freshIp();
    const t0 = Date.now();
    assert.equal((await signUp(a, ip, someone())).status, 201);
    assert.ok(Date.now() - t0 < 3000, `answered after ${Date.now() - t0} ms`);
    // Counted in this instance's memory meanwhile: the limit still holds.
    assert.equal((await signUp(a, ip, someone())).status, 201);
    assert.equal((await signUp(a, ip, someone())).status, 201);
    assert.equal((await signUp(a, ip, someone())).status, 429);
    assert.equal(logged.filter((l) => l.includes('Redis is not answering; counting in this instance')).length, 1, 'one warning, not one per request');
    await proxy.heal();
    // Each new client's sign-up lands in Redis once the counter tries it again.
    await eventually(async () => {
      const next = freshIp();
      assert.equal((await signUp(a, next, someone())).status, 201);
      return (await redis.get(`warden:limit:signup-ip:${next}`)) === '1' ? true : undefined;
    }, 'the count in Redis again', 15_000);
    assert.ok(logged.some((l) => l.includes('mail and sign-up limits: Redis answers again')));
  });
});
