// Slow clients and shutdown: a client trickling headers or a body is cut off by the configured
// timeouts; a shutdown answers new requests 503 with Retry-After and ends within
// SHUTDOWN_GRACE_SECONDS even with a client that never finishes its request (SIGTERM to a real
// child process).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { startServer, TEST_SECRET } from './helpers/server.js';

/** Rejects after `ms`: a bound on how long something may take, raced against it. */
function deadline(ms: number, what: string): Promise<never> {
  return new Promise((_resolve, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms).unref());
}

interface Client {
  socket: Socket;
  /** Everything the server sent. */
  received(): string;
  closed: Promise<void>;
}

async function rawClient(url: string): Promise<Client> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let data = '';
  socket.on('data', (d) => (data += d));
  socket.on('error', () => undefined); // a reset is one way of being cut off
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  return { socket, received: () => data, closed };
}

/** Writes `text` one byte per `everyMs` until the socket closes. */
function trickle(socket: Socket, text: string, everyMs: number): void {
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= text.length) return clearInterval(timer);
    socket.write(text[i++]!);
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

describe('slow clients', () => {
  it('a client trickling its headers is cut off at HTTP_HEADERS_TIMEOUT_SECONDS with 408', async () => {
    const s = await startServer({ HTTP_HEADERS_TIMEOUT_SECONDS: '1', HTTP_REQUEST_TIMEOUT_SECONDS: '30' });
    try {
      const c = await rawClient(s.url);
      c.socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n');
      trickle(c.socket, `X-Slow: ${'a'.repeat(1000)}\r\n\r\n`, 50);
      await Promise.race([c.closed, deadline(4000, 'headers timeout of 1 s')]);
      assert.match(c.received(), /^HTTP\/1\.1 408 /);
    } finally {
      await s.close();
    }
  });

  it('a client trickling its body is cut off at HTTP_REQUEST_TIMEOUT_SECONDS with 408', async () => {
    const s = await startServer({ HTTP_HEADERS_TIMEOUT_SECONDS: '1', HTTP_REQUEST_TIMEOUT_SECONDS: '2' });
    try {
      const c = await rawClient(s.url);
      const body = JSON.stringify({ username: 'nobody', password: 'x'.repeat(200) });
      c.socket.write(`POST /api/auth/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`);
      trickle(c.socket, body, 50);
      await Promise.race([c.closed, deadline(5000, 'request timeout of 2 s')]);
      assert.match(c.received(), /^HTTP\/1\.1 408 /);
    } finally {
      await s.close();
    }
  });

  it('a connection on which nothing moves is closed at HTTP_IDLE_TIMEOUT_SECONDS', async () => {
    const s = await startServer({ HTTP_IDLE_TIMEOUT_SECONDS: '1' });
    try {
      const c = await rawClient(s.url);
      await Promise.race([c.closed, deadline(4000, 'idle timeout of 1 s')]);
    } finally {
      await s.close();
    }
  });
});

describe('shutdown', () => {
  it('a request arriving while the server drains gets 503 ERR_UNAVAILABLE with Retry-After, in its family\'s shape', async () => {
    const s = await startServer({ SHUTDOWN_GRACE_SECONDS: '5' });
    const serverSockets: Socket[] = [];
    s.warden.app.server.on('connection', (sock: Socket) => serverSockets.push(sock));
    const partial = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
    const said = 'The server is shutting down; retry the request';
    const families = [
      ['/api/v1/auth/me', { message: said, data: null, code: 'ERR_UNAVAILABLE', retryAfter: 1 }],
      ['/api/users', { detail: said, code: 'ERR_UNAVAILABLE', retryAfter: 1 }],
      ['/token', { detail: said, code: 'ERR_UNAVAILABLE', retryAfter: 1 }],
      // Seed 002's Flask route words every server failure its own way.
      ['/api/login', { message: 'Error en el servidor', code: 'ERR_UNAVAILABLE', retryAfter: 1 }],
      ['/oauth/token', { error: 'server_error', error_description: said }],
    ] as const;
    const clients = await Promise.all(families.map(async ([path]) => {
      const c = await rawClient(s.url);
      c.socket.write(partial(path));
      return c;
    }));
    // Every request has begun (the server has read its first bytes) before the shutdown starts.
    const until = Date.now() + 5000;
    while (serverSockets.filter((x) => x.bytesRead > 0).length < families.length) {
      assert.ok(Date.now() < until, 'the server read the partial requests');
      await delay(10);
    }
    const closing = s.close();
    for (const c of clients) c.socket.write('\r\n');
    await Promise.race([Promise.all(clients.map((c) => c.closed)), deadline(4000, 'answer while draining')]);
    families.forEach(([path, body], i) => {
      const [head, text] = clients[i]!.received().split('\r\n\r\n');
      assert.match(head!, /^HTTP\/1\.1 503 /, path);
      assert.match(head!, /\r\nretry-after: 1\r\n/i, path);
      assert.match(head!, /\r\nconnection: close\r\n/i, path);
      assert.deepEqual(JSON.parse(text!), body, path);
    });
    await Promise.race([closing, deadline(4000, 'close after the drained requests')]);
  });

  it('SIGTERM ends a real server within SHUTDOWN_GRACE_SECONDS although a client never finishes its body', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warden-shutdown-'));
    const child = spawn(process.execPath, ['--conditions=warden-source', '--import', 'tsx', 'src/cli.ts'], {
      cwd: new URL('..', import.meta.url).pathname,
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME,
        HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, DATABASE_URL: 'memory:', SECRET_KEY: TEST_SECRET,
        COOKIE_SECURE: 'false', LOG_LEVEL: 'info', SHUTDOWN_GRACE_SECONDS: '2',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const until = Date.now() + 30_000;
      let url: string | undefined;
      while (url === undefined) {
        assert.ok(Date.now() < until && child.exitCode === null, `the server starts: ${out}`);
        url = /"address":"(http:\/\/[^"]+)"/.exec(out)?.[1];
        await delay(50);
      }
      const slow = await rawClient(url);
      slow.socket.write('POST /api/auth/signin HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{');
      trickle(slow.socket, ' '.repeat(9_999), 100);
      // The server has taken the slow connection: a request on a later connection has been answered.
      assert.equal((await fetch(`${url}/health`)).status, 200);
      let slowCut = false;
      void slow.closed.then(() => (slowCut = true));

      child.kill('SIGTERM');
      const code = await Promise.race([exited, deadline(2000 + 2500, 'exit after SIGTERM with a 2 s grace')]);
      assert.equal(code, 0, out);
      await Promise.race([slow.closed, deadline(1000, 'the slow client is disconnected')]);
      assert.ok(slowCut);
      assert.match(out, /shutdown: closing the connections still open/, 'the slow client was held until the grace, then cut');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
