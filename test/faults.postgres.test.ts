// PostgreSQL faults, through a TCP proxy between Warden and the shared server: partitioned (sockets
// open, nothing answers; connections that lived through it stay silent after the heal) and stopped
// (connections reset and refused). Requests that need the database answer 503 ERR_UNAVAILABLE with
// Retry-After, /ready answers, one log line per transition, recovery without a restart, and SIGTERM
// ends the process while the database is partitioned. No answer waited on the database: each came
// while the proxy passed no byte (or refused every connection), and a refusal of PostgreSQL's own is
// told apart from a timeout by what was logged. How long each took is reported (t.diagnostic), never
// asserted: on a loaded machine a sign-in's password check alone can take a second (the README's
// figures are measured on a quiet one); the suite's timeout turns a hang into a failure.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { hashQueue } from '../src/accounts/argon2-hasher.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { call, startServer, type Running } from './helpers/server.js';
import { postgresUrlOrSkip } from './helpers/storage.js';

const { url: baseUrl, skip } = await postgresUrlOrSkip();

/** Polls `probe` until it returns a value, failing after `ms`. */
async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The request's answer and how long it took. */
async function timed<T>(run: () => Promise<T>): Promise<{ r: T; ms: number }> {
  const t0 = performance.now();
  const r = await run();
  return { r, ms: performance.now() - t0 };
}

/** Asserts the outage answer: 503, ERR_UNAVAILABLE, Retry-After, nothing of a stack in the body. */
function assertUnavailable(r: Awaited<ReturnType<typeof call>>, what: string): void {
  assert.equal(r.status, 503, `${what}: ${r.text}`);
  assert.ok(Number(r.headers.get('retry-after')) > 0, `${what}: Retry-After`);
  assert.equal(r.json.code, 'ERR_UNAVAILABLE', what);
  assert.doesNotMatch(r.text, /at .*\.(ts|js):\d+|ECONN|Error:/, `${what}: no stack or driver detail in the body`);
}

