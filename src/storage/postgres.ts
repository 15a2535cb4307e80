// PostgreSQL adapter (pg Pool). Several server instances may share the database, so every
// check-then-act is either one conditional statement or a transaction holding the right lock:
//  - rotate: a compare-and-swap UPDATE … RETURNING (one round trip on the happy path); a miss
//    is judged under SELECT … FOR UPDATE so exactly one of N racing callers wins;
//  - createFirst: LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE (conflicts with itself and with
//    plain inserts) around the emptiness check and the insert;
//  - migrate: pg_advisory_xact_lock so instances starting together apply each migration once.
import pg from 'pg';
import { SCHEMA_MIGRATIONS_DDL, pending } from './migrations.js';
import { bumpedUpdatedAt, checkPage, cleanPatch, emailKey, judgeRotate, pickLogin, usernameKey } from './rules.js';
import {
  UniqueViolation,
  type NewUser, type RevocationKind, type RevocationRecord, type RotateResult, type SessionRecord,
  type Storage, type UserRecord,
} from './types.js';

type Queryable = Pick<pg.PoolClient, 'query'>;

// BIGINT arrives as a string (it may exceed 2^53); epoch milliseconds never do.
type Int8 = string | number;
interface UserRow {
  id: string; username: string; username_lower: string; email: string; full_name: string | null;
  roles: string[]; is_active: boolean; password_hash: string; created_at: Int8; updated_at: Int8;
}
interface SessionRow {
  id: string; user_id: string; refresh_jti: string; created_at: Int8; last_used_at: Int8; expires_at: Int8;
  idle_expires_at: Int8; user_agent: string | null; ip: string | null; ended_at: Int8 | null; end_reason: string | null;
}
interface RevocationRow { kind: RevocationKind; key: string; value: string; expires_at: Int8 }

const toUser = (r: UserRow): UserRecord => ({
  id: r.id, username: r.username, email: r.email, fullName: r.full_name, roles: r.roles, isActive: r.is_active,
  passwordHash: r.password_hash, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at),
});
const toSession = (r: SessionRow): SessionRecord => ({
  id: r.id, userId: r.user_id, refreshJti: r.refresh_jti, createdAt: Number(r.created_at),
  lastUsedAt: Number(r.last_used_at), expiresAt: Number(r.expires_at), idleExpiresAt: Number(r.idle_expires_at),
  userAgent: r.user_agent, ip: r.ip, endedAt: r.ended_at === null ? null : Number(r.ended_at), endReason: r.end_reason,
});

/**
 * Errors from writes to `users`: unique violations become UniqueViolation; for anything else the
 * `detail` field is dropped, because for NOT NULL / CHECK failures it reads "Failing row contains
 * (…)" with every column, password hash included, and errors end up in logs.
 */
function userWriteError(e: unknown): unknown {
  const err = e as { code?: string; constraint?: string; detail?: string };
  if (err?.code === '23505') {
    if (err.constraint === 'users_email_key') return new UniqueViolation('email');
    if (err.constraint === 'users_username_lower_key') return new UniqueViolation('username');
  }
  if (err && typeof err === 'object' && 'detail' in err) err.detail = undefined;
  return e;
}

const SAFE_SCHEMA = /^[a-z_][a-z0-9_]{0,62}$/;

export interface PostgresOptions {
  /** Schema for all tables (created by migrate()); lower-case letters, digits and '_'. Default: the server's search_path. */
  schema?: string;
  /** Pool size (default 10). */
  max?: number;
}

