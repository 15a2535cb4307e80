// Webhooks end to end: a real receiver on 127.0.0.1 checks every delivery's Standard Webhooks
// signature with its own few lines of node:crypto (written from the specification, not from
// Warden's code) and counts what it accepted, while the test stops it, restarts Warden and runs two
// instances on one database: every event arrives exactly once. Also: filters, the deliveries API,
// and a delivery given up after its day.
import assert from 'node:assert/strict';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { after, describe, it } from 'node:test';
import { EventLog } from '../src/events/log.js';
import { webhookRouter } from '../src/events/webhooks/endpoints.js';
import { retryAfterMs, WebhookWorker } from '../src/events/webhooks/worker.js';
import { createMemoryStorage, type Storage } from '../src/storage/index.js';
import { testClock, type TestClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';

const PASSWORD = 'password-123';
const KEY = randomBytes(32);
const SECRET = `whsec_${KEY.toString('base64')}`;

/**
 * The receiver's check, from the Standard Webhooks specification: the key is the base64 after
 * "whsec_"; the signed content is "<webhook-id>.<webhook-timestamp>.<body>"; webhook-signature
 * holds space-separated "v1,<base64 HMAC-SHA256>" entries; the timestamp must be recent.
 */
function verifySignature(secret: string, headers: IncomingHttpHeaders, body: string, toleranceSeconds = 300): boolean {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (typeof id !== 'string' || typeof timestamp !== 'string' || typeof signatures !== 'string') return false;
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.split(' ').some((entry) => {
    const [version, signature] = entry.split(',');
    const given = Buffer.from(signature ?? '', 'base64');
    return version === 'v1' && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

interface Receiver {
  url: string;
  /** webhook-id -> deliveries answered 2xx. */
  accepted: Map<string, number>;
  /** Every attempt that reached it, 2xx or not. */
  attempts: number;
  badSignatures: number;
  bodies: Map<string, { type: string; data: { id: string; type: string } }>;
  /** Answer the next n deliveries with this status (then 204 again). */
  failNext(n: number, status: number): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** `toleranceSeconds`: how far webhook-timestamp may be from now (a test on a moved clock widens it). */
async function receiver(port = 0, toleranceSeconds = 300): Promise<Receiver> {
  let server: Server | undefined;
  let failing = 0;
  let failStatus = 500;
  const r: Receiver = {
    url: '',
    accepted: new Map(),
    attempts: 0,
    badSignatures: 0,
    bodies: new Map(),
    failNext(n, status) {
      failing = n;
      failStatus = status;
    },
    async start() {
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          r.attempts++;
          if (!verifySignature(SECRET, req.headers, body, toleranceSeconds)) {
            r.badSignatures++;
            res.writeHead(401).end();
            return;
          }
          if (failing > 0) {
            failing--;
            res.writeHead(failStatus).end();
            return;
          }
          const id = req.headers['webhook-id'] as string;
          r.accepted.set(id, (r.accepted.get(id) ?? 0) + 1);
          r.bodies.set(id, JSON.parse(body));
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
      r.url = `http://127.0.0.1:${port}/hook`;
    },
    async stop() {
      server!.closeAllConnections();
      await new Promise((resolve) => server!.close(resolve));
    },
  };
  await r.start();
  return r;
}

/** Polls `check` until it holds (or fails with `what` after the deadline). */
/** A receiver that holds every request until the test answers it: how many are open now, and the most at once. */
async function holdingReceiver() {
  const h = { open: 0, mostOpen: 0, waiting: [] as (() => void)[], url: '', close: () => undefined as void };
  const server = createServer((req, res) => {
    req.resume();
    h.mostOpen = Math.max(h.mostOpen, ++h.open);
    res.on('close', () => h.open--);
    h.waiting.push(() => res.writeHead(204).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  h.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  h.close = () => {
    server.closeAllConnections();
    server.close();
  };
  return h;
}

/** A worker delivering a memory store's events to `url` on `clock` (60 s backoff, a day's age), and the warnings it logs. */
function workerOn(url: string, clock: TestClock) {
  const storage = createMemoryStorage({ clock });
  const log = { warned: [] as string[], warn(_: object, msg: string) { this.warned.push(msg); }, debug() {} };
  const events = new EventLog({ store: storage.events, clock, deliverTo: () => [url] });
  const worker = new WebhookWorker({
    store: storage.deliveries, endpoints: [url], key: KEY, clock, log, pollMs: 20, timeoutMs: 1000, backoffMs: 60_000, maxAgeMs: 86_400_000,
  });
  return { storage, log, events, worker };
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25)); // polling a condition, bounded by the deadline
  }
}

const FAST = { WEBHOOK_SECRET: SECRET, WEBHOOK_RETRY_MS: '50', WEBHOOK_POLL_MS: '100', WEBHOOK_TIMEOUT_MS: '2000' };

/** The ids of every event that should have gone to an endpoint taking every event. */
async function eventIds(storage: Storage): Promise<string[]> {
  return (await storage.events.list({ limit: 10_000 })).map((e) => e.id).sort();
}

let n = 0;
async function traffic(url: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const name = `user${++n}x`;
    const r = await call(`${url}/api/v1/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: PASSWORD } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal((await call(`${url}/api/auth/signin`, { json: { username: name, password: PASSWORD } })).status, 200);
    assert.equal((await call(`${url}/api/auth/signin`, { json: { username: name, password: 'wrong-password' } })).status, 401);
  }
}

function assertExactlyOnce(rx: Receiver, expected: string[]): void {
  const twice = [...rx.accepted].filter(([, c]) => c !== 1);
  assert.deepEqual(twice, [], 'no event was accepted twice');
  assert.deepEqual([...rx.accepted.keys()].sort(), expected, 'every event arrived');
  assert.equal(rx.badSignatures, 0, 'every signature verified');
  for (const [id, body] of rx.bodies) assert.equal(body.data.id, id, 'webhook-id is the event id');
}

const factories = (await storageFactories()).filter((f) => f.name !== 'memory');

for (const f of factories) {
  describe(`webhooks: a real receiver, outages and restarts (${f.name})`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
    const open: Running[] = [];
    const handles: Storage[] = [];
    const receivers: Receiver[] = [];
    let factory: StorageFactory;
    /** A receiver stopped after the suite, the test passing or not (an open one keeps the process alive). */
    const receiverHere = async () => {
      const rx = await receiver();
      receivers.push(rx);
      return rx;
    };
    after(async () => {
      for (const rx of receivers.splice(0)) await rx.stop().catch(() => undefined);
      for (const s of open.splice(0)) await s.close().catch(() => undefined);
      for (const h of handles.splice(0)) await h.close();
      await factory?.cleanup();
    });

    it('every event arrives exactly once, signed, through a receiver outage, a restart and two instances', async () => {
      factory = f;
      const warnings: string[] = [];
      const onWarning = (w: Error) => warnings.push(w.name);
      process.on('warning', onWarning);
      const rx = await receiverHere();
      const env = { ...FAST, WEBHOOK_URLS: rx.url };
      const db = await f.create();
      handles.push(db);
      const start = async () => {
        const h = f.reopen(db)!;
        handles.push(h);
        const s = await startServer(env, { storage: h });
        open.push(s);
        return s;
      };

      // 1. Delivered at once by the instance that wrote the events.
      let a = await start();
      await traffic(a.url, 3);
      await until('the first events arrive', async () => rx.accepted.size === (await eventIds(db)).length);

      // 2. The receiver is down: attempts fail and are retried; nothing is lost.
      await rx.stop();
      await traffic(a.url, 2);
      await until('failed attempts are recorded', async () => {
        const r = await call(`${a.url}/api/v1/webhooks/deliveries?state=pending`, { headers: { authorization: `Bearer ${await adminToken(a)}` } });
        return r.json.data.items.some((d: { attempts: number; last_error: string | null }) => d.attempts >= 2 && d.last_error !== null);
      });

      // 3. Warden restarts while deliveries are pending; the receiver comes back; a few of its answers are 500s.
      await a.close();
      open.splice(open.indexOf(a), 1);
      await rx.start();
      rx.failNext(3, 500);
      a = await start();
      await until('the backlog drains after the restart', async () => rx.accepted.size === (await eventIds(db)).length);

      // 4. Two instances on one database, both writing and both delivering.
      const b = await start();
      await Promise.all([traffic(a.url, 4), traffic(b.url, 4)]);
      await until('both instances\' events arrive', async () => rx.accepted.size === (await eventIds(db)).length);
      // Every outbox row is finished (a delivered row is never claimed again), so nothing more can come.
      await until('the outbox is empty', async () => (await db.deliveries.backlog()) === 0);
      assertExactlyOnce(rx, await eventIds(db));

      // The deliveries API shows the attempts: some took several.
      const list = await call(`${a.url}/api/v1/webhooks/deliveries?limit=100&state=delivered`, { headers: { authorization: `Bearer ${await adminToken(a)}` } });
      assert.equal(list.status, 200);
      const items = list.json.data.items as { attempts: number; state: string; endpoint: string; last_status: number }[];
      assert.ok(items.some((d) => d.attempts >= 2), 'retried deliveries show their attempts');
      assert.ok(items.every((d) => d.state === 'delivered' && d.endpoint === rx.url && d.last_status === 204));
      await rx.stop();
      process.off('warning', onWarning);
      assert.deepEqual(warnings.filter((w) => w === 'MaxListenersExceededWarning'), [], 'a full batch of attempts is no listener leak');
    });

    it('a rolling deploy adding an endpoint: instances without it leave its deliveries to those with it', async () => {
      factory = f;
      const kept = await receiverHere();
      const added = await receiverHere();
      const db = await f.create();
      handles.push(db);
      const start = async (urls: string) => {
        const h = f.reopen(db)!;
        handles.push(h);
        const s = await startServer({ ...FAST, WEBHOOK_URLS: urls }, { storage: h });
        open.push(s);
        return s;
      };
      await start(kept.url); // the instance not yet redeployed, polling every 100 ms
      const updated = await start(`${kept.url} ${added.url}`);
      // The new endpoint refuses its first attempts: their retries come due while the old instance polls.
      added.failNext(6, 500);
      await traffic(updated.url, 2);
      const ids = await eventIds(db);
      await until('every event reaches the added endpoint', async () => added.accepted.size === ids.length);
      await until('the outbox is empty', async () => (await db.deliveries.backlog()) === 0);
      assertExactlyOnce(added, ids);
      const failed = await db.deliveries.list({ limit: 100, state: 'failed' });
      assert.deepEqual(failed.map((d) => d.lastError), [], 'nothing was given up');
    });
  });
}

/** An administrator's token on this instance (the first one created there). */
const admins = new WeakMap<Running, string>();
async function adminToken(s: Running): Promise<string> {
  let t = admins.get(s);
  if (t === undefined) {
    const name = `admin${++n}x`;
    const { createTokenIssuer } = await import('@warden/toolkit');
    const issuer = createTokenIssuer({ keys: s.warden.keys, accessExpiresIn: 600, refreshExpiresIn: 3600 });
    t = issuer.createAccessToken(`00000000-0000-4000-8000-${String(n).padStart(12, '0')}`, { additionalClaims: { roles: ['admin'], name } });
    admins.set(s, t);
  }
  return t;
}

describe('webhooks: filters, payload and what is never sent', () => {
  it('an endpoint with a filter gets only those events; the payload is {type, timestamp, data}', async () => {
    const all = await receiver();
    const signins = await receiver();
    const s = await startServer({ ...FAST, WEBHOOK_URLS: `${all.url} ${signins.url}|signin.*,user.deleted` });
    try {
      await traffic(s.url, 2);
      const events = await s.warden.storage.events.list({ limit: 100 });
      const expectedSignins = events.filter((e) => e.type.startsWith('signin.')).map((e) => e.id).sort();
      await until('both receivers got their events', () => all.accepted.size === events.length && signins.accepted.size === expectedSignins.length);
      assertExactlyOnce(signins, expectedSignins);
      const body = [...all.bodies.values()].find((b) => b.type === 'user.created')!;
      assert.deepEqual(Object.keys(body).sort(), ['data', 'timestamp', 'type']);
      assert.equal(body.data.type, 'user.created');
      assert.ok(!JSON.stringify([...all.bodies.values()]).includes(PASSWORD));
    } finally {
      await s.close();
      await all.stop();
      await signins.stop();
    }
  });

  it('WEBHOOK_URLS is checked at start: URLs, filters, and the secret it needs', async () => {
    const { loadConfig } = await import('../src/config.js');
    assert.throws(() => loadConfig({ WEBHOOK_URLS: 'http://x.test/h' }), /WEBHOOK_URLS needs WEBHOOK_SECRET/);
    assert.throws(() => loadConfig({ WEBHOOK_URLS: 'ftp://x.test/h', WEBHOOK_SECRET: SECRET }), /WEBHOOK_URLS entry 1 must start with an http/);
    assert.throws(() => loadConfig({ WEBHOOK_URLS: 'http://x.test/h|sign.in', WEBHOOK_SECRET: SECRET }), /"sign.in" matches no event type/);
    assert.throws(() => loadConfig({ WEBHOOK_URLS: 'http://x.test/h', WEBHOOK_SECRET: 'whsec_c2hvcnQ=' }), /WEBHOOK_SECRET must decode to 24 to 64 bytes/);
    assert.throws(() => loadConfig({ WEBHOOK_URLS: 'http://x.test/h', WEBHOOK_SECRET: 'not base64!' }), /WEBHOOK_SECRET must be base64/);
    const c = loadConfig({ WEBHOOK_URLS: ' http://a.test/h  https://b.test/x?t=1|user.*,signout ', WEBHOOK_SECRET: SECRET });
    assert.deepEqual(c.webhooks.endpoints, [{ url: 'http://a.test/h', filter: null }, { url: 'https://b.test/x?t=1', filter: ['user.*', 'signout'] }]);
    assert.deepEqual(c.webhooks.key, KEY);
  });

  it('a receiver that never answers does not hold up a shutdown: the attempt is cut and put back, due at once', async () => {
    let reached = 0;
    const hanging = createServer(() => void reached++); // reads the request, never answers
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const storage = createMemoryStorage();
    const s = await startServer({ ...FAST, WEBHOOK_TIMEOUT_MS: '60000', SHUTDOWN_GRACE_SECONDS: '1', WEBHOOK_URLS: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/h` }, { storage });
    try {
      await traffic(s.url, 1);
      await until('the receiver is reached', () => reached > 0);
    } finally {
      await s.close();
      hanging.closeAllConnections();
      hanging.close();
    }
    const rows = await storage.deliveries.list({ limit: 100 });
    const cut = rows.filter((d) => d.lastError === 'cut short by a shutdown');
    assert.ok(cut.length >= 1, JSON.stringify(rows));
    assert.ok(cut.every((d) => d.state === 'pending' && d.nextAttemptAt <= Date.now()));
    await storage.close();
  });

  it('a receiver that accepts and never answers times out, garbage collections or not, and the other endpoint gets every event', async () => {
    // On Node 20 a fetch stopped following AbortSignal.any(AbortSignal.timeout(…)) after a GC (nodejs/node#55428).
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const held: Socket[] = [];
    const silent = createNetServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const dead = `http://127.0.0.1:${(silent.address() as AddressInfo).port}/hook`;
    const rx = await receiver(0, Number.POSITIVE_INFINITY);
    const clock = testClock(Date.UTC(2030, 0, 1));
    const storage = createMemoryStorage({ clock });
    const log = { warn() {}, debug() {} };
    const events = new EventLog({ store: storage.events, clock, deliverTo: () => [dead, rx.url] });
    const worker = new WebhookWorker({
      store: storage.deliveries, endpoints: [dead, rx.url], key: KEY, clock, log, pollMs: 20, timeoutMs: 300, backoffMs: 60_000, maxAgeMs: 86_400_000, batch: 2,
    });
    const collecting = setInterval(gc, 20);
    try {
      for (let i = 0; i < 6; i++) await events.append(events.make('user.deleted', { userId: `u${i}` }, {}));
      worker.start();
      // Two slots: the silent endpoint holds one until each attempt ends at its timeout.
      await until('every event delivered to the answering endpoint', () => rx.attempts >= 6, 15_000);
      const toDead = async () => (await storage.deliveries.list({ limit: 20 })).filter((d) => d.endpoint === dead);
      // The last attempts to the silent one may still be running; each must end, timed out, within its 300 ms.
      await until('every attempt to the silent endpoint recorded', async () => (await toDead()).every((d) => d.lastError !== null), 5000);
      const rows = await toDead();
      assert.equal(rows.length, 6);
      assert.ok(rows.every((d) => d.attempts === 1 && d.lastError === 'timed out' && d.state === 'pending'), JSON.stringify(rows.map((d) => [d.attempts, d.lastError])));
    } finally {
      clearInterval(collecting);
      await worker.stop(100);
      for (const s of held) s.destroy();
      silent.close();
      await rx.stop();
    }
  });

  it('a slow receiver holds only its own slots: the other endpoint gets every event while it has not answered once', async () => {
    // Before, a pass awaited its whole batch: a receiver taking seconds held every endpoint's
    // deliveries behind it, and under steady traffic the outbox grew without bound (the soak).
    const slow = await holdingReceiver();
    const rx = await receiver();
    const storage = createMemoryStorage();
    const log = { warn() {}, debug() {} };
    const events = new EventLog({ store: storage.events, clock: Date.now, deliverTo: () => [slow.url, rx.url] });
    const worker = new WebhookWorker({
      store: storage.deliveries, endpoints: [slow.url, rx.url], key: KEY, clock: Date.now, log, pollMs: 20, timeoutMs: 120_000, backoffMs: 60_000, batch: 4,
    });
    try {
      for (let i = 0; i < 40; i++) await events.append(events.make('user.deleted', { userId: `u${i}` }, {}));
      worker.start();
      await until('every event delivered to the answering endpoint', () => rx.accepted.size === 40);
      assert.equal(slow.waiting.length, slow.open, 'the slow receiver has answered nothing yet');
      assert.ok(slow.mostOpen <= 2, `the slow endpoint held ${slow.mostOpen} of the 4 slots (at most half)`);
      assert.ok(worker.inFlightCount <= 4);
      for (const answer of slow.waiting.splice(0)) answer();
    } finally {
      await worker.stop(100);
      slow.close();
      await rx.stop();
      await storage.close();
    }
  });

  it('a lone endpoint uses every slot: its slow receiver gets as many attempts at once as the batch', async () => {
    const slow = await holdingReceiver();
    const storage = createMemoryStorage();
    const events = new EventLog({ store: storage.events, clock: Date.now, deliverTo: () => [slow.url] });
    const worker = new WebhookWorker({
      store: storage.deliveries, endpoints: [slow.url], key: KEY, clock: Date.now, log: { warn() {}, debug() {} }, pollMs: 20, timeoutMs: 120_000, backoffMs: 60_000, batch: 4,
    });
    try {
      for (let i = 0; i < 8; i++) await events.append(events.make('user.deleted', { userId: `u${i}` }, {}));
      worker.start();
      await until('4 attempts at once', () => slow.open === 4);
      assert.equal(worker.inFlightCount, 4);
      for (const answer of slow.waiting.splice(0)) answer();
      await until('the other 4 sent as slots free', () => slow.waiting.length === 4);
      assert.equal(slow.mostOpen, 4);
      for (const answer of slow.waiting.splice(0)) answer();
    } finally {
      await worker.stop(100);
      slow.close();
      await storage.close();
    }
  });

  it('an endpoint URL with user:password@ is sent them as Basic authentication, and they reach no log, error or API', async () => {
    const seen: (string | undefined)[] = [];
    let refuse = 1;
    const basic = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(req.headers.authorization);
        const ok = verifySignature(SECRET, req.headers, body) && req.headers.authorization === `Basic ${Buffer.from('hook user:p@ss:word').toString('base64')}`;
        res.writeHead(!ok ? 401 : refuse-- > 0 ? 500 : 204).end();
      });
    });
    await new Promise<void>((resolve) => basic.listen(0, '127.0.0.1', resolve));
    const url = `http://hook%20user:p%40ss%3Aword@127.0.0.1:${(basic.address() as AddressInfo).port}/hook?k=1`;
    const storage = createMemoryStorage();
    const logged: unknown[] = [];
    const log = { warn: (o: object, msg: string) => void logged.push(o, msg), debug: (o: object, msg: string) => void logged.push(o, msg) };
    const events = new EventLog({ store: storage.events, clock: Date.now, deliverTo: () => [url] });
    const worker = new WebhookWorker({ store: storage.deliveries, endpoints: [url], key: KEY, clock: Date.now, log, pollMs: 20, timeoutMs: 2000, backoffMs: 10 });
    try {
      await events.append(events.make('user.deleted', { userId: 'u1' }, {}));
      worker.start();
      await until('delivered', async () => (await storage.deliveries.list({ limit: 1 }))[0]?.state === 'delivered');
      const [d] = await storage.deliveries.list({ limit: 1 });
      assert.equal(d!.attempts, 2, 'the receiver\'s 500, then its 204');
      assert.equal(seen.length, 2);
      const shown = JSON.stringify(logged) + JSON.stringify((await storage.deliveries.list({ limit: 10 })).map((r) => r.lastError));
      for (const secret of ['p@ss', 'p%40ss', Buffer.from('hook user:p@ss:word').toString('base64')]) assert.ok(!shown.includes(secret), `${secret} shown`);
      assert.ok(JSON.stringify(logged).includes(`"endpoint":"http://127.0.0.1:${(basic.address() as AddressInfo).port}/hook"`));
    } finally {
      await worker.stop();
      basic.closeAllConnections();
      await new Promise((resolve) => basic.close(resolve));
    }
  });

  it('an endpoint\'s password changed in WEBHOOK_URLS: its pending deliveries go with the new one; rows hold none', async () => {
    const seen: (string | undefined)[] = [];
    const basic = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        seen.push(req.headers.authorization);
        res.writeHead(req.headers.authorization === `Basic ${Buffer.from('hook:new-pw').toString('base64')}` ? 204 : 401).end();
      });
    });
    await new Promise<void>((resolve) => basic.listen(0, '127.0.0.1', resolve));
    const at = `127.0.0.1:${(basic.address() as AddressInfo).port}/hook`;
    const [before, after] = [`http://hook:old-pw@${at}`, `http://hook:new-pw@${at}`];
    const storage = createMemoryStorage();
    const log = { warn: () => undefined, debug: () => undefined };
    const worker = (url: string) => new WebhookWorker({ store: storage.deliveries, endpoints: [url], key: KEY, clock: Date.now, log, pollMs: 20, timeoutMs: 2000, backoffMs: 10, maxBackoffMs: 20 });
    const events = new EventLog({ store: storage.events, clock: Date.now, deliverTo: webhookRouter([{ url: before, filter: null }]) });
    const first = worker(before);
    try {
      await events.append(events.make('user.deleted', { userId: 'u1' }, {}));
      await events.append(events.make('user.deleted', { userId: 'u2' }, {}));
      first.start();
      await until('refused with the old password', () => seen.length >= 2);
      await first.stop();
      const pending = await storage.deliveries.list({ limit: 10 });
      assert.deepEqual(pending.map((d) => d.state), ['pending', 'pending']);
      // The rows name the endpoint without its password (a database dump holds none).
      assert.deepEqual(pending.map((d) => d.endpoint), [`http://${at}`, `http://${at}`]);
      // The configuration now names the new password (a restart): both rows go, with it. Before,
      // they named the old one, matched no configured endpoint, and were given up a day later.
      const second = worker(after);
      second.start();
      try {
        await until('both delivered', async () => (await storage.deliveries.list({ limit: 10 })).every((d) => d.state === 'delivered'));
        assert.equal(seen.at(-1), `Basic ${Buffer.from('hook:new-pw').toString('base64')}`);
      } finally {
        await second.stop();
      }
    } finally {
      await first.stop();
      basic.closeAllConnections();
      await new Promise((resolve) => basic.close(resolve));
    }
  });

  it('a failure an older Warden recorded with the endpoint\'s password or query in it is shown without them', async () => {
    const storage = createMemoryStorage();
    // Values no random id can hold (ids are hex: a query of "abc" was found in one, 1 run in about 70).
    const endpoint = 'https://hook:s3cret-pw@hooks.example/in?token=query-secret-xyz';
    const events = new EventLog({ store: storage.events, clock: Date.now, deliverTo: () => [endpoint] });
    await events.append(events.make('user.deleted', { userId: 'u1' }, {}));
    const [claimed] = await storage.deliveries.claim(Date.now(), 1, 60_000, 'old');
    const error = `Request cannot be constructed from a URL that includes credentials: ${endpoint}`;
    assert.ok(await storage.deliveries.finish(claimed!.delivery.id, 'old', { state: 'failed', at: Date.now(), status: null, error }));
    const s = await startServer({}, { storage });
    try {
      const r = await call(`${s.url}/api/v1/webhooks/deliveries`, { headers: { authorization: `Bearer ${await adminToken(s)}` } });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.data.items[0].last_error, 'Request cannot be constructed from a URL that includes credentials: https://hooks.example/in');
      assert.ok(!r.text.includes('s3cret-pw') && !r.text.includes('query-secret-xyz'), r.text);
    } finally {
      await s.close();
    }
  });

  it('a 410 Gone is not retried: that delivery fails at once, the next event is still sent', async () => {
    const rx = await receiver(0, Number.POSITIVE_INFINITY); // the worker signs with the test's clock, moved a day
    rx.failNext(1, 410);
    const clock = testClock(Date.now());
    const { storage, log, events, worker } = workerOn(rx.url, clock);
    try {
      await events.append(events.make('user.deleted', { userId: 'u1' }, {}));
      worker.start();
      await until('the 410 is recorded', async () => (await storage.deliveries.list({ limit: 1 }))[0]!.state !== 'pending', 5000);
      const [gone] = await storage.deliveries.list({ limit: 1 });
      assert.deepEqual([gone!.state, gone!.attempts, gone!.lastStatus, gone!.lastError], ['failed', 1, 410, 'HTTP 410']);
      assert.ok(log.warned.some((m) => m.startsWith('webhook endpoint answered 410 Gone')), log.warned.join('; '));
      // Nothing left to retry, whenever the worker looks; a later event is attempted as any other.
      clock.advance(86_400_000);
      await events.append(events.make('user.deleted', { userId: 'u2' }, {}));
      worker.nudge();
      await until('the next event is delivered', () => rx.accepted.size === 1, 5000);
      assert.equal(rx.attempts, 2);
      assert.equal(await storage.deliveries.backlog(), 0);
    } finally {
      await worker.stop();
      await rx.stop();
    }
  });

  it('a receiver\'s Retry-After is waited out (seconds or a date, up to the longest wait); without one the backoff decides', async () => {
    const clock = testClock(Date.UTC(2030, 0, 1));
    const answers = [() => '120', () => new Date(clock() + 600_000).toUTCString(), () => '86400', () => null];
    const server = createServer((req, res) => {
      const after = answers.shift()?.();
      req.resume().on('end', () => res.writeHead(after === null ? 503 : 429, after ? { 'retry-after': after } : {}).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    const { storage, events, worker } = workerOn(url, clock);
    try {
      await events.append(events.make('user.deleted', { userId: 'u1' }, {}));
      worker.start();
      // Each attempt's wait: asked for 120 s (over the 45-75 s backoff), for a date 10 minutes on,
      // for a day (capped at the hour between attempts), and nothing (the backoff: 4 x 45-75 s).
      const waits: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        // Recorded: the attempt's answer, and a retry time other than the claim's lease.
        await until(`attempt ${attempt} is recorded`, async () => {
          const row = (await storage.deliveries.list({ limit: 1 }))[0]!;
          return row.attempts === attempt && row.lastStatus !== null && row.nextAttemptAt !== clock() + 1000 + 60_000;
        }, 5000);
        const row = (await storage.deliveries.list({ limit: 1 }))[0]!;
        waits.push(row.nextAttemptAt - clock());
        clock.advance(row.nextAttemptAt - clock());
        worker.nudge();
      }
      assert.equal(waits[0], 120_000);
      assert.equal(waits[1], 600_000);
      assert.equal(waits[2], 3_600_000);
      assert.ok(waits[3]! >= 8 * 45_000 && waits[3]! <= 8 * 75_000, `no Retry-After: ${waits[3]}`);
    } finally {
      await worker.stop();
      await new Promise((r) => server.close(r));
    }
  });

  it('Retry-After is read as delay-seconds or an HTTP-date; anything else asks for nothing', () => {
    const now = Date.UTC(2030, 0, 1);
    assert.equal(retryAfterMs('30', now), 30_000);
    assert.equal(retryAfterMs(' 0 ', now), 0);
    assert.equal(retryAfterMs('Tue, 01 Jan 2030 00:05:00 GMT', now), 300_000);
    assert.equal(retryAfterMs('Mon, 31 Dec 2029 00:00:00 GMT', now), 0, 'a date passed');
    for (const bad of [null, '', '-5', '1.5', '2030-01-02', 'soon', '99999999999']) assert.equal(retryAfterMs(bad, now), 0, String(bad));
  });

  it('a delivery the receiver keeps refusing is retried with growing waits, then given up after its day', async () => {
    const rx = await receiver(0, Number.POSITIVE_INFINITY); // the worker signs with the test's clock, in 2030
    rx.failNext(1_000_000, 503);
    const clock = testClock(Date.UTC(2030, 0, 1));
    const { storage, log, events, worker } = workerOn(rx.url, clock);
    try {
      await events.append(events.make('user.deleted', { userId: 'u1' }, {}));
      worker.start();
      const waits: number[] = [];
      let last = clock();
      for (let attempt = 1; ; attempt++) {
        await until(`attempt ${attempt}`, () => rx.attempts >= attempt, 5000);
        const [d] = await storage.deliveries.list({ limit: 1 });
        // Recorded: the attempt's answer, and a retry time past the claim's lease (or given up).
        await until(`attempt ${attempt} is recorded`, async () => {
          const row = (await storage.deliveries.list({ limit: 1 }))[0]!;
          return row.attempts === attempt && row.lastStatus === 503 && (row.state === 'failed' || row.nextAttemptAt !== clock() + 1000 + 60_000);
        }, 5000);
        const row = (await storage.deliveries.list({ limit: 1 }))[0]!;
        if (row.state === 'failed') {
          assert.equal(row.lastError, 'HTTP 503');
          break;
        }
        assert.equal(d!.state, 'pending');
        waits.push(row.nextAttemptAt - last);
        clock.advance(row.nextAttemptAt - clock());
        last = row.nextAttemptAt;
        worker.nudge();
        assert.ok(attempt < 60, 'gives up within a day of attempts');
      }
      // Exponential (±25% jitter), capped at an hour, and the last attempt at the day's end.
      assert.ok(waits[0]! >= 45_000 && waits[0]! <= 75_000, `first wait ${waits[0]}`);
      assert.ok(waits[3]! >= 8 * 45_000 && waits[3]! <= 8 * 75_000, `fourth wait ${waits[3]}`);
      assert.ok(waits.every((w) => w <= 3_600_000 * 1.25));
      assert.equal(clock() - Date.UTC(2030, 0, 1), 86_400_000, 'the last attempt came at the end of the day');
      assert.ok(log.warned.includes('webhook delivery given up'));
      assert.equal(await storage.deliveries.backlog(), 0);
    } finally {
      await worker.stop();
      await rx.stop();
    }
  });
});
