// The sign-in throttle's shared counters in Redis (REDIS_URL), so that every instance counts the
// same failures. Each call is one small Lua script (atomic: INCR and PEXPIRE cannot be separated by
// a crash, so no counter lives forever). Built never to hold a sign-in up: no offline queue (a
// command while disconnected fails at once), a short command timeout (a partitioned server fails
// within it), and the throttle falls back to its memory counters whenever a call fails.
// Written for one Redis server: a script's keys (pair and IP) may sit in different cluster slots.
import { Redis } from 'ioredis';
import type { SharedCounters } from './throttle.js';

// KEYS: the counters; ARGV[1]: the window in ms, set when a counter starts (or has somehow lost it).
const HIT = `
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 or redis.call('PTTL', key) == -1 then
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return 0`;

// Returns count, ttl pairs; a missing key has count 0 and ttl -2.
const PEEK = `
local out = {}
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = tonumber(redis.call('GET', key) or '0') or 0
  out[2 * i] = redis.call('PTTL', key)
end
return out`;

export interface RedisCountersOptions {
  /** Prepended to every key (tests give each run its own). Default 'warden:throttle:'. */
  prefix?: string;
  /** A command not answered within this many ms fails (default 250). */
  commandTimeoutMs?: number;
  /** The most ready() waits for the connection (default: the connect timeout, 2 s). */
  readyWithinMs?: number;
}

export interface RedisCounters extends SharedCounters {
  /**
   * Resolves once the connection is up, or failed, or after the connect timeout: a start that
   * awaits it counts its first sign-ins in Redis when Redis answers, and is never held longer.
   */
  ready(): Promise<void>;
  close(): Promise<void>;
}

type Scripted = Redis & {
  throttleHit(...args: (string | number)[]): Promise<unknown>;
  throttlePeek(...args: (string | number)[]): Promise<number[]>;
};

const CONNECT_TIMEOUT_MS = 2000;

export function createRedisCounters(url: string, o: RedisCountersOptions = {}): RedisCounters {
  const prefix = o.prefix ?? 'warden:throttle:';
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs ?? 250,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // Reconnects forever with a capped backoff; meanwhile every call fails at once.
    retryStrategy: (times) => Math.min(times * 200, 2000),
  }) as Scripted;
  // Failures reach the throttle through the rejected calls; unheard, 'error' would crash the process.
  redis.on('error', () => undefined);
  redis.defineCommand('throttleHit', { lua: HIT });
  redis.defineCommand('throttlePeek', { lua: PEEK });
  const settled = new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, o.readyWithinMs ?? CONNECT_TIMEOUT_MS);
    timer.unref();
    const done = () => (clearTimeout(timer), resolve());
    redis.once('ready', done);
    redis.once('error', done);
  });
  // Not awaited here: ready() is how a start waits, within the connect timeout.
  redis.connect().catch(() => undefined);

  const named = (keys: readonly string[]) => keys.map((k) => prefix + k);
  /**
   * A command that timed out leaves a connection that may never answer again (a partition keeps
   * the socket open): drop it and reconnect, so the counters come back once the network heals.
   */
  const guarded = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (e) {
      if (e instanceof Error && /timed out/i.test(e.message)) redis.disconnect(true);
      throw e;
    }
  };
  return {
    async hit(keys, windowMs) {
      await guarded(() => redis.throttleHit(keys.length, ...named(keys), Math.max(1, Math.round(windowMs))));
    },
    async peek(keys) {
      const flat = await guarded(() => redis.throttlePeek(keys.length, ...named(keys)));
      return keys.map((_, i) => {
        const count = Number(flat[2 * i]);
        const ttlMs = Number(flat[2 * i + 1]);
        return count > 0 && ttlMs > 0 ? { count, ttlMs } : null;
      });
    },
    async clear(key) {
      await guarded(() => redis.del(prefix + key));
    },
    ready: () => settled,
    async close() {
      redis.disconnect();
    },
  };
}
