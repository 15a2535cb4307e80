// GET /metrics read by an independent Prometheus text-format parser (the Prometheus Python
// client's, test/interop/prometheus_parse.py; not prom-client), its values checked against the
// traffic this test sent; METRICS_PORT and METRICS=false; the pool and Redis gauges.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { freePort } from './helpers/child-warden.js';
import { sharedDatabase, sharedSkip } from './helpers/instances.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { REDIS_URL } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';

const PASSWORD = 'password-123';
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

const PARSER = new URL('./interop/prometheus_parse.py', import.meta.url).pathname;
const skipParser = pythonMissing('import prometheus_client', 'python3-prometheus-client', '/metrics tests not run');

interface Sample { name: string; labels: Record<string, string>; value: number | string }
interface Family { name: string; type: string; samples: Sample[] }

/** What Prometheus's own parser reads from the exposition. */
async function scrape(url: string): Promise<Family[]> {
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return JSON.parse(execFileSync(PYTHON, [PARSER], { input: await res.text(), encoding: 'utf8' })) as Family[];
}

/** Every sample named `name` (e.g. `x_total`, `x_bucket`) whose labels include `labels`. */
function samples(m: Family[], name: string, labels: Record<string, string> = {}): Sample[] {
  return m.flatMap((f) => f.samples).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function family(m: Family[], name: string): Family {
  const f = m.find((x) => x.name === name);
  assert.ok(f, `no metric family ${name}`);
  return f;
}

/** The value of the one sample named `name` with these labels (NaN when there is none). */
function value(m: Family[], name: string, labels: Record<string, string> = {}): number {
  const found = samples(m, name, labels);
  assert.ok(found.length <= 1, `${name} ${JSON.stringify(labels)} matches ${found.length} samples`);
  return found.length === 0 ? NaN : Number(found[0]!.value);
}

const HTTP = 'warden_http_request_duration_seconds';
/** The process metrics the README lists (families as the parser names them: counters without _total). */
const PROCESS_FAMILIES = [
  'process_cpu_user_seconds', 'process_cpu_system_seconds', 'process_cpu_seconds', 'process_start_time_seconds', 'process_resident_memory_bytes',
  'process_open_fds', 'process_max_fds', 'nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes',
  'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_active_seconds', 'nodejs_version_info',
];
/** Requests of one route, method and status, from the histogram's _count (0 when never seen). */
const count = (m: Family[], labels: Record<string, string>): number => value(m, `${HTTP}_count`, labels) || 0;

describe('/metrics on the public port, against the traffic sent', { skip: skipParser }, () => {
  let s: Running;
  let m: Family[];
  const VERIFIES = 25;
  const UNKNOWN = 4;
  before(async () => {
    const closed = await freePort(); // webhooks to a closed port stay pending: the backlog
    s = await startServer({
      SIGNIN_MAX_FAILURES: '2', REFRESH_REUSE_GRACE_SECONDS: '0',
      WEBHOOK_URLS: `http://127.0.0.1:${closed}/hook`, WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`, WEBHOOK_RETRY_MS: '3600000',
    });
    const v1 = `${s.url}/api/v1`;
    for (const name of ['ann', 'bob', 'cyd']) {
      assert.equal((await call(`${v1}/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: PASSWORD } })).status, 201);
    }
    const signin = (username: string, password = PASSWORD) => call(`${s.url}/api/auth/signin`, { json: { username, password } });
    // 3 succeeded; 2 failed, then the throttle refuses two (one signin.throttled).
    const tokens = [];
    for (const name of ['ann', 'bob', 'cyd']) tokens.push((await signin(name)).json);
    assert.equal((await signin('ann', 'wrong-password')).status, 401);
    assert.equal((await signin('ann', 'wrong-password')).status, 401);
    assert.equal((await signin('ann', 'wrong-password')).status, 429);
    assert.equal((await signin('ann', 'wrong-password')).status, 429); // refused again: no second signin.throttled
    // 2 refreshes, then the first refresh token again: reuse.
    const r1 = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: tokens[0].refresh_token } });
    const r2 = await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: r1.json.refresh_token } });
    assert.equal(r2.status, 200);
    assert.equal((await call(`${s.url}/api/auth/refresh`, { json: { refresh_token: tokens[0].refresh_token } })).status, 401);
    // Forward auth: the same token again and again (the verify cache's hits).
    for (let i = 0; i < VERIFIES; i++) assert.equal((await call(`${v1}/auth/verify`, { headers: bearer(tokens[1].access_token) })).status, 200);
    for (let i = 0; i < UNKNOWN; i++) assert.equal((await call(`${s.url}/no/such/path/${i}`)).status, 404);
    // URLs Fastify cannot route: one that does not decode, and an id longer than any.
    assert.equal((await call(`${s.url}/api/v1/users/%zz`)).status, 400);
    assert.equal((await call(`${s.url}/api/v1/users/${'x'.repeat(200)}`)).status, 404);
    await call(`${s.url}/api/auth/signout`, { method: 'POST', headers: bearer(tokens[2].access_token) });
    m = await scrape(`${s.url}/metrics`);
  });
  after(() => s.close());

  it('sign-ins by outcome, refreshes and reuse detections', () => {
    assert.equal(family(m, 'warden_signins').type, 'counter');
    assert.equal(value(m, 'warden_signins_total', { outcome: 'succeeded' }), 3);
    assert.equal(value(m, 'warden_signins_total', { outcome: 'failed' }), 2);
    assert.equal(value(m, 'warden_signins_total', { outcome: 'throttled' }), 1, 'the signin.throttled events, not the refused attempts');
    assert.equal(value(m, 'warden_refreshes_total'), 2);
    assert.equal(value(m, 'warden_refresh_reuse_detected_total'), 1);
    assert.equal(value(m, 'warden_events_total', { type: 'user.created' }), 3);
    assert.equal(value(m, 'warden_events_total', { type: 'signout' }), 1);
    assert.equal(value(m, 'warden_events_total', { type: 'user.deleted' }), 0, 'every type has a series from the start');
  });

  it('HTTP requests by route (its pattern), method and status, with latency histograms', () => {
    assert.equal(family(m, HTTP).type, 'histogram');
    assert.equal(count(m, { route: '/api/auth/signin', method: 'POST', status: '200' }), 3);
    assert.equal(count(m, { route: '/api/auth/signin', method: 'POST', status: '401' }), 2);
    assert.equal(count(m, { route: '/api/auth/signin', method: 'POST', status: '429' }), 2);
    assert.equal(count(m, { route: '/api/auth/refresh', method: 'POST', status: '200' }), 2);
    assert.equal(count(m, { route: '/api/auth/refresh', method: 'POST', status: '401' }), 1);
    assert.equal(count(m, { route: '/api/v1/auth/signup', method: 'POST', status: '201' }), 3);
    assert.equal(count(m, { route: '/api/v1/auth/verify', method: 'GET', status: '200' }), VERIFIES);
    assert.equal(count(m, { route: '(unmatched)', method: 'GET', status: '404' }), UNKNOWN + 1, 'unknown paths share one label');
    assert.equal(count(m, { route: '(unmatched)', method: 'GET', status: '400' }), 1, 'a URL that does not decode is counted too');
    assert.ok(!samples(m, `${HTTP}_count`).some((x) => x.labels.route!.includes('/no/such')), 'no raw URL becomes a label');
    for (const series of samples(m, `${HTTP}_count`)) {
      const { route, method, status } = series.labels;
      const buckets = samples(m, `${HTTP}_bucket`, { route: route!, method: method!, status: status! })
        .map((b) => [b.labels.le === '+Inf' ? Infinity : Number(b.labels.le), Number(b.value)] as const).sort((a, b) => a[0] - b[0]);
      assert.ok(buckets.length >= 10);
      for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]![1] >= buckets[i - 1]![1], 'cumulative buckets');
      assert.equal(buckets.at(-1)![0], Infinity);
      assert.equal(buckets.at(-1)![1], Number(series.value));
      // A URL Fastify cannot route is answered before its clock starts: its latency reads 0.
      const sum = value(m, `${HTTP}_sum`, { route: route!, method: method!, status: status! });
      assert.ok(route === '(unmatched)' && status === '400' ? sum === 0 : sum > 0, `${route} ${status}: sum ${sum}`);
    }
    // Sign-in hashes with argon2 (tens of ms); forward auth answers in well under that.
    const signinSum = value(m, `${HTTP}_sum`, { route: '/api/auth/signin', method: 'POST', status: '200' });
    const verifySum = value(m, `${HTTP}_sum`, { route: '/api/v1/auth/verify', method: 'GET', status: '200' });
    assert.ok(signinSum / 3 > verifySum / VERIFIES, `sign-in ${signinSum / 3} s, verify ${verifySum / VERIFIES} s`);
  });

  it('revocation index size, verify cache hits and misses, password hashing, database, webhook backlog', async () => {
    assert.ok(value(m, 'warden_revocation_index_entries') >= 2, 'the reused session and the signed-out one');
    assert.ok(value(m, 'warden_verify_cache_hits_total') >= VERIFIES - 1);
    assert.ok(value(m, 'warden_verify_cache_misses_total') >= 1);
    assert.equal(value(m, 'warden_password_hash_queue_depth'), 0);
    assert.equal(value(m, 'warden_password_hash_running'), 0);
    // 3 sign-up hashes and 5 sign-in verifications (the throttled one never hashed).
    assert.equal(value(m, 'warden_password_hash_wait_seconds_count'), 8);
    assert.equal(value(m, 'warden_database_up'), 1);
    assert.equal(value(m, 'warden_database_refusals_total'), 0, 'no statement refused for want of a resource');
    assert.equal(samples(m, 'warden_database_pool_connections').length, 0, 'SQLite has no pool');
    assert.equal(samples(m, 'warden_redis_up').length, 0, 'no REDIS_URL');
    const events = await s.warden.storage.events.list({ limit: 1000 });
    assert.equal(value(m, 'warden_webhook_backlog'), events.length, 'every event waits for the closed endpoint');
  });

  it('the process figures, read at the scrape: CPU, memory, heap, file descriptors, event loop, start time', async () => {
    // The server runs in this very process: its figures are this process's.
    const cpuBefore = process.cpuUsage();
    const now = await scrape(`${s.url}/metrics`);
    const cpuAfter = process.cpuUsage();
    for (const [name, part] of [['process_cpu_user_seconds_total', 'user'], ['process_cpu_system_seconds_total', 'system']] as const) {
      assert.equal(family(now, name.replace(/_total$/, '')).type, 'counter');
      const v = value(now, name);
      assert.ok(v >= cpuBefore[part] / 1e6 && v <= cpuAfter[part] / 1e6, `${name} ${v}: the process's own, since it started`);
    }
    const both = value(now, 'process_cpu_seconds_total');
    assert.ok(Math.abs(both - value(now, 'process_cpu_user_seconds_total') - value(now, 'process_cpu_system_seconds_total')) < 1e-6);
    const startedAt = Date.now() / 1000 - process.uptime();
    assert.ok(Math.abs(value(now, 'process_start_time_seconds') - startedAt) < 1, `started ${value(now, 'process_start_time_seconds')}, uptime says ${startedAt}`);
    const rss = value(now, 'process_resident_memory_bytes');
    assert.ok(rss > 10e6 && rss < 8e9, `rss ${rss}`);
    const heapUsed = value(now, 'nodejs_heap_size_used_bytes');
    const heapTotal = value(now, 'nodejs_heap_size_total_bytes');
    assert.ok(heapUsed > 1e6 && heapUsed <= heapTotal && heapTotal < rss, `heap ${heapUsed} of ${heapTotal}`);
    assert.ok(value(now, 'nodejs_external_memory_bytes') > 0);
    const fds = value(now, 'process_open_fds');
    assert.ok(fds >= 3 && fds <= value(now, 'process_max_fds'), `${fds} open fds`);
    const lag = value(now, 'nodejs_eventloop_lag_seconds');
    assert.ok(lag > 0 && lag < 1, `lag ${lag} s`);
    const active = value(now, 'nodejs_eventloop_active_seconds_total');
    assert.ok(active > 0 && active <= process.uptime(), `event loop active ${active} s of ${process.uptime()} s`);
    assert.equal(value(now, 'nodejs_version_info', { version: process.version }), 1);
    // Counters move between scrapes, read afresh each time.
    const later = await scrape(`${s.url}/metrics`);
    assert.ok(value(later, 'process_cpu_seconds_total') > both);
    assert.ok(value(later, 'nodejs_eventloop_active_seconds_total') > active);
  });

  it('nothing of them runs between scrapes: no GC observer, no event-loop-delay histogram', () => {
    // prom-client's defaults would add these, and with them a timer sampling the loop and a callback on every GC.
    const names = m.map((f) => f.name);
    for (const gone of ['nodejs_gc_duration_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds']) {
      assert.ok(!names.includes(gone), `${gone} is served`);
    }
    for (const f of m.filter((x) => /^(process|nodejs)_/.test(x.name))) {
      assert.ok(PROCESS_FAMILIES.includes(f.name), `${f.name} is not one of the documented process metrics`);
    }
  });
});

