// The security event stream's vocabulary: every event type Warden writes, with its outcome and
// the small typed details it carries, and the stores' contracts (events and the webhook outbox).
// Storage implements those contracts with these types (type-only); it imports nothing else from
// the events module.
//
// The type strings are stored, sent to webhooks and filtered on by operators, so they never change:
// add a type, never rename one. Details never hold a password, a token, a hash or a reset link.

/** Every event type, with whether it records something that succeeded or something refused. */
export const EVENT_OUTCOMES = {
  'signin.succeeded': 'success',
  'signin.failed': 'failure',
  'signin.throttled': 'failure',
  signout: 'success',
  'session.refreshed': 'success',
  'session.reuse_detected': 'failure',
  'session.migrated': 'success',
  'session.ended': 'success',
  'token.revoked': 'success',
  'password.changed': 'success',
  'password.change_failed': 'failure',
  'password.reset': 'success',
  'email.verified': 'success',
  'email.changed': 'success',
  'mfa.enrolled': 'success',
  'mfa.removed': 'success',
  'mfa.used': 'success',
  'mfa.recovery_codes_regenerated': 'success',
  'user.created': 'success',
  'user.imported': 'success',
  'user.updated': 'success',
  'user.roles_changed': 'success',
  'user.activated': 'success',
  'user.deactivated': 'success',
  'user.deleted': 'success',
  'user.delete_failed': 'failure',
  'user.invited': 'success',
  'user.invitation_accepted': 'success',
} as const satisfies Record<string, Outcome>;

export type Outcome = 'success' | 'failure';
export type EventType = keyof typeof EVENT_OUTCOMES;
export const EVENT_TYPES = Object.keys(EVENT_OUTCOMES) as EventType[];

/**
 * Why a sign-in was refused (the client is never told which of login or password was wrong; the
 * audit is). `malformed`: refused before any lookup (a login or password over the length limits).
 */
export type SignInFailure = 'unknown_login' | 'bad_password' | 'inactive' | 'malformed' | 'second_factor';

/** How a session came to an end, besides the actions that have events of their own. */
export type SessionEndReason = 'logout' | 'admin' | 'revoked' | 'user' | 'mismatch' | 'limit' | (string & {});

/** The details each type carries: small, typed, and never a secret. */
export interface EventDetails {
  /** How: a password (then a second factor, when `amr` says so) or a passkey alone; `amr` as the tokens state it (RFC 8176). */
  'signin.succeeded': { method: 'password' | 'passkey'; amr?: string[] };
  /** `login` (at most 64 characters) only when no account matched: what was tried. */
  'signin.failed': { reason: SignInFailure; login?: string };
  /** Written once per (client IP, login) and window, at the first refusal. */
  'signin.throttled': { retry_after_seconds: number; login: string };
  signout: { scope: 'local' | 'global' | 'others'; sessions_ended: number };
  /** `grace`: a refresh token just replaced, answered with the session's current one (no rotation). */
  'session.refreshed': { grace?: true };
  'session.reuse_detected': Record<string, never>;
  /**
   * A refresh token of the application Warden replaced (no `sid`; LEGACY_REFRESH_TOKENS) exchanged
   * for this new session; `legacy_id`: the user's, when the token's `sub` named them by it.
   */
  'session.migrated': { legacy_id?: string };
  'session.ended': { reason: SessionEndReason };
  'token.revoked': { token_type: 'access' | 'refresh' };
  'password.changed': Record<string, never>;
  /** A wrong current password on a change (a guess like a sign-in's, throttled with them). */
  'password.change_failed': Record<string, never>;
  'password.reset': Record<string, never>;
  'email.verified': Record<string, never>;
  'email.changed': Record<string, never>;
  /** `method`: `totp` or `passkey`; `factor_id` the factor's id (never its secret). */
  'mfa.enrolled': { method: 'totp' | 'passkey'; factor_id: string };
  /** `all`: an administrator's reset of every factor. */
  'mfa.removed': { method: 'totp' | 'passkey' | 'all'; factor_id?: string };
  /** The second factor of a sign-in, as RFC 8176 names it: `otp` (TOTP or recovery code), `hwk`/`swk` (a passkey). */
  'mfa.used': { method: string };
  /** A user's new set of recovery codes, the old ones void (the codes are never in it). */
  'mfa.recovery_codes_regenerated': Record<string, never>;
  /** How: a sign-up, an administrator (or the operator's `warden users create`), an invitation (no password yet), Warden's configuration (ADMIN_USERNAME). */
  'user.created': { via: 'signup' | 'admin' | 'invite' | 'configuration'; roles: string[] };
  /** By `warden import`: a new user, or an existing one overwritten (the names of the fields it set). */
  'user.imported': { action: 'created' | 'updated'; fields?: string[] };
  /** The names of the profile fields that changed (never their values). */
  'user.updated': { fields: string[] };
  'user.roles_changed': { from: string[]; to: string[] };
  'user.activated': Record<string, never>;
  'user.deactivated': Record<string, never>;
  'user.deleted': { via?: 'self' };
  /** A user's own deletion refused: the password given was wrong. */
  'user.delete_failed': Record<string, never>;
  /** An invitation mail queued by an administrator or the operator: with the account's creation, or sent again (`resent`). */
  'user.invited': { resent: boolean };
  /** The invited person set their first password with the mailed link (which verified the address). */
  'user.invitation_accepted': Record<string, never>;
}

