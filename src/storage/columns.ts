// One column table per stored record: the SQL column that holds each field and the kind of value
// it is. The SQL adapters read and write records only through these tables (src/storage/sql.ts
// encodes each kind per dialect), so a new field is one line here plus a migration; a record field
// without a column here does not type-check.
import { usernameKey } from './rules.js';
import type { ChallengeRecord, PasskeyRecord, RecoveryCodeRecord, TotpFactorRecord } from './factor-types.js';
import type {
  DeliveryRecord, EmailTokenRecord, EventRecord, OutboxRecord, SessionRecord, StoredRevocation, UniqueViolation, UserRecord,
} from './types.js';

/** How a value is stored; each dialect encodes and decodes these its own way. */
export type ColumnKind = 'text' | 'time' | 'integer' | 'boolean' | 'json';

export type UniqueField = UniqueViolation['field'];

export interface Column {
  readonly name: string;
  readonly kind: ColumnKind;
  /** The column has a unique index; a violation is reported as UniqueViolation(unique). */
  readonly unique?: UniqueField;
}

/**
 * A column the application computes from one field (a case-folded key, say): written on insert
 * and whenever a patch sets that field, never read back into the record.
 */
export interface DerivedColumn<R> extends Column {
  readonly from: keyof R & string;
  readonly derive: (value: string) => string;
}

export interface Table<R> {
  readonly name: string;
  readonly fields: { readonly [K in keyof R]-?: Column };
  readonly derived: readonly DerivedColumn<R>[];
}

export const USERS: Table<UserRecord> = {
  name: 'users',
  fields: {
    id: { name: 'id', kind: 'text' },
    username: { name: 'username', kind: 'text' },
    email: { name: 'email', kind: 'text', unique: 'email' },
    fullName: { name: 'full_name', kind: 'text' },
    roles: { name: 'roles', kind: 'json' },
    isActive: { name: 'is_active', kind: 'boolean' },
    emailVerified: { name: 'email_verified', kind: 'boolean' },
    passwordHash: { name: 'password_hash', kind: 'text' },
    legacyId: { name: 'legacy_id', kind: 'text' },
    createdAt: { name: 'created_at', kind: 'time' },
    updatedAt: { name: 'updated_at', kind: 'time' },
  },
  // Folded in JS, not SQL: SQLite's lower() only folds ASCII.
  derived: [{ name: 'username_lower', kind: 'text', unique: 'username', from: 'username', derive: usernameKey }],
};

export const SESSIONS: Table<SessionRecord> = {
  name: 'sessions',
  fields: {
    id: { name: 'id', kind: 'text' },
    userId: { name: 'user_id', kind: 'text' },
    refreshJti: { name: 'refresh_jti', kind: 'text' },
    previousJti: { name: 'previous_jti', kind: 'text' },
    rotatedAt: { name: 'rotated_at', kind: 'time' },
    createdAt: { name: 'created_at', kind: 'time' },
    lastUsedAt: { name: 'last_used_at', kind: 'time' },
    expiresAt: { name: 'expires_at', kind: 'time' },
    idleExpiresAt: { name: 'idle_expires_at', kind: 'time' },
    userAgent: { name: 'user_agent', kind: 'text' },
    ip: { name: 'ip', kind: 'text' },
    endedAt: { name: 'ended_at', kind: 'time' },
    endReason: { name: 'end_reason', kind: 'text' },
  },
  derived: [],
};

export const REVOCATIONS: Table<StoredRevocation> = {
  name: 'revocations',
  fields: {
    kind: { name: 'kind', kind: 'text' },
    key: { name: 'key', kind: 'text' },
    value: { name: 'value', kind: 'text' },
    expiresAt: { name: 'expires_at', kind: 'time' },
    recordedAt: { name: 'recorded_at', kind: 'time' },
  },
  derived: [],
};

export const TOTP_FACTORS: Table<TotpFactorRecord> = {
  name: 'totp_factors',
  fields: {
    id: { name: 'id', kind: 'text' },
    userId: { name: 'user_id', kind: 'text' },
    sealedSecret: { name: 'sealed_secret', kind: 'text' },
    createdAt: { name: 'created_at', kind: 'time' },
    confirmedAt: { name: 'confirmed_at', kind: 'time' },
    lastUsedStep: { name: 'last_used_step', kind: 'integer' },
    lastUsedAt: { name: 'last_used_at', kind: 'time' },
  },
  derived: [],
};

export const RECOVERY_CODES: Table<RecoveryCodeRecord> = {
  name: 'recovery_codes',
  fields: {
    userId: { name: 'user_id', kind: 'text' },
    codeHash: { name: 'code_hash', kind: 'text' },
    createdAt: { name: 'created_at', kind: 'time' },
    usedAt: { name: 'used_at', kind: 'time' },
  },
  derived: [],
};

