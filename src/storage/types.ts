// The storage contract. Accounts code depends only on these interfaces; each adapter (sqlite,
// postgres, memory) implements all of them and passes test/storage.conformance.test.ts.
// Times are epoch milliseconds (numbers) so every adapter round-trips them exactly.

export interface UserRecord {
  id: string; // UUID
  username: string; // as typed at sign-up; uniqueness is case-insensitive
  email: string; // normalised (trimmed, lower-cased)
  fullName: string | null;
  roles: string[];
  isActive: boolean;
  passwordHash: string;
  createdAt: number;
  updatedAt: number;
}

export type NewUser = Omit<UserRecord, 'createdAt' | 'updatedAt'> & { createdAt?: number };

export interface UserPatch {
  roles?: string[];
  isActive?: boolean;
  fullName?: string | null;
  passwordHash?: string;
  email?: string;
}

export interface UserQuery {
  limit: number;
  offset: number;
  email?: string; // substring match on the normalised email
  role?: string; // users holding this role
  active?: boolean;
}

/** Thrown by create/update when a unique field is taken; `field` is 'username' or 'email'. */
export class UniqueViolation extends Error {
  constructor(readonly field: 'username' | 'email') {
    super(`${field} already exists`);
    this.name = 'UniqueViolation';
  }
}

export interface UserStore {
  /** Inserts the user; throws UniqueViolation. */
  create(user: NewUser): Promise<UserRecord>;
  /**
   * Inserts the user only if the table is empty, atomically (the first account bootstraps the
   * administrator; two racing first sign-ups must not both become admin). Returns null when
   * users already exist. Throws UniqueViolation.
   */
  createFirst(user: NewUser): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  /** Case-insensitive username match, or exact match on the normalised email. */
  findByLogin(usernameOrEmail: string): Promise<UserRecord | null>;
  list(query: UserQuery): Promise<{ users: UserRecord[]; total: number }>;
  /** Returns the updated user, or null when absent. Throws UniqueViolation. */
  update(id: string, patch: UserPatch): Promise<UserRecord | null>;
  delete(id: string): Promise<boolean>;
  count(): Promise<number>;
}

export interface SessionRecord {
  id: string; // UUID, the `sid` claim
  userId: string;
  refreshJti: string; // the one refresh token of this session that may still be used
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number; // absolute lifetime
  idleExpiresAt: number; // moved forward on each refresh
  userAgent: string | null;
  ip: string | null;
  endedAt: number | null;
  endReason: string | null; // 'logout' | 'reuse' | 'password' | 'admin' | ...
}

export type NewSession = Omit<SessionRecord, 'endedAt' | 'endReason' | 'lastUsedAt'> & { lastUsedAt?: number };

export type RotateResult =
  | { status: 'rotated'; session: SessionRecord }
  /** The presented jti was retired: the session has now been ended with reason 'reuse'. */
  | { status: 'reused'; session: SessionRecord }
  /** Already ended, past its absolute or idle deadline, or never existed. Nothing changed. */
  | { status: 'ended' | 'expired' | 'missing' };

export interface SessionStore {
  create(session: NewSession): Promise<SessionRecord>;
  get(id: string): Promise<SessionRecord | null>;
  /**
   * Atomic compare-and-swap of the refresh jti: succeeds only if the session is live, within
   * both deadlines and its current jti equals `presentedJti`. Of N concurrent calls with the
   * same presentedJti exactly one returns 'rotated'. A presented jti that is not current ends
   * the session (RFC 9700 §4.14.2 reuse detection).
   */
  rotate(args: {
    id: string;
    presentedJti: string;
    newJti: string;
    now: number;
    idleExpiresAt: number;
  }): Promise<RotateResult>;
  /** Ends one live session; returns it (with endedAt set) or null if absent or already ended. */
  end(id: string, reason: string, now: number): Promise<SessionRecord | null>;
  /** Ends the user's live sessions except `exceptId`; returns the ended sessions' ids. */
  endAllForUser(userId: string, reason: string, now: number, exceptId?: string): Promise<string[]>;
  /** Live (not ended, not expired at `now`) sessions of a user, newest first. */
  listActive(userId: string, now: number): Promise<SessionRecord[]>;
  /** Deletes sessions ended or expired before `before`. Returns how many. */
  purge(before: number): Promise<number>;
}

/**
 * Persistent revocation facts. The hot path never reads this: the in-memory revocation index
 * (src/guard/revocation.ts) is loaded from `listLive` at start and kept current by events.
 *  - kind 'jti':  one token refused until `expiresAt`
 *  - kind 'sid':  every token carrying this session id refused until `expiresAt`
 *  - kind 'user': every token of user `key` with iat <= `value` (epoch seconds) refused
 *  - kind 'roles': user `key`'s roles are now `value` (JSON array); tokens' role claims are overridden
 */
export type RevocationKind = 'jti' | 'sid' | 'user' | 'roles';

export interface RevocationRecord {
  kind: RevocationKind;
  key: string;
  value: string; // '' for jti/sid
  expiresAt: number; // epoch ms after which the fact no longer matters
}

export interface RevocationStore {
  /** Upserts (kind, key). Resolves only once durable. */
  add(record: RevocationRecord): Promise<void>;
  /** Records still relevant at `now`. */
  listLive(now: number): Promise<RevocationRecord[]>;
  purge(now: number): Promise<number>;
}

export interface Storage {
  readonly kind: 'sqlite' | 'postgres' | 'memory';
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly revocations: RevocationStore;
  /** Runs pending versioned migrations. Idempotent; safe with several instances starting at once. */
  migrate(): Promise<void>;
  /** Cheap liveness query for GET /ready. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
