// Versioned schema migrations, one entry per change, never edited once released: a deployed
// database records which versions it has in `schema_migrations`, and each adapter's migrate()
// applies the missing ones in order, each in its own transaction. Add a change by appending an
// entry with the next version, written once with the dialect words of `Ddl` (src/storage/sql.ts)
// where SQLite and PostgreSQL differ, and a line in the column table (src/storage/columns.ts).
//
// Column notes:
//  - times are epoch milliseconds (INTEGER in SQLite, BIGINT in PostgreSQL) so they round-trip exactly;
//  - ids are TEXT in PostgreSQL too, not UUID: a malformed id from a request must be "not found",
//    not an invalid-input error;
//  - username_lower is computed by the application (SQLite's lower() only folds ASCII);
//  - unique constraints are named <table>_<column>_key so a violation maps to its column, and the
//    column table says which field that is.

import { POSTGRES, SQLITE, Script, sql, type Ddl, type Plan } from './sql.js';

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

/** One migration text for both dialects, from the words each spells differently (Ddl in sql.ts). */
function both(version: number, name: string, text: (t: Ddl) => string): Migration {
  return { version, name, sqlite: text(SQLITE.ddl), postgres: text(POSTGRES.ddl) };
}

export const MIGRATIONS: readonly Migration[] = [
  both(1, 'users, sessions, revocations', (t) => `
      CREATE TABLE users (
        id             TEXT PRIMARY KEY,
        username       TEXT NOT NULL,
        username_lower TEXT NOT NULL CONSTRAINT users_username_lower_key UNIQUE,
        email          TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
        full_name      TEXT,
        roles          ${t.json} NOT NULL DEFAULT '[]' CHECK (${t.isJsonArray('roles')}),
        is_active      ${t.boolean} NOT NULL DEFAULT ${t.true}${t.booleanCheck('is_active')},
        password_hash  TEXT NOT NULL,
        created_at     ${t.time} NOT NULL,
        updated_at     ${t.time} NOT NULL
      );
      CREATE INDEX users_created_idx ON users (created_at, ${t.binary('id')});

      CREATE TABLE sessions (
        id              TEXT PRIMARY KEY,
        user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        refresh_jti     TEXT NOT NULL,
        created_at      ${t.time} NOT NULL,
        last_used_at    ${t.time} NOT NULL,
        expires_at      ${t.time} NOT NULL,
        idle_expires_at ${t.time} NOT NULL,
        user_agent      TEXT,
        ip              TEXT,
        ended_at        ${t.time},
        end_reason      TEXT
      );
      CREATE INDEX sessions_user_idx ON sessions (user_id);

      CREATE TABLE revocations (
        kind       TEXT NOT NULL CHECK (kind IN ('jti', 'sid', 'user', 'roles')),
        key        TEXT NOT NULL,
        value      TEXT NOT NULL DEFAULT '',
        expires_at ${t.time} NOT NULL,
        PRIMARY KEY (kind, key)
      );
      CREATE INDEX revocations_expires_idx ON revocations (expires_at);
    `),
  // When each record was last written, so that an instance cut off from the bus can ask for the new ones.
  both(2, 'revocations.recorded_at', (t) => `
      ALTER TABLE revocations ADD COLUMN recorded_at ${t.time} NOT NULL DEFAULT 0;
      CREATE INDEX revocations_recorded_idx ON revocations (recorded_at);
    `),
  // The refresh token a rotation replaced, and when: a lost answer or a second tab presenting it
  // again within REFRESH_REUSE_GRACE_SECONDS gets the current one. The partial index serves what
  // reads a user's live sessions (the session limit at each sign-in, the list, logout).
  both(3, 'sessions: previous refresh jti, live-session index', (t) => `
      ALTER TABLE sessions ADD COLUMN previous_jti TEXT;
      ALTER TABLE sessions ADD COLUMN rotated_at ${t.time};
      CREATE INDEX sessions_live_idx ON sessions (user_id, created_at) WHERE ended_at IS NULL;
    `),
  both(4, 'email verification, mailed tokens, mail outbox, sign-in devices', (t) => `
      ALTER TABLE users ADD COLUMN email_verified ${t.boolean} NOT NULL DEFAULT ${t.false}${t.booleanCheck('email_verified')};

      CREATE TABLE email_tokens (
        hash          TEXT PRIMARY KEY,
        user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        purpose       TEXT NOT NULL CHECK (purpose IN ('reset', 'verify', 'email')),
        email         TEXT NOT NULL,
        created_at    ${t.time} NOT NULL,
        expires_at    ${t.time} NOT NULL,
        used_at       ${t.time},
        superseded_at ${t.time}
      );
      CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);
      CREATE INDEX email_tokens_expires_idx ON email_tokens (expires_at);

      CREATE TABLE mail_outbox (
        id              TEXT PRIMARY KEY,
        template        TEXT NOT NULL,
        recipient       TEXT NOT NULL,
        data            ${t.json} NOT NULL DEFAULT '{}',
        prepared        ${t.boolean} NOT NULL${t.booleanCheck('prepared')},
        status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'dropped', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      ${t.time} NOT NULL,
        next_attempt_at ${t.time} NOT NULL,
        deadline        ${t.time} NOT NULL,
        claimed_by      TEXT,
        claimed_until   ${t.time},
        sent_at         ${t.time},
        last_error      TEXT
      );
      CREATE INDEX mail_outbox_due_idx ON mail_outbox (status, next_attempt_at);

      CREATE TABLE sign_in_devices (
        user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        device     TEXT NOT NULL,
        first_seen ${t.time} NOT NULL,
        last_seen  ${t.time} NOT NULL,
        PRIMARY KEY (user_id, device)
      );
      CREATE INDEX sign_in_devices_seen_idx ON sign_in_devices (last_seen);
    `),
  // Users imported from another system keep their old id (when it was not a UUID) so that a rerun
  // of the import finds them again. Unique, NULLs apart (both databases allow many NULLs).
  both(5, 'users.legacy_id', () => `
      ALTER TABLE users ADD COLUMN legacy_id TEXT;
      CREATE UNIQUE INDEX users_legacy_id_key ON users (legacy_id);
    `),
  both(6, 'second factors: totp_factors, recovery_codes, passkeys, challenges', (t) => `
      CREATE TABLE totp_factors (
        id             TEXT PRIMARY KEY,
        user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        sealed_secret  TEXT NOT NULL,
        created_at     ${t.time} NOT NULL,
        confirmed_at   ${t.time},
        last_used_step ${t.integer},
        last_used_at   ${t.time}
      );
      CREATE INDEX totp_factors_user_idx ON totp_factors (user_id);

      CREATE TABLE recovery_codes (
        user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        code_hash  TEXT NOT NULL,
        created_at ${t.time} NOT NULL,
        used_at    ${t.time},
        PRIMARY KEY (user_id, code_hash)
      );

      CREATE TABLE passkeys (
        id           TEXT PRIMARY KEY,
        user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        public_key   TEXT NOT NULL,
        sign_count   ${t.integer} NOT NULL,
        transports   ${t.json} NOT NULL DEFAULT '[]' CHECK (${t.isJsonArray('transports')}),
        device_type  TEXT NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
        backed_up    ${t.boolean} NOT NULL${t.booleanCheck('backed_up')},
        name         TEXT,
        created_at   ${t.time} NOT NULL,
        last_used_at ${t.time}
      );
      CREATE INDEX passkeys_user_idx ON passkeys (user_id);

      CREATE TABLE challenges (
        id         TEXT NOT NULL,
        kind       TEXT NOT NULL CHECK (kind IN ('mfa_token', 'passkey_register', 'passkey_second_factor', 'passkey_login')),
        user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
        created_at ${t.time} NOT NULL,
        expires_at ${t.time} NOT NULL,
        PRIMARY KEY (kind, id)
      );
      CREATE INDEX challenges_expires_idx ON challenges (expires_at);
      CREATE INDEX challenges_user_idx ON challenges (user_id);
    `),
  // The security event stream and the webhook outbox. Events keep no foreign key to users: a deleted
  // user's history stays. Every listing pages on (occurred_at, id) through one of the four indexes,
  // newest first, by key (never OFFSET); ids are UUIDv7, compared byte by byte. A delivery row belongs to
  // its event (the retention purge takes both); due ones are found through a partial index.
  both(7, 'events, webhook_deliveries', (t) => `
      CREATE TABLE events (
        id          ${t.binaryText} PRIMARY KEY,
        occurred_at ${t.time} NOT NULL,
        type        TEXT NOT NULL,
        actor_id    TEXT,
        user_id     TEXT,
        session_id  TEXT,
        ip          TEXT,
        user_agent  TEXT,
        outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
        details     ${t.json} NOT NULL DEFAULT '{}'
      );
      CREATE INDEX events_time_idx ON events (occurred_at, id);
      CREATE INDEX events_user_idx ON events (user_id, occurred_at, id);
      CREATE INDEX events_actor_idx ON events (actor_id, occurred_at, id);
      CREATE INDEX events_type_idx ON events (type, occurred_at, id);

      CREATE TABLE webhook_deliveries (
        id              ${t.binaryText} PRIMARY KEY,
        event_id        ${t.binaryText} NOT NULL REFERENCES events (id) ON DELETE CASCADE,
        endpoint        TEXT NOT NULL,
        state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      ${t.time} NOT NULL,
        next_attempt_at ${t.time} NOT NULL,
        last_attempt_at ${t.time},
        last_status     INTEGER,
        last_error      TEXT,
        delivered_at    ${t.time},
        claim           TEXT,
        CONSTRAINT webhook_deliveries_event_endpoint_key UNIQUE (event_id, endpoint)
      );
      CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
      CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at, id);
    `),
  {
    // Substring search by email (users.list's `email` filter) without reading every user: a
    // trigram index. The filter itself is the dialects' `contains` (src/storage/sql.ts).
    version: 8,
    name: 'email substring search index',
    // SQLite: an FTS5 trigram table of (user id, email), kept by triggers. Its rows are found by
    // the user id through users_email_search_rows, not by users' rowid, which VACUUM may renumber.
    sqlite: `
      CREATE VIRTUAL TABLE users_email_search USING fts5(user_id UNINDEXED, email, tokenize = 'trigram');
      CREATE TABLE users_email_search_rows (user_id TEXT PRIMARY KEY, search_rowid INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TRIGGER users_email_search_insert AFTER INSERT ON users BEGIN
        INSERT INTO users_email_search (user_id, email) VALUES (new.id, new.email);
        INSERT INTO users_email_search_rows (user_id, search_rowid) VALUES (new.id, last_insert_rowid());
      END;
      CREATE TRIGGER users_email_search_update AFTER UPDATE OF email ON users WHEN old.email IS NOT new.email BEGIN
        DELETE FROM users_email_search WHERE rowid = (SELECT search_rowid FROM users_email_search_rows WHERE user_id = old.id);
        INSERT INTO users_email_search (user_id, email) VALUES (new.id, new.email);
        UPDATE users_email_search_rows SET search_rowid = last_insert_rowid() WHERE user_id = new.id;
      END;
      CREATE TRIGGER users_email_search_delete AFTER DELETE ON users BEGIN
        DELETE FROM users_email_search WHERE rowid = (SELECT search_rowid FROM users_email_search_rows WHERE user_id = old.id);
        DELETE FROM users_email_search_rows WHERE user_id = old.id;
      END;
      INSERT INTO users_email_search (user_id, email) SELECT id, email FROM users;
      INSERT INTO users_email_search_rows (user_id, search_rowid) SELECT user_id, rowid FROM users_email_search;
    `,
    // PostgreSQL: a GIN index with pg_trgm's operator class, wherever pg_trgm is installed; when it
    // is not, this installs it into public. A role that may do neither gets no index (and a
    // NOTICE): search still works, by reading the table, as before.
    postgres: `
      DO $$
      DECLARE
        trgm name := (SELECT extnamespace::regnamespace::name FROM pg_extension WHERE extname = 'pg_trgm');
      BEGIN
        IF trgm IS NULL THEN
          BEGIN
            CREATE EXTENSION pg_trgm SCHEMA public;
            trgm := 'public';
          EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'pg_trgm unavailable (%): searching users by email reads the whole table', SQLERRM;
            RETURN;
          END;
        END IF;
        EXECUTE format('CREATE INDEX users_email_trgm_idx ON users USING gin (email %I.gin_trgm_ops)', trgm);
      END $$;
    `,
  },
  {
    // users.list's total without counting every user: a count kept by triggers, read when the list
    // is not filtered (see sql-stores.ts). Exact: it moves in the same transaction as the rows.
    version: 9,
    name: 'users count',
    // SQLite has one writer at a time: one row.
    sqlite: `
      CREATE TABLE users_count (shard INTEGER PRIMARY KEY, n INTEGER NOT NULL);
      INSERT INTO users_count (shard, n) VALUES (0, (SELECT count(*) FROM users));
      CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN UPDATE users_count SET n = n + 1 WHERE shard = 0; END;
      CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN UPDATE users_count SET n = n - 1 WHERE shard = 0; END;
    `,
    // PostgreSQL: 16 rows, a random one per statement, so that concurrent sign-ups rarely wait on
    // each other's row lock; statement triggers, so that a bulk insert moves the count once.
    postgres: `
      CREATE TABLE users_count (shard INTEGER PRIMARY KEY, n BIGINT NOT NULL);
      INSERT INTO users_count (shard, n) SELECT s, 0 FROM generate_series(0, 15) AS s;
      UPDATE users_count SET n = (SELECT count(*) FROM users) WHERE shard = 0;
      CREATE FUNCTION users_count_move() RETURNS trigger LANGUAGE plpgsql AS $f$
      DECLARE
        one_shard INTEGER := floor(random() * 16)::int; -- drawn once: in a WHERE it would be drawn per row
        moved BIGINT := (SELECT count(*) FROM changed_rows);
      BEGIN
        IF moved > 0 THEN
          UPDATE users_count SET n = n + CASE WHEN TG_OP = 'INSERT' THEN moved ELSE -moved END WHERE shard = one_shard;
        END IF;
        RETURN NULL;
      END $f$;
      CREATE TRIGGER users_count_insert AFTER INSERT ON users REFERENCING NEW TABLE AS changed_rows
        FOR EACH STATEMENT EXECUTE FUNCTION users_count_move();
      CREATE TRIGGER users_count_delete AFTER DELETE ON users REFERENCING OLD TABLE AS changed_rows
        FOR EACH STATEMENT EXECUTE FUNCTION users_count_move();
    `,
  },
];

/** DDL of the bookkeeping table, the same in both dialects. */
export const SCHEMA_MIGRATIONS_DDL = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`;

/** Migrations not yet in `applied`, in version order. */
export function pending(applied: Iterable<number>): Migration[] {
  const done = new Set(applied);
  return [...MIGRATIONS].sort((a, b) => a.version - b.version).filter((m) => !done.has(m.version));
}

/**
 * One step of the migration loop, run by each adapter inside a transaction that excludes other
 * migrating instances: make sure the bookkeeping table exists, read which versions are applied,
 * apply the next pending one and record it. Returns true when nothing was pending.
 */
export function* migrationStep(dialect: 'sqlite' | 'postgres', now: number): Plan<boolean> {
  yield new Script(SCHEMA_MIGRATIONS_DDL);
  const applied = yield sql`SELECT version FROM schema_migrations`;
  const next = pending(applied.rows.map((r) => Number(r.version)))[0];
  if (!next) return true;
  yield new Script(next[dialect]);
  yield sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${next.version}, ${next.name}, ${now})`;
  return false;
}
