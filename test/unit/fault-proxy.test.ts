// The test helper test/helpers/fault-proxy.ts, on its own: when it cuts its connections (down,
// close), every socket it accepted is closed for good. A socket whose close never happened leaves
// a native handle behind, and a Node process with one never exits: it spins at 100% CPU in its
// teardown (Environment::CleanupHandles) after its last test has passed. That is how
// test/faults.redis.test.ts and test/faults.postgres.test.ts hung on a loaded machine.
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { startFaultProxy } from '../helpers/fault-proxy.js';

const FAILSAFE_MS = 10_000; // a bound on waits for events, so a broken helper fails rather than hangs

/** Resolves once `probe` holds, checked after each turn of the event loop; rejects after FAILSAFE_MS, naming `what`. */
async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + FAILSAFE_MS;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${FAILSAFE_MS} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

describe('fault proxy', () => {
  const servers: Server[] = [];
  after(async () => {
    for (const s of servers) await new Promise((r) => s.close(r));
  });

  /** An upstream that accepts connections and says nothing. */
  async function upstream(): Promise<number> {
    const server = createServer((s) => void s.on('error', () => undefined));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return (server.address() as { port: number }).port;
  }

  for (const cut of ['down', 'close'] as const) {
    it(`${cut}(): a connection whose client has just half-closed it is closed too`, async () => {
      const proxy = await startFaultProxy({ host: '127.0.0.1', port: await upstream() });
      // The proxy's side of the connection, as the proxy accepts it.
      let accepted: Socket | undefined;
      const onSocket = (m: unknown) => void (accepted ??= (m as { socket: Socket }).socket);
      subscribe('net.server.socket', onSocket);
      const client = connect(proxy.port, '127.0.0.1');
      client.on('error', () => undefined);
      try {
        await until('the proxy accepting the client', () => accepted !== undefined);
        const ours = accepted!;
        const errors: string[] = [];
        ours.on('error', (e: NodeJS.ErrnoException) => errors.push(`${e.syscall} ${e.code}`));
        // The client half-closes (as a driver's end() or disconnect() does): the proxy reads its FIN
        // and, not allowing half-open sockets, ends its own side, which the kernel is told of in a
        // later turn of the event loop. The cut comes within that window: on a loaded machine, a
        // test's cleanup closing the proxy right after the server whose client ended did so.
        let cutting: Promise<void> | undefined;
        const final = ours._final.bind(ours);
        ours._final = (done) => {
          final(done);
          cutting = proxy[cut]();
        };
        client.end();
        await until(`${cut}() called while the proxy's end was under way`, () => cutting !== undefined);
        await cutting;
        // Before the fix: resetAndDestroy() was refused (EINVAL "reset": a shutdown was pending), yet
        // the socket counted as closing: no 'close' ever came, its handle stayed open, and the
        // process, all its tests passed, never exited.
        await Promise.race([
          once(ours, 'close'),
          new Promise((_, reject) => setTimeout(() => reject(new Error(`the proxy's socket never closed after ${cut}() (errors: ${errors.join(', ') || 'none'})`)), FAILSAFE_MS).unref()),
        ]);
        assert.deepEqual(errors.filter((e) => e.startsWith('reset')), [], 'no reset refused');
      } finally {
        unsubscribe('net.server.socket', onSocket);
        client.destroy();
        await proxy.close();
      }
    });
  }
});
