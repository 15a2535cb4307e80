// UUIDv7 (RFC 9562 §5.7): 48 bits of a moment in epoch milliseconds, then a counter and randomness.
// Two layers need ids that carry their time: events (ids sort as events happened: keyset paging)
// and sessions (the revocation index reads a session's opening time from its id). One generator
// serves both, written here rather than taken from the `uuid` package: its v7 stamps ids with its own
// Date.now(), where Warden's moments come from an injected clock, and reading the time back is the
// point for sessions. This folder imports nothing, so any layer may use it.
import { randomFillSync } from 'node:crypto';

const bytes = Buffer.alloc(16);
// Randomness drawn 4 KiB at a time: one call per id cost more than the rest of making it (a bulk
// import makes one event per user).
const pool = Buffer.alloc(4096);
let used = pool.length;
/**
 * The last count of each of the few latest milliseconds. Not only the latest one: ids of two
 * milliseconds interleave (a session opened after a sign-out everywhere is dated a millisecond
 * past its cut-off, while the events of that sign-in, and of other requests, carry the clock's),
 * and restarting the count at each switch made a millisecond's ids sort in random order.
 */
const counts = new Map<number, number>();
const COUNTED_MILLISECONDS = 8;

/**
 * A UUIDv7 for the moment `ms` (epoch milliseconds). Ids of one millisecond increase within the
 * process, whatever ids of other milliseconds are made between them: the 12 bits after the
 * version count up from a random start (RFC 9562 §6.2, method 1); the last 62 bits are random.
 */
export function uuidv7(ms: number): string {
  if (used + 16 > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  pool.copy(bytes, 0, used, (used += 16));
  const last = counts.get(ms);
  // A random start in the lower half leaves room to count up within the millisecond.
  const sequence = last !== undefined && last < 0xfff ? last + 1 : ((bytes[6]! << 8) | bytes[7]!) & 0x7ff;
  counts.delete(ms); // re-inserted last: the map's order is the order milliseconds were last used
  counts.set(ms, sequence);
  if (counts.size > COUNTED_MILLISECONDS) counts.delete(counts.keys().next().value!);
  bytes.writeUIntBE(Math.max(0, Math.floor(ms)) % 2 ** 48, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8); // version 7
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // variant 10
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** The moment (epoch ms) a UUIDv7 carries; undefined for any other id (a v4 UUID, not a UUID). */
export function uuidv7Time(id: string): number | undefined {
  if (!V7.test(id)) return undefined;
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
