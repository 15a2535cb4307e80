// Development without SMTP_URL: mails become .eml files in DATA_DIR/outbox (their recipient and
// subject logged, never their link), and a flow can be completed from the file alone.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { simpleParser } from 'mailparser';
import { call, startServer, type Running } from './helpers/server.js';
import { eventually, linkIn, tokenIn } from './helpers/smtp.js';

const PASSWORD = 'password-123';

describe('the development outbox (no SMTP_URL)', () => {
  let s: Running;
  const lines: string[] = [];
  let outbox: string;

  before(async () => {
    const logStream = new Writable({ write(chunk, _e, cb) { lines.push(...String(chunk).split('\n').filter(Boolean)); cb(); } });
    s = await startServer({ LOG_LEVEL: 'info', MAIL_LIMIT_PER_ADDRESS: '0' }, { logStream, email: { tuning: { pollMs: 50 } } });
    outbox = join(s.config.server.dataDir, 'outbox');
  });
  after(() => s.close());

  /** The parsed .eml file for `to` with `subject`, once the worker has written it. */
  async function eml(to: string, subject: string) {
    return eventually(async () => {
      let names: string[];
      try {
        names = readdirSync(outbox).filter((f) => f.endsWith('.eml'));
      } catch {
        return undefined;
      }
      for (const name of names) {
        const raw = readFileSync(join(outbox, name));
        const m = await simpleParser(raw);
        if (m.subject === subject && m.to && !Array.isArray(m.to) && m.to.text === to) return { name, text: m.text ?? '', mode: statSync(join(outbox, name)).mode };
      }
      return undefined;
    }, `${subject} for ${to} in ${outbox}`);
  }

  it('says where mail goes, once, at start', () => {
    assert.equal(lines.filter((l) => l.includes('mail goes to the folder')).length, 1);
  });

  it('sign-up, verify and a password reset, each completed from the .eml file alone', async () => {
    const email = 'dev1@example.com';
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'dev1', email, password: PASSWORD } })).status, 201);
    const verify = await eml(email, 'Confirm your email address');
    assert.equal(verify.mode & 0o777, 0o600, 'only the owner reads the links');
    // The link points at this server (APP_URL defaults to http://localhost:<PORT>).
    const link = new URL(linkIn(verify));
    assert.equal(link.origin, `http://localhost:${s.config.server.port}`);
    const page = await call(`${s.url}${link.pathname}${link.search}`);
    assert.equal(page.status, 200);

    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } })).status, 202);
    const reset = await eml(email, 'Reset your password');
    const r = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(reset), new_password: 'from-the-file-1' } });
    assert.equal(r.status, 200);
    const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: email, password: 'from-the-file-1' } });
    assert.equal(login.status, 200);
    const me = await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${login.json.data.access_token}` } });
    assert.equal(me.json.data.email_verified, true);

    // Logged: recipient and subject, never the link.
    const written = lines.filter((l) => l.includes('mail written to the development outbox')).map((l) => JSON.parse(l));
    assert.ok(written.some((l) => l.to === email && l.subject === 'Reset your password'));
    for (const l of lines) assert.doesNotMatch(l, /token=/);
  });
});
