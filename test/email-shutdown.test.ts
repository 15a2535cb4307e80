// A graceful shutdown (SIGTERM) while the outbox is in the middle of a batch: the message being sent
// is finished, and the ones claimed with it but not yet tried must be sent by the next start at
// once, not held by the dead instance's claim until it lapses (a minute).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, startChildWarden, type ChildWarden } from './helpers/child-warden.js';
import { call, TEST_SECRET } from './helpers/server.js';
import { eventually, startSmtp } from './helpers/smtp.js';

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
});
