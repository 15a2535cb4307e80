// Semantics shared by every adapter. Each decision that the contract leaves to "the adapter"
// lives here once, so memory, SQLite and PostgreSQL cannot drift apart.
import { randomUUID } from 'node:crypto';
import type {
  DeliveryRecord, EmailTokenRecord, Emit, EventRecord, NewEvent, NewSession, NewUser, OutboxRecord, Page, RotateResult, RotateStatus, SessionRecord,
  UserPatch, UserRecord,
} from './types.js';

/** Key of the case-insensitive username index. Computed in JS, not SQL: SQLite's lower() is ASCII-only. */
export function usernameKey(username: string): string {
  return username.toLowerCase();
}

/**
 * The normalised email form (the contract says callers normalise; we do it again so lookups always
 * agree): lower case, in Unicode NFC (RFC 6532 §3.1), so "josé" typed precomposed or with a
 * combining accent is one address.
 */
export function emailKey(email: string): string {
  return email.trim().toLowerCase().normalize('NFC');
}

/** Whether a login could be an email: every stored email holds an '@' (normaliseEmail accepts no other). */
export function mayBeEmail(login: string): boolean {
  return login.includes('@');
}

/**
 * findByLogin matches a username OR an email. Should one string ever match two different users
 * (a username shaped like someone else's email), an '@' means the person typed an email.
 */
export function pickLogin(users: UserRecord[], login: string): UserRecord | null {
  if (users.length <= 1) return users[0] ?? null;
  const byEmail = users.find((u) => u.email === emailKey(login));
  const byName = users.find((u) => usernameKey(u.username) === usernameKey(login));
  return (mayBeEmail(login) ? byEmail ?? byName : byName ?? byEmail) ?? null;
}

/** Rejects limits the databases would read differently (SQLite: LIMIT -1 = no limit; PostgreSQL: error). */
export function checkPage(q: Page, what: string): void {
  for (const [name, v] of [['limit', q.limit], ['offset', q.offset]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`${what}: ${name} must be a non-negative integer`);
  }
}

/** The record a new user is stored as: email normalised, missing optional fields filled, createdAt defaulting to `now`. */
export function newUserRecord(n: NewUser, now: number): UserRecord {
  const createdAt = n.createdAt ?? now;
  // Field by field, not a spread: a bulk import makes one per row.
  return {
    id: n.id, username: n.username, email: emailKey(n.email), fullName: n.fullName ?? null, roles: n.roles, isActive: n.isActive,
    emailVerified: n.emailVerified ?? false, passwordHash: n.passwordHash, legacyId: n.legacyId ?? null, createdAt, updatedAt: createdAt,
  };
}

/** The record a new session is stored as: live, last used when created unless said otherwise. */
export function newSessionRecord(n: NewSession): SessionRecord {
  return {
    ...n, lastUsedAt: n.lastUsedAt ?? n.createdAt, userAgent: n.userAgent ?? null, ip: n.ip ?? null,
    previousJti: null, rotatedAt: null, endedAt: null, endReason: null,
  };
}

/** The fields an update may set; a UserPatch field missing here does not type-check. */
const PATCHABLE: { readonly [K in keyof UserPatch]-?: true } = {
  username: true, roles: true, isActive: true, fullName: true, passwordHash: true, email: true, emailVerified: true,
};

/**
 * The patch with only patchable fields, and without keys set to `undefined`, so "absent" and
 * "undefined" mean the same everywhere; roles copied, email normalised.
 */
export function cleanPatch(patch: UserPatch): UserPatch {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) if (v !== undefined && Object.hasOwn(PATCHABLE, k)) out[k] = v;
  const p = out as UserPatch;
  if (p.roles !== undefined) p.roles = [...p.roles];
  if (p.email !== undefined) p.email = emailKey(p.email);
  return p;
}

/**
 * updatedAt after an update: the storage's clock, but always strictly later than the previous
 * value, so "did it change?" is answerable even for two updates in the same millisecond.
 */
export function bumpedUpdatedAt(previous: number, now: number): number {
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
 * stale; a live session presented with the jti its last rotation replaced, less than `graceMs`
 * after that rotation, is 'grace' (answered with the current jti, nothing changes); any other
 * retired jti is "reuse" (and the session gets ended).
 * 'current' means the row would rotate (only possible if it changed under us; callers retry).
 */
export type RotateVerdict = 'missing' | 'ended' | 'expired' | 'reuse' | 'grace' | 'current';

export function judgeRotate(s: SessionRecord | null, presentedJti: string, now: number, graceMs: number): RotateVerdict {
  if (s === null) return 'missing';
  if (s.endedAt !== null) return 'ended';
  if (!isLive(s, now)) return 'expired';
  if (s.refreshJti === presentedJti) return 'current';
  const withinGrace = graceMs > 0 && s.previousJti === presentedJti && s.rotatedAt !== null && now - s.rotatedAt < graceMs;
  return withinGrace ? 'grace' : 'reuse';
}

/** Newest first; ids break ties so every adapter returns the same order. */
export function newestFirst(a: SessionRecord, b: SessionRecord): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** Oldest first, then id: the `users.list` order. */
export function oldestFirst(a: UserRecord, b: UserRecord): number {
  return a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** A mailed token is usable while not used, not superseded and not expired (an expiry equal to `now` has passed). */
export function isUsableToken(t: Pick<EmailTokenRecord, 'usedAt' | 'supersededAt' | 'expiresAt'>, now: number): boolean {
  return t.usedAt === null && t.supersededAt === null && t.expiresAt > now;
}

/** A message a claimant may take at `now`: pending, due, and not held by a live claim. */
export function isClaimable(m: Pick<OutboxRecord, 'status' | 'nextAttemptAt' | 'claimedUntil'>, now: number): boolean {
  return m.status === 'pending' && m.nextAttemptAt <= now && (m.claimedUntil === null || m.claimedUntil <= now);
}

/** The outbox row of an event's delivery to one endpoint: pending and due at once. */
export function newDelivery(e: NewEvent, endpoint: string): DeliveryRecord {
  return {
    id: randomUUID(), eventId: e.id, endpoint, state: 'pending', attempts: 0, createdAt: e.time, nextAttemptAt: e.time,
    lastAttemptAt: null, lastStatus: null, lastError: null, deliveredAt: null, claim: null,
  };
}

/** The rows events are stored as: each event's row, and one delivery row per endpoint it goes to. */
export function eventRecords(events: readonly NewEvent[]): { events: EventRecord[]; deliveries: DeliveryRecord[] } {
  const out: { events: EventRecord[]; deliveries: DeliveryRecord[] } = { events: [], deliveries: [] };
  for (const e of events) {
    out.events.push(e); // as it is: the column table reads the record's fields, not deliverTo
    if (e.deliverTo.length > 0) for (const endpoint of new Set(e.deliverTo)) out.deliveries.push(newDelivery(e, endpoint));
  }
  return out;
}

/** (a, b) of two keys compared as the SQL adapters do: by number, then by the id's bytes. */
export function compareKeys(at: number, aid: string, bt: number, bid: string): number {
  return at - bt || (aid < bid ? -1 : aid > bid ? 1 : 0);
}

/** The events a write records, given its result. */
export function eventsOf<T>(emit: Emit<T> | undefined, result: T): readonly NewEvent[] {
  return emit === undefined ? [] : typeof emit === 'function' ? emit(result) : emit;
}

/** A rotation's events as a write of its result records them: they depend on the status alone. */
export function rotationEvents(emit: Emit<RotateStatus> | undefined): Emit<RotateResult> | undefined {
  return typeof emit === 'function' ? (r) => emit(r.status) : emit;
}
