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
import type { AppliedMigration } from './types.js';

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

/** The unit of sessions.idle_hour on PostgreSQL (migration 11): the idle deadline's hour. */
export const IDLE_HOUR_MS = 3_600_000;

/**
 * The prefix of the password hashes Warden makes today (accounts' CURRENT_HASH_PREFIX, which storage
 * may not import), as migration 10's legacy-hash indexes and counts were built for it. A test holds
 * the two equal: should the hashing settings change, a new migration rebuilds those for the new
 * prefix (until then the filter still answers right, by reading the table).
 */
export const INDEXED_HASH_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';

/**
 * True when the hash in `column` was made with today's settings: the words migration 10's indexes
 * and users.list share. SQLite: a comparison of its first characters (its LIKE ignores case).
 * PostgreSQL: LIKE with the prefix, whose share of the users the planner estimates from the
 * column's statistics (it has none for an expression such as substr()).
 */
export function currentHash(dialect: 'sqlite' | 'postgres', column: string): string {
  return dialect === 'sqlite'
    ? `substr(${column}, 1, ${INDEXED_HASH_PREFIX.length}) = '${INDEXED_HASH_PREFIX}'`
    : `${column} LIKE '${INDEXED_HASH_PREFIX.replace(/[\\%_]/g, (c) => `\\${c}`)}%'`;
}

/** The roles a users row counts under in users_filter_counts (SQLite): every user's ('') and each of its own. */
const sqliteCountRoles = (row: string) => `SELECT '' AS role UNION SELECT value FROM json_each(${row}.roles)`;

/** Counts the users row `row` ('new' in a trigger) in users_filter_counts (SQLite). */
function sqliteCountsAdd(row: string): string {
  return `INSERT INTO users_filter_counts (role, is_active, email_verified, current_hash, n)
          SELECT role, ${row}.is_active, ${row}.email_verified, ${currentHash('sqlite', `${row}.password_hash`)}, 1 FROM (${sqliteCountRoles(row)}) WHERE TRUE
          ON CONFLICT (role, is_active, email_verified, current_hash) DO UPDATE SET n = n + 1;`;
}

/** Uncounts the users row `row` ('old' in a trigger) from users_filter_counts (SQLite). */
function sqliteCountsRemove(row: string): string {
  return `UPDATE users_filter_counts SET n = n - 1
          WHERE is_active = ${row}.is_active AND email_verified = ${row}.email_verified AND current_hash = (${currentHash('sqlite', `${row}.password_hash`)})
            AND role IN (${sqliteCountRoles(row)});`;
}

/**
 * A substring search over one text column of users in SQLite, as migration 8's over email: an FTS5
 * trigram table of (user id, value) kept by triggers, its rows found by the user id.
 */
