// Revocation broadcast between instances over Redis pub/sub. Redis holds nothing durable here:
// the database is the source of truth and a reconnect triggers a full reload (onResync). So Redis
// is never waited for: Warden starts and serves without it, every command is bounded, and the
// connections are health-checked so that a silent one (a partition) is noticed, dropped and retried.
import { Redis, type RedisOptions } from 'ioredis';
import type { BusStatus, RevocationBus } from './bus.js';
import { parseRecord, type RevocationRecord } from './records.js';

export interface RedisBusOptions {
  /** Pub/sub channel (default 'warden:revocations'); tests give each run its own. */
  channel?: string;
  /**
   * A command (a publish, a health check) unanswered this long fails and its connection is dropped
   * and retried, in ms (default 500). Health checks run this often.
   */
  timeoutMs?: number;
}

/** Reconnection delays: 100 ms doubling up to 2 s, retried for ever. */
const backoff = (times: number): number => Math.min(100 * 2 ** Math.min(times - 1, 5), 2000);

export function createRedisBus(url: string, opts: string | RedisBusOptions = {}): RevocationBus {
  const { channel = 'warden:revocations', timeoutMs = 500 } = typeof opts === 'string' ? { channel: opts } : opts;
  const options: RedisOptions = {
    lazyConnect: true,
    // A command while disconnected fails at once instead of queueing until a reconnect.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: timeoutMs,
    // A connection that owes a reply and has been silent this long is destroyed and reconnected.
    socketTimeout: timeoutMs,
    connectTimeout: Math.max(1000, 2 * timeoutMs),
    retryStrategy: backoff,
    // Subscribing again is done on every 'ready' below, which also tells when the bus is up.
    autoResubscribe: false,
  };
  const pub = new Redis(url, options);
  const sub = new Redis(url, options);
  let pubUp = false;
  let subUp = false;
  let status: BusStatus = 'down';
  let closing = false;
  let started = false;
  let heartbeat: NodeJS.Timeout | undefined;
  const listeners: ((s: BusStatus) => void)[] = [];
  const settledStart: (() => void)[] = [];

  const update = (): void => {
    const next: BusStatus = pubUp && subUp ? 'up' : 'down';
    if (closing || next === status) return;
    status = next;
    if (next === 'up') for (const s of settledStart.splice(0)) s();
    for (const l of listeners) l(next);
  };
  // Connection errors are retried by ioredis (and seen as 'close'); without a listener they would crash the process.
  for (const r of [pub, sub]) r.on('error', () => undefined);
  pub.on('ready', () => ((pubUp = true), update()));
  for (const [r, down] of [[pub, () => (pubUp = false)], [sub, () => (subUp = false)]] as const) {
    r.on('close', () => {
      down();
      update();
      // Starting while Redis is down: say so now rather than after a timeout.
      for (const s of settledStart.splice(0)) s();
    });
  }

  return {
    async publish(record) {
      await pub.publish(channel, JSON.stringify(record));
    },
    async subscribe(onRecord, onResync) {
      sub.on('message', (ch: string, message: string) => {
        if (ch !== channel) return;
        const r = parse(message);
        if (r) onRecord(r);
      });
      sub.on('ready', () => {
        sub.subscribe(channel).then(() => {
          subUp = true;
          update();
          // Anything published while this instance was not listening was missed.
          if (started) onResync();
        }, () => undefined); // the connection dropped meanwhile; the next 'ready' subscribes again
      });
      heartbeat = setInterval(() => {
        for (const r of [pub, sub]) if (r.status === 'ready') r.ping().catch(() => undefined);
      }, timeoutMs);
      heartbeat.unref();
      let timer: NodeJS.Timeout | undefined;
      const settled = new Promise<void>((resolve) => {
        settledStart.push(resolve);
        timer = setTimeout(resolve, options.connectTimeout! + timeoutMs);
      });
      pub.connect().catch(() => undefined);
      sub.connect().catch(() => undefined);
      await settled;
      clearTimeout(timer);
      started = true;
    },
    async close() {
      closing = true;
      clearInterval(heartbeat);
      sub.disconnect();
      pub.disconnect();
    },
    status: () => status,
    onStatus(listener) {
      listeners.push(listener);
    },
  };
}

function parse(message: string): RevocationRecord | null {
  try {
    return parseRecord(JSON.parse(message));
  } catch {
    return null; // a foreign message on our channel is ignored
  }
}
