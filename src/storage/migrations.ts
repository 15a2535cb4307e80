// Versioned schema migrations, one entry per change, never edited once released: a deployed
// database records which versions it has in `schema_migrations`, and each adapter's migrate()
// applies the missing ones in order, each in its own transaction. Add a change by appending an
// entry with the next version; keep the SQLite and PostgreSQL texts equivalent.
//
// Column notes:
//  - times are epoch milliseconds (INTEGER in SQLite, BIGINT in PostgreSQL) so they round-trip exactly;
//  - ids are TEXT in PostgreSQL too, not UUID: a malformed id from a request must be "not found",
//    not an invalid-input error;
//  - username_lower is computed by the application (SQLite's lower() only folds ASCII);
//  - unique constraints are named so unique violations can be mapped to the field reliably.

export interface Migration {
  version: number;
  name: string;
  sqlite: string;
  postgres: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'users, sessions, revocations',
    sqlite: `
      CREATE TABLE users (
        id             TEXT PRIMARY KEY,
        username       TEXT NOT NULL,
        username_lower TEXT NOT NULL CONSTRAINT users_username_lower_key UNIQUE,
        email          TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
        full_name      TEXT,
        roles          TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(roles) AND json_type(roles) = 'array'),
        is_active      INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
        password_hash  TEXT NOT NULL,
        created_at     INTEGER NOT NULL,
        updated_at     INTEGER NOT NULL
      );
      CREATE INDEX users_created_idx ON users (created_at, id);

      CREATE TABLE sessions (
        id              TEXT PRIMARY KEY,
        user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        refresh_jti     TEXT NOT NULL,
        created_at      INTEGER NOT NULL,
        last_used_at    INTEGER NOT NULL,
        expires_at      INTEGER NOT NULL,
        idle_expires_at INTEGER NOT NULL,
        user_agent      TEXT,
        ip              TEXT,
        ended_at        INTEGER,
        end_reason      TEXT
      );
      CREATE INDEX sessions_user_idx ON sessions (user_id);

      CREATE TABLE revocations (
        kind       TEXT NOT NULL CHECK (kind IN ('jti', 'sid', 'user', 'roles')),
        key        TEXT NOT NULL,
        value      TEXT NOT NULL DEFAULT '',
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (kind, key)
      );
      CREATE INDEX revocations_expires_idx ON revocations (expires_at);
    `,
    postgres: `
      CREATE TABLE users (
        id             TEXT PRIMARY KEY,
        username       TEXT NOT NULL,
        username_lower TEXT NOT NULL CONSTRAINT users_username_lower_key UNIQUE,
        email          TEXT NOT NULL CONSTRAINT users_email_key UNIQUE,
        full_name      TEXT,
        roles          JSONB NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(roles) = 'array'),
        is_active      BOOLEAN NOT NULL DEFAULT TRUE,
        password_hash  TEXT NOT NULL,
        created_at     BIGINT NOT NULL,
        updated_at     BIGINT NOT NULL
      );
      CREATE INDEX users_created_idx ON users (created_at, id COLLATE "C");

      CREATE TABLE sessions (
        id              TEXT PRIMARY KEY,
        user_id         TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        refresh_jti     TEXT NOT NULL,
        created_at      BIGINT NOT NULL,
        last_used_at    BIGINT NOT NULL,
        expires_at      BIGINT NOT NULL,
        idle_expires_at BIGINT NOT NULL,
        user_agent      TEXT,
        ip              TEXT,
        ended_at        BIGINT,
        end_reason      TEXT
      );
      CREATE INDEX sessions_user_idx ON sessions (user_id);

      CREATE TABLE revocations (
        kind       TEXT NOT NULL CHECK (kind IN ('jti', 'sid', 'user', 'roles')),
        key        TEXT NOT NULL,
        value      TEXT NOT NULL DEFAULT '',
        expires_at BIGINT NOT NULL,
        PRIMARY KEY (kind, key)
      );
      CREATE INDEX revocations_expires_idx ON revocations (expires_at);
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