function sqliteTrigramSearch(name: string, column: string): string {
  const t = `users_${name}_search`;
  return `
      CREATE VIRTUAL TABLE ${t} USING fts5(user_id UNINDEXED, ${column}, tokenize = 'trigram');
      CREATE TABLE ${t}_rows (user_id TEXT PRIMARY KEY, search_rowid INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TRIGGER ${t}_insert AFTER INSERT ON users BEGIN
        INSERT INTO ${t} (user_id, ${column}) VALUES (new.id, new.${column});
        INSERT INTO ${t}_rows (user_id, search_rowid) VALUES (new.id, last_insert_rowid());
      END;
      CREATE TRIGGER ${t}_update AFTER UPDATE OF ${column} ON users WHEN old.${column} IS NOT new.${column} BEGIN
        DELETE FROM ${t} WHERE rowid = (SELECT search_rowid FROM ${t}_rows WHERE user_id = old.id);
        INSERT INTO ${t} (user_id, ${column}) VALUES (new.id, new.${column});
        UPDATE ${t}_rows SET search_rowid = last_insert_rowid() WHERE user_id = new.id;
      END;
      CREATE TRIGGER ${t}_delete AFTER DELETE ON users BEGIN
        DELETE FROM ${t} WHERE rowid = (SELECT search_rowid FROM ${t}_rows WHERE user_id = old.id);
        DELETE FROM ${t}_rows WHERE user_id = old.id;
      END;
      INSERT INTO ${t} (user_id, ${column}) SELECT id, ${column} FROM users;
      INSERT INTO ${t}_rows (user_id, search_rowid) SELECT user_id, rowid FROM ${t};`;
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
  {
    // What the administrators' user list filters on stays bounded at a million users (users.list in
    // sql-stores.ts): a substring search by username, as by email (migration 8); indexes holding
    // each filter's users in list order (status, verified address, legacy hash; each role's users
    // in user_roles), so that a page walks one of them; and the users counted per role (or '', all
    // users) and status, verified address and hash, kept by triggers as users_count (migration 9)
    // is, so that a total without a search is read, not counted. And the live sessions' deadlines,
    // which the administrators' overview counts.
    version: 10,
    name: 'user list filters: username search, filter indexes and counts; live sessions index',
    sqlite: `
      ${sqliteTrigramSearch('username', 'username_lower')}

      CREATE INDEX users_active_idx ON users (is_active, created_at, id);
      CREATE INDEX users_verified_idx ON users (email_verified, created_at, id);
      CREATE INDEX users_current_hash_idx ON users (created_at, id) WHERE ${currentHash('sqlite', 'password_hash')};
      CREATE INDEX users_legacy_hash_idx ON users (created_at, id) WHERE NOT ${currentHash('sqlite', 'password_hash')};

      CREATE TABLE user_roles (role TEXT NOT NULL, created_at INTEGER NOT NULL, user_id TEXT NOT NULL, PRIMARY KEY (role, created_at, user_id)) WITHOUT ROWID;
      CREATE TABLE users_filter_counts (
        role TEXT NOT NULL, is_active INTEGER NOT NULL, email_verified INTEGER NOT NULL, current_hash INTEGER NOT NULL, n INTEGER NOT NULL,
        PRIMARY KEY (role, is_active, email_verified, current_hash)
      ) WITHOUT ROWID;
      CREATE TRIGGER users_filter_counts_insert AFTER INSERT ON users BEGIN
        INSERT INTO user_roles (role, created_at, user_id) SELECT DISTINCT value, new.created_at, new.id FROM json_each(new.roles) WHERE TRUE;
        ${sqliteCountsAdd('new')}
      END;
      CREATE TRIGGER users_filter_counts_delete AFTER DELETE ON users BEGIN
        DELETE FROM user_roles WHERE role IN (SELECT value FROM json_each(old.roles)) AND created_at = old.created_at AND user_id = old.id;
        ${sqliteCountsRemove('old')}
      END;
      CREATE TRIGGER user_roles_update AFTER UPDATE OF roles ON users WHEN old.roles IS NOT new.roles BEGIN
        DELETE FROM user_roles WHERE role IN (SELECT value FROM json_each(old.roles)) AND created_at = old.created_at AND user_id = old.id;
        INSERT INTO user_roles (role, created_at, user_id) SELECT DISTINCT value, new.created_at, new.id FROM json_each(new.roles) WHERE TRUE;
      END;
      CREATE TRIGGER users_filter_counts_update AFTER UPDATE OF is_active, email_verified, password_hash, roles ON users
      WHEN old.is_active IS NOT new.is_active OR old.email_verified IS NOT new.email_verified OR old.roles IS NOT new.roles
        OR (${currentHash('sqlite', 'old.password_hash')}) IS NOT (${currentHash('sqlite', 'new.password_hash')}) BEGIN
        ${sqliteCountsRemove('old')}
        ${sqliteCountsAdd('new')}
      END;
      INSERT INTO user_roles (role, created_at, user_id) SELECT DISTINCT value, users.created_at, users.id FROM users, json_each(users.roles) WHERE TRUE;
      INSERT INTO users_filter_counts (role, is_active, email_verified, current_hash, n)
        SELECT role, is_active, email_verified, current_hash, count(*) FROM (
          SELECT '' AS role, is_active, email_verified, ${currentHash('sqlite', 'password_hash')} AS current_hash FROM users
          UNION ALL SELECT r.role, u.is_active, u.email_verified, ${currentHash('sqlite', 'u.password_hash')} FROM user_roles AS r JOIN users AS u ON u.id = r.user_id
        ) WHERE TRUE GROUP BY role, is_active, email_verified, current_hash;

      -- ended_at too, though always NULL here: SQLite reads the table for a column the index lacks.
      CREATE INDEX sessions_live_deadlines_idx ON sessions (idle_expires_at, expires_at, ended_at) WHERE ended_at IS NULL;
    `,
    // PostgreSQL: the username's trigram index where pg_trgm is (migration 8 installed it if it
    // could); the counts in 16 shards, a random one per statement, moved by statement triggers, as
    // users_count's.
    postgres: `
      DO $$
      DECLARE
        trgm name := (SELECT extnamespace::regnamespace::name FROM pg_extension WHERE extname = 'pg_trgm');
      BEGIN
        IF trgm IS NULL THEN
          RAISE NOTICE 'pg_trgm unavailable: searching users by username reads the whole table';
          RETURN;
        END IF;
        EXECUTE format('CREATE INDEX users_username_trgm_idx ON users USING gin (username_lower %I.gin_trgm_ops)', trgm);
      END $$;

      CREATE INDEX users_active_idx ON users (is_active, created_at, id COLLATE "C");
      CREATE INDEX users_verified_idx ON users (email_verified, created_at, id COLLATE "C");
      CREATE INDEX users_current_hash_idx ON users (created_at, id COLLATE "C") WHERE ${currentHash('postgres', 'password_hash')};
      CREATE INDEX users_legacy_hash_idx ON users (created_at, id COLLATE "C") WHERE NOT ${currentHash('postgres', 'password_hash')};

      -- user_id keeps users.id's collation (joins use users' primary key); its index orders it byte by byte, as the list does.
      CREATE TABLE user_roles (role TEXT NOT NULL, created_at BIGINT NOT NULL, user_id TEXT NOT NULL);
      CREATE UNIQUE INDEX user_roles_key ON user_roles (role, created_at, user_id COLLATE "C");
      CREATE TABLE users_filter_counts (
        role TEXT NOT NULL, is_active BOOLEAN NOT NULL, email_verified BOOLEAN NOT NULL, current_hash BOOLEAN NOT NULL, shard INTEGER NOT NULL,
        n BIGINT NOT NULL, PRIMARY KEY (role, is_active, email_verified, current_hash, shard)
      );
      -- The rows a user counts in: every user's ('') and each of their roles'.
      CREATE FUNCTION users_count_roles(roles JSONB) RETURNS SETOF TEXT LANGUAGE sql IMMUTABLE AS $f$
        SELECT '' UNION SELECT jsonb_array_elements_text(roles)
      $f$;
      CREATE FUNCTION users_filter_counts_move() RETURNS trigger LANGUAGE plpgsql AS $f$
      DECLARE
        one_shard INTEGER := floor(random() * 16)::int; -- drawn once: in a query it would be drawn per row
      BEGIN
        -- Each branch reads only the transition tables its trigger defines. Count rows are written
        -- in key order, so that two statements locking several wait for each other, never deadlock.
        IF TG_OP = 'INSERT' THEN
          INSERT INTO user_roles (role, created_at, user_id) SELECT DISTINCT r, n.created_at, n.id FROM new_rows n, jsonb_array_elements_text(n.roles) AS r;
          INSERT INTO users_filter_counts (role, is_active, email_verified, current_hash, shard, n)
            SELECT r, n.is_active, n.email_verified, ${currentHash('postgres', 'n.password_hash')}, one_shard, count(*)
            FROM new_rows n, users_count_roles(n.roles) AS r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (role, is_active, email_verified, current_hash, shard) DO UPDATE SET n = users_filter_counts.n + excluded.n;
        ELSIF TG_OP = 'DELETE' THEN
          DELETE FROM user_roles u USING old_rows o, jsonb_array_elements_text(o.roles) AS r
            WHERE u.role = r AND u.created_at = o.created_at AND u.user_id = o.id;
          INSERT INTO users_filter_counts (role, is_active, email_verified, current_hash, shard, n)
            SELECT r, o.is_active, o.email_verified, ${currentHash('postgres', 'o.password_hash')}, one_shard, -count(*)
            FROM old_rows o, users_count_roles(o.roles) AS r GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
            ON CONFLICT (role, is_active, email_verified, current_hash, shard) DO UPDATE SET n = users_filter_counts.n + excluded.n;
        ELSE
          DELETE FROM user_roles u USING old_rows o JOIN new_rows n ON n.id = o.id, jsonb_array_elements_text(o.roles) AS r
            WHERE o.roles IS DISTINCT FROM n.roles AND u.role = r AND u.created_at = o.created_at AND u.user_id = o.id;
          INSERT INTO user_roles (role, created_at, user_id)
            SELECT DISTINCT r, n.created_at, n.id FROM new_rows n JOIN old_rows o ON o.id = n.id, jsonb_array_elements_text(n.roles) AS r
            WHERE o.roles IS DISTINCT FROM n.roles;
          -- Only what moved: an update that changes no filter value writes no count row.
          INSERT INTO users_filter_counts (role, is_active, email_verified, current_hash, shard, n)
            SELECT r, a, v, h, one_shard, sum(d) FROM (
              SELECT r, o.is_active AS a, o.email_verified AS v, ${currentHash('postgres', 'o.password_hash')} AS h, -1 AS d FROM old_rows o, users_count_roles(o.roles) AS r
              UNION ALL SELECT r, n.is_active, n.email_verified, ${currentHash('postgres', 'n.password_hash')}, 1 FROM new_rows n, users_count_roles(n.roles) AS r
            ) AS moved GROUP BY r, a, v, h HAVING sum(d) <> 0 ORDER BY r, a, v, h
            ON CONFLICT (role, is_active, email_verified, current_hash, shard) DO UPDATE SET n = users_filter_counts.n + excluded.n;
        END IF;
        RETURN NULL;
      END $f$;
      CREATE TRIGGER users_filter_counts_insert AFTER INSERT ON users REFERENCING NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION users_filter_counts_move();
      CREATE TRIGGER users_filter_counts_update AFTER UPDATE ON users REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
        FOR EACH STATEMENT EXECUTE FUNCTION users_filter_counts_move();
      CREATE TRIGGER users_filter_counts_delete AFTER DELETE ON users REFERENCING OLD TABLE AS old_rows
        FOR EACH STATEMENT EXECUTE FUNCTION users_filter_counts_move();
      INSERT INTO user_roles (role, created_at, user_id) SELECT DISTINCT r, created_at, id FROM users, jsonb_array_elements_text(users.roles) AS r;
      INSERT INTO users_filter_counts (role, is_active, email_verified, current_hash, shard, n)
        SELECT r, is_active, email_verified, ${currentHash('postgres', 'password_hash')}, 0, count(*) FROM users, users_count_roles(users.roles) AS r GROUP BY 1, 2, 3, 4;

      CREATE INDEX sessions_live_deadlines_idx ON sessions (idle_expires_at, expires_at, ended_at) WHERE ended_at IS NULL;
    `,
  },
  {
    // PostgreSQL: a refresh rotation rewrites the session's idle deadline, and while an index holds
    // that column, no rotation can be a HOT update: each wrote a new entry into every index of
    // sessions (pg_stat_user_tables: 0 HOT of 61,725 updates in a refresh bench), and the indexes
    // bloated as fast as sessions refreshed. The live-deadlines index now holds the deadline's hour,
    // which a rotation changes at most once an hour (64,007 updates, 63,993 HOT), and pages keep 10%
    // free for the new row versions. countLive reads the heap only for the current hour's
    // deadlines (sql-stores.ts). SQLite rewrites an index entry whenever a statement sets a column
    // the entry is computed from, whatever the value: nothing to gain there, so its step only
    // records the version.
    version: 11,
    name: 'sessions: live-deadlines index by the idle deadline\'s hour (HOT rotations on PostgreSQL)',
    sqlite: `SELECT 1;`,
    postgres: `
      ALTER TABLE sessions SET (fillfactor = 90);
      ALTER TABLE sessions ADD COLUMN idle_hour BIGINT GENERATED ALWAYS AS (idle_expires_at / ${IDLE_HOUR_MS}) STORED;
      DROP INDEX sessions_live_deadlines_idx;
      CREATE INDEX sessions_live_deadlines_idx ON sessions (idle_hour, expires_at, ended_at) WHERE ended_at IS NULL;
    `,
  },
  // The hourly purge (sql-stores.ts) found its due sessions by reading the whole table: at a million
  // sessions each batch held SQLite's only thread about 0.25 s. Ended sessions by when they ended,
  // live ones by their absolute deadline (their idle deadline has migration 10's index). Neither
  // column is set by a rotation, so refreshes write no entry into them (and stay HOT on PostgreSQL).
  both(12, 'sessions: purge indexes (ended, absolute deadline)', () => `
      CREATE INDEX sessions_ended_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;
      CREATE INDEX sessions_expires_idx ON sessions (expires_at) WHERE ended_at IS NULL;
    `),
  // Versions before ab593d4 stored an address as typed, so one typed with a combining accent stayed
  // decomposed while today's lookups ask for NFC (emailKey): that user could no longer sign in by
  // email (seed 004's only login), was mailed no reset link, and the same-looking NFC address could
  // sign up as a second account. Each such address becomes NFC unless its NFC form is held by
  // another account (or two decomposed ones share it): those stay as they are, reached by username.
  // Reset and verification links follow their user's address (they must equal it to work);
  // address-change links, whose address becomes the user's, are normalised too.
  {
    version: 13,
    name: 'emails stored decomposed become NFC',
    // SQLite has no normalize(): warden_nfc is registered on the adapter's connection (sqlite.ts),
    // called here only, never by a trigger or an index. The GLOB keeps it to non-ASCII addresses.
    sqlite: emailsToNfc((column) => `${column} GLOB '*[^ -~]*' AND warden_nfc(${column}) <> ${column}`, (column) => `warden_nfc(${column})`).join(';\n') + ';',
    // PostgreSQL: normalize() needs version 13 and a UTF8 database; elsewhere nothing changes (a
    // NOTICE). EXECUTEd, so that an older server never parses IS NFC NORMALIZED.
    postgres: `
      DO $$
      BEGIN
        IF current_setting('server_encoding') <> 'UTF8' OR current_setting('server_version_num')::int < 130000 THEN
          RAISE NOTICE 'normalize() unavailable (PostgreSQL 13 and a UTF8 database needed): email addresses left as stored';
          RETURN;
        END IF;
        ${emailsToNfc((column) => `${column} IS NOT NFC NORMALIZED`, (column) => `normalize(${column}, NFC)`).map((s) => `EXECUTE $q$${s}$q$;`).join('\n        ')}
      END $$;
    `,
  },
  // The hourly purge of finished mails (sql-stores.ts) read the whole outbox: 0.14–0.15 s of
  // SQLite's only thread an hour with a million rows and none due. Finished mails by when they were
  // queued; a pending one is never in it, so claiming and sending write no entry here.
  both(14, 'mail outbox: purge index (finished mails by age)', () => `
      CREATE INDEX mail_outbox_done_idx ON mail_outbox (created_at) WHERE status <> 'pending';
    `),
  // An address-change link is good only while the session that asked for it is live: signing out
  // everywhere, or that session's end, voids a link mailed to an address its thief chose. No
  // foreign key: a purged session must still void it (the lookup finds nothing).
  both(15, 'email tokens: the session that asked', () => `
      ALTER TABLE email_tokens ADD COLUMN session_id TEXT;
    `),
  // SQLite: as on PostgreSQL since migration 11, the live-deadlines index holds the idle deadline's
  // hour, not the deadline itself, which every refresh rewrote (an entry deleted and one added: one
  // or two more pages in each rotation's commit). SQLite rewrites an index entry whenever a
  // statement sets a column it is computed from, even through a generated column (measured: 2.0
  // pages an UPDATE, against 1.05 this way), so idle_hour is a plain column, kept by triggers that
  // write it only when the hour changes: a rotation, which sets idle_expires_at, leaves it alone
  // within the hour. PostgreSQL has it already (a generated column, HOT updates): nothing to do.
  {
    version: 16,
    name: 'sessions: live-deadlines index by the idle deadline\'s hour on SQLite too',
    sqlite: `
      ALTER TABLE sessions ADD COLUMN idle_hour INTEGER;
      UPDATE sessions SET idle_hour = idle_expires_at / ${IDLE_HOUR_MS};
      DROP INDEX sessions_live_deadlines_idx;
      CREATE INDEX sessions_live_deadlines_idx ON sessions (idle_hour, expires_at, ended_at) WHERE ended_at IS NULL;
      CREATE TRIGGER sessions_idle_hour_insert AFTER INSERT ON sessions WHEN new.idle_hour IS NOT new.idle_expires_at / ${IDLE_HOUR_MS} BEGIN
        UPDATE sessions SET idle_hour = new.idle_expires_at / ${IDLE_HOUR_MS} WHERE rowid = new.rowid;
      END;
      CREATE TRIGGER sessions_idle_hour_update AFTER UPDATE OF idle_expires_at ON sessions WHEN new.idle_hour IS NOT new.idle_expires_at / ${IDLE_HOUR_MS} BEGIN
        UPDATE sessions SET idle_hour = new.idle_expires_at / ${IDLE_HOUR_MS} WHERE rowid = new.rowid;
      END;
    `,
    postgres: `SELECT 1;`,
  },
  // SQLite: the trigram search tables (migration 8's, 10's) are FTS5 indexes, which record a
  // deletion as a marker beside the terms it deletes: a deleted user's address and username stayed
  // in them as trigrams with their positions, readable (and copied by VACUUM INTO) until segments
  // happened to merge. FTS5's secure-delete removes the terms themselves from then on, and an
  // optimize merges the segments now, so what earlier deletions left goes too (0.65 s for both
  // tables at 100,000 users with a tenth of them deleted). PostgreSQL's trigram indexes lose a
  // deleted row's entries at its (auto)vacuum.
  {
    version: 17,
    name: 'trigram search indexes forget deleted users (FTS5 secure-delete) on SQLite',
    sqlite: `
      INSERT INTO users_email_search (users_email_search, rank) VALUES ('secure-delete', 1);
      INSERT INTO users_email_search (users_email_search) VALUES ('optimize');
      INSERT INTO users_username_search (users_username_search, rank) VALUES ('secure-delete', 1);
      INSERT INTO users_username_search (users_username_search) VALUES ('optimize');
    `,
    postgres: `SELECT 1;`,
  },
  // Invitations: an administrator's mailed link with which an invited person sets their first
  // password (src/accounts/invitation.ts), a fourth purpose of email_tokens, whose CHECK named
  // three. SQLite cannot change a CHECK: the table is rebuilt (same columns, rows and indexes; no
  // table references it and no trigger is on it). PostgreSQL replaces the constraint.
  {
    version: 18,
    name: 'email tokens: the invitation purpose',
    sqlite: `
      CREATE TABLE email_tokens_18 (
        hash          TEXT PRIMARY KEY,
        user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        purpose       TEXT NOT NULL CHECK (purpose IN ('reset', 'verify', 'email', 'invite')),
        email         TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        expires_at    INTEGER NOT NULL,
        used_at       INTEGER,
        superseded_at INTEGER,
        session_id    TEXT
      );
      INSERT INTO email_tokens_18 (hash, user_id, purpose, email, created_at, expires_at, used_at, superseded_at, session_id)
        SELECT hash, user_id, purpose, email, created_at, expires_at, used_at, superseded_at, session_id FROM email_tokens;
      DROP TABLE email_tokens;
      ALTER TABLE email_tokens_18 RENAME TO email_tokens;
      CREATE INDEX email_tokens_user_idx ON email_tokens (user_id, purpose);
      CREATE INDEX email_tokens_expires_idx ON email_tokens (expires_at);
    `,
    postgres: `
      ALTER TABLE email_tokens DROP CONSTRAINT email_tokens_purpose_check;
      ALTER TABLE email_tokens ADD CONSTRAINT email_tokens_purpose_check CHECK (purpose IN ('reset', 'verify', 'email', 'invite'));
    `,
  },
];

