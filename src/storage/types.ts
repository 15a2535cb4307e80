// The storage contract. Accounts code depends only on these interfaces; each adapter (sqlite,
// postgres, memory) implements all of them and passes test/storage.conformance.test.ts.
// Times are epoch milliseconds (numbers) so every adapter round-trips them exactly.
// The revocation store's contract belongs to the revocation module (its only reader and writer);
// storage implements it and takes its record types from there, types only.
// Likewise the event stream's: its record types and the event and outbox stores' contracts.
// Every write that changes state takes an optional `events` argument: the events it records,
// written in the same transaction (see Emit in src/events/records.ts).
import type { DeliveryStore, Emit, EventStore, NewEvent } from '../events/records.js';
import type { RevocationRecord, RevocationStore, RoleOverride } from '../revocation/records.js';
import type { ChallengeStore, FactorStore } from './factor-types.js';

/**
 * The revocation record refusing a session's tokens (revocation/records.ts), which the store adds
 * (as revocations.add does) in the transaction that ends the session: a session never ends with
 * its tokens still accepted, nor the other way round.
 */
export type RevokeSession = (sessionId: string) => RevocationRecord;

/**
 * The role override a role change writes (revocation/records.ts), which users.update adds (as
 * revocations.add does) in the change's own transaction, after the user's row is updated and so
 * locked: overrides are stored in the order the changes commit, each one's deadline past the one
 * it replaces, so every instance's index can tell the later of two. `record` builds it from the
 * updated user; `stored` is handed it as stored (that deadline), to apply and broadcast once the
 * write has resolved.
 */
export interface OverrideRoles {
  record(user: UserRecord): RoleOverride;
  stored(record: RoleOverride): void;
}

/**
 * The revocation records refusing the tokens of the sessions a write ends, added in its
 * transaction (so that a crash, a 503 or a failover after the commit never leaves the sessions
 * ended with their access tokens still passing, nor a changed password with the sessions it shuts
 * out still open). `records` is given the ids of the sessions ended and the user's row as the
 * transaction has it (null: gone); `written` is handed the same ids and records once they are in
 * the transaction, to apply and broadcast once the write has resolved.
 */
export interface RefuseEnded {
  records(ended: readonly string[], user: UserRecord | null): RevocationRecord[];
  written(ended: readonly string[], records: readonly RevocationRecord[]): void;
}

/**
 * What a user write does to what hangs on the user, in its own transaction, when it writes:
 * `sessions`: ends every session of the user but `exceptId`, with `reason` at `now`, and adds their
 * refusal (a new password, a deactivation); `factors`: removes every second factor, recovery code
 * and pending sign-in of the user, and tells `removed` how many factors (authenticator apps and
 * passkeys) went, before the write's events are made (a reset of an address never proven).
 */
export interface UserWriteEffects {
  sessions?: RefuseEnded & { reason: string; now: number; exceptId?: string | undefined };
  factors?: { removed(count: number): void };
}

/** A schema migration a migrate() call applied (migrations.ts). */
export interface AppliedMigration {
  version: number;
  name: string;
}

export type { RecordKind, RevocationRecord, RevocationStore, RoleOverride } from '../revocation/records.js';
export type * from './factor-types.js';
export type {
  AnyEvent, AttemptResult, ClaimedDelivery, DeliveryQuery, DeliveryScope, DeliveryRecord, DeliveryState, DeliveryStore, Emit, EventCursor,
  EventQuery, EventRecord, EventStore, EventType, NewEvent,
} from '../events/records.js';

/** A revocation record as stored: with when it was last written, for instances polling for new ones. */
export type StoredRevocation = RevocationRecord & { recordedAt: number };

/**
 * The revocation store as storage implements it: a record's write also takes the events that
 * record it (a token revoked, a sessionless sign-out), written in the same transaction.
 */
export interface RevocationEventStore extends RevocationStore {
  add(record: RevocationRecord, events?: Emit<void>): Promise<void>;
}

