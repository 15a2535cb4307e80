// A graceful shutdown (SIGTERM) while the outbox is in the middle of a batch: the message being sent
// is finished, and the ones claimed with it but not yet tried must be sent by the next start at
// once, not held by the dead instance's claim until it lapses (a minute).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { freePort, startChildWarden, type ChildWarden } from './helpers/child-warden.js';
import { startFaultProxy } from './helpers/fault-proxy.js';
import { call, TEST_SECRET } from './helpers/server.js';
import { eventually, startSmtp } from './helpers/smtp.js';
import { postgresUrlOrSkip } from './helpers/storage.js';

const { url: pgUrl, skip: pgSkip } = await postgresUrlOrSkip();

describe('mail outbox and SIGTERM', () => {
  it('mails claimed but not yet sent at a shutdown go out right after the next start, each once', async (t) => {
    const smtp = await startSmtp();
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-mail-shutdown-'));
    const env = {
      DATABASE_URL: `sqlite:${join(dataDir, 'w.db')}`, DATA_DIR: dataDir, COOKIE_SECURE: 'false', SECRET_KEY: TEST_SECRET, LOG_LEVEL: 'warn',
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
      MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
    };
    const port = await freePort();
    let w: ChildWarden = await startChildWarden(port, env);
    const resets = () => smtp.delivered.filter((m) => m.subject === 'Reset your password');
    try {
      const r = await call(`${w.url}/api/auth/signup`, { json: { username: 'drain1', email: 'drain1@example.com', password: 'password-123' } });
      assert.equal(r.status, 201);
      await smtp.waitFor((m) => m.to === 'drain1@example.com');
      // A slow server: the first reset is sent alone, the four asked meanwhile are claimed together.
      smtp.acceptDelayMs = 1000;
      for (let i = 0; i < 5; i++) assert.equal((await call(`${w.url}/api/v1/auth/password/forgot`, { json: { email: 'drain1@example.com' } })).status, 202);
      // The second reset (of the batch of four) is on the wire: the shutdown comes mid-batch.
      await eventually(() => (smtp.attempts.data >= 3 ? true : undefined), 'the second reset on the wire');
      const exited = new Promise<number | null>((resolve) => w.child.once('exit', (code) => resolve(code)));
      w.child.kill('SIGTERM');
      assert.equal(await exited, 0, w.output());
      const before = resets().length;
      smtp.acceptDelayMs = 0;
      const t0 = performance.now();
      w = await startChildWarden(port, env);
      await eventually(() => (resets().length >= 5 ? true : undefined), `the ${5 - before} resets left after the restart`, 30_000);
      t.diagnostic(`${before} sent before the shutdown; the rest ${Math.round(performance.now() - t0)} ms after the restart began`);
      await w.stop();
      const ids = resets().map((m) => m.messageId);
      assert.equal(new Set(ids).size, 5, 'five messages');
      assert.equal(ids.length, 5, 'each sent once');
    } finally {
      await w.kill9();
      await smtp.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('the database partitioned when SIGTERM comes mid-batch: the claims are left to lapse and the process ends within the grace', pgSkip !== undefined ? { skip: pgSkip } : {}, async (t) => {
    const schema = `warden_mail_shutdown_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
    await admin.query(`CREATE SCHEMA ${schema}`);
    const target = new URL(pgUrl!);
    const proxy = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
    target.host = proxy.address;
    target.search = `?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const smtp = await startSmtp();
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-mail-shutdown-'));
    let w: ChildWarden | undefined;
    try {
      w = await startChildWarden(await freePort(), {
        DATABASE_URL: target.toString(), DATA_DIR: dataDir, COOKIE_SECURE: 'false', SECRET_KEY: TEST_SECRET, LOG_LEVEL: 'warn',
        SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
        MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
        DATABASE_QUERY_TIMEOUT_MS: '1000', DATABASE_CONNECT_TIMEOUT_MS: '1000', SHUTDOWN_GRACE_SECONDS: '6',
      });
      const r = await call(`${w.url}/api/auth/signup`, { json: { username: 'drain2', email: 'drain2@example.com', password: 'password-123' } });
      assert.equal(r.status, 201);
      await smtp.waitFor((m) => m.to === 'drain2@example.com');
      // A slow mail server: the first reset goes alone, the eight asked meanwhile are claimed together.
      smtp.acceptDelayMs = 300;
      for (let i = 0; i < 9; i++) assert.equal((await call(`${w.url}/api/v1/auth/password/forgot`, { json: { email: 'drain2@example.com' } })).status, 202);
      await eventually(() => (smtp.attempts.data >= 3 ? true : undefined), 'the first reset of the batch on the wire');
      proxy.blackhole();
      const exited = new Promise<number | null>((resolve) => w!.child.once('exit', (code) => resolve(code)));
      w.child.kill('SIGTERM');
      // Before, each of the seven untried mails was given back alone, each after its own timeout
      // (7 s here): the process outlived its grace and exited 1.
      assert.equal(await exited, 0, w.output());
      t.diagnostic(w.output().split('\n').filter((l) => /mail/.test(l)).join('\n'));
    } finally {
      await w?.kill9();
      await smtp.close();
      await proxy.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
