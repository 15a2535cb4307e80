// What a counter is keyed by when its subject is personal (an address, a login as typed): the first
// 32 hex digits of its SHA-256, so that the counter store (memory, Redis, a snapshot of it) never
// holds the text itself. One function for every such counter, so that they stay alike.
import { createHash } from 'node:crypto';

export const hashedKey = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 32);