export interface UserRecord {
  id: string; // UUID
  username: string; // as typed at sign-up; uniqueness is case-insensitive
  email: string; // normalised (trimmed, lower-cased)
  fullName: string | null;
  roles: string[];
  isActive: boolean;
  /** The user has shown, by a mailed token, that the address is theirs. */
  emailVerified: boolean;
  passwordHash: string;
  /** The user's id in the system they were imported from, when that was not a UUID; null otherwise. */
  legacyId: string | null;
  createdAt: number;
  updatedAt: number;
}

export type NewUser = Omit<UserRecord, 'createdAt' | 'updatedAt' | 'emailVerified' | 'legacyId'> & {
  createdAt?: number;
  emailVerified?: boolean;
  legacyId?: string | null;
};

/** Keys a bulk import looks existing users up by (any may be empty). */
export interface UserKeys {
  ids: readonly string[];
  legacyIds: readonly string[];
  /** Matched as normalised emails. */
  emails: readonly string[];
  /** Matched case-insensitively, as findByLogin does. */
  usernames: readonly string[];
}

export interface UserPatch {
  username?: string;
  roles?: string[];
  isActive?: boolean;
  fullName?: string | null;
  passwordHash?: string;
  email?: string;
  emailVerified?: boolean;
}

export interface UserQuery extends Page {
  email?: string; // substring match on the normalised email
  username?: string; // substring match on the lower-cased username
  role?: string; // users holding this role
  active?: boolean;
  verified?: boolean; // emailVerified
  /**
   * Users whose password hash is a legacy one (`legacy: true`: it does not start with
   * `currentPrefix`, the prefix of every hash made with today's settings, which the caller's hasher
   * knows), or those whose hash is current (`legacy: false`).
   */
  legacyHash?: { legacy: boolean; currentPrefix: string };
}

/** Thrown by create/update when a unique field is taken; `field` is 'username' or 'email'. */
export class UniqueViolation extends Error {
  constructor(readonly field: 'username' | 'email') {
    super(`${field} already exists`);
    this.name = 'UniqueViolation';
  }
}

/**
 * Thrown by update/delete given `keep` when no other active user would hold one of those roles
 * (the last administrator); nothing was written.
 */
export class NoOtherHolder extends Error {
  constructor() {
    super('no other active holder of the role would remain');
    this.name = 'NoOtherHolder';
  }
}

/**
 * Thrown by sessions.create given `only` when the user is gone, deactivated, or no longer has the
 * password hash the sign-in checked; nothing was written.
 */
export class UserChanged extends Error {
  constructor() {
    super('the user is gone, inactive, or their password changed');
    this.name = 'UserChanged';
  }
}

/**
 * Thrown by sessions.create given `only.spends` when that token's jti is already recorded (spent,
 * or revoked); nothing was written.
 */
export class TokenSpent extends Error {
  constructor() {
    super('the token has been used or revoked already');
    this.name = 'TokenSpent';
  }
}

/** What must hold for a user write to happen, checked with it (no other write comes between). */
export interface UserWriteConditions {
  /**
   * Roles of which another active user must hold one (see NoOtherHolder), checked in the write's
   * transaction with their holders' rows locked, so two such changes racing cannot both pass on
   * what the other is about to change.
   */
  keep?: readonly string[];
  /**
   * The password hash the write was decided on: when the stored one is another (changed meanwhile),
   * nothing is written and update answers null, as for a user that is gone.
   */
  passwordHashWas?: string;
  /** As passwordHashWas, for the email address. */
  emailWas?: string;
  /** As passwordHashWas, for is_active (a deactivation landing meanwhile). */
  isActiveWas?: boolean;
  /**
   * The updatedAt of the row the write was decided on (every write of a user moves it forward):
   * when the stored one is another, nothing is written and update answers null. What the write
   * records (its events, its role override) was computed from that row: read again and retry.
   */
  updatedAtWas?: number;
  /**
   * A session of the user's that must still be open when the write lands, or nothing is written and
   * update answers null: this one (`id`: not ended), or, `openedBy`, any live one at `now` opened
   * no later than then. The user's row is locked first, then the session's (as a deletion cascading
   * does), so a sign-out ending it either waits for the write or is seen by it.
   */
  sessionOpen?: { id: string } | { openedBy: number; now: number };
}