/** Migration 13's two statements, from each dialect's test of a non-NFC text and its NFC form. */
function emailsToNfc(notNfc: (column: string) => string, nfc: (column: string) => string): [string, string] {
  return [`
      WITH c AS (SELECT id, ${nfc('email')} AS nfc FROM users WHERE ${notNfc('email')}),
      alone AS (SELECT id, nfc FROM c WHERE nfc IN (SELECT nfc FROM c GROUP BY nfc HAVING count(*) = 1)
        AND NOT EXISTS (SELECT 1 FROM users o WHERE o.email = c.nfc))
      UPDATE users SET email = alone.nfc FROM alone WHERE users.id = alone.id`, `
      UPDATE email_tokens SET email = ${nfc('email')} WHERE ${notNfc('email')}
        AND (purpose = 'email' OR EXISTS (SELECT 1 FROM users u WHERE u.id = email_tokens.user_id AND u.email = ${nfc('email_tokens.email')}))`];
}


/** The latest version this Warden knows. */
export function latestVersion(): number {
  return Math.max(...MIGRATIONS.map((m) => m.version));
}

/** DDL of the bookkeeping table, the same in both dialects. */
export const SCHEMA_MIGRATIONS_DDL = `
  CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`;

/**
 * What newerMigrations() answers for the migrations a database records: those this version does
 * not know, applied by a newer Warden, in version order.
 */