export const PASSKEYS: Table<PasskeyRecord> = {
  name: 'passkeys',
  fields: {
    id: { name: 'id', kind: 'text' },
    userId: { name: 'user_id', kind: 'text' },
    publicKey: { name: 'public_key', kind: 'text' },
    signCount: { name: 'sign_count', kind: 'integer' },
    transports: { name: 'transports', kind: 'json' },
    deviceType: { name: 'device_type', kind: 'text' },
    backedUp: { name: 'backed_up', kind: 'boolean' },
    name: { name: 'name', kind: 'text' },
    createdAt: { name: 'created_at', kind: 'time' },
    lastUsedAt: { name: 'last_used_at', kind: 'time' },
  },
  derived: [],
};

export const CHALLENGES: Table<ChallengeRecord> = {
  name: 'challenges',
  fields: {
    id: { name: 'id', kind: 'text' },
    kind: { name: 'kind', kind: 'text' },
    userId: { name: 'user_id', kind: 'text' },
    createdAt: { name: 'created_at', kind: 'time' },
    expiresAt: { name: 'expires_at', kind: 'time' },
  },
  derived: [],
};

export const EMAIL_TOKENS: Table<EmailTokenRecord> = {
  name: 'email_tokens',
  fields: {
    hash: { name: 'hash', kind: 'text' },
    userId: { name: 'user_id', kind: 'text' },
    purpose: { name: 'purpose', kind: 'text' },
    email: { name: 'email', kind: 'text' },
    createdAt: { name: 'created_at', kind: 'time' },
    expiresAt: { name: 'expires_at', kind: 'time' },
    usedAt: { name: 'used_at', kind: 'time' },
    supersededAt: { name: 'superseded_at', kind: 'time' },
    sessionId: { name: 'session_id', kind: 'text' },
  },
  derived: [],
};

export const OUTBOX: Table<OutboxRecord> = {
  name: 'mail_outbox',
  fields: {
    id: { name: 'id', kind: 'text' },
    template: { name: 'template', kind: 'text' },
    recipient: { name: 'recipient', kind: 'text' },
    data: { name: 'data', kind: 'json' },
    prepared: { name: 'prepared', kind: 'boolean' },
    status: { name: 'status', kind: 'text' },
    attempts: { name: 'attempts', kind: 'integer' },
    createdAt: { name: 'created_at', kind: 'time' },
    nextAttemptAt: { name: 'next_attempt_at', kind: 'time' },
    deadline: { name: 'deadline', kind: 'time' },
    claimedBy: { name: 'claimed_by', kind: 'text' },
    claimedUntil: { name: 'claimed_until', kind: 'time' },
    sentAt: { name: 'sent_at', kind: 'time' },
    lastError: { name: 'last_error', kind: 'text' },
  },
  derived: [],
};

export const EVENTS: Table<EventRecord> = {
  name: 'events',
  fields: {
    id: { name: 'id', kind: 'text' },
    time: { name: 'occurred_at', kind: 'time' },
    type: { name: 'type', kind: 'text' },
    actorId: { name: 'actor_id', kind: 'text' },
    userId: { name: 'user_id', kind: 'text' },
    sessionId: { name: 'session_id', kind: 'text' },
    ip: { name: 'ip', kind: 'text' },
    userAgent: { name: 'user_agent', kind: 'text' },
    outcome: { name: 'outcome', kind: 'text' },
    details: { name: 'details', kind: 'json' },
  },
  derived: [],
};

export const DELIVERIES: Table<DeliveryRecord> = {
  name: 'webhook_deliveries',
  fields: {
    id: { name: 'id', kind: 'text' },
    eventId: { name: 'event_id', kind: 'text' },
    endpoint: { name: 'endpoint', kind: 'text' },
    state: { name: 'state', kind: 'text' },
    attempts: { name: 'attempts', kind: 'integer' },
    createdAt: { name: 'created_at', kind: 'time' },
    nextAttemptAt: { name: 'next_attempt_at', kind: 'time' },
    lastAttemptAt: { name: 'last_attempt_at', kind: 'time' },
    lastStatus: { name: 'last_status', kind: 'integer' },
    lastError: { name: 'last_error', kind: 'text' },
    deliveredAt: { name: 'delivered_at', kind: 'time' },
    claim: { name: 'claim', kind: 'text' },
  },
  derived: [],
};

const TABLES: readonly { name: string; fields: Record<string, Column>; derived: readonly Column[] }[] = [
  USERS, SESSIONS, REVOCATIONS, EMAIL_TOKENS, OUTBOX, EVENTS, DELIVERIES,
];

/** The UniqueViolation field of a unique column, by table and column name (as drivers report them). */
export function uniqueFieldOf(table: string, column: string): UniqueField | undefined {
  const t = TABLES.find((x) => x.name === table);
  return t && [...Object.values(t.fields), ...t.derived].find((c) => c.name === column)?.unique;
}

/** The values of a record's unique columns, derived ones first (the order of the indexes in the schema). */
export function uniqueValues<R>(t: Table<R>, r: R): { field: UniqueField; value: unknown }[] {
  const out: { field: UniqueField; value: unknown }[] = [];
  for (const d of t.derived) if (d.unique) out.push({ field: d.unique, value: d.derive(String(r[d.from])) });
  for (const [k, c] of Object.entries<Column>(t.fields)) if (c.unique) out.push({ field: c.unique, value: r[k as keyof R] });
  return out;
}