export interface UserStore {
  /** Inserts the user; throws UniqueViolation. */
  create(user: NewUser, events?: Emit<UserRecord>): Promise<UserRecord>;
  /**
   * Inserts the user only if the table is empty, atomically (the first account bootstraps the
   * administrator; two racing first sign-ups must not both become admin). Returns null when
   * users already exist. Throws UniqueViolation.
   */
  createFirst(user: NewUser, events?: Emit<UserRecord | null>): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  /**
   * Case-insensitive username match, or exact match on the normalised email. Every stored email
   * holds an '@' (the accounts layer accepts no other), so a login without one is a username.
   */
  findByLogin(usernameOrEmail: string): Promise<UserRecord | null>;
  list(query: UserQuery): Promise<{ users: UserRecord[]; total: number }>;
  /**
   * Returns the updated user, or null when absent. Throws UniqueViolation. A new password hash
   * supersedes the user's open reset and address-change links in the same write (whoever asked
   * for them may be who the new password shuts out; replacePasswordHash does not).
   * `only`: conditions checked in the same write (see UserWriteConditions). `override`: the role
   * override written with it, when it writes (see OverrideRoles). `effects`: the sessions it ends
   * and the factors it removes, when it writes (see UserWriteEffects).
   */
  update(id: string, patch: UserPatch, events?: Emit<UserRecord | null>, only?: UserWriteConditions, override?: OverrideRoles, effects?: UserWriteEffects): Promise<UserRecord | null>;
  /** True when it deleted the user. `only.keep`: as update's. */
  delete(id: string, events?: Emit<boolean>, only?: Pick<UserWriteConditions, 'keep'>): Promise<boolean>;
  count(): Promise<number>;
  /**
   * Compare-and-set of the password hash: replaces it only while it still equals `expected`, so a
   * rehash on sign-in never overwrites a password changed meanwhile. True when it replaced it.
   */
  replacePasswordHash(id: string, expected: string, next: string): Promise<boolean>;
  /** Every user holding one of these ids, legacy ids, emails or usernames (bulk import's checks). */
  findByKeys(keys: UserKeys): Promise<UserRecord[]>;
  /**
   * Inserts the users in one transaction. A user that would collide with a stored one (id,
   * username, email or legacy id), or with an earlier one of the batch, is skipped, not an error.
   * Returns the ids inserted. `events`: the events recording a user's creation, written in the same
   * transaction for each user inserted (it may be asked for any user of the batch, before the insert).
   */
  insertMany(users: readonly NewUser[], events?: (userId: string) => readonly NewEvent[]): Promise<string[]>;
}

export interface SessionRecord {
  id: string; // UUID, the `sid` claim
  userId: string;
  refreshJti: string; // the session's current refresh token
  previousJti: string | null; // the refresh token `refreshJti` replaced: accepted again within the reuse grace
  rotatedAt: number | null; // when `previousJti` was replaced
  createdAt: number;
  lastUsedAt: number;
  expiresAt: number; // absolute lifetime
  idleExpiresAt: number; // moved forward on each refresh
  userAgent: string | null;
  ip: string | null;
  endedAt: number | null;
  endReason: string | null; // 'logout' | 'reuse' | 'password' | 'admin' | ...
}

export type NewSession = Omit<SessionRecord, 'endedAt' | 'endReason' | 'lastUsedAt' | 'previousJti' | 'rotatedAt'> & { lastUsedAt?: number };

/** One page of a list: `limit` rows after skipping `offset`. */
export interface Page {
  limit: number;
  offset: number;
}

export type RotateResult =
  /** `user`: the user asked for with `userId`, read with the rotation (null if there is none). */
  | { status: 'rotated'; session: SessionRecord; user?: UserRecord | null }
  /**
   * The presented jti is the one the last rotation replaced, presented again within the grace (a
   * lost answer, two tabs): nothing changed; `session.refreshJti` is the current one to hand back.
   */
  | { status: 'grace'; session: SessionRecord; user?: UserRecord | null }
  /** The presented jti was retired: the session has now been ended with reason 'reuse'. */
  | { status: 'reused'; session: SessionRecord }
  /** Already ended, past its absolute or idle deadline, or never existed. Nothing changed. */
  | { status: 'ended' | 'expired' | 'missing' };

