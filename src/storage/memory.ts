// In-process storage for tests and the toolkit. Same semantics as the SQL adapters: every method
// does its reads and writes synchronously (no await in between), which is what makes createFirst
// and rotate atomic on a single-threaded event loop. Records are copied in and out so callers can
// never mutate stored state by accident. Lookups scan: fine for the sizes this adapter is meant for.
// A write given events is a transaction: should writing an event fail, the state is put back as it was.
import { USERS, uniqueValues } from './columns.js';
import { createMemoryFactorStores } from './memory-factors.js';
import {
  bumpedUpdatedAt, checkPage, cleanPatch, compareKeys, emailKey, eventsOf, isClaimable, isLive, isPurgeable, isUsableToken, judgeRotate, mayBeEmail, newDelivery,
  newSessionRecord,
  newUserRecord, newestFirst, oldestFirst, pickLogin, rotationEvents, usernameKey,
} from './rules.js';
import {
  NoOtherHolder, TokenSpent, UserChanged,
  UniqueViolation,
  type DeliveryRecord, type EmailTokenRecord, type Emit, type EventRecord, type NewEvent, type NewSession, type NewUser, type OutboxRecord,
  type RefuseEnded, type RevocationRecord, type RevokeSession, type RoleOverride, type RotateResult, type SessionRecord, type Storage, type StorageOptions, type StoredRevocation, type UserRecord,
} from './types.js';

const copyUser = (u: UserRecord): UserRecord => ({ ...u, roles: [...u.roles] });
const copySession = (s: SessionRecord): SessionRecord => ({ ...s });
const record = ({ recordedAt: _, ...r }: StoredRevocation): RevocationRecord => r;
/** A primary or legacy key already in use (the SQL adapters' driver error). */
class KeyTaken extends Error {}

const copyMail = (m: OutboxRecord): OutboxRecord => ({ ...m, data: structuredClone(m.data) });
const copyEvent = (e: EventRecord): EventRecord => structuredClone(e);
const copyDelivery = (x: DeliveryRecord): DeliveryRecord => ({ ...x });
/** Newest first by (key, id), as the SQL adapters' listings. */
const newestByKey = <R>(key: (r: R) => number, id: (r: R) => string) => (a: R, b: R): number => compareKeys(key(b), id(b), key(a), id(a));

