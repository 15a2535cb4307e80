// SHUTDOWN_GRACE_SECONDS bounds `warden serve`'s exit whatever still waits: here a mail server that
// accepts the connection and then says nothing, with the outbox in the middle of sending to it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { call } from './helpers/server.js';

async function until<T>(what: string, ms: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('shutdown bound', () => {
  it('a mail server silent mid-delivery: SIGTERM still ends the process at the grace, saying so', async (t) => {
    const held: Socket[] = [];
    const silent = createServer((socket) => held.push(socket)); // accepts, never greets
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const smtpPort = (silent.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-shutdown-'));
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'src/cli.ts'], {
      env: {
        ...process.env, DATABASE_URL: `sqlite:${join(dataDir, 'w.db')}`, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', COOKIE_SECURE: 'false',
        SECRET_KEY: 'x'.repeat(48), LOG_LEVEL: 'info', SMTP_URL: `smtp://127.0.0.1:${smtpPort}`, MAIL_FROM: 'Warden <no-reply@warden.test>',
        SHUTDOWN_GRACE_SECONDS: '2',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const address = await until('the child listening', 30_000, () => /"address":"(http:[^"]+)"/.exec(out)?.[1]);
      // A sign-up queues its verification mail; the outbox connects and waits for a greeting that never comes.
      const r = await call(`${address}/api/auth/signup`, { json: { username: 'mailme', email: 'mailme@example.com', password: 'password-123' } });
      assert.equal(r.status, 201);
      await until('the outbox connected to the mail server', 10_000, () => (held.length > 0 ? true : undefined));
      const t0 = performance.now();
      child.kill('SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(r, 6000, 'hung'))]);
      const ms = performance.now() - t0;
      assert.notEqual(code, 'hung', `still running 6 s after SIGTERM with a 2 s grace:\n${out}`);
      assert.ok(ms < 3500, `exited ${Math.round(ms)} ms after SIGTERM`);
      // The outbox still waits on the silent server: the deadline, not the close, ends the process.
      assert.equal(code, 1, out);
      assert.match(out, /shutdown did not finish within SHUTDOWN_GRACE_SECONDS/);
      t.diagnostic(`exit ${code} ${Math.round(ms)} ms after SIGTERM`);
    } finally {
      child.kill('SIGKILL');
      for (const s of held) s.destroy();
      silent.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
