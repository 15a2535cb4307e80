// Delivery when the mail server misbehaves: it refuses (421), is not there at all, or drops the
// connection in the middle of a message. The request that caused the mail still answers at once;
// the outbox retries with backoff and delivers once the server is back — exactly once, since a
// message counts as sent only when the server said 250. A restart loses nothing that was queued.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { call, startServer, type Running } from './helpers/server.js';
import { eventually, startSmtp, tokenIn, type Delivered, type TestSmtp } from './helpers/smtp.js';

const PASSWORD = 'password-123';
const FAST = { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } };

function env(smtpUrl: string, caFile: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SMTP_URL: smtpUrl, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
    MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0', LOG_LEVEL: 'info', ...extra,
  };
}

function logLines(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  return { lines, stream: new Writable({ write(chunk, _e, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } }) };
}

const count = (smtp: TestSmtp, messageId: string) => smtp.delivered.filter((m) => m.messageId === messageId).length;

describe('an SMTP server that refuses or drops connections', () => {
  let smtp: TestSmtp;
  let proxy: FaultProxy;
  let s: Running;
  const log = logLines();
  let n = 0;

  before(async () => {
    smtp = await startSmtp();
    proxy = await startFaultProxy({ host: '127.0.0.1', port: smtp.port });
    s = await startServer(env(smtp.url.replace(`:${smtp.port}`, `:${proxy.port}`), smtp.caFile), { email: FAST, logStream: log.stream });
  });
  after(async () => {
    await s.close();
    await proxy.close();
    await smtp.close();
  });

  async function user() {
    const username = `fault${++n}`;
    const email = `${username}@example.com`;
    const r = await call(`${s.url}/api/v1/auth/signup`, { json: { username, email, password: PASSWORD } });
    assert.equal(r.status, 201);
    await smtp.waitFor((m) => m.to === email); // its verification mail, while the server is healthy
    return email;
  }

  /** After one more message has gone through (a marker), so any duplicate would have had its chance. */
  async function settled(): Promise<void> {
    const email = await user();
    await smtp.waitFor((m) => m.to === email);
  }

  const retries = () => log.lines.filter((l) => l.includes('mail delivery failed; will retry')).length;

  it('refused with 421: the request answers at once, the retry delivers when the server is back, once', async () => {
    const email = await user();
    smtp.mode = 'refuse';
    const before = retries();
    const t0 = Date.now();
    const r = await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } });
    assert.equal(r.status, 202);
    assert.ok(Date.now() - t0 < 2000, 'the request does not wait for the mail server');
    await eventually(() => (retries() >= before + 2 ? true : undefined), 'two failed attempts');
    smtp.mode = 'accept';
    const mail = await smtp.waitFor((m) => m.to === email && m.subject === 'Reset your password');
    await settled();
    assert.equal(count(smtp, mail.messageId), 1);
    // The link still works: the message is the one prepared before the failures.
    assert.equal((await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(mail), new_password: 'after-refusal-1' } })).status, 200);
  });

  it('no server at all (connection refused): delivered once it listens again', async () => {
    const email = await user();
    await proxy.down();
    const before = retries();
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } })).status, 202);
    await eventually(() => (retries() >= before + 2 ? true : undefined), 'two failed attempts');
    await proxy.heal();
    const mail = await smtp.waitFor((m) => m.to === email && m.subject === 'Reset your password');
    await settled();
    assert.equal(count(smtp, mail.messageId), 1);
  });

  it('dropped in the middle of DATA: not accepted, so sent again, and accepted exactly once', async () => {
    const email = await user();
    smtp.mode = 'drop';
    const data = smtp.attempts.data;
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } })).status, 202);
    await eventually(() => (smtp.attempts.data >= data + 2 ? true : undefined), 'two dropped transfers');
    smtp.mode = 'accept';
    const mail = await smtp.waitFor((m) => m.to === email && m.subject === 'Reset your password');
    await settled();
    assert.equal(count(smtp, mail.messageId), 1);
  });

  it('failures are logged with the message id, never its link or token', async () => {
    const failures = log.lines.filter((l) => l.includes('mail delivery failed'));
    assert.ok(failures.length >= 4);
    for (const l of failures) assert.match(JSON.parse(l).mailId, /^[0-9a-f-]{36}$/);
    const tokens = smtp.delivered.map((m) => /token=([\w-]{43})/.exec(m.text)?.[1]).filter((t): t is string => t !== undefined);
    assert.ok(tokens.length > 0);
    for (const l of log.lines) {
      assert.doesNotMatch(l, /token=/);
      for (const t of tokens) assert.ok(!l.includes(t), 'a token in the log');
    }
  });
});

describe('a restart loses nothing that was queued', () => {
  it('queued while the mail server refused, on one instance; delivered by the next one on the same database', async () => {
    const smtp = await startSmtp();
    const dir = mkdtempSync(join(tmpdir(), 'warden-restart-'));
    const database = { DATABASE_URL: `sqlite:${join(dir, 'warden.db')}` };
    let b: Running | undefined;
    try {
      smtp.mode = 'refuse';
      const a = await startServer(env(smtp.url, smtp.caFile, { ...database, LOG_LEVEL: 'silent' }), { email: FAST });
      const signup = await call(`${a.url}/api/v1/auth/signup`, { json: { username: 'restart1', email: 'restart1@example.com', password: PASSWORD } });
      assert.equal(signup.status, 201);
      assert.equal((await call(`${a.url}/api/v1/auth/password/forgot`, { json: { email: 'restart1@example.com' } })).status, 202);
      await eventually(() => (smtp.attempts.connections >= 2 ? true : undefined), 'attempts while refused');
      await a.close();
      assert.equal(smtp.delivered.length, 0);

      smtp.mode = 'accept';
      b = await startServer(env(smtp.url, smtp.caFile, { ...database, LOG_LEVEL: 'silent' }), { email: FAST });
      const verify = await smtp.waitFor((m: Delivered) => m.subject === 'Confirm your email address');
      const reset = await smtp.waitFor((m: Delivered) => m.subject === 'Reset your password');
      assert.equal(verify.to, 'restart1@example.com');
      assert.equal((await call(`${b.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(reset), new_password: 'after-restart-1' } })).status, 200);
      assert.equal((await call(`${b.url}/api/v1/auth/verify`, { json: { token: tokenIn(verify) } })).status, 200);
    } finally {
      await b?.close();
      await smtp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
