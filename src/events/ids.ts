// Event ids: UUIDv7 (RFC 9562 §5.7), 48 bits of the event's own time then randomness, so ids sort
// as events happened. Written here rather than taken from the `uuid` package: its v7 keeps ids of
// one millisecond in order only on its own Date.now(), and events are stamped by the injected clock.
import { randomFillSync } from 'node:crypto';

const bytes = Buffer.alloc(16);
// Randomness drawn in batches: a randomFillSync per id cost a refresh more than its HMACs.
const pool = Buffer.alloc(16 * 256);
let drawn = pool.length;
let lastMs = -1;
let sequence = 0;

/** A UUIDv7 for an event at `ms` (epoch milliseconds); ids of one millisecond increase within the process. */
export function uuidv7(ms: number): string {
  if (drawn === pool.length) {
    randomFillSync(pool);
    drawn = 0;
  }
  pool.copy(bytes, 0, drawn, drawn + 16);
  drawn += 16;
  if (ms === lastMs && sequence < 0xfff) {
    sequence++;
  } else {
    lastMs = ms;
    // A random start in the lower half leaves room to count up within the millisecond (RFC 9562 §6.2, method 1).
    sequence = ((bytes[6]! << 8) | bytes[7]!) & 0x7ff;
  }
  bytes.writeUIntBE(Math.max(0, Math.floor(ms)) % 2 ** 48, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f); // RFC 9562 variant
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