describe('PostgreSQL faults', { ...(skip !== undefined ? { skip } : {}), timeout: 600_000 }, () => {
  const schemas: string[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    const c = new pg.Client({ connectionString: baseUrl });
    await c.connect();
    try {
      for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    } finally {
      await c.end();
    }
  });

  /** A proxy to the shared server and a DATABASE_URL through it, on a fresh schema of its own. */
  async function database(): Promise<{ proxy: FaultProxy; url: string }> {
    const schema = `warden_faults_${process.pid}_${randomBytes(4).toString('hex')}`;
    const c = new pg.Client({ connectionString: baseUrl });
    await c.connect();
    await c.query(`CREATE SCHEMA ${schema}`);
    await c.end();
    schemas.push(schema);
    const target = new URL(baseUrl!);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    cleanups.push(() => proxy.close());
    target.host = proxy.address;
    target.search = `?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    return { proxy, url: target.toString() };
  }

  async function server(env: Record<string, string>): Promise<{ s: Running; lines: string[] }> {
    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const s = await startServer({ LOG_LEVEL: 'info', ...env }, { logStream });
    cleanups.push(() => s.close());
    return { s, lines };
  }

  /** A user signed in: its access and refresh tokens. */
  async function signedIn(s: Running, name: string): Promise<{ access: string; refresh: string }> {
    const password = 'password-123';
    assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password } })).status, 201);
    const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: name, password } });
    assert.equal(login.status, 200);
    return { access: login.json.data.access_token, refresh: login.json.data.refresh_token };
  }

  const requests = (s: Running, tokens: { access: string; refresh: string }, name: string) => ({
    signin: () => call(`${s.url}/api/auth/signin`, { json: { username: name, password: 'password-123' } }),
    refresh: () => call(`${s.url}/api/v1/auth/refresh?refresh_token=${tokens.refresh}`, { method: 'POST' }),
    me: () => call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${tokens.access}` } }),
  });

  const count = (lines: string[], pattern: RegExp) => lines.filter((l) => pattern.test(l)).length;
  /**
   * The database's transitions as logged since a fault, once served again: the outage said once (none
   * per failed request) and its end once. On a loaded machine a sound connection can still miss the
   * default connect timeout after the heal and be said unreachable once more, its return to come.
   */
  function assertToldEachWay(since: string[]): void {
    const down = count(since, /database unreachable/);
    const up = count(since, /database back/);
    assert.ok(down >= 1 && up >= 1 && (down === up || down === up + 1), `${down} "unreachable", ${up} "back":\n${since.join('')}`);
  }
  /** Until /ready answers 200: the database is answering (a loaded machine's missed timeout, if any, is over) before a fault. */
  const served = (s: Running) => until('/ready 200 before the fault', 60_000, async () => ((await call(`${s.url}/ready`)).status === 200 ? true : undefined));

  it('partitioned, default timeouts: 503 while nothing answers, /ready 503, one log line each way, recovery without restart', async (t) => {
    const { proxy, url } = await database();
    const { s, lines } = await server({ DATABASE_URL: url });
    const tokens = await signedIn(s, 'partitioned');
    const r = requests(s, tokens, 'partitioned');
    await served(s);
    const from = lines.length;

    proxy.blackhole();
    // Sign-in, refresh and /me at once, each on a connection that now hangs for good.
    const answers = await Promise.all([timed(r.signin), timed(r.refresh), timed(r.me)]);
    for (const [i, a] of answers.entries()) {
      assertUnavailable(a.r, ['signin', 'refresh', 'me'][i]!);
    }
    const ready = await timed(() => call(`${s.url}/ready`));
    assert.equal(ready.r.status, 503);
    // Forward auth needs no database: tokens are checked against the in-memory revocation index.
    const verify = await timed(() => call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${tokens.access}` } }));
    assert.equal(verify.r.status, 200);
    const again = await timed(r.signin);
    assertUnavailable(again.r, 'signin again');
    // A flood of sign-ups: each finds the database gone before it queues for a password hash.
    let hashed = 0;
    const onHash = () => void hashed++;
    hashQueue.waited.add(onHash);
    const signups = await Promise.all(Array.from({ length: 100 }, (_, i) => timed(() =>
      call(`${s.url}/api/auth/signup`, { json: { username: `flood${i}`, email: `flood${i}@example.com`, password: 'password-123' } }))));
    hashQueue.waited.delete(onHash);
    for (const a of signups) assertUnavailable(a.r, 'signup');
    assert.equal(hashed, 0, 'no password was hashed for a sign-up the database could not take');
    const slowest = Math.max(...signups.map((a) => a.ms));
    assert.equal(count(lines.slice(from), /database unreachable/), 1, 'one line when the database became unreachable, none per request');
    assert.equal(count(lines.slice(from), /database back/), 0);

    // Healed: the old connections stay silent; new ones work. No restart.
    await proxy.heal();
    const recovered = await timed(() => until('sign-in after the heal', 10_000, async () => ((await r.signin()).status === 200 ? true : undefined)));
    const readyAfter = await timed(() => call(`${s.url}/ready`));
    assert.equal(readyAfter.r.status, 200);
    assert.equal((await r.me()).status, 200);

    assertToldEachWay(lines.slice(from));
    assert.equal(count(lines, /unhandled error/), 0, 'no request logged an error of its own');
    t.diagnostic(`partitioned: 503 in ${answers.map((a) => Math.round(a.ms)).join('/')} ms (signin/refresh/me), then ${Math.round(again.ms)} ms, 100 sign-ups within ${Math.round(slowest)} ms; ` +
      `/ready ${Math.round(ready.ms)} ms, forward auth ${Math.round(verify.ms)} ms; recovered ${Math.round(recovered.ms)} ms after the heal, then /ready ${Math.round(readyAfter.ms)} ms`);
  });

  it('a partition no request noticed: the silent connections it left are dropped, not reused for ever', async (t) => {
    const { proxy, url } = await database();
    const { s } = await server({ DATABASE_URL: url, DATABASE_CONNECT_TIMEOUT_MS: '500', DATABASE_QUERY_TIMEOUT_MS: '500' });
    const tokens = await signedIn(s, 'quiet');
    const r = requests(s, tokens, 'quiet');
    proxy.blackhole();
    await proxy.heal();
    // The pool's idle connections lived through it and stay silent: at most one request meets them.
    const statuses: number[] = [];
    const ms = await timed(() => until('served again', 5000, async () => {
      const a = await r.me();
      statuses.push(a.status);
      if (a.status !== 200) assertUnavailable(a, 'me');
      return a.status === 200 ? true : undefined;
    }));
    assert.ok(statuses.length <= 2, `statuses ${statuses.join(',')}`);
    t.diagnostic(`served ${Math.round(ms.ms)} ms after the heal (${statuses.join(', ')})`);
  });

  it('stopped: 503 with Retry-After, not 500; one log line each way; back without restart', async (t) => {
    const { proxy, url } = await database();
    // A stopped server refuses connections at once, so the timeouts play no part in the 503s; they are
    // kept well above a loaded machine's slowest healthy query, which would otherwise log a transition.
    // The webhook worker polls its outbox throughout: the outage is still said once.
    const { s, lines } = await server({
      DATABASE_URL: url, DATABASE_CONNECT_TIMEOUT_MS: '3000', DATABASE_QUERY_TIMEOUT_MS: '3000',
      WEBHOOK_URLS: 'http://127.0.0.1:9/never', WEBHOOK_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`, WEBHOOK_POLL_MS: '50',
    });
    const tokens = await signedIn(s, 'stopped');
    const r = requests(s, tokens, 'stopped');
    let polledInOutage = 0;
    const deliveries = s.warden.storage.deliveries;
    const claim = deliveries.claim.bind(deliveries);
    deliveries.claim = async (...a) => claim(...a).catch((e: unknown) => {
      polledInOutage++;
      throw e;
    });

    await proxy.down();
    await until('the webhook worker to poll twice in the outage', 5000, async () => (polledInOutage >= 2 ? true : undefined));
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (const [name, run] of Object.entries(r)) {
        const a = await timed(run);
        assertUnavailable(a.r, name);
        times.push(a.ms);
      }
    }
    const ready = await timed(() => call(`${s.url}/ready`));
    assert.equal(ready.r.status, 503);
    assert.deepEqual(ready.r.json, { status: 'unavailable', storage: 'postgres' });

    await proxy.heal();
    await until('sign-in after the restart', 5000, async () => ((await r.signin()).status === 200 ? true : undefined));
    assert.equal((await call(`${s.url}/ready`)).status, 200);

    assert.equal(count(lines, /database unreachable/), 1, `one line for ${times.length} failed requests`);
    assert.equal(count(lines, /database back/), 1);
    assert.equal(count(lines, /"level":50/), 1, 'the one error line is the transition');
    assert.equal(count(lines, /webhook outbox unavailable/), 0, 'the worker\'s polls said nothing of the outage');
    t.diagnostic(`stopped: 503 in ${Math.round(Math.min(...times))}-${Math.round(Math.max(...times))} ms; /ready ${Math.round(ready.ms)} ms`);
  });

  it('a connection reset or terminated (57P01) in the middle of a transaction: 503, and the process lives on', async () => {
    const { proxy, url } = await database();
    const schema = decodeURIComponent(new URL(url).searchParams.get('options')!).split('=')[1]!;
    const { s } = await server({ DATABASE_URL: url, DATABASE_QUERY_TIMEOUT_MS: '20000' });
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    cleanups.push(() => admin.end());
    /** Starts a sign-up and returns once its transaction waits on the lock admin holds on users. */
    const blockedSignUp = async (name: string) => {
      await admin.query('BEGIN');
      // SHARE: reads go on (sign-up's own check that the names are free), the INSERT waits.
      await admin.query(`LOCK TABLE ${schema}.users IN SHARE MODE`);
      const answer = call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } });
      const pid = await until('a sign-up waiting inside its transaction', 10_000, async () => {
        // Inside admin's transaction pg_stat_activity is a snapshot taken once: take a new one each time.
        await admin.query('SELECT pg_stat_clear_snapshot()');
        const r = await admin.query(`SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND state = 'active' AND query ILIKE '%INSERT INTO users%'`);
        return r.rows[0]?.pid as number | undefined;
      });
      return { answer, pid };
    };
    // A server restart or failover: the backend is terminated (57P01) under the transaction.
    const terminated = await blockedSignUp('terminated');
    await admin.query('SELECT pg_terminate_backend($1)', [terminated.pid]);
    await admin.query('ROLLBACK');
    assertUnavailable(await terminated.answer, 'sign-up on a terminated connection');
    // The connection reset under it (the network, a proxy restarting).
    const reset = await blockedSignUp('reset');
    await proxy.down();
    assertUnavailable(await reset.answer, 'sign-up on a reset connection');
    await admin.query('ROLLBACK');
    await proxy.heal();
    // Still serving (an unhandled 'error' from the client would have ended this process), and neither sign-up happened.
    await until('sign-up after the faults', 5000, async () => ((await call(`${s.url}/api/auth/signup`, {
      json: { username: 'after', email: 'after@example.com', password: 'password-123' },
    })).status === 201 ? true : undefined));
    for (const name of ['terminated', 'reset']) assert.equal(await s.warden.storage.users.findByLogin(name), null, name);
  });

  it('a server that takes no writes (a standby after a failover): writes answer 503 (PostgreSQL\'s refusal, not a timeout), reads go on; writable again: served', async () => {
    const { url } = await database();
    // Warden connects as a role of its own, whose sessions can then be made read-only, as on a hot standby.
    const role = `warden_ro_${randomBytes(4).toString('hex')}`;
    const schema = new URLSearchParams(new URL(url).search).get('options')!.split('=')[1]!;
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    cleanups.push(async () => {
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
      await admin.query(`DROP OWNED BY ${role} CASCADE`);
      await admin.query(`DROP ROLE ${role}`);
      await admin.end();
    });
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT ALL ON SCHEMA ${schema} TO ${role}`);
    const target = new URL(url);
    target.username = role;
    const { s, lines } = await server({ DATABASE_URL: target.toString() });
    const tokens = await signedIn(s, 'readonly');
    const r = requests(s, tokens, 'readonly');
    /** Every new session of the role read-only (or not), and its current ones ended: the pool reconnects. */
    const readOnly = async (on: boolean) => {
      await admin.query(`ALTER ROLE ${role} ${on ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
    };

    await readOnly(true);
    // The first request may meet a terminated connection (503 as well); then PostgreSQL refuses each write with 25006.
    await r.me();
    assert.equal((await r.me()).status, 200);
    const from = lines.length;
    // Each refusal is PostgreSQL's own (25006, below), not a timeout: a timeout would log "database unreachable".
    for (const [name, run] of [['signin', r.signin], ['refresh', r.refresh], ['signin again', r.signin]] as const) {
      assertUnavailable(await run(), name);
      assert.equal((await r.me()).status, 200, 'reads go on');
    }
    assert.equal((await call(`${s.url}/ready`)).status, 200, 'reachable: ready');
    assert.equal(count(lines, /unhandled error/), 0, 'no request logged an error of its own');
    // Refused writes between served reads are no outage: one warning for the three, no "unreachable"/"back" pairs.
    const since = lines.slice(from);
    assert.equal(count(since, /database unreachable|database back/), 0, since.join(''));
    assert.equal(count(since, /refuses statements for want of a resource/), 1, since.join(''));
    assert.match(since.find((l) => /want of a resource/.test(l))!, /"level":40.*"reason":"database refused for want of a resource: 25006 /);

    await readOnly(false);
    await until('a sign-in once writable again', 10_000, async () => ((await r.signin()).status === 200 ? true : undefined));
    // The refused refresh changed nothing: the token it was given is still the current one.
    assert.equal((await r.refresh()).status, 200);
  });

  it('the database lost between a sign-in and its new-device notice: the sign-in is answered, the outage told by its own lines alone (no stack trace)', async () => {
    const { url } = await database();
    const schema = decodeURIComponent(new URL(url).searchParams.get('options')!).split('=')[1]!;
    const { s, lines } = await server({ DATABASE_URL: url });
    await signedIn(s, 'noticed'); // the first device, remembered
    // The device's statement ends its own connection (57P01), as a restart or failover would then.
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    await admin.query(`CREATE FUNCTION ${schema}.cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$`);
    await admin.query(`CREATE TRIGGER cut BEFORE UPDATE ON ${schema}.sign_in_devices FOR EACH STATEMENT EXECUTE FUNCTION ${schema}.cut()`);
    await admin.end();
    const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'noticed', password: 'password-123' }, headers: { 'user-agent': 'another device' } });
    assert.equal(r.status, 200, r.text);
    assert.equal(count(lines, /"msg":"database unreachable/), 1, 'the outage was met and announced');
    // Before, the sign-in also logged `new sign-in notice could not be queued` with the whole stack;
    // now one short line says which mail was lost (the sign-in stood), with no stack.
    assert.deepEqual(lines.filter((l) => /"stack"|could not be queued/.test(l)), []);
    assert.equal(count(lines, /"msg":"new sign-in notice not sent: the database went away/), 1, lines.join(''));
  });

  it('the database lost while the mail outbox holds a claimed mail: the outage is told by its own lines alone', async () => {
    const { url } = await database();
    const schema = decodeURIComponent(new URL(url).searchParams.get('options')!).split('=')[1]!;
    // The renewal of a claim (the first step of a claimed mail's delivery) ends its own connection
    // (57P01), as a restart or failover would at that moment; claiming goes on working.
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    cleanups.push(() => admin.end());
    const { s, lines } = await server({ DATABASE_URL: url });
    await admin.query(`CREATE FUNCTION ${schema}.cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$`);
    await admin.query(`CREATE TRIGGER cut BEFORE UPDATE ON ${schema}.mail_outbox FOR EACH ROW
      WHEN (OLD.claimed_by IS NOT NULL AND NEW.claimed_by = OLD.claimed_by AND NEW.status = 'pending') EXECUTE FUNCTION ${schema}.cut()`);
    // A sign-up queues its verification mail; the outbox claims it, and its renewal meets the outage.
    assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'mailed', email: 'mailed@example.com', password: 'password-123' } })).status, 201);
    await until('the outage met and over', 10_000, async () => (count(lines, /"msg":"database back/) > 0 ? true : undefined));
    assert.equal(count(lines, /"msg":"database unreachable/), 1);
    // Before, the outbox logged an error of its own for each mail of the batch it had claimed.
    assert.deepEqual(lines.filter((l) => /mail outbox step failed|"stack"/.test(l)), []);
  });

  it('SIGTERM ends the process while the database is partitioned', async (t) => {
    const { proxy, url } = await database();
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-faults-'));
    cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
    const child = spawn(process.execPath, ['--conditions=warden-source', '--import', 'tsx', 'src/cli.ts'], {
      env: {
        ...process.env, DATABASE_URL: url, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', COOKIE_SECURE: 'false',
        SECRET_KEY: 'x'.repeat(48), LOG_LEVEL: 'info', DATABASE_QUERY_TIMEOUT_MS: '1000', DATABASE_CONNECT_TIMEOUT_MS: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => void child.kill('SIGKILL'));

    const address = await until('the child listening', 30_000, async () => /"address":"(http:[^"]+)"/.exec(out)?.[1]);
    assert.equal((await call(`${address}/api/auth/signup`, { json: { username: 'sigterm', email: 'sigterm@example.com', password: 'password-123' } })).status, 201);
    proxy.blackhole();
    // One request stuck on a silent connection. (`connection: close`: a keep-alive client holding
    // the HTTP connection open after its answer is the HTTP shutdown's concern, not the database's.)
    const stuck = call(`${address}/api/auth/signin`, {
      json: { username: 'sigterm', password: 'password-123' }, headers: { connection: 'close' },
    }).catch(() => undefined);
    // Its first query swallowed by the partition: the request is stuck on the database.
    const swallowed = proxy.swallowed;
    await until('the sign-in stuck on the silent database', 30_000, async () => (proxy.swallowed > swallowed ? true : undefined));
    const t0 = performance.now();
    child.kill('SIGTERM');
    // Exiting at all shows nothing waited on the database, which never answers (the suite's timeout
    // turns a hang into a failure; SHUTDOWN_GRACE_SECONDS bounds the shutdown itself).
    const code = await exited;
    const ms = performance.now() - t0;
    assert.equal(code, 0, out);
    await stuck;
    t.diagnostic(`SIGTERM while partitioned: exited in ${Math.round(ms)} ms`);
  });
});
