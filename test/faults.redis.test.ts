// Redis faults, through a TCP proxy between Warden and the shared Redis: Warden starts and serves
// without it (saying so once, naming REDIS_URL), a sign-out never waits on it, and while it is down
// or partitioned a sign-out on one instance is refused by another (each polls the shared PostgreSQL;
// within 2 s by default, on a quiet machine). /ready stays 200 and lists the degraded bus.
// Times are reported (t.diagnostic), never asserted: nothing the test waits for can come from Redis
// while the proxy refuses or swallows everything, and on a loaded machine a health check may miss
// REDIS_TIMEOUT_MS and drop a sound connection (the bus then goes down and back, as it should), so
// the log is read for what happened since a fault, and the bus's state is waited for, not assumed.
// The suite's timeout turns a hang into a failure.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import type { Storage } from '../src/storage/types.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { sharedDatabase, sharedSkip } from './helpers/instances.js';
import { REDIS_URL, watchedBus } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';

const REDIS = new URL(REDIS_URL);
const skip = await sharedSkip();

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const count = (lines: string[], pattern: RegExp) => lines.filter((l) => pattern.test(l)).length;
/**
 * After the bus was seen up again: its return was said, and each outage and return once (one line
 * each way, none per retry). A sound connection dropped since, on a loaded machine, may have said
 * "unreachable" once more, its return still to come.
 */
function assertToldEachWay(lines: string[]): void {
  const down = count(lines, /Redis unreachable/);
  const up = count(lines, /Redis back/);
  assert.ok(up >= 1 && (down === up || down === up + 1), `${down} "unreachable", ${up} "back":\n${lines.join('')}`);
}
const FAILSAFE_MS = 60_000; // a bound on waits for events, so a broken build fails rather than hangs