export function createPostgresStorage(url: string, opts: PostgresOptions = {}): Storage {
  const { schema } = opts;
  if (schema !== undefined && !SAFE_SCHEMA.test(schema)) {
    throw new Error(`postgres schema must match ${SAFE_SCHEMA} (got "${schema}")`);
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    // Set at connection start-up, so no query can ever run on a connection with the wrong path.
    ...(schema !== undefined ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client losing its connection (server restart) emits 'error' on the pool; unhandled,
  // that would crash the process. The pool discards the client; the next query reconnects or fails.
  pool.on('error', () => {});

  /** Runs `fn` in a transaction on one pooled connection; a failed connection is not reused. */
  async function tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      c.release();
      return out;
    } catch (e) {
      let broken: Error | undefined;
      await c.query('ROLLBACK').catch((re: Error) => (broken = re));
      c.release(broken);
      throw e;
    }
  }

  const insertUser = async (db: Queryable, n: NewUser): Promise<UserRecord> => {
    const createdAt = n.createdAt ?? Date.now();
    try {
      const { rows } = await db.query<UserRow>(
        `INSERT INTO users (id, username, username_lower, email, full_name, roles, is_active, password_hash, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $9) RETURNING *`,
        [n.id, n.username, usernameKey(n.username), emailKey(n.email), n.fullName ?? null, JSON.stringify(n.roles),
          n.isActive, n.passwordHash, createdAt],
      );
      return toUser(rows[0]!);
    } catch (e) {
      throw userWriteError(e);
    }
  };

  const ROTATE_SQL = `UPDATE sessions SET refresh_jti = $3, last_used_at = $4, idle_expires_at = $5
    WHERE id = $1 AND refresh_jti = $2 AND ended_at IS NULL AND expires_at > $4 AND idle_expires_at > $4
    RETURNING *`;

  return {
    kind: 'postgres',
    users: {
      create: (user) => insertUser(pool, user),
      createFirst: (user) =>
        tx(async (c) => {
          await c.query('LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE');
          const { rowCount } = await c.query('SELECT 1 FROM users LIMIT 1');
          return rowCount ? null : insertUser(c, user);
        }),
      async findById(id) {
        const { rows } = await pool.query<UserRow>('SELECT * FROM users WHERE id = $1', [id]);
        return rows[0] ? toUser(rows[0]) : null;
      },
      async findByLogin(login) {
        const { rows } = await pool.query<UserRow>(
          'SELECT * FROM users WHERE username_lower = $1 OR email = $2 LIMIT 2', [usernameKey(login), emailKey(login)]);
        const hit = pickLogin(rows.map((r) => ({ r, usernameLower: r.username_lower, email: r.email })), login);
        return hit ? toUser(hit.r) : null;
      },
      async list(query) {
        checkPage(query);
        const where: string[] = [];
        const args: unknown[] = [];
        const arg = (v: unknown): string => `$${args.push(v)}`;
        // strpos(), not LIKE: no wildcard escaping, and the email column is already lower-case.
        if (query.email !== undefined) where.push(`strpos(email, ${arg(emailKey(query.email))}) > 0`);
        // Exact membership in the JSON array (containment of a one-element array).
        if (query.role !== undefined) where.push(`roles @> jsonb_build_array(${arg(query.role)}::text)`);
        if (query.active !== undefined) where.push(`is_active = ${arg(query.active)}`);
        const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
        // One statement, one snapshot: the total and the page agree. The LEFT JOIN keeps the total
        // when the offset is past the last row.
        const { rows } = await pool.query<UserRow & { total: Int8 }>(
          `WITH matching AS (SELECT * FROM users ${w}),
                total AS (SELECT count(*) AS total FROM matching)
           SELECT p.*, total.total FROM total LEFT JOIN LATERAL (
             SELECT * FROM matching ORDER BY created_at, id COLLATE "C" LIMIT ${arg(query.limit)} OFFSET ${arg(query.offset)}
           ) p ON TRUE`,
          args,
        );
        const total = Number(rows[0]?.total ?? 0);
        return { users: rows.filter((r) => r.id !== null).map(toUser), total };
      },
      async update(id, patch) {
        const p = cleanPatch(patch);
        const args: unknown[] = [id];
        const arg = (v: unknown): string => `$${args.push(v)}`;
        const sets = [`updated_at = GREATEST(${arg(bumpedUpdatedAt(0))}::bigint, updated_at + 1)`];
        if (p.roles !== undefined) sets.push(`roles = ${arg(JSON.stringify(p.roles))}::jsonb`);
        if (p.isActive !== undefined) sets.push(`is_active = ${arg(p.isActive)}`);
        if (p.fullName !== undefined) sets.push(`full_name = ${arg(p.fullName)}`);
        if (p.passwordHash !== undefined) sets.push(`password_hash = ${arg(p.passwordHash)}`);
        if (p.email !== undefined) sets.push(`email = ${arg(p.email)}`);
        try {
          const { rows } = await pool.query<UserRow>(`UPDATE users SET ${sets.join(', ')} WHERE id = $1 RETURNING *`, args);
          return rows[0] ? toUser(rows[0]) : null;
        } catch (e) {
          throw userWriteError(e);
        }
      },
      async delete(id) {
        const { rowCount } = await pool.query('DELETE FROM users WHERE id = $1', [id]);
        return (rowCount ?? 0) > 0;
      },
      async count() {
        const { rows } = await pool.query<{ n: Int8 }>('SELECT count(*) AS n FROM users');
        return Number(rows[0]!.n);
      },
    },

    sessions: {
      async create(n) {
        const { rows } = await pool.query<SessionRow>(
          `INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, idle_expires_at, user_agent, ip)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
          [n.id, n.userId, n.refreshJti, n.createdAt, n.lastUsedAt ?? n.createdAt, n.expiresAt, n.idleExpiresAt,
            n.userAgent ?? null, n.ip ?? null],
        );
        return toSession(rows[0]!);
      },
      async get(id) {
        const { rows } = await pool.query<SessionRow>('SELECT * FROM sessions WHERE id = $1', [id]);
        return rows[0] ? toSession(rows[0]) : null;
      },
      async rotate(a): Promise<RotateResult> {
        const params = [a.id, a.presentedJti, a.newJti, a.now, a.idleExpiresAt];
        // Happy path: one atomic compare-and-swap. Concurrent callers queue on the row lock and
        // re-check the WHERE against the committed row, so only the first can match.
        const hit = await pool.query<SessionRow>(ROTATE_SQL, params);
        if (hit.rows[0]) return { status: 'rotated', session: toSession(hit.rows[0]) };
        // Miss: decide under the row lock, so the verdict and the reuse ending see the same row.
        return tx(async (c): Promise<RotateResult> => {
          const { rows } = await c.query<SessionRow>('SELECT * FROM sessions WHERE id = $1 FOR UPDATE', [a.id]);
          const verdict = judgeRotate(rows[0] ? toSession(rows[0]) : null, a.presentedJti, a.now);
          if (verdict === 'current') {
            // The row changed between the two statements (e.g. deleted and re-created): rotate now.
            const again = await c.query<SessionRow>(ROTATE_SQL, params);
            return { status: 'rotated', session: toSession(again.rows[0]!) };
          }
          if (verdict !== 'reuse') return { status: verdict };
          const ended = await c.query<SessionRow>(
            `UPDATE sessions SET ended_at = $2, end_reason = 'reuse' WHERE id = $1 RETURNING *`, [a.id, a.now]);
          return { status: 'reused', session: toSession(ended.rows[0]!) };
        });
      },
      async end(id, reason, now) {
        const { rows } = await pool.query<SessionRow>(
          'UPDATE sessions SET ended_at = $3, end_reason = $2 WHERE id = $1 AND ended_at IS NULL RETURNING *', [id, reason, now]);
        return rows[0] ? toSession(rows[0]) : null;
      },
      async endAllForUser(userId, reason, now, exceptId) {
        // Every not-yet-ended session, expired ones included: the caller revokes the returned ids,
        // which also covers access tokens that outlive their session's deadline.
        const { rows } = await pool.query<{ id: string }>(
          `UPDATE sessions SET ended_at = $3, end_reason = $2
           WHERE user_id = $1 AND ended_at IS NULL AND id IS DISTINCT FROM $4 RETURNING id`,
          [userId, reason, now, exceptId ?? null]);
        return rows.map((r) => r.id);
      },
      async listActive(userId, now) {
        const { rows } = await pool.query<SessionRow>(
          `SELECT * FROM sessions WHERE user_id = $1 AND ended_at IS NULL AND expires_at > $2 AND idle_expires_at > $2
           ORDER BY created_at DESC, id COLLATE "C" DESC`, [userId, now]);
        return rows.map(toSession);
      },
      async purge(before) {
        const { rowCount } = await pool.query(
          'DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at < $1) OR expires_at < $1 OR idle_expires_at < $1', [before]);
        return rowCount ?? 0;
      },
    },

    revocations: {
      async add(r) {
        // Keeps the later deadline: a fact must never be shortened by a second, shorter write.
        // Resolves after COMMIT, i.e. once durable (synchronous_commit is on by default).
        await pool.query(
          `INSERT INTO revocations (kind, key, value, expires_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (kind, key) DO UPDATE
             SET value = EXCLUDED.value, expires_at = GREATEST(revocations.expires_at, EXCLUDED.expires_at)`,
          [r.kind, r.key, r.value, r.expiresAt]);
      },
      async listLive(now) {
        const { rows } = await pool.query<RevocationRow>(
          'SELECT * FROM revocations WHERE expires_at > $1 ORDER BY kind COLLATE "C", key COLLATE "C"', [now]);
        return rows.map((r): RevocationRecord => ({ kind: r.kind, key: r.key, value: r.value, expiresAt: Number(r.expires_at) }));
      },
      async purge(now) {
        const { rowCount } = await pool.query('DELETE FROM revocations WHERE expires_at <= $1', [now]);
        return rowCount ?? 0;
      },
    },

    async migrate() {
      // One transaction per migration, each under an advisory lock keyed by schema: a second
      // instance waits, then finds the version applied and moves on. DDL is transactional in
      // PostgreSQL, so a failed migration leaves nothing half-done.
      const lockKey = `warden:migrations:${schema ?? ''}`;
      for (;;) {
        const done = await tx(async (c) => {
          await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockKey]);
          if (schema !== undefined) {
            // Looked up first: CREATE SCHEMA IF NOT EXISTS still demands CREATE on the database,
            // which a least-privilege role using a pre-created schema does not have.
            const found = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
            if (!found.rowCount) await c.query(`CREATE SCHEMA ${schema}`);
          }
          await c.query(SCHEMA_MIGRATIONS_DDL);
          const { rows } = await c.query<{ version: number }>('SELECT version FROM schema_migrations');
          const next = pending(rows.map((r) => r.version))[0];
          if (!next) return true;
          await c.query(next.postgres);
          await c.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [next.version, next.name, Date.now()]);
          return false;
        });
        if (done) return;
      }
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    async close() {
      if (!pool.ended && !pool.ending) await pool.end();
    },
  };
}
