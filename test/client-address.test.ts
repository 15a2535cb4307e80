// The client address Warden keys its per-IP limits by and records, as proxies and sockets write it:
//  - a proxy that appends `address:port` to X-Forwarded-For (Azure Application Gateway does, and
//    `[v6]:port` for IPv6): the port is not part of the client, or every connection would be a
//    new client with a fresh budget of sign-ups, guesses and mails; with TRUST_PROXY as addresses,
//    a proxy's own entry written so is still the trusted proxy's (run through a real nginx writing
//    the header that way, over IPv4 and IPv6 loopback);
//  - one address, one text: an IPv4 client of a dual-stack listener (HOST=::, whose socket reports
//    ::ffff:a.b.c.d) is recorded as its IPv4 address, and an IPv6 address a proxy writes in capitals
//    or in full as RFC 5952 writes it, in sessions, events and the new-sign-in notice's device (a
//    server moved from HOST=0.0.0.0 to :: does not mail every user a new sign-in). `warden serve`
//    on SQLite and PostgreSQL;
//  - many source addresses of one network, bound for real in a private network namespace (where
//    `unshare -n` may be used): the link-local addresses a socket reports with their zone
//    (fe80::7%lo) are one client, as a global /64's addresses are;
//  - the new-sign-in notice's device is the browser and its client: a privacy address's rotation
//    within a /64 is not a new device.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import pg from 'pg';
import { freePort, startChildWarden } from './helpers/child-warden.js';
import { nginxOrSkip, startNginx, type RunningNginx } from './helpers/nginx.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';
import { scratchSchema } from './helpers/storage.js';

/** Why IPv6 loopback cannot be used here, if it cannot. */
async function ipv6LoopbackMissing(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve('no IPv6 loopback (::1) on this machine: IPv6 client test not run'));
    s.listen(0, '::1', () => s.close(() => resolve(undefined)));
  });
}