export type RotateStatus = RotateResult['status'];

/**
 * What must hold of the user for a session to open, checked with the insert (see UserChanged):
 * the user exists, is active, and still has this password hash.
 */
export interface SessionConditions {
  passwordHashWas: string;
  /**
   * A 'jti' revocation record of the token this session is opened from (a refresh token minted
   * outside Warden: sessions.exchangeLegacy), added in the same transaction only if no record of
   * that jti exists; else TokenSpent and nothing is written. The record's primary key is what
   * makes the token single use: of two concurrent exchanges, on any instances, exactly one commits.
   */
  spends?: RevocationRecord;
  /**
   * MAX_SESSIONS_PER_USER: in the insert's transaction, one sign-in of the user at a time, ends the user's
   * live sessions beyond the `keep` newest others (as endOldest, with `revoke`) and hands their ids
   * to `ended` before the events are made. Sign-ins of one user then open and trim one after the
   * other: trimming after the insert's commit, two at once each ended the other's new session.
   */
  trim?: { keep: number; reason: string; now: number; revoke: RevokeSession; ended(ids: string[]): void };
}

export interface SessionStore {
  /**
   * Inserts the session. With `only`, only while the user is as it says (else UserChanged): a
   * sign-in whose check a deactivation, a deletion or a password reset overtook opens nothing that
   * the change's sign-out everywhere would then miss.
   */
  create(session: NewSession, events?: Emit<SessionRecord>, only?: SessionConditions): Promise<SessionRecord>;
  get(id: string): Promise<SessionRecord | null>;
  /**
   * Atomic compare-and-swap of the refresh jti: succeeds only if the session is live, within
   * both deadlines and its current jti equals `presentedJti`; the replaced jti and `now` are kept
   * as previousJti/rotatedAt. Of N concurrent calls with the same presentedJti exactly one returns
   * 'rotated'; the others return 'grace' while `now - rotatedAt < graceMs`. Any other jti that is
   * not current (the previous one after the grace, or an older one) ends the session (RFC 9700
   * §4.14.2 reuse detection).
   * The events a rotation records depend on its outcome alone (`events` is given the status):
   * PostgreSQL writes those of a successful swap in the swap's own statement, so it asks for them
   * before it runs (a refresh is then one round trip).
   */
  rotate(args: {
    id: string;
    presentedJti: string;
    newJti: string;
    now: number;
    idleExpiresAt: number;
    /** How long the replaced jti is still answered with the current one; 0: never. */
    graceMs: number;
    /** Also read this user with a 'rotated' or 'grace' answer (in the same statement or transaction). */
    userId?: string;
    /** The session's revocation, added with its end on a 'reused' answer, in its transaction. */
    onReuse?: RevokeSession;
  }, events?: Emit<RotateStatus>): Promise<RotateResult>;
  /**
   * Ends one live session; returns it (with endedAt set) or null if absent or already ended. With
   * `revoke`, its record is added in the same transaction, whether or not the session was live.
   */
  end(id: string, reason: string, now: number, events?: Emit<SessionRecord | null>, revoke?: RevokeSession): Promise<SessionRecord | null>;
  /**
   * Ends the user's live sessions except `exceptId`; returns the ended sessions' ids. `revoke`: as
   * for end, or the records refusing them all (RefuseEnded), in the same transaction.
   */
  endAllForUser(userId: string, reason: string, now: number, exceptId?: string, events?: Emit<string[]>, revoke?: RevokeSession | RefuseEnded): Promise<string[]>;
  /**
   * Keeps the user's `keep` newest live sessions (and `exceptId`, which is not counted) and ends
   * the older live ones; returns the ended sessions' ids. One statement. `revoke`: as for end.
   */
  endOldest(userId: string, keep: number, reason: string, now: number, exceptId?: string, events?: Emit<string[]>, revoke?: RevokeSession): Promise<string[]>;
  /** A page of the user's live (not ended, not expired at `now`) sessions, newest first, and how many there are. */
  listActive(userId: string, now: number, page: Page): Promise<{ sessions: SessionRecord[]; total: number }>;
  /** How many sessions, of every user, are live at `now`. */
  countLive(now: number): Promise<number>;
  /** Every session row the user has (live, ended or expired, until the purge), newest first: what a data export shows. */
  listForUser(userId: string): Promise<SessionRecord[]>;
  /**
   * Deletes sessions ended or expired before `before`, at most `batch` of them (default: all).
   * Returns how many.
   */
  purge(before: number, batch?: number): Promise<number>;
}

