// Redis for the tests that need a real one (TEST_REDIS_URL, default redis://127.0.0.1:6379): whether
// it answers (else those tests are skipped and say why; with CI set, that is an error, as for
// PostgreSQL), names of each run's own on the shared server, and a revocation bus that tells a test
// when it has applied a peer's record (so tests wait on that, never on time).
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import type { RevocationBus } from '../../src/revocation/bus.js';
import type { RevocationRecord } from '../../src/revocation/records.js';

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

let probe: Promise<string | undefined> | undefined;

/** Why the Redis tests are skipped here, or undefined when Redis answers. With CI set, a failure instead. */
export function redisSkip(): Promise<string | undefined> {
  probe ??= (async () => {
    const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.ping();
      return undefined;
    } catch (e) {
      const why = `Redis not reachable at ${REDIS_URL} (${(e as Error).message}): start it or set TEST_REDIS_URL`;
      if (process.env.CI) throw new Error(`${why} [CI is set, so this is a failure, not a skip]`);
      return why;
    } finally {
      r.disconnect();
    }
  })();
  return probe;
}

/** A name of this run's own on the shared Redis (a pub/sub channel, a key prefix): `warden:test:<tag><random>`. */
export function testChannel(tag = ''): string {
  return `warden:test:${tag}${randomBytes(4).toString('hex')}`;
}

export interface WatchedBus {
  bus: RevocationBus;
  /** Resolves once the bus has applied a peer's record for `key` (rejects after `ms`). Call it before the action. */
  applied(key: string, ms?: number): Promise<void>;
}

/** `bus`, telling `applied` waiters of each record from a peer it has applied. */
export function watchedBus(bus: RevocationBus): WatchedBus {
  const events = new EventEmitter();
  return {
    bus: {
      ...bus,
      subscribe: (onRecord, onResync) => bus.subscribe((r: RevocationRecord) => {
        onRecord(r);
        events.emit('applied', r);
      }, onResync),
    },
    applied: (key, ms = 5000) => new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        events.off('applied', on);
        reject(new Error(`the peer never learnt of ${key}`));
      }, ms);
      const on = (r: RevocationRecord) => {
        if (r.key !== key) return;
        clearTimeout(timer);
        events.off('applied', on);
        resolve();
      };
      events.on('applied', on);
    }),
  };
}
