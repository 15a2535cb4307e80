// Semantics shared by every adapter. Each decision that the contract leaves to "the adapter"
// lives here once, so memory, SQLite and PostgreSQL cannot drift apart.
import type { SessionRecord, UserPatch, UserQuery, UserRecord } from './types.js';

/** Key of the case-insensitive username index. Computed in JS, not SQL: SQLite's lower() is ASCII-only. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/** The normalised email form (the contract says callers normalise; we do it again so lookups always agree). */
export function emailKey(email: string): string {
  return email.trim().toLowerCase();
}

/**
 * findByLogin matches a username OR an email. Should one string ever match two different users
 * (a username shaped like someone else's email), an '@' means the person typed an email.
 */
export function pickLogin<T extends { usernameLower: string; email: string }>(rows: T[], login: string): T | null {
  if (rows.length <= 1) return rows[0] ?? null;
  const byEmail = rows.find((r) => r.email === emailKey(login));
  const byName = rows.find((r) => r.usernameLower === usernameKey(login));
  return (login.includes('@') ? byEmail ?? byName : byName ?? byEmail) ?? null;
}

/** Rejects limits the databases would read differently (SQLite: LIMIT -1 = no limit; PostgreSQL: error). */
export function checkPage(q: UserQuery): void {
  for (const [name, v] of [['limit', q.limit], ['offset', q.offset]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`users.list: ${name} must be a non-negative integer`);
  }
}

/** The patch without keys set to `undefined`, so "absent" and "undefined" mean the same everywhere. */
export function cleanPatch(patch: UserPatch): UserPatch {
  const out: UserPatch = {};
  if (patch.roles !== undefined) out.roles = [...patch.roles];
  if (patch.isActive !== undefined) out.isActive = patch.isActive;
  if (patch.fullName !== undefined) out.fullName = patch.fullName;
  if (patch.passwordHash !== undefined) out.passwordHash = patch.passwordHash;
  if (patch.email !== undefined) out.email = emailKey(patch.email);
  return out;
}

/**
 * updatedAt after an update: the wall clock, but always strictly later than the previous value,
 * so "did it change?" is answerable even for two updates in the same millisecond.
 */
export function bumpedUpdatedAt(previous: number, now = Date.now()): number {
  return Math.max(now, previous + 1);
}

/** Live = not ended and within both deadlines at `now` (a deadline equal to `now` has passed). */
export function isLive(s: Pick<SessionRecord, 'endedAt' | 'expiresAt' | 'idleExpiresAt'>, now: number): boolean {
  return s.endedAt === null && s.expiresAt > now && s.idleExpiresAt > now;
}

/** Purge predicate: ended, or past a deadline, strictly before `before`. */
export function isPurgeable(s: Pick<SessionRecord, 'endedAt' | 'expiresAt' | 'idleExpiresAt'>, before: number): boolean {
  return (s.endedAt !== null && s.endedAt < before) || s.expiresAt < before || s.idleExpiresAt < before;
}

/**
 * What a rotate that did not match should report, judged on the row as it is now. Order matters:
 * an ended or expired session is reported as such and left untouched, even if the jti is also
 * stale; only a live session presented with a retired jti is "reuse" (and gets ended).
 * 'current' means the row would rotate (only possible if it changed under us; callers retry).
 */
export type RotateVerdict = 'missing' | 'ended' | 'expired' | 'reuse' | 'current';

export function judgeRotate(s: SessionRecord | null, presentedJti: string, now: number): RotateVerdict {
  if (s === null) return 'missing';
  if (s.endedAt !== null) return 'ended';
  if (!isLive(s, now)) return 'expired';
  return s.refreshJti === presentedJti ? 'current' : 'reuse';
}

/** Newest first; ids break ties so every adapter returns the same order. */
export function newestFirst(a: SessionRecord, b: SessionRecord): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Oldest first, then id: the `users.list` order. */
export function oldestFirst(a: UserRecord, b: UserRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