/** What a mailed single-use token proves: a password reset, an address verified, an address change, an invitation accepted. */
export type EmailTokenPurpose = 'reset' | 'verify' | 'email' | 'invite';

/** A mailed single-use token. Only its SHA-256 is stored: the database never holds a usable token. */
export interface EmailTokenRecord {
  hash: string; // hex SHA-256 of the token
  userId: string;
  purpose: EmailTokenPurpose;
  email: string; // the address the token was mailed to (and proves)
  createdAt: number;
  expiresAt: number;
  usedAt: number | null;
  supersededAt: number | null; // a newer token of the same user and purpose was issued
  /** The session that asked for it (an address change), which must still be live when it is used; null when none. */
  sessionId: string | null;
}

export type NewEmailToken = Omit<EmailTokenRecord, 'usedAt' | 'supersededAt' | 'sessionId'> & { sessionId?: string | null };

export interface EmailTokenStore {
  /**
   * Stores a token and supersedes every earlier one of the same user and purpose, atomically:
   * of two tokens issued concurrently, exactly one stays usable.
   */
  issue(token: NewEmailToken): Promise<void>;
  /**
   * Marks the token used if it is usable at `now` (not used, not superseded, not expired) and
   * returns it; null otherwise. Of concurrent calls with one token at most one gets it.
   */
  consume(hash: string, purpose: EmailTokenPurpose, now: number): Promise<EmailTokenRecord | null>;
  /** The token of this purpose with this hash, whatever its state; null when there is none. */
  find(hash: string, purpose: EmailTokenPurpose): Promise<EmailTokenRecord | null>;
  /** Deletes up to `batch` tokens that expired before `before`. Returns how many. */
  purge(before: number, batch: number): Promise<number>;
  /** The user's tokens (used, superseded, expired until the purge), newest first: what a data export shows. */
  listForUser(userId: string): Promise<EmailTokenRecord[]>;
}

export type OutboxStatus = 'pending' | 'sent' | 'dropped' | 'failed';

/**
 * A mail to send, kept until delivered. `prepared` false means a preparer must run first (it may
 * find nothing to send, e.g. a reset asked for an address no account has); its result is stored
 * so that retries send the same message. Once sent, dropped or failed, `data` and `recipient`
 * are emptied: the links it held are of no further use to anyone, and the row, kept a week for
 * the purge, would otherwise hold the address of an account deleted meanwhile (only the template,
 * the times and the status stay).
 */
export interface OutboxRecord {
  id: string; // UUID; also the Message-ID's local part
  template: string;
  recipient: string;
  data: Record<string, unknown>;
  prepared: boolean;
  status: OutboxStatus;
  attempts: number; // claims so far (a claim that crashed counts)
  createdAt: number;
  nextAttemptAt: number;
  deadline: number; // not sent by then: failed
  claimedBy: string | null;
  claimedUntil: number | null;
  sentAt: number | null;
  lastError: string | null;
}

export type NewOutboxMessage = Pick<OutboxRecord, 'id' | 'template' | 'recipient' | 'data' | 'prepared' | 'createdAt' | 'deadline'>;

