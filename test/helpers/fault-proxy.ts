// A TCP proxy a test puts between Warden and a dependency (PostgreSQL, Redis) to fault it without
// touching the shared server:
//   forward   — bytes flow both ways (the healthy network);
//   blackhole — connections stay open and new ones are accepted, but no byte passes either way
//               (a partition: the peer simply stops answering); connections that lived through it
//               stay silent after heal(), only new ones work again;
//   muted     — what the client sends reaches the peer, which acts on it, but no answer comes back,
//               and the peer never hears of the client giving up (its close): a transaction begun
//               stays open on the far side, as across a real partition; those connections stay
//               silent after heal(), and their far side open until the proxy closes;
//   down      — every connection is reset (one its client was closing, closed) and new ones are
//               refused (the dependency stopped).
// heal() returns to forward on the same port, so the client's configuration stays valid.
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type FaultMode = 'forward' | 'blackhole' | 'muted' | 'down';

export interface FaultProxy {
  readonly port: number;
  /** host:port to hand to the client, e.g. in a connection URL */
  readonly address: string;
  readonly mode: FaultMode;
  /** Connections accepted since the proxy started (a test can see that a client reconnected). */
  readonly accepted: number;
  /** Chunks a client sent that a partition (blackhole) swallowed: a test can wait for a request to be stuck on it. */
  readonly swallowed: number;
  blackhole(): void;
  mute(): void;
  down(): Promise<void>;
  heal(): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Cut by a partition: stays open and silent for good, even after heal(). */
  dead: boolean;
  /** An answer was lost while muted: the far side is not told when the client closes. */
  deaf: boolean;
}

export async function startFaultProxy(target: { host: string; port: number }): Promise<FaultProxy> {
  let mode: FaultMode = 'forward';
  let accepted = 0;
  let swallowed = 0;
  const pairs = new Set<Pair>();
  /** Far sides of muted connections whose client closed: open, as the peer never heard of it. */
  const orphans = new Set<Socket>();
  let server: Server;
  let port = 0;

  const onConnection = (client: Socket) => {
    accepted++;
    const upstream = createConnection(target);
    const pair: Pair = { client, upstream, dead: false, deaf: false };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      orphans.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    const clientGone = () => {
      if (!pair.deaf) return end();
      pairs.delete(pair);
      client.destroy();
      if (!upstream.destroyed) orphans.add(upstream);
    };
    client.on('error', clientGone).on('close', clientGone);
    upstream.on('error', end).on('close', end);
    // Data is forwarded only while the proxy is healthy; in a blackhole it is read and dropped,
    // so neither side sees an error or a close — exactly what a partition looks like.
    client.on('data', (chunk) => {
      if ((mode === 'forward' || mode === 'muted') && !pair.dead) upstream.write(chunk);
      else if (mode === 'blackhole') swallowed++;
    });
    upstream.on('data', (chunk) => {
      if (mode === 'muted') pair.deaf = true;
      if (mode === 'forward' && !pair.dead) client.write(chunk);
    });
  };

  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server = createServer(onConnection);
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const a = server.address();
        if (typeof a === 'object' && a) port = a.port;
        resolve();
      });
    });
  const stopListening = () => new Promise<void>((resolve) => server.close(() => resolve()));
  const resetAll = () => {
    for (const p of pairs) {
      // A client that has half-closed its connection (a driver's end() or disconnect()) has the proxy
      // end its side in turn. While that end is under way Node refuses the reset (EINVAL) yet counts
      // the socket as closing: it never closes, and the process, its tests all passed, never exits
      // but spins in its teardown. Such a client is gone anyway: its socket is closed, not reset.
      if (p.client.writableEnded) p.client.destroy();
      else p.client.resetAndDestroy();
      p.upstream.destroy();
    }
    pairs.clear();
    for (const o of orphans) o.destroy();
    orphans.clear();
  };

  await listen();
  return {
    get port() {
      return port;
    },
    get address() {
      return `127.0.0.1:${port}`;
    },
    get mode() {
      return mode;
    },
    get accepted() {
      return accepted;
    },
    get swallowed() {
      return swallowed;
    },
    blackhole() {
      mode = 'blackhole';
    },
    mute() {
      mode = 'muted';
    },
    async down() {
      if (mode === 'down') return;
      mode = 'down';
      const closed = stopListening();
      resetAll();
      await closed;
    },
    async heal() {
      // Connections that lived through the partition lost bytes mid-protocol: they stay open but
      // silent for good (no RST), the hardest case — the client must time out, evict and reconnect.
      if (mode === 'blackhole') for (const p of pairs) p.dead = true;
      if (mode === 'muted') for (const p of pairs) if (p.deaf) p.dead = true;
      if (mode === 'down') await listen();
      mode = 'forward';
    },
    async close() {
      if (mode !== 'down') {
        const closed = stopListening();
        resetAll();
        await closed;
      }
      mode = 'down';
    },
  };
}