describe('Redis faults', { ...(skip !== undefined ? { skip } : {}), timeout: 600_000 }, () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  async function redisProxy(): Promise<{ proxy: FaultProxy; url: string }> {
    const proxy = await startFaultProxy({ host: REDIS.hostname, port: Number(REDIS.port || 6379) });
    cleanups.push(() => proxy.close());
    return { proxy, url: `redis://${proxy.address}` };
  }

  /** A server with its log captured; `bus` through `redisUrl` on a channel of this test's own, telling `applied` of each peer's record it applies. */
  async function server(env: Record<string, string>, o: { storage?: Storage; redisUrl?: string; channel?: string } = {}) {
    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const watched = o.redisUrl ? watchedBus(createRedisBus(o.redisUrl, { channel: o.channel!, timeoutMs: Number(env.REDIS_TIMEOUT_MS ?? 500) })) : undefined;
    const t0 = performance.now();
    const s = await startServer({ LOG_LEVEL: 'info', ...env }, { logStream, ...(o.storage ? { storage: o.storage } : {}), ...(watched ? { bus: watched.bus } : {}) });
    const startMs = performance.now() - t0;
    cleanups.push(() => s.close());
    const applied = (key: string) => (watched ? watched.applied(key, FAILSAFE_MS) : Promise.reject(new Error('no bus')));
    return { s, lines, startMs, applied };
  }
  /** Until `s`'s /ready says the bus is up (or, with `degraded`, down). */
  const readyBus = (s: Running, degraded: boolean) => until(`/ready ${degraded ? 'listing' : 'no longer listing'} redis`, FAILSAFE_MS, async () => {
    const d = (await call(`${s.url}/ready`)).json.degraded;
    return (d !== undefined) === degraded ? true : undefined;
  });
  const sidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sid;

  const signIn = async (s: Running, name: string): Promise<string> => {
    const r = await call(`${s.url}/api/auth/signin`, { json: { username: name, password: 'password-123' } });
    assert.equal(r.status, 200, r.text);
    return r.json.access_token;
  };
  const verifyOn = async (s: Running, token: string) =>
    (await call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } })).status;
  const signOut = (s: Running, token: string) =>
    call(`${s.url}/api/auth/signout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });

  /** Two instances on one PostgreSQL schema, each reaching Redis through its own proxy. */
  async function twoInstances(env: Record<string, string> = {}) {
    const db = await sharedDatabase();
    cleanups.push(() => db.close());
    const [ra, rb] = [await redisProxy(), await redisProxy()];
    const a = await server(env, { storage: db.storages[0], redisUrl: ra.url, channel: db.channel });
    const b = await server(env, { storage: db.storages[1], redisUrl: rb.url, channel: db.channel });
    const name = `u${randomBytes(3).toString('hex')}`;
    assert.equal((await call(`${a.s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } })).status, 201);
    // Both buses up before a fault, so that what follows it is the fault's doing.
    await readyBus(a.s, false);
    await readyBus(b.s, false);
    return { a, b, ra: ra.proxy, rb: rb.proxy, name };
  }

  it('starts with Redis down, serves, warns once naming REDIS_URL, reports it in /ready, and logs its return once', async (t) => {
    const { proxy, url } = await redisProxy();
    await proxy.down();
    // Started at all: nothing waited for Redis, which refuses every connection until the heal below.
    const { s, lines, startMs } = await server({ REDIS_URL: url, REDIS_TIMEOUT_MS: '200' });
    assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'noredis', email: 'noredis@example.com', password: 'password-123' } })).status, 201);
    const token = await signIn(s, 'noredis');
    const out = await signOut(s, token);
    assert.equal(out.status, 200);
    assert.equal(await verifyOn(s, token), 401, 'this instance refuses its own sign-out at once');

    const ready = await call(`${s.url}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { status: 'ready', storage: 'sqlite', degraded: ['redis'] });
    const warnings = lines.filter((l) => /Redis unreachable/.test(l));
    assert.equal(warnings.length, 1, lines.join(''));
    assert.match(warnings[0]!, /REDIS_URL=redis:\/\/127\.0\.0\.1:\d+/);
    assert.match(warnings[0]!, /"level":40/);

    assert.equal(count(lines, /Redis unreachable/), 1, 'no line per retry');
    await proxy.heal();
    await readyBus(s, false);
    assertToldEachWay(lines);
    t.diagnostic(`started in ${Math.round(startMs)} ms with Redis down`);
  });

  it('Redis down: a sign-out on A is refused on B (default timings)', async (t) => {
    const { a, b, ra, rb, name } = await twoInstances();
    const token = await signIn(a.s, name);
    assert.equal(await verifyOn(b.s, token), 200);
    const from = [a.lines.length, b.lines.length];
    await Promise.all([ra.down(), rb.down()]);
    const t0 = performance.now();
    assert.equal((await signOut(a.s, token)).status, 200);
    const signOutMs = performance.now() - t0;
    // Refused on B although no byte of Redis reaches it: B read the sign-out from the database.
    await until('B refusing the token', FAILSAFE_MS, async () => ((await verifyOn(b.s, token)) === 401 ? true : undefined));
    const ms = performance.now() - t0;
    const ready = await call(`${b.s.url}/ready`);
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json.degraded, ['redis']);
    // One line for the outage, none per retry.
    for (const [i, { lines }] of [a, b].entries()) assert.equal(count(lines.slice(from[i]), /Redis unreachable/), 1, lines.join(''));

    // Back: both say so, and the bus carries revocations again.
    await Promise.all([ra.heal(), rb.heal()]);
    await readyBus(a.s, false);
    await readyBus(b.s, false);
    for (const { lines } of [a, b]) assertToldEachWay(lines);
    const second = await signIn(a.s, name);
    const overTheBus = b.applied(sidOf(second));
    const t1 = performance.now();
    await signOut(a.s, second);
    await overTheBus;
    assert.equal(await verifyOn(b.s, second), 401);
    t.diagnostic(`Redis down: sign-out ${Math.round(signOutMs)} ms, refused on B after ${Math.round(ms)} ms; after the heal, over the bus ${Math.round(performance.now() - t1)} ms`);
  });

  it('Redis partitioned: a sign-out is answered and refused on B; /ready says degraded', async (t) => {
    // (That a sign-out never waits on its broadcast is test/unit/revocation.test.ts's "a broadcast
    // that never settles"; here its time is reported.)
    const { a, b, ra, rb, name } = await twoInstances();
    const token = await signIn(a.s, name);
    assert.equal(await verifyOn(b.s, token), 200);
    ra.blackhole();
    rb.blackhole();
    const t0 = performance.now();
    const out = await signOut(a.s, token);
    const signOutMs = performance.now() - t0;
    assert.equal(out.status, 200);
    await until('B refusing the token', FAILSAFE_MS, async () => ((await verifyOn(b.s, token)) === 401 ? true : undefined));
    const ms = performance.now() - t0;
    const readyStart = performance.now();
    const ready = await call(`${b.s.url}/ready`);
    const readyMs = performance.now() - readyStart;
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json.degraded, ['redis']);

    // Connections that lived through the partition stay silent: the health check drops them and reconnects.
    await ra.heal();
    await rb.heal();
    await readyBus(a.s, false);
    await readyBus(b.s, false);
    for (const { lines } of [a, b]) assertToldEachWay(lines);
    t.diagnostic(`Redis partitioned: sign-out ${Math.round(signOutMs)} ms, refused on B after ${Math.round(ms)} ms, /ready ${Math.round(readyMs)} ms`);
  });

  it('only A cut off from Redis: its unsent revocations are broadcast once it is back', async (t) => {
    const { a, b, ra, name } = await twoInstances({ REDIS_TIMEOUT_MS: '200' });
    const token = await signIn(a.s, name);
    assert.equal(await verifyOn(b.s, token), 200);
    await ra.down();
    assert.equal((await signOut(a.s, token)).status, 200);
    // B still hears the bus (nothing to poll for), so it learns when A can broadcast again.
    await ra.heal();
    const t0 = performance.now();
    await until('B refusing the token', FAILSAFE_MS, async () => ((await verifyOn(b.s, token)) === 401 ? true : undefined));
    t.diagnostic(`refused on B ${Math.round(performance.now() - t0)} ms after A's Redis came back`);
  });
});
