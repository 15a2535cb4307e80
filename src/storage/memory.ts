// In-process storage for tests and the toolkit. Same semantics as the SQL adapters: every method
// does its reads and writes synchronously (no await in between), which is what makes createFirst
// and rotate atomic on a single-threaded event loop. Records are copied in and out so callers can
// never mutate stored state by accident. Lookups scan: fine for the sizes this adapter is meant for.
import {
  bumpedUpdatedAt, checkPage, cleanPatch, emailKey, isLive, isPurgeable, judgeRotate, newestFirst,
  oldestFirst, pickLogin, usernameKey,
} from './rules.js';
import {
  UniqueViolation,
  type NewSession, type NewUser, type RevocationRecord, type RotateResult, type SessionRecord,
  type Storage, type UserRecord,
} from './types.js';

const copyUser = (u: UserRecord): UserRecord => ({ ...u, roles: [...u.roles] });
const copySession = (s: SessionRecord): SessionRecord => ({ ...s });

export function createMemoryStorage(): Storage {
  const users = new Map<string, UserRecord>();
  const sessions = new Map<string, SessionRecord>();
  const revocations = new Map<string, RevocationRecord>();
  let closed = false;

  /** Mirrors the SQL unique indexes (username_lower, email); `selfId` is the row being updated. */
  const assertUnique = (username: string | undefined, email: string | undefined, selfId?: string): void => {
    for (const u of users.values()) {
      if (u.id === selfId) continue;
      if (username !== undefined && usernameKey(u.username) === usernameKey(username)) throw new UniqueViolation('username');
      if (email !== undefined && u.email === email) throw new UniqueViolation('email');
    }
  };

  const insertUser = (n: NewUser): UserRecord => {
    const email = emailKey(n.email);
    // Checked before the id so a duplicate username/email is reported as such, like the SQL adapters.
    assertUnique(n.username, email);
    if (users.has(n.id)) throw new Error(`users.create: id ${n.id} already exists`);
    const createdAt = n.createdAt ?? Date.now();
    const u: UserRecord = {
      id: n.id, username: n.username, email, fullName: n.fullName ?? null, roles: [...n.roles],
      isActive: n.isActive, passwordHash: n.passwordHash, createdAt, updatedAt: createdAt,
    };
    users.set(u.id, u);
    return copyUser(u);
  };

  /** Ends a session in place and returns a copy. */
  const endOne = (s: SessionRecord, reason: string, now: number): SessionRecord => {
    s.endedAt = now;
    s.endReason = reason;
    return copySession(s);
  };

  return {
    kind: 'memory',
    users: {
      async create(user) {
        return insertUser(user);
      },
      async createFirst(user) {
        return users.size === 0 ? insertUser(user) : null;
      },
      async findById(id) {
        const u = users.get(id);
        return u ? copyUser(u) : null;
      },
      async findByLogin(login) {
        const rows = [...users.values()]
          .filter((u) => usernameKey(u.username) === usernameKey(login) || u.email === emailKey(login))
          .map((u) => ({ u, usernameLower: usernameKey(u.username), email: u.email }));
        const hit = pickLogin(rows, login);
        return hit ? copyUser(hit.u) : null;
      },
      async list(q) {
        checkPage(q);
        const needle = q.email === undefined ? undefined : emailKey(q.email);
        const matching = [...users.values()]
          .filter((u) => needle === undefined || u.email.includes(needle))
          .filter((u) => q.role === undefined || u.roles.includes(q.role))
          .filter((u) => q.active === undefined || u.isActive === q.active)
          .sort(oldestFirst);
        return { users: matching.slice(q.offset, q.offset + q.limit).map(copyUser), total: matching.length };
      },
      async update(id, patch) {
        const u = users.get(id);
        if (!u) return null;
        const p = cleanPatch(patch);
        assertUnique(undefined, p.email, id);
        Object.assign(u, p, { updatedAt: bumpedUpdatedAt(u.updatedAt) });
        return copyUser(u);
      },
      async delete(id) {
        if (!users.delete(id)) return false;
        // ON DELETE CASCADE.
        for (const [sid, s] of sessions) if (s.userId === id) sessions.delete(sid);
        return true;
      },
      async count() {
        return users.size;
      },
    },

    sessions: {
      async create(n: NewSession) {
        // Mirrors the primary key and the foreign key of the SQL schema.
        if (sessions.has(n.id)) throw new Error(`sessions.create: id ${n.id} already exists`);
        if (!users.has(n.userId)) throw new Error(`sessions.create: user ${n.userId} does not exist`);
        const s: SessionRecord = {
          id: n.id, userId: n.userId, refreshJti: n.refreshJti, createdAt: n.createdAt,
          lastUsedAt: n.lastUsedAt ?? n.createdAt, expiresAt: n.expiresAt, idleExpiresAt: n.idleExpiresAt,
          userAgent: n.userAgent ?? null, ip: n.ip ?? null, endedAt: null, endReason: null,
        };
        sessions.set(s.id, s);
        return copySession(s);
      },
      async get(id) {
        const s = sessions.get(id);
        return s ? copySession(s) : null;
      },
      async rotate({ id, presentedJti, newJti, now, idleExpiresAt }): Promise<RotateResult> {
        const s = sessions.get(id) ?? null;
        switch (judgeRotate(s, presentedJti, now)) {
          case 'current':
            Object.assign(s!, { refreshJti: newJti, lastUsedAt: now, idleExpiresAt });
            return { status: 'rotated', session: copySession(s!) };
          case 'reuse':
            return { status: 'reused', session: endOne(s!, 'reuse', now) };
          case 'missing':
            return { status: 'missing' };
          case 'ended':
            return { status: 'ended' };
          case 'expired':
            return { status: 'expired' };
        }
      },
      async end(id, reason, now) {
        const s = sessions.get(id);
        return s && s.endedAt === null ? endOne(s, reason, now) : null;
      },
      async endAllForUser(userId, reason, now, exceptId) {
        // Every not-yet-ended session, expired ones included (as in the SQL adapters): the caller
        // revokes the returned ids, which also covers access tokens outliving a session deadline.
        const ended: string[] = [];
        for (const s of sessions.values()) {
          if (s.userId === userId && s.endedAt === null && s.id !== exceptId) ended.push(endOne(s, reason, now).id);
        }
        return ended;
      },
      async listActive(userId, now) {
        return [...sessions.values()]
          .filter((s) => s.userId === userId && isLive(s, now))
          .sort(newestFirst)
          .map(copySession);
      },
      async purge(before) {
        let n = 0;
        for (const [id, s] of sessions) if (isPurgeable(s, before)) (sessions.delete(id), n++);
        return n;
      },
    },

    revocations: {
      async add(r) {
        const k = `${r.kind}\u0000${r.key}`;
        const prev = revocations.get(k);
        revocations.set(k, { ...r, expiresAt: Math.max(r.expiresAt, prev?.expiresAt ?? r.expiresAt) });
      },
      async listLive(now) {
        return [...revocations.values()]
          .filter((r) => r.expiresAt > now)
          .sort((a, b) => (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
          .map((r) => ({ ...r }));
      },
      async purge(now) {
        let n = 0;
        for (const [k, r] of revocations) if (r.expiresAt <= now) (revocations.delete(k), n++);
        return n;
      },
    },

    async migrate() {},
    async ping() {
      if (closed) throw new Error('memory storage is closed');
    },
    async close() {
      closed = true;
    },
  };
}
