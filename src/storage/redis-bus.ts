// Revocation broadcast between instances over Redis pub/sub. Redis holds nothing durable here:
// the database is the source of truth and a reconnect triggers a full reload (onResync).
import { Redis } from 'ioredis';
import type { RevocationBus } from '../guard/revocation.js';
import type { RevocationRecord } from './types.js';

const KINDS = new Set(['jti', 'sid', 'user', 'roles']);

export function createRedisBus(url: string, channel = 'warden:revocations'): RevocationBus {
  const options = { lazyConnect: true, maxRetriesPerRequest: 2, enableOfflineQueue: false };
  const pub = new Redis(url, options);
  const sub = new Redis(url, options);
  // Connection errors are retried by ioredis; without a listener they would crash the process.
  pub.on('error', () => undefined);
  sub.on('error', () => undefined);

  return {
    async publish(record) {
      await pub.publish(channel, JSON.stringify(record));
    },
    async subscribe(onRecord, onResync) {
      await Promise.all([pub.connect(), sub.connect()]);
      let first = true;
      sub.on('ready', () => {
        // ioredis re-subscribes on reconnect; anything published meanwhile was missed.
        if (!first) onResync();
        first = false;
      });
      sub.on('message', (ch: string, message: string) => {
        if (ch !== channel) return;
        const r = parse(message);
        if (r) onRecord(r);
      });
      await sub.subscribe(channel);
      first = false;
    },
    async close() {
      sub.disconnect();
      pub.disconnect();
    },
  };
}

function parse(message: string): RevocationRecord | null {
  try {
    const r = JSON.parse(message) as Partial<RevocationRecord>;
    if (typeof r.kind === 'string' && KINDS.has(r.kind) && typeof r.key === 'string' && typeof r.value === 'string' && typeof r.expiresAt === 'number') {
      return r as RevocationRecord;
    }
  } catch {
    // a foreign message on our channel is ignored
  }
  return null;
}
