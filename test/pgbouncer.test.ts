// Warden behind a real PgBouncer (Debian's `pgbouncer`) in transaction pooling mode, where each
// transaction may run on another server connection. Debian 12's PgBouncer (1.18) does not track
// named prepared statements: the refresh's prepared statement turns itself off at PgBouncer's first
// refusal (the request that met it is answered all the same), or is off from the start with
// DATABASE_PREPARED_STATEMENTS=false. PgBouncer refuses the startup parameters Warden's pool sends
// unless told to ignore them (README, "Behind PgBouncer"). Sign-ups, sign-ins, /me and many
// concurrent refreshes must all work through it, and a partition between Warden and PgBouncer
// that caught transactions must not hold PgBouncer's server connections once it is over.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { freePort } from './helpers/child-warden.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { call, startServer } from './helpers/server.js';
import { eventually } from './helpers/smtp.js';
import { postgresUrlOrSkip, spyPostgresQueries } from './helpers/storage.js';

const PGBOUNCER = '/usr/sbin/pgbouncer';
const { url: baseUrl, skip: pgSkip } = await postgresUrlOrSkip();
const skip = pgSkip ?? (existsSync(PGBOUNCER) ? undefined : `${PGBOUNCER} not found (apt-get install pgbouncer)`);

/** Whether something accepts connections on the port. */
const accepting = (port: number): Promise<boolean> => new Promise((resolve) => {
  const c = connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
  c.on('error', () => resolve(false));
});

// Named statements the driver is asked to send (a query config with a name), counted in this
// process, where the servers under test run: the two cases below differ by nothing else.
let named = 0;
const unspy = spyPostgresQueries((q) => {
  if (typeof q === 'object' && q !== null && 'name' in q) named++;
});

describe('behind PgBouncer in transaction pooling mode', skip !== undefined ? { skip } : {}, () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
    unspy();
  });

  let bouncerUrl = '';
  before(async () => {
    const target = new URL(baseUrl!);
    const user = decodeURIComponent(target.username) || 'postgres';
    const database = `warden_pgbouncer_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: baseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    cleanups.push(async () => {
      await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await admin.end();
    });

    // PgBouncer will not run as root: as root, it runs as the postgres user, which must read its files.
    const dir = mkdtempSync(join(tmpdir(), 'warden-pgbouncer-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, 0o755);
    const port = await freePort();
    writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 });
    writeFileSync(join(dir, 'pgbouncer.ini'), [
      '[databases]',
      `* = host=${target.hostname} port=${target.port || 5432}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = transaction',
      'default_pool_size = 3',
      'ignore_startup_parameters = statement_timeout,idle_in_transaction_session_timeout',
      '',
    ].join('\n'), { mode: 0o644 });
    const args = [...(process.getuid?.() === 0 ? ['-u', 'postgres'] : []), join(dir, 'pgbouncer.ini')];
    const child = spawn(PGBOUNCER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (b: Buffer) => (log += b));
    child.stderr!.on('data', (b: Buffer) => (log += b));
    cleanups.push(async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((resolve) => child.once('exit', resolve));
      }
    });
    await eventually(async () => {
      if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}): ${log}`);
      return (await accepting(port)) || undefined;
    }, `pgbouncer listening on port ${port}`);
    bouncerUrl = `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${database}`;
  });

  /** Sign-up, sign-in, 200 refreshes (10 users at once, 20 rounds) and /me through PgBouncer. */
  async function everythingWorks(env: Record<string, string>, prefix: string): Promise<number> {
    const namedBefore = named;
    const s = await startServer({ DATABASE_URL: bouncerUrl, ...env });
    cleanups.push(() => s.close());

    const users = Array.from({ length: 10 }, (_, i) => `${prefix}${i}`);
    const tokens = await Promise.all(users.map(async (name) => {
      const up = await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } });
      assert.equal(up.status, 201, up.text);
      const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: name, password: 'password-123' } });
      assert.equal(login.status, 200, login.text);
      return { access: login.json.data.access_token as string, refresh: login.json.data.refresh_token as string };
    }));
    // 20 rounds of refreshes, the 10 users' at once: 200 rotations over 3 server connections.
    for (let round = 0; round < 20; round++) {
      await Promise.all(tokens.map(async (t, i) => {
        const r = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${t.refresh}`, { method: 'POST' });
        assert.equal(r.status, 200, `round ${round}, ${users[i]}: ${r.text}`);
        t.access = r.json.data.access_token;
        t.refresh = r.json.data.refresh_token;
      }));
    }
    for (const t of tokens) {
      const me = await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${t.access}` } });
      assert.equal(me.status, 200, me.text);
    }
    return named - namedBefore;
  }

  it('by default: the first refusal turns prepared statements off, and no request fails', async () => {
    assert.ok(await everythingWorks({}, 'auto') > 0, 'the refreshes tried a named statement');
  });
  it('with DATABASE_PREPARED_STATEMENTS=false', async () => {
    assert.equal(await everythingWorks({ DATABASE_PREPARED_STATEMENTS: 'false' }, 'off'), 0, 'no named statement was sent');
  });

  it('a partition between Warden and PgBouncer that caught transactions: once healed, requests are served again', async () => {
    const bouncer = new URL(bouncerUrl);
    const proxy = await startFaultProxy({ host: bouncer.hostname, port: Number(bouncer.port) });
    cleanups.push(() => proxy.close());
    const through = new URL(bouncerUrl);
    through.port = String(proxy.port);
    const s = await startServer({ DATABASE_URL: through.href, DATABASE_QUERY_TIMEOUT_MS: '1000', DATABASE_CONNECT_TIMEOUT_MS: '1000' });
    cleanups.push(() => s.close());
    const signIn = () => call(`${s.url}/api/auth/signin`, { json: { username: 'caught', password: 'password-123' } });
    assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'caught', email: 'caught@example.com', password: 'password-123' } })).status, 201);
    const tokens: string[] = [];
    for (let i = 0; i < 3; i++) tokens.push((await signIn()).json.access_token);
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    // Three reads at once leave Warden's pool three established connections, as many as PgBouncer
    // has server connections (default_pool_size).
    for (const r of await Promise.all(tokens.map((t) => call(`${s.url}/api/v1/auth/me`, { headers: bearer(t) })))) assert.equal(r.status, 200, r.text);

    proxy.mute();
    // Three sign-outs at once, each a transaction on one of those connections: PgBouncer gives each
    // a server connection and runs its BEGIN, whose answer is lost. Warden gives up (503); PgBouncer
    // never hears of it and keeps each server connection in its transaction for as long as the
    // socket lives (hours), the server having been told to ignore idle_in_transaction_session_timeout.
    for (const r of await Promise.all(tokens.map((t) => call(`${s.url}/api/auth/signout`, { method: 'POST', headers: bearer(t) })))) assert.equal(r.status, 503, r.text);
    await proxy.heal();
    // Before, every request answered 503 after the partition ended (no server connection ever came free).
    await eventually(async () => ((await signIn()).status === 200 ? true : undefined), 'a sign-in served once the partition is over', 30_000);
  });
});
