// Session ids that carry the moment their session opened: UUIDv7 (src/ids/uuidv7.ts), the first 48
// bits the opening time in epoch milliseconds. That moment is what lets one record refuse every
// session a user had opened up to a logout ('user' records, records.ts): the index reads it from
// the token's `sid`, with no lookup.
import { uuidv7, uuidv7Time } from '../ids/uuidv7.js';

/** A new session id for a session opened at `openedAtMs` (epoch milliseconds). */
export const newSessionId = (openedAtMs: number): string => uuidv7(openedAtMs);

/** When the session with this id opened (epoch ms), or undefined for an id that does not say (v4, not a UUID). */
export const sessionOpenedAt = (sid: string): number | undefined => uuidv7Time(sid);
