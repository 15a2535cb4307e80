// Log lines: an unexpected failure is logged with its request id and answered 500 with no detail;
// tokens, cookies and passwords never reach a log line, not even at debug; a migrating start says
// what it applied.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { MIGRATIONS } from '../src/storage/index.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { freePort, startChildWarden } from './helpers/child-warden.js';
import { call, startServer, type Running } from './helpers/server.js';

describe('logging', () => {
  let s: Running;
  const lines: string[] = [];
  const storage = createMemoryStorage();
  let failLookups = false;
  const findByLogin = storage.users.findByLogin.bind(storage.users);
  storage.users.findByLogin = async (login) => {
    if (failLookups) throw new Error('database connection reset');
    return findByLogin(login);
  };
  before(async () => {
    const logStream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    s = await startServer({ LOG_LEVEL: 'debug' }, { storage, logStream });
  });
  after(() => s.close());

  it('an internal failure: 500 with a generic body, logged once with the request id, no password', async () => {
    await call(`${s.url}/api/auth/signup`, { json: { username: 'logme', email: 'logme@example.com', password: 'hunter2-hunter2' } });
    failLookups = true;
    const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'logme', password: 'hunter2-hunter2' } });
    failLookups = false;
    assert.equal(r.status, 500);
    assert.deepEqual(r.json, { detail: 'Internal server error', code: 'ERR_INTERNAL' });
    const errors = lines.filter((l) => l.includes('"level":50'));
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /database connection reset/);
    assert.match(errors[0]!, /"reqId":"req-/);
  });

  it('a 500 names its request id to the client (X-Request-Id), the one its log line carries; a proxy\'s well-formed id is kept, any other is not', async () => {
    const fail = async (headers: Record<string, string>, path = '/api/auth/signin') => {
      const before = lines.length;
      failLookups = true;
      try {
        const body = path === '/api/auth/signin' ? { username: 'logme', password: 'hunter2-hunter2' } : { username: 'logme@example.com', password: 'hunter2-hunter2' };
        const r = path === '/api/auth/signin' ? await call(`${s.url}${path}`, { json: body, headers }) : await call(`${s.url}${path}`, { form: body, headers });
        assert.equal(r.status, 500);
        const errors = lines.slice(before).filter((l) => l.includes('"level":50')).map((l) => JSON.parse(l));
        assert.equal(errors.length, 1);
        return { header: r.headers.get('x-request-id'), logged: errors[0].reqId as string, line: JSON.stringify(errors[0]) };
      } finally {
        failLookups = false;
      }
    };
    const plain = await fail({});
    assert.match(plain.logged, /^req-/);
    assert.equal(plain.header, plain.logged, 'the client can quote the id the log line carries');
    const enveloped = await fail({}, '/api/v1/auth/login');
    assert.equal(enveloped.header, enveloped.logged, 'every family of routes');
    // nginx: proxy_set_header X-Request-Id $request_id; ties its access log to the error line.
    const fromProxy = await fail({ 'x-request-id': '7f0c2a9e5b1d4c3a8e6f0a1b2c3d4e5f' });
    assert.equal(fromProxy.logged, '7f0c2a9e5b1d4c3a8e6f0a1b2c3d4e5f');
    assert.equal(fromProxy.header, fromProxy.logged);
    // Without a proxy that sets the header, a client's own plain id is taken; never one of the
    // form Warden gives its own (a counter, guessed at once): its line would share another's id.
    const impostor = await fail({ 'x-request-id': plain.logged });
    assert.notEqual(impostor.logged, plain.logged, 'a client cannot take the id of another request');
    assert.equal(impostor.header, impostor.logged);
    for (const bad of ['x'.repeat(5000), 'a b', '{"level":60}', '', 'REQ-1']) {
      const r = await fail({ 'x-request-id': bad });
      assert.match(r.logged, /^req-/, 'an id that is not short and plain is replaced');
      assert.ok(r.line.length < 2000);
    }
    // A request answered without a failure carries no id: nothing on the hot path.
    const me = await call(`${s.url}/health`);
    assert.equal(me.headers.get('x-request-id'), null);
  });

  it('no token, cookie or password in any line, even with every request logged', async () => {
    const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'logme@example.com', password: 'hunter2-hunter2' } });
    const { access_token, refresh_token } = login.json.data;
    await call(`${s.url}/api/v1/auth/refresh?refresh_token=${refresh_token}`, { method: 'POST' });
    await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${access_token}`, cookie: `access_token_cookie=${access_token}` } });
    await call(`${s.url}/api/v1/auth/me?jwt=${access_token}`);
    const all = lines.join('\n');
    assert.ok(lines.length > 6, 'debug logs every request');
    for (const secret of [access_token, refresh_token, 'hunter2-hunter2', access_token.split('.')[2], refresh_token.split('.')[2]]) {
      assert.equal(all.includes(secret), false);
    }
    assert.match(all, /refresh_token=\[redacted\]/);
  });
});

describe('start-up', () => {
  it('a start that migrates the database logs once which migrations it applied; a start on an up-to-date one does not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-migrate-log-'));
    try {
      const starts: string[][] = [];
      for (let i = 0; i < 2; i++) {
        const lines: string[] = [];
        const logStream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
        const s = await startServer({ LOG_LEVEL: 'info', DATABASE_URL: `sqlite:${join(dir, 'warden.db')}` }, { logStream });
        await s.close();
        starts.push(lines.filter((l) => l.includes('database schema migrated')));
      }
      const version = Math.max(...MIGRATIONS.map((m) => m.version));
      assert.equal(starts[0]!.length, 1);
      const line = JSON.parse(starts[0]![0]!);
      assert.equal(line.msg, `database schema migrated to version ${version}`);
      assert.deepEqual(line.migrations, MIGRATIONS.map((m) => `${m.version} ${m.name}`));
      assert.deepEqual(starts[1], [], 'nothing to apply, nothing said');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the start line', () => {
  it('warden serve says its version and the settings an operator asks about first, without a secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-start-line-'));
    const secret = 'start-line-secret-that-is-at-least-32-bytes';
    const child = await startChildWarden(await freePort(), {
      NODE_ENV: 'production', SECRET_KEY: secret, DATA_DIR: dir, DATABASE_URL: `sqlite:${join(dir, 'warden.db')}`, LOG_LEVEL: 'info',
      REDIS_URL: `redis://default:redis-pass-7c1d@127.0.0.1:${await freePort()}`, TRUST_PROXY: '10.0.0.0/8', METRICS_PORT: String(await freePort()),
    });
    try {
      await child.stop();
      const out = child.output();
      const started = out.split('\n').filter((l) => l.includes('"warden listening"')).map((l) => JSON.parse(l));
      assert.equal(started.length, 1, out);
      const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
      const line = started[0];
      assert.equal(line.version, pkg.version);
      assert.equal(line.node, process.version);
      assert.match(line.address, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(line.storage, 'sqlite');
      assert.equal(line.database, `SQLite ${join(dir, 'warden.db')}`);
      assert.match(line.redis, /^redis:\/\/default:\*\*\*@127\.0\.0\.1:\d+$/);
      assert.equal(line.production, true);
      assert.equal(line.logLevel, 'info');
      assert.match(line.signing, /^HS256 from SECRET_KEY \(kid [\w-]+\)$/);
      assert.equal(line.trustProxy, '10.0.0.0/8');
      assert.match(line.metrics, /^on port \d+$/);
      assert.match(line.mail, /^off \(NODE_ENV=production without SMTP_URL/);
      assert.equal(line.webhooks, 0);
      for (const s of [secret, 'redis-pass-7c1d']) assert.equal(out.includes(s), false, `${s} logged`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('URLs in log lines', () => {
  it('the Redis line hides a REDIS_URL password holding "@" or a space, which ioredis takes as it is', async () => {
    // Drivers split the user information at its last "@" (WHATWG URL rules), so an unencoded "@"
    // or space in a password works; a mask that stopped at the first "@" logged the rest of it.
    for (const password of ['s3cr@t-tail-one', 's3cret word-tail-two']) {
      const lines: string[] = [];
      const logStream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
      const closed = await freePort();
      const s = await startServer({ LOG_LEVEL: 'info', REDIS_URL: `redis://default:${password}@127.0.0.1:${closed}` }, { storage: createMemoryStorage(), logStream });
      await s.close();
      const redis = lines.filter((l) => l.includes('Redis unreachable'));
      assert.equal(redis.length, 1, lines.join(''));
      assert.ok(redis[0]!.includes(`REDIS_URL=redis://default:***@127.0.0.1:${closed}`), redis[0]);
      for (const part of password.split(/[@ ]/)) assert.equal(lines.join('').includes(part), false, `"${part}" of the password logged`);
    }
  });
});
