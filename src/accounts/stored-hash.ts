// What a stored password hash is, by parsing alone (no hashing): today's argon2id, a legacy layout
// sign-in can still verify (and will upgrade), or one it cannot verify at all. Bulk import refuses
// rows of the last kind; `warden users stats` counts each kind.
import { CURRENT_HASH_PREFIX } from './argon2-hasher.js';
import { inspectLegacyHash } from './hashes/index.js';

export interface StoredHashInfo {
  /** 'argon2' for any argon2 PHC string, else the legacy layout's name, or 'unknown'. */
  format: string;
  /** Made with today's settings: no rehash at the next sign-in. */
  current: boolean;
  /** Sign-in can check a password against it. */
  usable: boolean;
  /** Why it is not usable (never the hash itself). */
  problem?: string;
}

export function describeStoredHash(stored: string): StoredHashInfo {
  const r = inspectLegacyHash(stored);
  if ('error' in r) return { format: r.format ?? 'unknown', current: false, usable: false, problem: `${r.error.replace('_', ' ')}: ${r.reason}` };
  return { format: r.format, current: stored.startsWith(CURRENT_HASH_PREFIX), usable: true };
}
