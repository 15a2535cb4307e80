// SHUTDOWN_GRACE_SECONDS bounds `warden serve`'s exit whatever still waits: here a mail server that
// accepts the connection and then says nothing, with the outbox in the middle of sending to it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { freePort, startChildWarden } from './helpers/child-warden.js';
import { call, TEST_SECRET } from './helpers/server.js';

describe('shutdown bound', () => {
  it('a mail server silent mid-delivery: SIGTERM still ends the process at the grace, saying so', async (t) => {
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket)); // accepts, never greets
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-shutdown-'));
    const w = await startChildWarden(await freePort(), {
      DATABASE_URL: `sqlite:${join(dataDir, 'w.db')}`, DATA_DIR: dataDir, COOKIE_SECURE: 'false', SECRET_KEY: TEST_SECRET, LOG_LEVEL: 'info',
      SMTP_URL: `smtp://127.0.0.1:${(silent.address() as { port: number }).port}`, MAIL_FROM: 'Warden <no-reply@warden.test>', SHUTDOWN_GRACE_SECONDS: '2',
    });
    const exited = new Promise<number | null>((resolve) => w.child.once('exit', (code) => resolve(code)));
    try {
      // A sign-up queues its verification mail; the outbox connects and waits for a greeting that never comes.
      const r = await call(`${w.url}/api/auth/signup`, { json: { username: 'mailme', email: 'mailme@example.com', password: 'password-123' } });
      assert.equal(r.status, 201);
      for (const deadline = Date.now() + 10_000; held.length === 0;) {
        assert.ok(Date.now() < deadline, 'the outbox connects to the mail server');
        await new Promise((done) => setTimeout(done, 50));
      }
      const t0 = performance.now();
      w.child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((done) => setTimeout(done, 6000, 'hung'))]);
      const ms = performance.now() - t0;
      assert.notEqual(code, 'hung', `still running 6 s after SIGTERM with a 2 s grace:\n${w.output()}`);
      assert.ok(ms < 3500, `exited ${Math.round(ms)} ms after SIGTERM`);
      // The outbox still waits on the silent server: the deadline, not the close, ends the process.
      assert.equal(code, 1, w.output());
      assert.match(w.output(), /shutdown did not finish within SHUTDOWN_GRACE_SECONDS/);
      t.diagnostic(`exit ${code} ${Math.round(ms)} ms after SIGTERM`);
    } finally {
      await w.kill9();
      for (const s of held) s.destroy();
      silent.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
