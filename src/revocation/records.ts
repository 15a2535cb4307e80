// The facts that change how already-issued tokens are judged, as the revocation store keeps them
// and the bus carries them. Two things live here: revocations (a token, a session or a user's
// older tokens are refused) and role overrides (a user's roles are no longer what their tokens
// claim). Storage implements RevocationStore with these types; it imports nothing else from here.
//
// The `kind` strings are stored in the revocations table (with a CHECK constraint) and sent between
// instances of different versions during a rolling deploy, so they never change: a role override
// keeps the stored kind 'roles' and is renamed only in code.

/**
 * What a revocation refuses: one token (`jti`), every token of a session (`sid`), or every token a
 * user held at a moment (`user`): sessionless tokens issued up to it (by `iat`) and the tokens of
 * every session opened up to it (by the opening time in the session id, session-id.ts), however
 * many sessions that is.
 */
export type RevocationKind = 'jti' | 'sid' | 'user';

export interface Revocation {
  kind: RevocationKind;
  /** The jti, the session id or the user id. */
  key: string;
  /**
   * '' for jti and sid; for user, the moment in epoch seconds, with a millisecond fraction when it
   * has one ("1700000000" or "1700000000.123"; older instances wrote whole seconds). A later write
   * never moves it back (the store and the index keep the later moment).
   */
  value: string;
  /** Epoch ms after which no token it could match is still valid. */
  expiresAt: number;
}

/** The stored kind of a role override (see the note at the top: the value is historical). */
export const ROLE_OVERRIDE_KIND = 'roles';

/**
 * From now on user `key`'s roles are `value` (a JSON array), whatever their live tokens claim.
 * Written in the transaction of the role change it records, and its deadline doubles as its order:
 * the store moves each one's past the one it replaces, so the later of two role changes' overrides
 * has the later `expiresAt`, and an index holding it drops the earlier one (arriving late: a
 * broadcast overtaken, a reload's read from before the change).
 */
export interface RoleOverride {
  kind: typeof ROLE_OVERRIDE_KIND;
  key: string;
  value: string;
  expiresAt: number;
}

/** One row of the revocation store, one message on the bus. */
export type RevocationRecord = Revocation | RoleOverride;
export type RecordKind = RevocationRecord['kind'];

const RECORD_KINDS: ReadonlySet<string> = new Set<RecordKind>(['jti', 'sid', 'user', ROLE_OVERRIDE_KIND]);

/** A page of `listLive`: the records after (kind, key) `after` (from the start when null), `limit` at most. */
export interface LivePage {
  after: { kind: RecordKind; key: string } | null;
  limit: number;
}

/** Durable revocation facts. The hot path never reads this: the in-memory index is loaded from `listLive`. */
export interface RevocationStore {
  /**
   * Upserts (kind, key), keeping the later `expiresAt` (a role override's moves past the one it
   * replaces: see RoleOverride). Resolves only once durable.
   */
  add(record: RevocationRecord): Promise<void>;
  /**
   * Records still relevant at `now`, in (kind, key) order: with `page`, at most `page.limit` of them
   * after `page.after`, so that a million live records load in bounded queries (a single one can
   * outlast the query timeout) and in bounded memory.
   */
  listLive(now: number, page?: LivePage): Promise<RevocationRecord[]>;
  /**
   * Records added or extended at or after `since` (epoch ms, by the writer's clock), expired or
   * not: what an instance that cannot hear the bus polls for.
   */
  listRecordedSince(since: number): Promise<RevocationRecord[]>;
  purge(now: number): Promise<number>;
}

export function jtiRevocation(jti: string, expiresAt: number): Revocation {
  return { kind: 'jti', key: jti, value: '', expiresAt };
}

export function sessionRevocation(sid: string, expiresAt: number): Revocation {
  return { kind: 'sid', key: sid, value: '', expiresAt };
}

/** The user's tokens issued, and sessions opened, at or before `upToMs` (epoch milliseconds) are refused. */
export function userRevocation(userId: string, upToMs: number, expiresAt: number): Revocation {
  const ms = Math.floor(upToMs);
  const fraction = ms % 1000;
  const value = fraction === 0 ? String(ms / 1000) : `${Math.floor(ms / 1000)}.${String(fraction).padStart(3, '0')}`;
  return { kind: 'user', key: userId, value, expiresAt };
}

/** A user revocation's moment in epoch milliseconds (NaN when malformed: then it refuses everything, failing closed). */
export function userRevocationMs(r: Pick<Revocation, 'value'>): number {
  return /^\d+(\.\d{1,3})?$/.test(r.value) ? Math.round(Number(r.value) * 1000) : Number.NaN;
}

export function roleOverride(userId: string, roles: readonly string[], expiresAt: number): RoleOverride {
  return { kind: ROLE_OVERRIDE_KIND, key: userId, value: JSON.stringify(roles), expiresAt };
}

/** The roles a role override sets; a malformed value sets none (fails closed). */
export function overriddenRoles(r: RoleOverride): string[] {
  try {
    const v: unknown = JSON.parse(r.value);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** A record from outside the process (a bus message), or null when it is not one. */
export function parseRecord(v: unknown): RevocationRecord | null {
  if (v === null || typeof v !== 'object') return null;
  const r = v as Record<string, unknown>;
  if (typeof r.kind !== 'string' || !RECORD_KINDS.has(r.kind)) return null;
  if (typeof r.key !== 'string' || typeof r.value !== 'string' || typeof r.expiresAt !== 'number') return null;
  return { kind: r.kind as RecordKind, key: r.key, value: r.value, expiresAt: r.expiresAt };
}