describe('METRICS_PORT and METRICS=false', { skip: skipParser }, () => {
  it('METRICS_PORT serves /metrics there and nowhere else', async () => {
    const port = await freePort();
    const s = await startServer({ METRICS_PORT: String(port) });
    try {
      assert.equal((await call(`${s.url}/metrics`)).status, 404);
      await call(`${s.url}/health`);
      const m = await scrape(`http://127.0.0.1:${port}/metrics`);
      assert.equal(count(m, { route: '/health', method: 'GET', status: '200' }), 1);
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
    } finally {
      await s.close();
    }
    await assert.rejects(fetch(`http://127.0.0.1:${port}/metrics`), 'closed with the server');
  });

  it('METRICS=false: no /metrics at all', async () => {
    const s = await startServer({ METRICS: 'false' });
    try {
      assert.equal((await call(`${s.url}/metrics`)).status, 404);
      assert.equal(s.warden.metrics, undefined);
    } finally {
      await s.close();
    }
  });
});

const skip = skipParser ?? (await sharedSkip());

describe('/metrics on PostgreSQL + Redis: the pool and the bus', skip !== undefined ? { skip } : {}, () => {
  it('reports the pool connections and Redis up', async () => {
    const db = await sharedDatabase();
    const s = await startServer({ REDIS_URL, REDIS_CHANNEL: db.channel }, { storage: db.storages[0] });
    try {
      await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'pool', email: 'pool@example.com', password: PASSWORD } });
      const m = await scrape(`${s.url}/metrics`);
      assert.ok(value(m, 'warden_database_pool_connections', { state: 'total' }) >= 1);
      assert.ok(value(m, 'warden_database_pool_connections', { state: 'idle' }) >= 0);
      assert.equal(value(m, 'warden_database_pool_connections', { state: 'waiting' }), 0);
      assert.equal(value(m, 'warden_redis_up'), 1);
      assert.equal(value(m, 'warden_database_up'), 1);
    } finally {
      await s.close();
      await db.close();
    }
  });
});
