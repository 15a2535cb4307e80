// Session ids that carry the moment their session opened: UUIDv7 (RFC 9562 §5.7), the first 48 bits
// the opening time in epoch milliseconds, the rest random. That moment is what lets one record
// refuse every session a user had opened up to a logout ('user' records, records.ts): the index
// reads it from the token's `sid`, with no lookup. Written here rather than taken from a UUID
// library because reading the time back is the point, and that is a slice of hex.
import { randomBytes } from 'node:crypto';

/** A new session id for a session opened at `openedAtMs` (epoch milliseconds). */
export function newSessionId(openedAtMs: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(Math.max(0, Math.floor(openedAtMs)), 0, 6);
  b[6] = 0x70 | (b[6]! & 0x0f); // version 7
  b[8] = 0x80 | (b[8]! & 0x3f); // variant 10
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** When the session with this id opened (epoch ms), or undefined for an id that does not say (v4, not a UUID). */
export function sessionOpenedAt(sid: string): number | undefined {
  if (!V7.test(sid)) return undefined;
  return Number.parseInt(sid.slice(0, 8) + sid.slice(9, 13), 16);
}
