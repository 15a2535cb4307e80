// SHUTDOWN_GRACE_SECONDS bounds `warden serve`'s exit whatever still waits: here a mail server that
// accepts the connection and then says nothing, with the outbox in the middle of sending to it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
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

  it('a request in flight at SIGTERM on a kept-alive connection: its answer closes the connection, and the process ends without cutting it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-shutdown-'));
    const port = await freePort();
    // Kept alive a minute, as behind a load balancer (README, "Slow clients"): longer than the grace.
    const w = await startChildWarden(port, {
      DATABASE_URL: `sqlite:${join(dataDir, 'w.db')}`, DATA_DIR: dataDir, COOKIE_SECURE: 'false', SECRET_KEY: TEST_SECRET, LOG_LEVEL: 'info',
      HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: '60', SHUTDOWN_GRACE_SECONDS: '10',
    });
    const exited = new Promise<number | null>((resolve) => w.child.once('exit', (code) => resolve(code)));
    const socket = connect(port, '127.0.0.1');
    try {
      let received = '';
      socket.on('data', (d: Buffer) => (received += d.toString()));
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      const until = async (what: string, ok: () => boolean) => {
        for (const deadline = Date.now() + 10_000; !ok();) {
          assert.ok(Date.now() < deadline, `${what}:\n${received}\n${w.output()}`);
          await new Promise((done) => setTimeout(done, 20));
        }
      };
      const body = JSON.stringify({ username: 'nobody', password: 'password-123' });
      // The server's 100 Continue says the request has been taken in (it is in flight), body to come.
      socket.write(`POST /api/auth/signin HTTP/1.1\r\nHost: warden\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`);
      await until('100 Continue', () => received.includes('100 Continue'));
      w.child.kill('SIGTERM');
      await until('shutting down', () => w.output().includes('shutting down'));
      socket.write(body);
      await until('the answer', () => /HTTP\/1\.1 [2-5]\d\d (?!Continue)/.test(received.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '')));
      assert.match(received, /\r\nconnection: close\r\n/i, received);
      await closed;
      assert.equal(await exited, 0, w.output());
      // Before, the answer said keep-alive: the idle connection was held until the cut near the grace.
      assert.doesNotMatch(w.output(), /closing the connections still open/);
    } finally {
      socket.destroy();
      await w.kill9();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
