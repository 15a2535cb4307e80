// SQLite adapter (better-sqlite3). The driver is synchronous, so within one process calls are
// naturally serialised; atomicity across processes sharing the file comes from single conditional
// statements and BEGIN IMMEDIATE transactions (which take the write lock before reading).
// Methods are `async` so results and errors always arrive as promises, like the other adapters.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { MIGRATIONS, SCHEMA_MIGRATIONS_DDL, pending } from './migrations.js';
import {
  bumpedUpdatedAt, checkPage, cleanPatch, emailKey, judgeRotate, pickLogin, usernameKey,
} from './rules.js';
import {
  UniqueViolation,
  type NewUser, type RevocationKind, type RevocationRecord, type RotateResult, type SessionRecord,
  type Storage, type UserRecord,
} from './types.js';

interface UserRow {
  id: string; username: string; username_lower: string; email: string; full_name: string | null;
  roles: string; is_active: number; password_hash: string; created_at: number; updated_at: number;
}
interface SessionRow {
  id: string; user_id: string; refresh_jti: string; created_at: number; last_used_at: number;
  expires_at: number; idle_expires_at: number; user_agent: string | null; ip: string | null;
  ended_at: number | null; end_reason: string | null;
}
interface RevocationRow { kind: RevocationKind; key: string; value: string; expires_at: number }

const toUser = (r: UserRow): UserRecord => ({
  id: r.id, username: r.username, email: r.email, fullName: r.full_name, roles: JSON.parse(r.roles) as string[],
  isActive: r.is_active === 1, passwordHash: r.password_hash, createdAt: r.created_at, updatedAt: r.updated_at,
});
const toSession = (r: SessionRow): SessionRecord => ({
  id: r.id, userId: r.user_id, refreshJti: r.refresh_jti, createdAt: r.created_at, lastUsedAt: r.last_used_at,
  expiresAt: r.expires_at, idleExpiresAt: r.idle_expires_at, userAgent: r.user_agent, ip: r.ip,
  endedAt: r.ended_at, endReason: r.end_reason,
});

/** Maps a unique-index failure to the contract's UniqueViolation; anything else passes through. */
function mapUnique(e: unknown): unknown {
  const err = e as { code?: string; message?: string };
  if (err?.code === 'SQLITE_CONSTRAINT_UNIQUE') {
    if (err.message?.includes('users.email')) return new UniqueViolation('email');
    if (err.message?.includes('users.username_lower')) return new UniqueViolation('username');
  }
  return e;
}