export function createMemoryStorage(opts: StorageOptions = {}): Storage {
  const clock = opts.clock ?? Date.now;
  const users = new Map<string, UserRecord>();
  const sessions = new Map<string, SessionRecord>();
  const revocations = new Map<string, StoredRevocation>();
  // Declared below; a factor write's events are inserted by the same rules as every other write's.
  const second = createMemoryFactorStores((id) => users.has(id), (list) => insertEvents(list));
  const tokens = new Map<string, EmailTokenRecord>();
  const outbox = new Map<string, OutboxRecord>();
  const devices = new Map<string, { userId: string; firstSeen: number; lastSeen: number }>(); // by userId NUL device
  const events = new Map<string, EventRecord>();
  const deliveries = new Map<string, DeliveryRecord>();
  let closed = false;

  /** Mirrors the events and webhook_deliveries tables' keys and checks: all are checked before any is inserted. */
  function insertEvents(list: readonly NewEvent[]): void {
    const ids = new Set<string>();
    for (const e of list) {
      if (events.has(e.id) || ids.has(e.id)) throw new Error(`events: id ${e.id} already exists`);
      if (e.outcome !== 'success' && e.outcome !== 'failure') throw new Error('events: outcome must be success or failure');
      ids.add(e.id);
    }
    for (const e of list) {
      const { deliverTo, ...row } = e;
      events.set(e.id, copyEvent(row as EventRecord));
      for (const endpoint of new Set(deliverTo)) {
        const d = newDelivery(e, endpoint);
        deliveries.set(d.id, d);
      }
    }
  }

  /** Adds a revocation record, as the SQL adapters' upsert does; the record as stored. */
  const addRevocation = (r: RevocationRecord): RevocationRecord => {
    const k = `${r.kind}\u0000${r.key}`;
    const prev = revocations.get(k);
    // As the SQL adapters: the later deadline, and for a 'user' cut-off the later moment; a role
    // override's deadline moves past the one it replaces.
    const value = prev !== undefined && r.kind === 'user' && Number(r.value) < Number(prev.value) ? prev.value : r.value;
    const expiresAt = prev === undefined ? r.expiresAt : r.kind === 'roles' ? Math.max(r.expiresAt, prev.expiresAt + 1) : Math.max(r.expiresAt, prev.expiresAt);
    const stored = { ...r, value, expiresAt, recordedAt: clock() } as StoredRevocation;
    revocations.set(k, stored);
    return record(stored);
  };
  /** Ends these sessions and adds their revocations when asked; their ids. */
  const endAndRevoke = (list: SessionRecord[], reason: string, now: number, revoke: RevokeSession | undefined): string[] =>
    list.map((s) => {
      endOne(s, reason, now);
      if (revoke) addRevocation(revoke(s.id));
      return s.id;
    });
  /** Ends the user's sessions but `exceptId` and adds the records `e` makes of them, as the SQL adapters' `refusing`. */
  const refusing = (userId: string, reason: string, now: number, exceptId: string | undefined, refuse: RefuseEnded): string[] => {
    const ids = endAndRevoke([...sessions.values()].filter((s) => s.userId === userId && s.endedAt === null && s.id !== exceptId), reason, now, undefined);
    const u = users.get(userId);
    const records = refuse.records(ids, u ? copyUser(u) : null);
    for (const r of records) addRevocation(r);
    refuse.written(ids, records);
    return ids;
  };
  /** Runs a write and then inserts its events; if anything throws, every map is put back as it was. */
  const write = <T>(run: () => T, emit?: Emit<T>): T => {
    if (emit === undefined) return run();
    const saved = {
      users: [...users.values()].map(copyUser), sessions: [...sessions.values()].map(copySession),
      tokens: [...tokens.entries()].map(([k, t]) => [k, { ...t }] as const), devices: [...devices.entries()].map(([k, v]) => [k, { ...v }] as const),
      events: new Map(events), deliveries: [...deliveries.values()].map(copyDelivery), revocations: new Map(revocations),
    };
    try {
      const out = run();
      insertEvents(eventsOf(emit, out));
      return out;
    } catch (e) {
      users.clear();
      for (const u of saved.users) users.set(u.id, u);
      sessions.clear();
      for (const x of saved.sessions) sessions.set(x.id, x);
      events.clear();
      for (const [k, v] of saved.events) events.set(k, v);
      deliveries.clear();
      for (const x of saved.deliveries) deliveries.set(x.id, x);
      tokens.clear();
      for (const [k, t] of saved.tokens) tokens.set(k, t);
      devices.clear();
      for (const [k, v] of saved.devices) devices.set(k, v);
      revocations.clear();
      for (const [k, v] of saved.revocations) revocations.set(k, v);
      throw e;
    }
  };

  /** Mirrors the unique columns of the users table (columns.ts) for `u`, as it would be stored. */
  const assertUnique = (u: UserRecord): void => {
    const mine = uniqueValues(USERS, u);
    for (const other of users.values()) {
      if (other.id === u.id) continue;
      const theirs = uniqueValues(USERS, other);
      const clash = mine.find((m, i) => m.value === theirs[i]!.value);
      if (clash) throw new UniqueViolation(clash.field);
    }
  };

  const insertUser = (n: NewUser): UserRecord => {
    const u = copyUser(newUserRecord(n, clock()));
    // Checked before the id so a duplicate username/email is reported as such, like the SQL adapters.
    assertUnique(u);
    if (users.has(u.id)) throw new KeyTaken(`users.create: id ${u.id} already exists`);
    // Mirrors the unique index on legacy_id (not a UniqueViolation: no field of the API holds it).
    if (u.legacyId !== null && [...users.values()].some((o) => o.legacyId === u.legacyId)) throw new KeyTaken(`users.create: legacy id ${u.legacyId} already exists`);
    users.set(u.id, u);
    return copyUser(u);
  };

  /** As the SQL stores' keepHolder: synchronous here, so nothing runs between the check and the write. */
  const keepHolder = (id: string, roles: readonly string[]): void => {
    for (const u of users.values()) if (u.id !== id && u.isActive && u.roles.some((r) => roles.includes(r))) return;
    throw new NoOtherHolder();
  };

  /** The user's live sessions at `now`, newest first (the stored records, not copies). */
  const liveOf = (userId: string, now: number): SessionRecord[] =>
    [...sessions.values()].filter((s) => s.userId === userId && isLive(s, now)).sort(newestFirst);

  /** Ends a session in place and returns a copy. */
  const endOne = (s: SessionRecord, reason: string, now: number): SessionRecord => {
    s.endedAt = now;
    s.endReason = reason;
    return copySession(s);
  };

  return {
    kind: 'memory',
    users: {
      async create(user, emit) {
        return write(() => insertUser(user), emit);
      },
      async createFirst(user, emit) {
        return write(() => (users.size === 0 ? insertUser(user) : null), emit);
      },
      async findById(id) {
        const u = users.get(id);
        return u ? copyUser(u) : null;
      },
      async findByLogin(login) {
        // The login's keys once, not per user; without an '@' no email can match (see the interface).
        const name = usernameKey(login);
        const email = mayBeEmail(login) ? emailKey(login) : undefined;
        const found = [...users.values()].filter((u) => usernameKey(u.username) === name || u.email === email);
        const hit = pickLogin(found, login);
        return hit ? copyUser(hit) : null;
      },
      async list(q) {
        checkPage(q, 'users.list');
        const needle = q.email === undefined ? undefined : emailKey(q.email);
        const matching = [...users.values()]
          .filter((u) => needle === undefined || u.email.includes(needle))
          .filter((u) => q.username === undefined || usernameKey(u.username).includes(usernameKey(q.username)))
          .filter((u) => q.role === undefined || u.roles.includes(q.role))
          .filter((u) => q.active === undefined || u.isActive === q.active)
          .filter((u) => q.verified === undefined || u.emailVerified === q.verified)
          .filter((u) => q.legacyHash === undefined || !u.passwordHash.startsWith(q.legacyHash.currentPrefix) === q.legacyHash.legacy)
          .sort(oldestFirst);
        return { users: matching.slice(q.offset, q.offset + q.limit).map(copyUser), total: matching.length };
      },
      async update(id, patch, emit, { keep, passwordHashWas, emailWas, isActiveWas, updatedAtWas, sessionOpen } = {}, override, effects = {}) {
        let dropFactors = false;
        const updated = write(() => {
          if (keep !== undefined) keepHolder(id, keep);
          const u = users.get(id);
          if (!u || (passwordHashWas !== undefined && u.passwordHash !== passwordHashWas) || (emailWas !== undefined && u.email !== emailKey(emailWas))
            || (isActiveWas !== undefined && u.isActive !== isActiveWas)
            || (updatedAtWas !== undefined && u.updatedAt !== updatedAtWas)) return null;
          if (sessionOpen !== undefined && !('id' in sessionOpen
            ? sessions.get(sessionOpen.id)?.userId === id && sessions.get(sessionOpen.id)?.endedAt === null
            : liveOf(id, sessionOpen.now).some((x) => x.createdAt <= sessionOpen.openedBy))) return null;
          const clean = cleanPatch(patch);
          const next = { ...u, ...clean, updatedAt: bumpedUpdatedAt(u.updatedAt, clock()) };
          assertUnique(next);
          users.set(id, next);
          if (clean.passwordHash !== undefined) {
            for (const t of tokens.values()) {
              if (t.userId === id && (t.purpose === 'reset' || t.purpose === 'email' || t.purpose === 'invite') && t.usedAt === null && t.supersededAt === null) t.supersededAt = clock();
            }
          }
          if (override) override.stored(addRevocation(override.record(copyUser(next))) as RoleOverride);
          const e = effects.sessions;
          if (e) refusing(id, e.reason, e.now, e.exceptId, e);
          if (effects.factors) {
            // Counted now (before the events are made), removed once the write stands: the factor
            // stores are not put back by a write that fails.
            effects.factors.removed(second.countFactors(id));
            dropFactors = true;
          }
          return copyUser(next);
        }, override || effects.sessions || effects.factors ? emit ?? [] : emit);
        if (dropFactors) second.deleteUser(id);
        return updated;
      },
      async delete(id, emit, { keep } = {}) {
        const gone = write(() => {
          if (keep !== undefined) keepHolder(id, keep);
          if (!users.delete(id)) return false;
          // ON DELETE CASCADE.
          for (const [sid, s] of sessions) if (s.userId === id) sessions.delete(sid);
          for (const [h, t] of tokens) if (t.userId === id) tokens.delete(h);
          for (const [k, dv] of devices) if (dv.userId === id) devices.delete(k);
          return true;
        }, emit);
        // After the events are in: a failed write must leave the second factors too.
        if (gone) second.deleteUser(id);
        return gone;
      },
      async replacePasswordHash(id, expected, next) {
        const u = users.get(id);
        if (!u || u.passwordHash !== expected) return false;
        users.set(id, { ...u, passwordHash: next, updatedAt: bumpedUpdatedAt(u.updatedAt, clock()) });
        return true;
      },
      async findByKeys(k) {
        const ids = new Set(k.ids);
        const legacy = new Set(k.legacyIds);
        const emails = new Set(k.emails.map(emailKey));
        const names = new Set(k.usernames.map(usernameKey));
        return [...users.values()]
          .filter((u) => ids.has(u.id) || (u.legacyId !== null && legacy.has(u.legacyId)) || emails.has(u.email) || names.has(usernameKey(u.username)))
          .map(copyUser);
      },
      async insertMany(batch, events) {
        // No await inside: atomic, as the SQL adapters' one transaction is. Collisions are skipped;
        // an event that cannot be written undoes the whole batch (write() puts everything back).
        return write(() => {
          const inserted: string[] = [];
          for (const n of batch) {
            let id: string;
            try {
              id = insertUser(n).id;
            } catch (e) {
              if (!(e instanceof UniqueViolation) && !(e instanceof KeyTaken)) throw e;
              continue;
            }
            inserted.push(id);
            insertEvents(events?.(id) ?? []);
          }
          return inserted;
        }, events === undefined ? undefined : []);
      },
      async count() {
        return users.size;
      },
    },

    sessions: {
      async create(n: NewSession, emit, only) {
        return write(() => {
          const u = users.get(n.userId);
          // As the SQL adapters: the spent token first (its record's primary key), then the user.
          if (only?.spends !== undefined && revocations.has(`${only.spends.kind}\u0000${only.spends.key}`)) throw new TokenSpent();
          if (only !== undefined && (!u || !u.isActive || u.passwordHash !== only.passwordHashWas)) {
            throw new UserChanged();
          }
          // Mirrors the primary key and the foreign key of the SQL schema.
          if (sessions.has(n.id)) throw new Error(`sessions.create: id ${n.id} already exists`);
          if (!u) throw new Error(`sessions.create: user ${n.userId} does not exist`);
          const s = newSessionRecord(n);
          if (only?.spends !== undefined) addRevocation(only.spends);
          sessions.set(s.id, s);
          const trim = only?.trim;
          if (trim !== undefined) trim.ended(endAndRevoke(liveOf(n.userId, trim.now).filter((x) => x.id !== s.id).slice(trim.keep), trim.reason, trim.now, trim.revoke));
          return copySession(s);
        }, emit);
      },
      async get(id) {
        const s = sessions.get(id);
        return s ? copySession(s) : null;
      },
      async rotate({ id, presentedJti, newJti, now, idleExpiresAt, graceMs, userId, onReuse }, emit): Promise<RotateResult> {
        const user = () => (userId === undefined ? {} : { user: users.has(userId) ? copyUser(users.get(userId)!) : null });
        return write((): RotateResult => {
          const s = sessions.get(id) ?? null;
          switch (judgeRotate(s, presentedJti, now, graceMs)) {
            case 'current':
              Object.assign(s!, { refreshJti: newJti, previousJti: presentedJti, rotatedAt: now, lastUsedAt: now, idleExpiresAt });
              return { status: 'rotated', session: copySession(s!), ...user() };
            case 'grace':
              return { status: 'grace', session: copySession(s!), ...user() };
            case 'reuse': {
              const ended = endOne(s!, 'reuse', now);
              if (onReuse) addRevocation(onReuse(id));
              return { status: 'reused', session: ended };
            }
            case 'missing':
              return { status: 'missing' };
            case 'ended':
              return { status: 'ended' };
            case 'expired':
              return { status: 'expired' };
          }
        }, rotationEvents(emit));
      },
      async end(id, reason, now, emit, revoke) {
        return write(() => {
          const s = sessions.get(id);
          const ended = s && s.endedAt === null ? endOne(s, reason, now) : null;
          if (revoke) addRevocation(revoke(id));
          return ended;
        }, emit);
      },
      async endAllForUser(userId, reason, now, exceptId, emit, revoke) {
        // Every not-yet-ended session, expired ones included (as in the SQL adapters): their
        // revocations also cover access tokens outliving a session deadline.
        if (typeof revoke === 'object') return write(() => refusing(userId, reason, now, exceptId, revoke), emit ?? []);
        return write(() => {
          const ended = [...sessions.values()].filter((s) => s.userId === userId && s.endedAt === null && s.id !== exceptId);
          return endAndRevoke(ended, reason, now, revoke);
        }, emit);
      },
      async endOldest(userId, keep, reason, now, exceptId, emit, revoke) {
        checkPage({ limit: keep, offset: 0 }, 'sessions.endOldest');
        return write(() => endAndRevoke(liveOf(userId, now).filter((s) => s.id !== exceptId).slice(keep), reason, now, revoke), emit);
      },
      async listForUser(userId) {
        return [...sessions.values()].filter((s) => s.userId === userId).sort(newestByKey((s) => s.createdAt, (s) => s.id)).map(copySession);
      },
      async listActive(userId, now, page) {
        checkPage(page, 'sessions.listActive');
        const live = liveOf(userId, now);
        return { sessions: live.slice(page.offset, page.offset + page.limit).map(copySession), total: live.length };
      },
      async countLive(now) {
        let n = 0;
        for (const s of sessions.values()) if (isLive(s, now)) n++;
        return n;
      },
      async purge(before, batch = Number.POSITIVE_INFINITY) {
        let n = 0;
        for (const [id, s] of sessions) {
          if (n >= batch) break;
          if (isPurgeable(s, before)) (sessions.delete(id), n++);
        }
        return n;
      },
    },

    revocations: {
      async add(r, emit) {
        // The events first: should one be refused, nothing is written (insertEvents checks them all first).
        insertEvents(eventsOf(emit, undefined));
        addRevocation(r);
      },
      async listLive(now, page) {
        const order = (a: { kind: string; key: string }, b: { kind: string; key: string }) =>
          a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
        const after = page?.after;
        const live = [...revocations.values()].filter((r) => r.expiresAt > now && (!after || order(r, after) > 0)).sort(order);
        return (page ? live.slice(0, page.limit) : live).map(record);
      },
      async listRecordedSince(since) {
        return [...revocations.values()].filter((r) => r.recordedAt >= since).map(record);
      },
      async purge(now) {
        let n = 0;
        for (const [k, r] of revocations) if (r.expiresAt <= now) (revocations.delete(k), n++);
        return n;
      },
    },

    emailTokens: {
      async issue(t) {
        if (!users.has(t.userId)) throw new Error(`emailTokens.issue: user ${t.userId} does not exist`);
        if (tokens.has(t.hash)) throw new Error('emailTokens.issue: hash already exists');
        for (const o of tokens.values()) {
          if (o.userId === t.userId && o.purpose === t.purpose && o.supersededAt === null) o.supersededAt = t.createdAt;
        }
        tokens.set(t.hash, { ...t, sessionId: t.sessionId ?? null, usedAt: null, supersededAt: null });
      },
      async consume(hash, purpose, now) {
        const t = tokens.get(hash);
        if (!t || t.purpose !== purpose || !isUsableToken(t, now)) return null;
        t.usedAt = now;
        return { ...t };
      },
      async find(hash, purpose) {
        const t = tokens.get(hash);
        return t && t.purpose === purpose ? { ...t } : null;
      },
      async purge(before, batch) {
        let n = 0;
        for (const [h, t] of tokens) {
          if (n >= batch) break;
          if (t.expiresAt < before) (tokens.delete(h), n++);
        }
        return n;
      },
      async listForUser(userId) {
        return [...tokens.values()].filter((t) => t.userId === userId).sort((a, b) => b.createdAt - a.createdAt || (a.hash < b.hash ? -1 : 1)).map((t) => ({ ...t }));
      },
    },

    outbox: {
      async add(m) {
        if (outbox.has(m.id)) throw new Error(`outbox.add: id ${m.id} already exists`);
        outbox.set(m.id, copyMail({
          ...m, status: 'pending', attempts: 0, nextAttemptAt: m.createdAt, claimedBy: null, claimedUntil: null, sentAt: null, lastError: null,
        }));
      },
      async claim(claimant, now, until, limit) {
        const due = [...outbox.values()].filter((m) => isClaimable(m, now))
          .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1))
          .slice(0, limit);
        for (const m of due) Object.assign(m, { claimedBy: claimant, claimedUntil: until, attempts: m.attempts + 1 });
        return due.map(copyMail);
      },
      async renew(id, claimant, until) {
        const m = outbox.get(id);
        if (!m || m.claimedBy !== claimant || m.status !== 'pending') return false;
        m.claimedUntil = until;
        return true;
      },
      async release(id, claimant) {
        const m = outbox.get(id);
        if (!m || m.claimedBy !== claimant || m.status !== 'pending') return false;
        Object.assign(m, { claimedBy: null, claimedUntil: null, attempts: m.attempts - 1 });
        return true;
      },
      async prepared(id, claimant, p) {
        const m = outbox.get(id);
        if (!m || m.claimedBy !== claimant || m.status !== 'pending') return false;
        Object.assign(m, { recipient: p.recipient, data: structuredClone(p.data), deadline: p.deadline, prepared: true });
        return true;
      },
      async sent(id, now) {
        const m = outbox.get(id);
        if (m && m.status === 'pending') Object.assign(m, { status: 'sent', sentAt: now, recipient: '', data: {}, lastError: null, claimedBy: null, claimedUntil: null });
      },
      async retry(id, claimant, nextAttemptAt, error) {
        const m = outbox.get(id);
        if (!m || m.claimedBy !== claimant || m.status !== 'pending') return false;
        Object.assign(m, { nextAttemptAt, lastError: error, claimedBy: null, claimedUntil: null });
        return true;
      },
      async finish(id, claimant, status, error) {
        const m = outbox.get(id);
        if (!m || m.claimedBy !== claimant || m.status !== 'pending') return false;
        Object.assign(m, { status, recipient: '', data: {}, lastError: error, claimedBy: null, claimedUntil: null });
        return true;
      },
      async get(id) {
        const m = outbox.get(id);
        return m ? copyMail(m) : null;
      },
      async purge(before, batch) {
        let n = 0;
        for (const [id, m] of outbox) {
          if (n >= batch) break;
          if (m.status !== 'pending' && m.createdAt < before) (outbox.delete(id), n++);
        }
        return n;
      },
      async pendingTo(recipient) {
        return [...outbox.values()].filter((m) => m.status === 'pending' && m.recipient === recipient)
          .sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1)).map((m) => ({ template: m.template, createdAt: m.createdAt }));
      },
    },

    devices: {
      async remember(userId, device, now) {
        const key = `${userId}\u0000${device}`;
        const known = devices.get(key);
        if (known) return (known.lastSeen = now, { isNew: false, before: 0 });
        if (!users.has(userId)) throw new Error(`devices.remember: user ${userId} does not exist`);
        const before = [...devices.values()].filter((d) => d.userId === userId).length;
        devices.set(key, { userId, firstSeen: now, lastSeen: now });
        return { isNew: true, before };
      },
      async purge(before, batch) {
        let n = 0;
        for (const [k, dv] of devices) {
          if (n >= batch) break;
          if (dv.lastSeen < before) (devices.delete(k), n++);
        }
        return n;
      },
      async listForUser(userId) {
        return [...devices.values()].filter((dv) => dv.userId === userId).sort((a, b) => b.lastSeen - a.lastSeen).map((dv) => ({ firstSeen: dv.firstSeen, lastSeen: dv.lastSeen }));
      },
    },

    factors: second.factors,
    challenges: second.challenges,

    events: {
      async append(list) {
        write(() => undefined, list);
      },
      async list(q) {
        if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw new RangeError('limit must be a positive integer');
        const types = q.types !== undefined && q.types.length > 0 ? new Set<string>(q.types) : undefined;
        return [...events.values()]
          .filter((e) => (types === undefined || types.has(e.type))
            && (q.actorId === undefined || e.actorId === q.actorId)
            && (q.userId === undefined || e.userId === q.userId)
            && (q.from === undefined || e.time >= q.from)
            && (q.to === undefined || e.time < q.to)
            && (q.before === undefined || compareKeys(e.time, e.id, q.before.time, q.before.id) < 0))
          .sort(newestByKey((e) => e.time, (e) => e.id))
          .slice(0, q.limit)
          .map(copyEvent);
      },
      async count(type, from) {
        let n = 0;
        for (const e of events.values()) if (e.type === type && e.time >= from) n++;
        return n;
      },
      async purge(before, batch) {
        const doomed = [...events.values()].filter((e) => e.time < before).sort((a, b) => a.time - b.time).slice(0, batch);
        for (const e of doomed) events.delete(e.id);
        const gone = new Set(doomed.map((e) => e.id));
        for (const [k, d] of deliveries) if (gone.has(d.eventId)) deliveries.delete(k); // ON DELETE CASCADE
        return doomed.length;
      },
    },

    deliveries: {
      async claim(now, limit, leaseMs, claim, scope) {
        const due = [...deliveries.values()]
          .filter((d) => d.state === 'pending' && d.nextAttemptAt <= now
            && (scope === undefined || scope.endpoints.includes(d.endpoint) || d.createdAt < scope.orCreatedBefore))
          .sort((a, b) => compareKeys(a.nextAttemptAt, a.id, b.nextAttemptAt, b.id))
          .slice(0, limit);
        return due.map((d) => {
          Object.assign(d, { attempts: d.attempts + 1, lastAttemptAt: now, nextAttemptAt: now + leaseMs, claim });
          return { delivery: copyDelivery(d), event: copyEvent(events.get(d.eventId)!) };
        });
      },
      async finish(id, claim, r) {
        const d = deliveries.get(id);
        if (!d || d.claim !== claim || d.state !== 'pending') return false;
        if (r.state === 'delivered') Object.assign(d, { state: r.state, lastStatus: r.status, lastError: null, deliveredAt: r.at });
        else if (r.state === 'pending') Object.assign(d, { state: r.state, lastStatus: r.status, lastError: r.error, nextAttemptAt: r.retryAt });
        else Object.assign(d, { state: r.state, lastStatus: r.status, lastError: r.error });
        return true;
      },
      async list(q) {
        if (!Number.isSafeInteger(q.limit) || q.limit < 1) throw new RangeError('limit must be a positive integer');
        return [...deliveries.values()]
          .filter((d) => (q.state === undefined || d.state === q.state)
            && (q.eventId === undefined || d.eventId === q.eventId)
            && (q.before === undefined || compareKeys(d.createdAt, d.id, q.before.createdAt, q.before.id) < 0))
          .sort(newestByKey((d) => d.createdAt, (d) => d.id))
          .slice(0, q.limit)
          .map(copyDelivery);
      },
      async backlog() {
        return [...deliveries.values()].filter((d) => d.state === 'pending').length;
      },
    },

    async migrate() {
      return [];
    },
    async pendingMigrations() {
      return [];
    },
    async newerMigrations() {
      return [];
    },
    async ping() {
      if (closed) throw new Error('memory storage is closed');
    },
    async close() {
      closed = true;
    },
  };
}