/** One event as stored and listed. Times are epoch milliseconds. */
export interface EventRecord<T extends EventType = EventType> {
  /** A UUIDv7: time-ordered, so (time, id) orders events as they happened. */
  id: string;
  time: number;
  type: T;
  /** The user who acted; null for an anonymous request or Warden itself. */
  actorId: string | null;
  /** The user the event is about (the account signed into, changed, deleted...). */
  userId: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  outcome: Outcome;
  details: EventDetails[T];
}

/** Any event, its details typed by its type. */
export type AnyEvent = { [T in EventType]: EventRecord<T> }[EventType];

/** An event to write, and the webhook endpoints (URLs) that get a delivery of it in the same transaction. */
export type NewEvent = AnyEvent & { deliverTo: readonly string[] };

/**
 * The events a write records, given as a list or computed from the write's result (e.g. only when a
 * row matched). Evaluated inside the write's transaction: the change and its events commit together.
 */
export type Emit<T> = readonly NewEvent[] | ((result: T) => readonly NewEvent[]);

/** Newest first; `before` continues a listing after its last item (keyset paging, never OFFSET). */
export interface EventQuery {
  limit: number;
  types?: readonly EventType[];
  actorId?: string;
  userId?: string;
  /** time >= from */
  from?: number;
  /** time < to */
  to?: number;
  before?: EventCursor;
}

export interface EventCursor {
  time: number;
  id: string;
}

export interface EventStore {
  /** Writes events that record no change of their own (a refused sign-in), with their deliveries. */
  append(events: readonly NewEvent[]): Promise<void>;
  list(q: EventQuery): Promise<EventRecord[]>;
  /** How many events of `type` happened at or after `from` (one index range: type, then time). */
  count(type: EventType, from: number): Promise<number>;
  /** Deletes at most `batch` of the oldest events older than `before` (and their deliveries). Returns how many. */
  purge(before: number, batch: number): Promise<number>;
}

export type DeliveryState = 'pending' | 'delivered' | 'failed';

/** One event's delivery to one webhook endpoint: the durable outbox row and its attempts. */
export interface DeliveryRecord {
  id: string;
  eventId: string;
  endpoint: string;
  state: DeliveryState;
  attempts: number;
  createdAt: number;
  /** Pending: when it may next be tried (a claimed one: when its claim lapses). */
  nextAttemptAt: number;
  lastAttemptAt: number | null;
  /** The receiver's HTTP status on the last attempt; null when it did not answer. */
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: number | null;
  /** Who holds the current attempt (a random token per claim); null before the first. */
  claim: string | null;
}

export interface ClaimedDelivery {
  delivery: DeliveryRecord;
  event: EventRecord;
}

/** What an attempt came to. */
export type AttemptResult =
  | { state: 'delivered'; at: number; status: number }
  | { state: 'pending'; at: number; retryAt: number; status: number | null; error: string }
  | { state: 'failed'; at: number; status: number | null; error: string };

export interface DeliveryQuery {
  limit: number;
  state?: DeliveryState;
  eventId?: string;
  /** Newest first by (createdAt, id); continue after this one. */
  before?: { createdAt: number; id: string };
}

/**
 * The deliveries an instance takes: those to the endpoints it is configured with, and any past the
 * delivery window (to give them up). During a rolling deploy that adds an endpoint, the instances
 * without it leave its deliveries to those that have it.
 */
export interface DeliveryScope {
  endpoints: readonly string[];
  orCreatedBefore: number;
}

export interface DeliveryStore {
  /**
   * Claims up to `limit` pending deliveries that are due at `now`, atomically across instances:
   * each gets `claim`, one more attempt, and is held (not due) until now + leaseMs. With `scope`,
   * only deliveries to its endpoints, or created before `orCreatedBefore` (whatever their endpoint).
   */
  claim(now: number, limit: number, leaseMs: number, claim: string, scope?: DeliveryScope): Promise<ClaimedDelivery[]>;
  /** Records an attempt's result; false (nothing written) when the claim is no longer this one. */
  finish(id: string, claim: string, result: AttemptResult): Promise<boolean>;
  list(q: DeliveryQuery): Promise<DeliveryRecord[]>;
  /** Deliveries still pending (the webhook backlog). */
  backlog(): Promise<number>;
}

// Controls, format characters (the bidirectional controls among them) and every other character
// drawn as nothing (Default_Ignorable_Code_Point).
const UNSEEN = /[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]/gu;

/**
 * Anyone's text as Warden shows it again (a failed sign-in's login or a client's user agent in an
 * event, a cell of a CLI table) with each character a reader cannot see as U+FFFD: a bidirectional
 * control would reorder how the line reads, a zero-width one make "root@example.com" of a login
 * that matched no account, a NEL (Node reads header bytes as latin1) break a JSON line for readers
 * that split at it, a C1 CSI start a terminal's escape sequence.
 */
export function markUnseen(v: string): string {
  return v.replace(UNSEEN, '\ufffd');
}