/** A POST with a JSON body on a connection of its own (a new source port each time). */
/** New-sign-in notices queued in the SQLite file of a server whose DATA_DIR is `dataDir`. */
function sqliteNewSignInNotices(dataDir: string): number {
  const db = openSqlite(join(dataDir, 'warden.db'), { readonly: true });
  try {
    return (prepare(db, "SELECT count(*) AS n FROM mail_outbox WHERE template = 'new-sign-in'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

function postOnNewConnection(url: string, json: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  const body = JSON.stringify(json);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, json: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function getJson(url: string, token: string): Promise<any> {
  const r = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  return r.json();
}

const skipNoIpv6 = await ipv6LoopbackMissing();

describe('behind a proxy that writes address:port in X-Forwarded-For (as Azure Application Gateway)', { skip: nginxOrSkip() ?? skipNoIpv6 }, () => {
  let warden: Running;
  let nginx: RunningNginx;

  before(async () => {
    warden = await startServer({ TRUST_PROXY: '1', SIGNUP_LIMIT_PER_IP: '3', SIGNIN_MAX_FAILURES: '3' });
    // The client's address and source port, an IPv6 address in brackets, appended to what the client sent.
    const http = `
      map $remote_addr $client_with_port { "~:" "[$remote_addr]:$remote_port"; default "$remote_addr:$remote_port"; }
      map $http_x_forwarded_for $forwarded_with_port { "" $client_with_port; default "$http_x_forwarded_for, $client_with_port"; }`;
    nginx = await startNginx(`
      location / {
        proxy_pass ${warden.url};
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $forwarded_with_port;
      }`, { ipv6: true, http });
  });
  after(async () => {
    await nginx?.close();
    await warden?.close();
  });

  for (const family of ['IPv4', 'IPv6'] as const) {
    it(`${family}: sign-ups and failed sign-ins from one client, each on a new connection, are counted as one client's`, async () => {
      const base = family === 'IPv4' ? nginx.url : nginx.url6!;
      const expected = family === 'IPv4' ? '127.0.0.1' : '::1';
      const tag = family.toLowerCase();
      const signups: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r = await postOnNewConnection(`${base}/api/auth/signup`, { username: `${tag}-user-${i}`, email: `${tag}-${i}@example.com`, password: 'password-123' });
        signups.push(r.status);
      }
      assert.deepEqual(signups, [201, 201, 201, 429, 429], 'SIGNUP_LIMIT_PER_IP (3), then 429: the source port is not a new client');

      const guesses: number[] = [];
      for (let i = 0; i < 5; i++) {
        // Forged entries on the left change nothing either.
        const r = await postOnNewConnection(`${base}/api/auth/signin`, { username: `${tag}-user-0`, password: `guess-${i}` }, { 'x-forwarded-for': `198.18.0.${i}` });
        guesses.push(r.status);
      }
      assert.deepEqual(guesses, [401, 401, 401, 429, 429], 'SIGNIN_MAX_FAILURES (3), then 429');

      // The session and its event record the address, without the port.
      const signin = await postOnNewConnection(`${base}/api/auth/signin`, { username: `${tag}-user-1`, password: 'password-123' });
      assert.equal(signin.status, 200);
      const sessions = await getJson(`${warden.url}/api/v1/auth/sessions`, signin.json.access_token);
      assert.deepEqual(sessions.data.map((s: { ip: string }) => s.ip), [expected]);
      const events = await getJson(`${warden.url}/api/v1/auth/events?limit=1`, signin.json.access_token);
      assert.equal(events.data.items[0].ip, expected);
    });
  }
});

describe('TRUST_PROXY as addresses, with entries written address:port', () => {
  it('an inner proxy\'s entry with its port is trusted by its address; the client is the entry left of it', async () => {
    const s = await startServer({ TRUST_PROXY: '127.0.0.1,10.0.0.0/8,fd00::/8' });
    try {
      for (const [i, xff] of ['6.6.6.6, 198.51.100.1:5000, 10.0.0.2:443', '6.6.6.6, [2001:db8::1]:5000, [fd00::2]:443'].entries()) {
        await call(`${s.url}/api/auth/signup`, { json: { username: `user${i}`, email: `user${i}@example.com`, password: 'password-123' } });
        const signin = await call(`${s.url}/api/auth/signin`, { json: { username: `user${i}`, password: 'password-123' }, headers: { 'x-forwarded-for': xff } });
        assert.equal(signin.status, 200);
        const sessions = await getJson(`${s.url}/api/v1/auth/sessions`, signin.json.access_token);
        assert.equal(sessions.data[0].ip, i === 0 ? '198.51.100.1' : '2001:db8::1', xff);
      }
    } finally {
      await s.close();
    }
  });
});

describe('one address, one text: a dual-stack listener and a proxy\'s spellings', async () => {
  const pgSchema = await scratchSchema('client_address');
  for (const store of ['sqlite', 'postgres'] as const) {
    const skip = skipNoIpv6 ?? (store === 'postgres' ? pgSchema.skip : undefined);
    it(`${store}: HOST=:: records an IPv4 client as its IPv4 address; a proxy's IPv6 spellings as RFC 5952's`, { skip }, async () => {
      const dataDir = mkdtempSync(join(tmpdir(), 'warden-client-address-'));
      let databaseUrl = `sqlite:${join(dataDir, 'warden.db')}`;
      let newSignInNotices: () => Promise<number>;
      if (store === 'postgres') {
        const c = new pg.Client({ connectionString: pgSchema.url });
        await c.connect();
        await c.query(`CREATE SCHEMA ${pgSchema.schema}`);
        await c.end();
        databaseUrl = `${pgSchema.url}${pgSchema.url!.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${pgSchema.schema}`)}`;
        newSignInNotices = async () => {
          const q = new pg.Client({ connectionString: pgSchema.url });
          await q.connect();
          try {
            return Number((await q.query(`SELECT count(*) AS n FROM ${pgSchema.schema}.mail_outbox WHERE template = 'new-sign-in'`)).rows[0].n);
          } finally {
            await q.end();
          }
        };
      } else {
        newSignInNotices = async () => sqliteNewSignInNotices(dataDir);
      }
      const port = await freePort();
      const env = { SECRET_KEY: TEST_SECRET, DATA_DIR: dataDir, DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', TRUST_PROXY: 'loopback' };
      const signIn = async (base: string, xff?: string) => {
        const r = await call(`${base}/api/auth/signin`, { json: { username: 'dual', password: 'password-123' }, headers: xff ? { 'x-forwarded-for': xff } : {} });
        assert.equal(r.status, 200, r.text);
        return r.json.access_token as string;
      };
      try {
        // Before: an IPv4-only listener, where the user signed in twice from 127.0.0.1.
        let w = await startChildWarden(port, { ...env, HOST: '127.0.0.1' });
        try {
          await call(`${w.url}/api/auth/signup`, { json: { username: 'dual', email: 'dual@example.com', password: 'password-123' } });
          await signIn(w.url);
          await signIn(w.url);
          assert.equal(await newSignInNotices(), 0);
        } finally {
          await w.stop();
        }
        // Then on both stacks: the same client over IPv4 is the same address and the same device.
        w = await startChildWarden(port, { ...env, HOST: '::' });
        try {
          const token = await signIn(w.url);
          const sessions = await getJson(`${w.url}/api/v1/auth/sessions`, token);
          assert.deepEqual([...new Set(sessions.data.map((s: { ip: string }) => s.ip))], ['127.0.0.1'], w.output());
          const events = await getJson(`${w.url}/api/v1/auth/events?limit=1`, token);
          assert.equal(events.data.items[0].ip, '127.0.0.1');
          assert.equal(await newSignInNotices(), 0, 'no new-sign-in notice for the same browser at the same address');
          // A proxy's spellings (TRUST_PROXY=loopback: this client is a trusted proxy), over IPv6 loopback too.
          for (const [xff, recorded] of [
            ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
            ['2001:0db8:0000:0001:0000:0000:0000:0000', '2001:db8:0:1::'],
            ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
            ['::FFFF:198.51.100.7', '198.51.100.7'],
          ] as const) {
            const t = await signIn(`http://[::1]:${port}`, xff);
            const listed = await getJson(`${w.url}/api/v1/auth/events?limit=1`, t);
            assert.equal(listed.data.items[0].ip, recorded, xff);
          }
        } finally {
          await w.stop();
        }
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    });
  }
});

/** Why a private network namespace cannot be made here (unshare -n needs root or user namespaces), if it cannot. */
function netnsMissing(): string | undefined {
  const r = spawnSync('unshare', ['-n', 'ip', '-6', 'addr', 'add', 'fe80::1/64', 'dev', 'lo', 'nodad'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `no private network namespace (unshare -n ip …: ${(r.error?.message ?? r.stderr).trim()}): real source address test not run`;
}

describe('many source addresses of one network, bound for real in a private network namespace', { skip: netnsMissing() }, () => {
  /** Sign-ups from each group's source addresses, to a Warden on `::` inside a new namespace whose loopback holds `addresses`. */
  function run(addresses: string[], server: string, groups: string[][]): number[][] {
    const setup = ['ip link set lo up', ...addresses.map((a) => `ip -6 addr add ${a} dev lo nodad`)].join(' && ');
    const spec = { env: { SECRET_KEY: TEST_SECRET, DATABASE_URL: 'memory:', LOG_LEVEL: 'silent', SIGNUP_LIMIT_PER_IP: '3' }, server, groups };
    const r = spawnSync('unshare', ['-n', 'sh', '-c', `${setup} && exec "$0" --conditions=warden-source --import tsx test/helpers/netns-clients.ts`, process.execPath], {
      encoding: 'utf8', env: { ...process.env, NETNS_SPEC: JSON.stringify(spec) }, timeout: 120_000,
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!).statuses;
  }

  it('link-local clients (fe80::…%lo, as the socket reports them): five addresses are one client', () => {
    const sources = [10, 11, 12, 13, 14].map((i) => `fe80::${i}`);
    const statuses = run(['fe80::1/64', ...sources.map((a) => `${a}/64`)], 'fe80::1%lo', [sources.map((a) => `${a}%lo`)]);
    assert.deepEqual(statuses, [[201, 201, 201, 429, 429]]);
  });

  it('global IPv6 clients: five addresses of one /64 are one client; the next /64 is another', () => {
    const sources = [10, 11, 12, 13, 14].map((i) => `2001:db8:1:2::${i}`);
    const statuses = run(['2001:db8:1:2::1/64', ...sources.map((a) => `${a}/64`), '2001:db8:1:3::10/64'], '2001:db8:1:2::1', [sources, ['2001:db8:1:3::10']]);
    assert.deepEqual(statuses, [[201, 201, 201, 429, 429], [201]]);
  });
});

describe('the new-sign-in notice\'s device', () => {
  it('is the browser and its network: a new address in the same IPv6 /64 (a privacy address\'s daily rotation) is not a new device; another /64 is', async () => {
    const s = await startServer({ TRUST_PROXY: '1' });
    const notices = () => sqliteNewSignInNotices(s.config.server.dataDir);
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'roamer', email: 'roamer@example.com', password: 'password-123' } });
      const signInFrom = async (ip: string) => {
        const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'roamer', password: 'password-123' }, headers: { 'x-forwarded-for': ip, 'user-agent': 'Firefox/140' } });
        assert.equal(r.status, 200);
      };
      await signInFrom('2001:db8:1:2:a1b2:c3d4:e5f6:1'); // the first sign-in: never a notice
      for (const rotated of ['2001:db8:1:2:9e8d:7c6b:5a49:2', '2001:db8:1:2:1111:2222:3333:3', '2001:db8:1:2::4']) await signInFrom(rotated);
      assert.equal(notices(), 0, 'addresses of the same /64');
      await signInFrom('2001:db8:1:3::1');
      assert.equal(notices(), 1, 'another network');
      await signInFrom('192.0.2.7');
      await signInFrom('192.0.2.8');
      assert.equal(notices(), 3, 'each IPv4 address is a network of its own, as it is a client');
    } finally {
      await s.close();
    }
  });
});