/** `path` is a file path (its folder is created) or ':memory:'. */
export function createSqliteStorage(path: string): Storage {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL'); // readers don't block the writer
  db.pragma('busy_timeout = 5000'); // wait for another process's write lock instead of failing at once
  db.pragma('foreign_keys = ON'); // per connection; needed for ON DELETE CASCADE
  db.pragma('synchronous = FULL'); // a resolved write (a revocation especially) survives power loss

  // Statements are prepared lazily: the tables don't exist until migrate() has run.
  const cache = new Map<string, Database.Statement>();
  const q = (sql: string): Database.Statement => {
    let s = cache.get(sql);
    if (!s) cache.set(sql, (s = db.prepare(sql)));
    return s;
  };
  const getUser = (id: string): UserRecord | null => {
    const r = q('SELECT * FROM users WHERE id = ?').get(id) as UserRow | undefined;
    return r ? toUser(r) : null;
  };
  const getSession = (id: string): SessionRecord | null => {
    const r = q('SELECT * FROM sessions WHERE id = ?').get(id) as SessionRow | undefined;
    return r ? toSession(r) : null;
  };

  const INSERT_USER = `INSERT INTO users (id, username, username_lower, email, full_name, roles, is_active,
    password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`;
  const insertUser = (n: NewUser): UserRecord => {
    const createdAt = n.createdAt ?? Date.now();
    try {
      const row = q(INSERT_USER).get(
        n.id, n.username, usernameKey(n.username), emailKey(n.email), n.fullName ?? null,
        JSON.stringify(n.roles), n.isActive ? 1 : 0, n.passwordHash, createdAt, createdAt,
      ) as UserRow;
      return toUser(row);
    } catch (e) {
      throw mapUnique(e);
    }
  };

  // The emptiness check and the insert share one write-locked transaction, so two processes
  // racing to create the first account cannot both see an empty table.
  const createFirstTx = db.transaction((n: NewUser): UserRecord | null =>
    q('SELECT 1 FROM users LIMIT 1').get() === undefined ? insertUser(n) : null,
  );

  // One compare-and-swap UPDATE; when it matches nothing, the row as it is now (read inside the
  // same write-locked transaction) says why, and reuse ends the session.
  const rotateTx = db.transaction((a: { id: string; presentedJti: string; newJti: string; now: number; idleExpiresAt: number }): RotateResult => {
    const row = q(`UPDATE sessions SET refresh_jti = ?, last_used_at = ?, idle_expires_at = ?
      WHERE id = ? AND refresh_jti = ? AND ended_at IS NULL AND expires_at > ? AND idle_expires_at > ?
      RETURNING *`).get(a.newJti, a.now, a.idleExpiresAt, a.id, a.presentedJti, a.now, a.now) as SessionRow | undefined;
    if (row) return { status: 'rotated', session: toSession(row) };
    const verdict = judgeRotate(getSession(a.id), a.presentedJti, a.now);
    // 'current' cannot happen under the write lock; report it as ended rather than loop.
    if (verdict === 'current') return { status: 'ended' };
    if (verdict !== 'reuse') return { status: verdict };
    const ended = q(`UPDATE sessions SET ended_at = ?, end_reason = 'reuse' WHERE id = ? AND ended_at IS NULL RETURNING *`)
      .get(a.now, a.id) as SessionRow;
    return { status: 'reused', session: toSession(ended) };
  });

  const migrateOne = db.transaction((version: number): void => {
    // Re-checked under the write lock: another process may have applied it meanwhile.
    if (q('SELECT 1 FROM schema_migrations WHERE version = ?').get(version) !== undefined) return;
    const m = MIGRATIONS.find((x) => x.version === version)!;
    db.exec(m.sqlite);
    q('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, Date.now());
  });

  return {
    kind: 'sqlite',
    users: {
      async create(user) {
        return insertUser(user);
      },
      async createFirst(user) {
        return createFirstTx.immediate(user);
      },
      async findById(id) {
        return getUser(id);
      },
      async findByLogin(login) {
        const rows = (q('SELECT * FROM users WHERE username_lower = ? OR email = ? LIMIT 2')
          .all(usernameKey(login), emailKey(login)) as UserRow[])
          .map((r) => ({ r, usernameLower: r.username_lower, email: r.email }));
        const hit = pickLogin(rows, login);
        return hit ? toUser(hit.r) : null;
      },
      async list(query) {
        checkPage(query);
        const where: string[] = [];
        const args: unknown[] = [];
        // instr(), not LIKE: no wildcard escaping, and the email column is already lower-case.
        if (query.email !== undefined) (where.push('instr(email, ?) > 0'), args.push(emailKey(query.email)));
        // Exact membership in the JSON array (a LIKE on the text would match 'admin' in 'superadmin').
        if (query.role !== undefined) (where.push('EXISTS (SELECT 1 FROM json_each(users.roles) WHERE value = ?)'), args.push(query.role));
        if (query.active !== undefined) (where.push('is_active = ?'), args.push(query.active ? 1 : 0));
        const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
        const read = db.transaction(() => ({
          total: (q(`SELECT count(*) AS n FROM users ${w}`).get(...args) as { n: number }).n,
          rows: q(`SELECT * FROM users ${w} ORDER BY created_at, id LIMIT ? OFFSET ?`).all(...args, query.limit, query.offset) as UserRow[],
        }));
        const { total, rows } = read(); // one snapshot: total and page agree
        return { users: rows.map(toUser), total };
      },
      async update(id, patch) {
        const p = cleanPatch(patch);
        const sets: string[] = ['updated_at = max(?, updated_at + 1)'];
        const args: unknown[] = [bumpedUpdatedAt(0)];
        if (p.roles !== undefined) (sets.push('roles = ?'), args.push(JSON.stringify(p.roles)));
        if (p.isActive !== undefined) (sets.push('is_active = ?'), args.push(p.isActive ? 1 : 0));
        if (p.fullName !== undefined) (sets.push('full_name = ?'), args.push(p.fullName));
        if (p.passwordHash !== undefined) (sets.push('password_hash = ?'), args.push(p.passwordHash));
        if (p.email !== undefined) (sets.push('email = ?'), args.push(p.email));
        try {
          const row = q(`UPDATE users SET ${sets.join(', ')} WHERE id = ? RETURNING *`).get(...args, id) as UserRow | undefined;
          return row ? toUser(row) : null;
        } catch (e) {
          throw mapUnique(e);
        }
      },
      async delete(id) {
        return q('DELETE FROM users WHERE id = ?').run(id).changes > 0;
      },
      async count() {
        return (q('SELECT count(*) AS n FROM users').get() as { n: number }).n;
      },
    },

    sessions: {
      async create(n) {
        const row = q(`INSERT INTO sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at,
          idle_expires_at, user_agent, ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`).get(
          n.id, n.userId, n.refreshJti, n.createdAt, n.lastUsedAt ?? n.createdAt, n.expiresAt, n.idleExpiresAt,
          n.userAgent ?? null, n.ip ?? null,
        ) as SessionRow;
        return toSession(row);
      },
      async get(id) {
        return getSession(id);
      },
      async rotate(args) {
        return rotateTx.immediate(args);
      },
      async end(id, reason, now) {
        const row = q('UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL RETURNING *')
          .get(now, reason, id) as SessionRow | undefined;
        return row ? toSession(row) : null;
      },
      async endAllForUser(userId, reason, now, exceptId) {
        // Every not-yet-ended session, expired ones included: the caller revokes the returned ids,
        // which also covers access tokens that outlive their session's deadline.
        const rows = q(`UPDATE sessions SET ended_at = ?, end_reason = ?
          WHERE user_id = ? AND ended_at IS NULL AND id IS NOT ? RETURNING id`)
          .all(now, reason, userId, exceptId ?? null) as { id: string }[];
        return rows.map((r) => r.id);
      },
      async listActive(userId, now) {
        const rows = q(`SELECT * FROM sessions WHERE user_id = ? AND ended_at IS NULL AND expires_at > ? AND idle_expires_at > ?
          ORDER BY created_at DESC, id DESC`).all(userId, now, now) as SessionRow[];
        return rows.map(toSession);
      },
      async purge(before) {
        return q(`DELETE FROM sessions WHERE (ended_at IS NOT NULL AND ended_at < ?) OR expires_at < ? OR idle_expires_at < ?`)
          .run(before, before, before).changes;
      },
    },

    revocations: {
      async add(r) {
        // Keeps the later deadline: a fact must never be shortened by a second, shorter write.
        q(`INSERT INTO revocations (kind, key, value, expires_at) VALUES (?, ?, ?, ?)
          ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value, expires_at = max(expires_at, excluded.expires_at)`)
          .run(r.kind, r.key, r.value, r.expiresAt);
      },
      async listLive(now) {
        const rows = q('SELECT * FROM revocations WHERE expires_at > ? ORDER BY kind, key').all(now) as RevocationRow[];
        return rows.map((r): RevocationRecord => ({ kind: r.kind, key: r.key, value: r.value, expiresAt: r.expires_at }));
      },
      async purge(now) {
        return q('DELETE FROM revocations WHERE expires_at <= ?').run(now).changes;
      },
    },

    async migrate() {
      db.exec(SCHEMA_MIGRATIONS_DDL);
      const applied = (q('SELECT version FROM schema_migrations').all() as { version: number }[]).map((r) => r.version);
      for (const m of pending(applied)) migrateOne.immediate(m.version);
    },
    async ping() {
      db.prepare('SELECT 1').get();
    },
    async close() {
      if (db.open) db.close();
    },
  };
}