export interface OutboxStore {
  add(message: NewOutboxMessage): Promise<void>;
  /**
   * Claims up to `limit` pending messages due at `now` (and not claimed by a live claim) for
   * `claimant` until `until`, counting an attempt on each; atomic across processes, so no two
   * claimants hold one message.
   */
  claim(claimant: string, now: number, until: number, limit: number): Promise<OutboxRecord[]>;
  /**
   * Holds a claimed message until `until` (a fresh lease for the one send about to start); false
   * when the claim was lost: it lapsed and another claimant took the message (or it is no longer
   * pending), and this claimant must not send it.
   */
  renew(id: string, claimant: string, until: number): Promise<boolean>;
  /** Gives back a claimed message not tried (a shutdown): due again at once, its attempt uncounted. */
  release(id: string, claimant: string): Promise<boolean>;
  /** Keeps a preparer's result; false when the claim was lost. */
  prepared(id: string, claimant: string, patch: Pick<OutboxRecord, 'recipient' | 'data' | 'deadline'>): Promise<boolean>;
  /** The message was accepted by the mail server: sent, data and recipient emptied, whoever holds the claim. */
  sent(id: string, now: number): Promise<void>;
  /** Releases the claim for another attempt at `nextAttemptAt`; false when the claim was lost. */
  retry(id: string, claimant: string, nextAttemptAt: number, error: string): Promise<boolean>;
  /** Ends the message without sending it (failed, or dropped by its preparer), data and recipient emptied. */
  finish(id: string, claimant: string, status: 'failed' | 'dropped', error: string | null): Promise<boolean>;
  get(id: string): Promise<OutboxRecord | null>;
  /** Deletes at most `batch` finished messages created before `before`. Returns how many. */
  purge(before: number, batch: number): Promise<number>;
  /** The mails waiting to be sent to `recipient`, oldest first: their template and when they were queued (a data export). */
  pendingTo(recipient: string): Promise<{ template: string; createdAt: number }[]>;
}

export interface SignInDeviceStore {
  /**
   * Notes that the user signed in from `device` (an opaque fingerprint) at `now`. Returns whether
   * it was new and, when it was, how many devices the user had before it (0 otherwise).
   */
  remember(userId: string, device: string, now: number): Promise<{ isNew: boolean; before: number }>;
  /** Forgets up to `batch` devices not seen since `before`. Returns how many. */
  purge(before: number, batch: number): Promise<number>;
  /** When each of the user's remembered devices was first and last seen, newest first (a data export; the fingerprints are hashes). */
  listForUser(userId: string): Promise<{ firstSeen: number; lastSeen: number }[]>;
}

export interface Storage {
  readonly kind: 'sqlite' | 'postgres' | 'memory';
  readonly users: UserStore;
  readonly sessions: SessionStore;
  readonly revocations: RevocationEventStore;
  readonly emailTokens: EmailTokenStore;
  readonly outbox: OutboxStore;
  readonly devices: SignInDeviceStore;
  /** Second factors (factor-types.ts). */
  readonly factors: FactorStore;
  readonly challenges: ChallengeStore;
  readonly events: EventStore;
  /** The webhook outbox: one row per (event, endpoint), written with the event. */
  readonly deliveries: DeliveryStore;
  /**
   * Runs pending versioned migrations and returns those this call applied, in order. Idempotent;
   * safe with several instances starting at once.
   */
  migrate(): Promise<AppliedMigration[]>;
  /** The migrations migrate() would apply, in order, read without applying or locking anything. */
  pendingMigrations(): Promise<AppliedMigration[]>;
  /**
   * The migrations the database records that this version does not know: a newer Warden migrated
   * it. Its schema is a superset (migrations only add), so this version still serves on it, as an
   * instance not yet upgraded does in a rolling upgrade, but must say so (read without locking).
   */
  newerMigrations(): Promise<AppliedMigration[]>;
  /** Cheap liveness query for GET /ready. */
  ping(): Promise<void>;
  /** The connection pool's state (PostgreSQL), for metrics; absent where there is no pool. */
  poolStats?(): { total: number; idle: number; waiting: number };
  close(): Promise<void>;
}

/** Options every adapter takes. */
export interface StorageOptions {
  /** Epoch milliseconds for the timestamps storage sets itself (createdAt defaults, updatedAt, migration records). Default Date.now. */
  clock?: () => number;
  /**
   * Longest wait for a statement, in ms (default 2500): on PostgreSQL for its answer (enforced by
   * the client and the server), on SQLite for another connection's write lock. Past it: StorageUnavailable.
   */
  queryTimeoutMs?: number;
}