describe('CLIENT_IPV6_PREFIX=56: a subscriber handed a /56 is one client', () => {
  it('every per-IP limit and the new-sign-in notice\'s device count three /64s of one /56 as one client, and another /56 apart', async () => {
    const s = await startServer({
      TRUST_PROXY: '1', CLIENT_IPV6_PREFIX: '56',
      SIGNUP_LIMIT_PER_IP: '2', SIGNIN_MAX_FAILURES_PER_IP: '2', MAIL_LIMIT_PER_IP: '2', MAIL_LIMIT_PER_ADDRESS: '0', PASSKEY_OPTIONS_LIMIT_PER_IP: '2',
    });
    // Three /64s of 2001:db8:1:200::/56 (its first, its last, one between), and the next /56.
    const one56 = ['2001:db8:1:200::1', '2001:db8:1:2ff:aaaa::2', '2001:db8:1:2a0::3'];
    const next56 = '2001:db8:1:300::1';
    const notices = () => sqliteNewSignInNotices(s.config.server.dataDir);
    const from = (ip: string) => ({ 'x-forwarded-for': ip, 'user-agent': 'Firefox/140' });
    const statuses = async (send: (ip: string, i: number) => Promise<{ status: number }>) => {
      const out: number[] = [];
      for (const [i, ip] of [...one56, next56].entries()) out.push((await send(ip, i)).status);
      return out;
    };
    try {
      // From the proxy's own address (no X-Forwarded-For entry): not one of the clients below.
      assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'sub', email: 'sub@example.com', password: 'password-123' } })).status, 201);

      const signIns = await statuses((ip) => call(`${s.url}/api/auth/signin`, { json: { username: 'sub', password: 'password-123' }, headers: from(ip) }));
      assert.deepEqual(signIns, [200, 200, 200, 200]);
      assert.equal(notices(), 1, 'the /56\'s three networks are one device (its first sign-in is never told); the next /56 is a new one');

      assert.deepEqual(await statuses((ip, i) => call(`${s.url}/api/auth/signup`, {
        json: { username: `sub-${i}`, email: `sub-${i}@example.com`, password: 'password-123' }, headers: from(ip),
      })), [201, 201, 429, 201], 'SIGNUP_LIMIT_PER_IP=2');

      assert.deepEqual(await statuses((ip, i) => call(`${s.url}/api/auth/signin`, { json: { username: `nobody-${i}`, password: 'wrong-password' }, headers: from(ip) })),
        [401, 401, 429, 401], 'SIGNIN_MAX_FAILURES_PER_IP=2');

      assert.deepEqual(await statuses((ip) => call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: 'sub@example.com' }, headers: from(ip) })),
        [202, 202, 429, 202], 'MAIL_LIMIT_PER_IP=2');

      assert.deepEqual(await statuses((ip) => call(`${s.url}/api/v1/auth/passkey/options`, { json: {}, headers: from(ip) })),
        [200, 200, 429, 200], 'PASSKEY_OPTIONS_LIMIT_PER_IP=2');
    } finally {
      await s.close();
    }
  });
});