export function newerOf(applied: readonly AppliedMigration[]): AppliedMigration[] {
  const known = new Set(MIGRATIONS.map((m) => m.version));
  return applied.filter((m) => !known.has(m.version)).sort((a, b) => a.version - b.version);
}

/** What pendingMigrations() answers for the versions a database has applied. */
export function pendingOf(applied: Iterable<number>): AppliedMigration[] {
  return pending(applied).map((m) => ({ version: m.version, name: m.name }));
}

/** Migrations not yet in `applied`, in version order. */
export function pending(applied: Iterable<number>): Migration[] {
  const done = new Set(applied);
  return [...MIGRATIONS].sort((a, b) => a.version - b.version).filter((m) => !done.has(m.version));
}

/**
 * One step of the migration loop, run by each adapter inside a transaction that excludes other
 * migrating instances: make sure the bookkeeping table exists, read which versions are applied,
 * apply the next pending one and record it. Returns the one applied, or null when none was pending.
 */
export function* migrationStep(dialect: 'sqlite' | 'postgres', now: number): Plan<AppliedMigration | null> {
  yield new Script(SCHEMA_MIGRATIONS_DDL);
  const applied = yield sql`SELECT version FROM schema_migrations`;
  const next = pending(applied.rows.map((r) => Number(r.version)))[0];
  if (!next) return null;
  yield new Script(next[dialect]);
  yield sql`INSERT INTO schema_migrations (version, name, applied_at) VALUES (${next.version}, ${next.name}, ${now})`;
  return { version: next.version, name: next.name };
}
