// The user, session, revocation, event and outbox stores, written once for both SQL adapters over a
// dialect, a function that runs one statement and one that runs a plan in a transaction. What the
// adapters keep for themselves is what really differs: the transactions and locks around
// createFirst, rotate and the migration loop (each runs the plans below inside its own), and
// connection handling.
//
// Events are written by the plan of the change they record (withEvents): a write given events runs
// in one transaction with them, so the change and its events commit together or not at all.
import { DELIVERIES, EMAIL_TOKENS, EVENTS, OUTBOX, REVOCATIONS, SESSIONS, USERS } from './columns.js';
import { deletingFactors, sqlFactorStores } from './factor-stores.js';
import { currentHash, IDLE_HOUR_MS, INDEXED_HASH_PREFIX } from './migrations.js';
import type { ChallengeStore, FactorStore } from './factor-types.js';
import {
  checkPage, cleanPatch, emailKey, eventRecords, eventsOf, judgeRotate, mayBeEmail, newDelivery, newSessionRecord, newUserRecord, pickLogin, usernameKey,
} from './rules.js';
import {
  Sql, assignments, insertFrom, insertSlices, insertRow, insertRows, insertValues, join, param, raw, rowDecoder, columnsOf,
  runPlanAsync, shaped, sql, type Dialect, type Plan, type Result, type Row, type Script,
} from './sql.js';
import {
  type ClaimedDelivery, type DeliveryScope, type DeliveryStore, type EmailTokenStore, type Emit, type EventRecord, type EventStore, type NewEmailToken,
  type NewEvent, type NewUser, NoOtherHolder, TokenSpent, UserChanged, type OutboxStore, type RevocationEventStore, type RevocationRecord, type RoleOverride, type RotateResult, type SessionStore,
  type RefuseEnded, type RevokeSession, type SessionRecord, type SignInDeviceStore, type UserRecord, type UserStore, type UserWriteEffects,
} from './types.js';

type RotateArgs = Parameters<SessionStore['rotate']>[0];

/** The stores minus what each adapter writes itself (createFirst, insertMany, rotate, issue). */
export type SharedStores = {
  users: Omit<UserStore, 'createFirst' | 'insertMany'>;
  sessions: Omit<SessionStore, 'rotate'>;
  revocations: RevocationEventStore;
  emailTokens: Omit<EmailTokenStore, 'issue'>;
  outbox: OutboxStore;
  devices: SignInDeviceStore;
  factors: FactorStore;
  challenges: ChallengeStore;
  events: EventStore;
  deliveries: DeliveryStore;
};

/** One statement's first row, decoded. */
function* single<T>(s: Sql, decode: (r: Row) => T): Plan<T> {
  return decode((yield s).rows[0]!);
}

/** One statement's first row decoded, or null when it returned none. */
function* maybe<T>(s: Sql, decode: (r: Row) => T): Plan<T | null> {
  const [r] = (yield s).rows;
  return r ? decode(r) : null;
}

// eslint-disable-next-line require-yield
function* nothing(): Plan<void> {}

/** The statements and plans the adapters run inside their own transactions, and the row decoders. */
export function sqlStatements(d: Dialect, clock: () => number) {
  const user = rowDecoder(d, USERS);
  const session = rowDecoder(d, SESSIONS);
  const storedRevocation = rowDecoder(d, REVOCATIONS);
  /** The record without its bookkeeping column. */
  const revocation = (row: Row): RevocationRecord => {
    const { recordedAt: _, ...record } = storedRevocation(row);
    return record;
  };

  // The rotation's statements, built once per shape (every refresh runs them; see shaped()).
  const shapes = new Map<string, Sql>();
  /** The user by id, its columns named (a positional statement: see Sql). */
  const userByIdParts = sql`SELECT ${columnsOf(USERS)} FROM users WHERE id = ${null}`.parts;
  const casValues = (a: RotateArgs): unknown[] => [a.newJti, a.presentedJti, a.now, a.now, a.idleExpiresAt, a.id, a.presentedJti, a.now, a.now];
  const buildCas = (a: RotateArgs): Sql => sql`
    UPDATE sessions SET ${join(assignments(d, SESSIONS, {
      refreshJti: a.newJti, previousJti: a.presentedJti, rotatedAt: a.now, lastUsedAt: a.now, idleExpiresAt: a.idleExpiresAt,
    }), ', ')}
    WHERE id = ${a.id} AND refresh_jti = ${a.presentedJti} AND ended_at IS NULL AND expires_at > ${a.now} AND idle_expires_at > ${a.now}
    RETURNING ${columnsOf(SESSIONS)}`;
  /**
   * The compare-and-swap of the refresh jti: matches only a live session holding `presentedJti`,
   * which it keeps as the previous jti (for the reuse grace) with the time it was replaced.
   */
  const rotateCas = (a: RotateArgs): Sql => shaped(shapes, 'cas', casValues(a), () => buildCas(a), true);
  const endSession = (id: string, reason: string, now: number): Sql => sql`
    UPDATE sessions SET ${join(assignments(d, SESSIONS, { endedAt: now, endReason: reason }), ', ')}
    WHERE id = ${id} AND ended_at IS NULL RETURNING *`;
  const insertUser = (n: NewUser): Sql => sql`${insertRow(d, USERS, newUserRecord(n, clock()))} RETURNING *`;
  const emailToken = rowDecoder(d, EMAIL_TOKENS);
  const mail = rowDecoder(d, OUTBOX);
  const event = rowDecoder(d, EVENTS);
  const delivery = rowDecoder(d, DELIVERIES);

  /**
   * The inserts of events: their rows, then one outbox row per (event, endpoint it goes to), in
   * multi-row INSERTs (a bulk import writes a thousand events at once).
   */
  const eventRows = (list: readonly NewEvent[]): Sql[] => {
    const rows = eventRecords(list);
    return [
      ...insertSlices(d, rows.events).map((part) => insertRows(d, EVENTS, part)),
      ...insertSlices(d, rows.deliveries).map((part) => insertRows(d, DELIVERIES, part)),
    ];
  };

  function* insertEvents(list: readonly NewEvent[]): Plan<void> {
    for (const s of eventRows(list)) yield s;
  }

  /** The compare-and-swap, and when it misses, the judgement of the row (see rotateMiss); the user when asked. */
  function* rotate(a: RotateArgs): Plan<RotateResult> {
    const [hit] = (yield rotateCas(a)).rows;
    return yield* withUser(a, hit ? { status: 'rotated', session: session(hit) } : yield* rotateMiss(a));
  }

  /** A 'rotated' or 'grace' answer with the user read in the same transaction, when `a.userId` asks for it. */
  function* withUser(a: RotateArgs, r: RotateResult): Plan<RotateResult> {
    if (a.userId === undefined || (r.status !== 'rotated' && r.status !== 'grace')) return r;
    const [row] = (yield new Sql(userByIdParts, [a.userId], undefined, true)).rows;
    return { ...r, user: row ? user(row) : null };
  }

  /**
   * PostgreSQL's rotation in one statement (one round trip): the compare-and-swap, the events of
   * a successful swap (inserted only from its row, so only if it matched: the same transaction as
   * the change) and, when asked, the user. No row back means it did not match (see rotateMiss).
   */
  function rotateSwap(a: RotateArgs, onSwap: readonly NewEvent[]): Sql {
    const rows = onSwap.map((e) => {
      const { deliverTo, ...record } = e;
      return { event: record as EventRecord, deliveries: [...new Set(deliverTo)].map((endpoint) => newDelivery(e, endpoint)) };
    });
    const values = casValues(a);
    for (const r of rows) {
      values.push(...insertValues(d, EVENTS, r.event));
      for (const x of r.deliveries) values.push(...insertValues(d, DELIVERIES, x));
    }
    if (a.userId !== undefined) values.push(a.userId);
    const key = `swap:${rows.map((r) => r.deliveries.length).join(',')}:${a.userId !== undefined}`;
    return shaped(shapes, key, values, () => {
      const steps = [sql`WITH rotated AS (${buildCas(a)})`];
      rows.forEach((r, i) => {
        steps.push(sql`, e${raw(String(i))} AS (${insertFrom(d, EVENTS, r.event, 'rotated')})`);
        r.deliveries.forEach((x, j) => steps.push(sql`, d${raw(`${i}_${j}`)} AS (${insertFrom(d, DELIVERIES, x, 'rotated')})`));
      });
      // Two JSON columns, not the ~25 of the session and the user: the driver reads the columns'
      // descriptions at every call, and 25 of them were its largest cost in a refresh (~20 µs).
      steps.push(a.userId === undefined
        ? sql` SELECT row_to_json(rotated) AS s FROM rotated`
        : sql` SELECT row_to_json(rotated) AS s, (SELECT row_to_json(users) FROM users WHERE users.id = ${a.userId}) AS u FROM rotated`);
      return join(steps, '');
    });
  }

  /** What rotateSwap's row answers: the session and the user as JSON objects, keyed by column. */
  function swapped(a: RotateArgs, row: Row): RotateResult {
    const r: RotateResult = { status: 'rotated', session: session(row.s as Row) };
    return a.userId === undefined ? r : { ...r, user: row.u === null ? null : user(row.u as Row) };
  }

  /**
   * After a compare-and-swap that matched nothing: judges the row as it is now, in the same
   * transaction as what follows (the row is locked by the transaction), and ends the session on reuse.
   */
  function* rotateMiss(a: RotateArgs): Plan<RotateResult> {
    const { rows } = yield sql`SELECT * FROM sessions WHERE id = ${a.id}${raw(d.forUpdate)}`;
    const found = rows[0] ? session(rows[0]) : null;
    const verdict = judgeRotate(found, a.presentedJti, a.now, a.graceMs);
    if (verdict === 'current') {
      // The row changed between the two statements (e.g. deleted and re-created): rotate now.
      return { status: 'rotated', session: session((yield rotateCas(a)).rows[0]!) };
    }
    if (verdict === 'grace') return { status: 'grace', session: found! };
    if (verdict !== 'reuse') return { status: verdict };
    const ended = session((yield endSession(a.id, 'reuse', a.now)).rows[0]!);
    if (a.onReuse) yield addRevocation(a.onReuse(a.id));
    return { status: 'reused', session: ended };
  }

  /**
   * Adds a revocation record, keeping the later deadline (see revocations.add); a role override's
   * moves past the one it replaces, even when asked for an earlier one (another instance's clock,
   * a shorter lifetime): its deadline is its order (see RoleOverride).
   */
  function addRevocation(r: RevocationRecord): Sql {
    return sql`${insertRow(d, REVOCATIONS, { ...r, recordedAt: clock() })} ON CONFLICT (kind, key) DO UPDATE
      SET value = CASE
            WHEN revocations.kind <> 'user' THEN excluded.value
            WHEN CAST(excluded.value AS NUMERIC) < CAST(revocations.value AS NUMERIC) THEN revocations.value
            ELSE excluded.value END,
          expires_at = CASE
            WHEN revocations.kind = 'roles' THEN ${raw(d.greatest)}(excluded.expires_at, revocations.expires_at + 1)
            ELSE ${raw(d.greatest)}(revocations.expires_at, excluded.expires_at) END,
          recorded_at = excluded.recorded_at`;
  }

  return {
    dialect: d,
    clock,
    user,
    session,
    revocation,
    emailToken,
    mail,
    event,
    delivery,
    insertUser,
    eventRows,
    rotateCas,
    endSession,
    rotate,
    rotateMiss,
    rotateSwap,
    addRevocation,
    swapped,
    withUser,

    /** `plan`, then the events it records (computed from its result), in whatever transaction runs it. */
    *withEvents<T>(plan: Plan<T>, events: Emit<T> | undefined): Plan<T> {
      const out = yield* plan;
      yield* insertEvents(eventsOf(events, out));
      return out;
    },

    /**
     * Supersedes the user's earlier tokens of this purpose and stores the new one. The adapter runs
     * it in a transaction; the user's row is locked first, so concurrent issues for one user queue.
     */
    *issueToken(t: NewEmailToken): Plan<void> {
      yield sql`SELECT id FROM users WHERE id = ${t.userId}${raw(d.forUpdate)}`;
      yield sql`UPDATE email_tokens SET ${join(assignments(d, EMAIL_TOKENS, { supersededAt: t.createdAt }), ', ')}
        WHERE user_id = ${t.userId} AND purpose = ${t.purpose} AND superseded_at IS NULL`;
      yield insertRow(d, EMAIL_TOKENS, { ...t, sessionId: t.sessionId ?? null, usedAt: null, supersededAt: null });
    },

    /** Inserts the user if the table is empty; the adapter runs it under a lock that stops concurrent inserts. */
    *createFirst(n: NewUser): Plan<UserRecord | null> {
      if ((yield sql`SELECT 1 FROM users LIMIT 1`).rows.length > 0) return null;
      return user((yield insertUser(n)).rows[0]!);
    },

    /**
     * Bulk insert: the users in multi-row INSERTs (colliding rows skipped: ON CONFLICT with no
     * target covers every unique index), then the events of those inserted; the adapter runs it in
     * one transaction. (A SQLite file has a faster path, sqlite.ts; PostgreSQL its own, postgres-bulk.ts.)
     */
    *insertMany(users: readonly NewUser[], events?: (userId: string) => readonly NewEvent[]): Plan<string[]> {
      const now = clock();
      const inserted: string[] = [];
      for (const part of insertSlices(d, users.map((n) => newUserRecord(n, now)))) {
        for (const r of (yield insertRows(d, USERS, part, ' ON CONFLICT DO NOTHING RETURNING id')).rows) inserted.push(r.id as string);
      }
      if (events) yield* insertEvents(inserted.flatMap(events));
      return inserted;
    },

    /**
     * Claims due deliveries: the rows are picked and updated by one statement (on PostgreSQL, rows
     * another instance is claiming are passed over, never waited for or taken twice; SQLite's
     * write lock serialises claims), then their events are read.
     */
    *claimDeliveries(now: number, limit: number, leaseMs: number, claim: string, scope?: DeliveryScope): Plan<ClaimedDelivery[]> {
      const within = scope === undefined ? sql``
        : scope.endpoints.length === 0 ? sql` AND created_at < ${scope.orCreatedBefore}`
        : sql` AND (endpoint IN (${join(scope.endpoints.map((e) => sql`${e}`), ', ')}) OR created_at < ${scope.orCreatedBefore})`;
      // MATERIALIZED: the picked set is computed once (an inlined subquery with LIMIT may be re-run per row).
      const claimed = (yield sql`
        WITH due AS MATERIALIZED (
          SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= ${now}${within}
          ORDER BY next_attempt_at LIMIT ${limit}${raw(d.skipLocked)}
        )
        UPDATE webhook_deliveries
        SET attempts = attempts + 1, last_attempt_at = ${now}, next_attempt_at = ${now + leaseMs}, claim = ${claim}
        WHERE id IN (SELECT id FROM due) RETURNING *`).rows.map(delivery);
      if (claimed.length === 0) return [];
      const ids = [...new Set(claimed.map((c) => c.eventId))];
      const events = new Map((yield sql`SELECT * FROM events WHERE id IN (${join(ids.map((id) => sql`${id}`), ', ')})`).rows
        .map(event).map((e) => [e.id, e] as const));
      return claimed.sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1))
        .map((c) => ({ delivery: c, event: events.get(c.eventId)! }));
    },
  };
}

export type SqlStatements = ReturnType<typeof sqlStatements>;

/**
 * The stores, over `exec`, which runs one statement outside any transaction, and `transact`, which
 * runs a plan in one transaction.
 */
export function sqlStores(
  st: SqlStatements,
  exec: (s: Sql | Script) => Promise<Result>,
  transact: <T>(plan: Plan<T>) => Promise<T>,
): SharedStores {
  const { dialect: d, clock } = st;
  const rows = async (s: Sql): Promise<Row[]> => (await exec(s)).rows;
  const first = async <T>(s: Sql, decode: (r: Row) => T): Promise<T | null> => {
    const [r] = await rows(s);
    return r ? decode(r) : null;
  };
  const changes = async (s: Sql): Promise<number> => (await exec(s)).changes;
  const { addRevocation } = st;
  /** A write: on its own (one statement needs no transaction), or in one transaction with its events. */
  const write = <T>(plan: Plan<T>, events: Emit<T> | undefined): Promise<T> =>
    events === undefined || (Array.isArray(events) && events.length === 0)
      ? runPlan(plan, exec)
      : together(plan, events);
  /** A write of several statements that must see each other: always one transaction, with its events if any. */
  const together = <T>(plan: Plan<T>, events: Emit<T> | undefined): Promise<T> => transact(st.withEvents(plan, events ?? []));
  /**
   * Ends the not-yet-ended sessions `which` picks, returning their ids. The rows are locked first,
   * in id order (`forUpdate`; SQLite has one writer at a time and needs none): an UPDATE alone locks
   * them in whatever order its plan meets them, so on PostgreSQL two statements ending overlapping
   * sets (sign-ins racing over the session limit, a logout everywhere) could each hold a row the
   * other waits for, "deadlock detected" (the conformance test's race: 2 runs in 100 with sign-ins
   * alone, 8 in 12 with logouts too). A row another ended meanwhile fails the re-checked
   * ended_at IS NULL and is skipped.
   */
  const endSessions = (which: Sql, reason: string, now: number): Sql => sql`
    WITH locked AS (SELECT id FROM sessions WHERE ended_at IS NULL AND ${which} ORDER BY id${raw(d.forUpdate)})
    UPDATE sessions SET ${join(assignments(d, SESSIONS, { endedAt: now, endReason: reason }), ', ')}
    FROM locked WHERE sessions.id = locked.id RETURNING sessions.id`;
  /** endSessions' ids, each with its revocation when asked. */
  function* endedIds(which: Sql, reason: string, now: number, revoke: RevokeSession | undefined): Plan<string[]> {
    const ids = (yield endSessions(which, reason, now)).rows.map((r) => r.id as string);
    if (revoke) for (const id of ids) yield addRevocation(revoke(id));
    return ids;
  }
  /**
   * Ends the user's sessions but `exceptId` and adds the records `refuse` makes of them (given the
   * user's row as this transaction has it), in the transaction running it.
   */
  function* refusing(userId: string, reason: string, now: number, exceptId: string | undefined, refuse: RefuseEnded, user: UserRecord | null): Plan<string[]> {
    const ids = yield* endedIds(sql`user_id = ${userId} AND id IS DISTINCT FROM ${exceptId ?? null}`, reason, now, undefined);
    const records = refuse.records(ids, user);
    for (const r of records) yield addRevocation(r);
    refuse.written(ids, records);
    return ids;
  }
  /** A session-ending write: with revocations it is always one transaction, events or not. */
  const ending = <T>(plan: Plan<T>, events: Emit<T> | undefined, revoke: RevokeSession | undefined): Promise<T> =>
    revoke === undefined ? write(plan, events) : together(plan, events);
  /**
   * Throws NoOtherHolder unless a user other than `id` is active and holds one of `roles`. The
   * holders' rows are locked first, in id order (SQLite's transaction holds the write lock): a
   * check that only read would let two administrators demoting each other at once both pass, each
   * counting on the other. PostgreSQL's FOR UPDATE answers each row as last committed once its
   * lock is taken, and the one counted on stays locked, so stays an active holder, until commit.
   */
  function* keepHolder(id: string, roles: readonly string[]): Plan<void> {
    if (roles.length === 0) throw new NoOtherHolder();
    const { rows: held } = yield sql`
      SELECT * FROM users WHERE id IN (SELECT user_id FROM user_roles WHERE role IN (${join(roles.map((r) => sql`${r}`), ', ')}))
      ORDER BY ${raw(d.ddl.binary('id'))}${raw(d.forUpdate)}`;
    if (!held.map(st.user).some((u) => u.id !== id && u.isActive && u.roles.some((r) => roles.includes(r)))) throw new NoOtherHolder();
  }
  /** The user's live sessions at `now` (isLive in rules.ts). */
  const liveOf = (userId: string, now: number): Sql =>
    sql`user_id = ${userId} AND ended_at IS NULL AND expires_at > ${now} AND idle_expires_at > ${now}`;
  /**
   * The ids of the user's live sessions but `exceptId` beyond the `keep` newest, ranked in the
   * list's order (newest first), so the sessions kept are the list's first page.
   */
  const beyondNewest = (userId: string, keep: number, now: number, exceptId: string | undefined): Sql => sql`
    SELECT id FROM (
      SELECT id, row_number() OVER (ORDER BY created_at DESC, ${raw(d.ddl.binary('id'))} DESC) AS n
      FROM sessions WHERE ${liveOf(userId, now)} AND id IS DISTINCT FROM ${exceptId ?? null}
    ) AS ranked WHERE n > ${keep}`;

  return {
    users: {
      create: (n, events) => write(single(st.insertUser(n), st.user), events),
      findById: (id) => first(sql`SELECT * FROM users WHERE id = ${id}`, st.user),
      async findByLogin(login) {
        // No stored login holds a NUL (every way in refuses one), and PostgreSQL refuses the text.
        if (login.includes('\u0000')) return null;
        // Without an '@' it can only be a username (see the interface): one index read, not two.
        const orEmail = mayBeEmail(login) ? sql` OR email = ${emailKey(login)}` : sql``;
        const found = await rows(sql`SELECT * FROM users WHERE username_lower = ${usernameKey(login)}${orEmail} LIMIT 2`);
        return pickLogin(found.map(st.user), login);
      },
      async list(q) {
        checkPage(q, 'users.list');
        const where: Sql[] = [];
        // The same filters on users_filter_counts (migration 10), which holds each combination's count.
        const counted: Sql[] = [sql`role = ${q.role ?? ''}`];
        let countable = q.role !== ''; // '' is that table's "every user"; no user holds such a role
        if (q.email !== undefined) (where.push(d.contains('email', emailKey(q.email))), (countable = false));
        if (q.username !== undefined) (where.push(d.contains('username_lower', usernameKey(q.username))), (countable = false));
        if (q.active !== undefined) {
          where.push(sql`users.is_active = ${param(d, USERS, 'isActive', q.active)}`);
          counted.push(sql`is_active = ${param(d, USERS, 'isActive', q.active)}`);
        }
        if (q.verified !== undefined) {
          where.push(sql`users.email_verified = ${param(d, USERS, 'emailVerified', q.verified)}`);
          counted.push(sql`email_verified = ${param(d, USERS, 'emailVerified', q.verified)}`);
        }
        if (q.legacyHash !== undefined) {
          const { legacy, currentPrefix } = q.legacyHash;
          // Worded as the partial indexes are, when it is the prefix they were built for.
          const indexed = currentPrefix === INDEXED_HASH_PREFIX;
          const current = indexed
            ? raw(currentHash(d.name, 'users.password_hash'))
            : sql`substr(users.password_hash, 1, ${[...currentPrefix].length}) = ${currentPrefix}`;
          where.push(legacy ? sql`NOT ${current}` : current);
          counted.push(sql`current_hash = ${d.encode('boolean', !legacy)}`);
          countable &&= indexed;
        }
        // A role's users are listed from its own index (user_roles), in list order; under a search,
        // which narrows more, each candidate's roles are looked up instead.
        const byRole = q.role !== undefined && q.email === undefined && q.username === undefined;
        if (q.role !== undefined) {
          where.push(byRole
            ? sql`user_roles.role = ${q.role} AND users.id = user_roles.user_id`
            : sql`EXISTS (SELECT 1 FROM user_roles WHERE role = ${q.role} AND created_at = users.created_at AND user_id = users.id)`);
        }
        // CROSS JOIN: SQLite then walks user_roles first, in its order (PostgreSQL plans as it sees fit).
        const from = byRole ? raw('user_roles CROSS JOIN users') : raw('users');
        const order = byRole
          ? raw(`user_roles.created_at, ${d.ddl.binary('user_roles.user_id')}`)
          : raw(`users.created_at, ${d.ddl.binary('users.id')}`);
        const matching = where.length === 0 ? sql`TRUE` : join(where, ' AND ');
        // The total: unfiltered, the count the users_count triggers keep (migration 9); filtered
        // without a search, the sum of at most a few rows of users_filter_counts; with a search, its
        // matches counted through the search's index. (Counting a million rows took 30-100 ms.)
        const total = where.length === 0
          ? sql`(SELECT coalesce(sum(n), 0) FROM users_count)`
          : countable
            ? sql`(SELECT coalesce(sum(n), 0) FROM users_filter_counts WHERE ${join(counted, ' AND ')})`
            : sql`(SELECT count(*) FROM ${from} WHERE ${matching})`;
        // One statement, one snapshot: the total and the page agree. The LEFT JOIN keeps the total
        // when the offset is past the last row. (The filter is written twice: SQLite runs a CTE
        // used twice about 40% slower.)
        const found = await rows(sql`
          SELECT page.*, ${total} AS total FROM (SELECT 1) AS one LEFT JOIN (
            SELECT users.* FROM ${from} WHERE ${matching} ORDER BY ${order} LIMIT ${q.limit} OFFSET ${q.offset}
          ) AS page ON TRUE`);
        return { users: found.filter((r) => r.id !== null).map(st.user), total: Number(found[0]?.total ?? 0) };
      },
      update(id, patch, events, { keep, passwordHashWas, emailWas, isActiveWas, updatedAtWas, sessionOpen } = {}, override, effects: UserWriteEffects = {}) {
        // bumpedUpdatedAt in SQL, on the row as the statement finds it.
        const bump = sql`updated_at = ${raw(d.greatest)}(${clock()}, updated_at + 1)`;
        const clean = cleanPatch(patch);
        const set = join([bump, ...assignments(d, USERS, clean)], ', ');
        const unchanged = join([
          sql``,
          ...(passwordHashWas === undefined ? [] : [sql`password_hash = ${passwordHashWas}`]),
          ...(emailWas === undefined ? [] : [sql`email = ${emailKey(emailWas)}`]),
          ...(isActiveWas === undefined ? [] : [sql`is_active = ${param(d, USERS, 'isActive', isActiveWas)}`]),
          ...(updatedAtWas === undefined ? [] : [sql`updated_at = ${updatedAtWas}`]),
        ], ' AND ');
        const updated = maybe(sql`UPDATE users SET ${set} WHERE id = ${id}${unchanged} RETURNING *`, st.user);
        if (clean.passwordHash === undefined && keep === undefined && override === undefined && sessionOpen === undefined
          && effects.sessions === undefined && effects.factors === undefined) return write(updated, events);
        const now = clock();
        return transact(st.withEvents((function* (): Plan<UserRecord | null> {
          if (keep !== undefined) yield* keepHolder(id, keep);
          if (sessionOpen !== undefined) {
            yield sql`SELECT id FROM users WHERE id = ${id}${raw(d.forNoKeyUpdate)}`;
            const which = 'id' in sessionOpen
              ? sql`id = ${sessionOpen.id} AND user_id = ${id} AND ended_at IS NULL`
              : sql`${liveOf(id, sessionOpen.now)} AND created_at <= ${sessionOpen.openedBy}`;
            if ((yield sql`SELECT id FROM sessions WHERE ${which} LIMIT 1${raw(d.forNoKeyUpdate)}`).rows.length === 0) return null;
          }
          const u = yield* updated;
          if (u && clean.passwordHash !== undefined) {
            yield sql`UPDATE email_tokens SET ${join(assignments(d, EMAIL_TOKENS, { supersededAt: now }), ', ')}
              WHERE user_id = ${id} AND purpose IN ('reset', 'email', 'invite') AND used_at IS NULL AND superseded_at IS NULL`;
          }
          // After the UPDATE, which holds the user's row until commit: two role changes write
          // their overrides in the order they commit.
          if (u && override) override.stored(st.revocation((yield sql`${addRevocation(override.record(u))} RETURNING *`).rows[0]!) as RoleOverride);
          // What the change shuts out goes with it: committed apart, a crash between left a new
          // password (or an inactive account) with every old session alive.
          const e = effects.sessions;
          if (u && e) yield* refusing(id, e.reason, e.now, e.exceptId, e, u);
          if (u && effects.factors) effects.factors.removed(yield* deletingFactors(id));
          return u;
        })(), events ?? []));
      },
      delete(id, events, { keep } = {}) {
        const deleted = (function* (): Plan<boolean> {
          if (keep !== undefined) yield* keepHolder(id, keep);
          return (yield sql`DELETE FROM users WHERE id = ${id}`).changes > 0;
        })();
        return keep === undefined ? write(deleted, events) : transact(st.withEvents(deleted, events ?? []));
      },
      async replacePasswordHash(id, expected, next) {
        const bump = sql`updated_at = ${raw(d.greatest)}(${clock()}, updated_at + 1)`;
        return (await changes(sql`UPDATE users SET ${bump}, password_hash = ${next} WHERE id = ${id} AND password_hash = ${expected}`)) > 0;
      },
      async findByKeys(k) {
        // One indexed lookup per key kind, each a single parameter however many keys there are.
        const found = await rows(sql`
          SELECT * FROM users WHERE ${d.anyOf('id', k.ids)} OR ${d.anyOf('legacy_id', k.legacyIds)}
            OR ${d.anyOf('email', k.emails.map(emailKey))} OR ${d.anyOf('username_lower', k.usernames.map(usernameKey))}`);
        return found.map(st.user);
      },
      count: async () => Number((await rows(sql`SELECT count(*) AS n FROM users`))[0]!.n),
    },

    sessions: {
      create(n, events, only) {
        if (only === undefined) return write(single(sql`${insertRow(d, SESSIONS, newSessionRecord(n))} RETURNING *`, st.session), events);
        // From the user's row, so that it is inserted only while the user is as the sign-in found
        // them. On PostgreSQL the row is key-share-locked (as the foreign key would): a deletion
        // under way is waited for and the row re-checked, where the foreign key was a 500. A change
        // committed after this statement began is not seen, but its sign-out everywhere, dated after
        // that commit, refuses this session's tokens (dated before it).
        const { spends, trim } = only;
        const run = trim === undefined ? write : together;
        return run((function* (): Plan<SessionRecord> {
          // One sign-in of the user at a time, until commit (SQLite: the write lock): a trim sees
          // every session opened before its own, and none opened after. A lock of its own, not the
          // user's row: writes of the user (a deletion, a deactivation) do not wait on sign-ins.
          const serial = trim === undefined ? undefined : d.serialize(`warden:sessions:${n.userId}`);
          if (serial !== undefined) yield serial;
          // First, so that the loser of two exchanges of one token waits here (PostgreSQL: on the
          // winner's uncommitted key) and then finds it taken, before it writes anything.
          if (spends !== undefined && (yield sql`${insertRow(d, REVOCATIONS, { ...spends, recordedAt: clock() })} ON CONFLICT (kind, key) DO NOTHING RETURNING key`).rows.length === 0) {
            throw new TokenSpent();
          }
          const [row] = (yield sql`${insertFrom(d, SESSIONS, newSessionRecord(n), 'users')}
            WHERE users.id = ${n.userId} AND users.is_active = ${param(d, USERS, 'isActive', true)}
              AND users.password_hash = ${only.passwordHashWas}${raw(d.forKeyShare)} RETURNING *`).rows;
          if (!row) throw new UserChanged();
          if (trim !== undefined) trim.ended(yield* endedIds(sql`id IN (${beyondNewest(n.userId, trim.keep, trim.now, n.id)})`, trim.reason, trim.now, trim.revoke));
          return st.session(row);
        })(), events);
      },
      get: (id) => first(sql`SELECT * FROM sessions WHERE id = ${id}`, st.session),
      end: (id, reason, now, events, revoke) => ending((function* (): Plan<SessionRecord | null> {
        const ended = yield* maybe(st.endSession(id, reason, now), st.session);
        if (revoke) yield addRevocation(revoke(id));
        return ended;
      })(), events, revoke),
      endAllForUser(userId, reason, now, exceptId, events, revoke) {
        // Every not-yet-ended session, expired ones included: their revocations also cover access
        // tokens that outlive their session's deadline.
        if (typeof revoke === 'object') {
          return together((function* (): Plan<string[]> {
            const [row] = (yield sql`SELECT * FROM users WHERE id = ${userId}`).rows;
            return yield* refusing(userId, reason, now, exceptId, revoke, row ? st.user(row) : null);
          })(), events);
        }
        return ending(endedIds(sql`user_id = ${userId} AND id IS DISTINCT FROM ${exceptId ?? null}`, reason, now, revoke), events, revoke);
      },
      endOldest(userId, keep, reason, now, exceptId, events, revoke) {
        checkPage({ limit: keep, offset: 0 }, 'sessions.endOldest');
        return ending(endedIds(sql`id IN (${beyondNewest(userId, keep, now, exceptId)})`, reason, now, revoke), events, revoke);
      },
      // Through sessions_user_idx.
      listForUser: async (userId) => (await rows(sql`
        SELECT * FROM sessions WHERE user_id = ${userId} ORDER BY created_at DESC, ${raw(d.ddl.binary('id'))} DESC`)).map(st.session),
      async listActive(userId, now, page) {
        checkPage(page, 'sessions.listActive');
        // One statement, one snapshot, as users.list: the total and the page agree.
        const found = await rows(sql`
          SELECT page.*, (SELECT count(*) FROM sessions WHERE ${liveOf(userId, now)}) AS total FROM (SELECT 1) AS one LEFT JOIN (
            SELECT * FROM sessions WHERE ${liveOf(userId, now)}
            ORDER BY created_at DESC, ${raw(d.ddl.binary('id'))} DESC LIMIT ${page.limit} OFFSET ${page.offset}
          ) AS page ON TRUE`);
        return { sessions: found.filter((r) => r.id !== null).map(st.session), total: Number(found[0]?.total ?? 0) };
      },
      async countLive(now) {
        // Through the live sessions' deadlines (migration 10), whose index holds the idle deadline's
        // hour (migrations 11 and 16): the later hours are counted from it alone, and only the
        // sessions whose deadline falls in this hour are read.
        const hour = Math.floor(now / IDLE_HOUR_MS);
        const live = sql`ended_at IS NULL AND expires_at > ${now}`;
        return Number((await rows(sql`
          SELECT (SELECT count(*) FROM sessions WHERE ${live} AND idle_hour > ${hour})
            + (SELECT count(*) FROM sessions WHERE ${live} AND idle_hour = ${hour} AND idle_expires_at > ${now}) AS n`))[0]!.n);
      },
      purge: (before, batch) => {
        // Three index ranges (migrations 10 to 12), not one OR that reads the whole table. Each
        // session is named by one of them only, so that a batch deletes as many as it names; the
        // last one's `expires_at + 0` keeps the planner off the absolute-deadline index, whose
        // range there (not yet expired) is nearly every live session.
        const idle = sql` AND idle_hour <= ${Math.floor(before / IDLE_HOUR_MS)}`;
        const limit = batch === undefined ? sql`` : sql` LIMIT ${batch}`;
        return changes(sql`DELETE FROM sessions WHERE id IN (
          SELECT id FROM sessions WHERE ended_at IS NOT NULL AND ended_at < ${before}
          UNION ALL SELECT id FROM sessions WHERE ended_at IS NULL AND expires_at < ${before}
          UNION ALL SELECT id FROM sessions WHERE ended_at IS NULL${idle} AND idle_expires_at < ${before} AND expires_at + 0 >= ${before}${limit})`);
      },
    },

    revocations: {
      add(r, events) {
        // Keeps the later deadline: a fact must never be shortened by a second, shorter write. A
        // 'user' cut-off keeps the later moment too (a write from an instance whose clock lags must
        // not un-refuse tokens). Resolves once committed, i.e. durable (SQLite: synchronous = FULL;
        // PostgreSQL: synchronous_commit).
        return write((function* (): Plan<void> {
          yield addRevocation(r);
        })(), events);
      },
      async listLive(now, page) {
        // Ordered as the primary key (kind, key) is, in its own collation, so each page is a walk of that index.
        const after = page?.after ? sql` AND (kind, key) > (${page.after.kind}, ${page.after.key})` : sql``;
        const limit = page ? sql` LIMIT ${page.limit}` : sql``;
        const live = await rows(sql`SELECT * FROM revocations WHERE expires_at > ${now}${after} ORDER BY kind, key${limit}`);
        return live.map(st.revocation);
      },
      async listRecordedSince(since) {
        return (await rows(sql`SELECT * FROM revocations WHERE recorded_at >= ${since}`)).map(st.revocation);
      },
      purge: (now) => changes(sql`DELETE FROM revocations WHERE expires_at <= ${now}`),
    },

    emailTokens: {
      // One conditional UPDATE: concurrent consumers queue on the row and re-check, so one wins.
      consume: (hash, purpose, now) => first(sql`
        UPDATE email_tokens SET ${join(assignments(d, EMAIL_TOKENS, { usedAt: now }), ', ')}
        WHERE hash = ${hash} AND purpose = ${purpose} AND used_at IS NULL AND superseded_at IS NULL AND expires_at > ${now}
        RETURNING *`, st.emailToken),
      find: (hash, purpose) => first(sql`SELECT * FROM email_tokens WHERE hash = ${hash} AND purpose = ${purpose}`, st.emailToken),
      // Through email_tokens_user_idx.
      listForUser: async (userId) => (await rows(sql`SELECT * FROM email_tokens WHERE user_id = ${userId} ORDER BY created_at DESC, hash`)).map(st.emailToken),
      // Through email_tokens_expires_idx, a batch at a time.
      purge: (before, batch) => changes(sql`
        DELETE FROM email_tokens WHERE hash IN (SELECT hash FROM email_tokens WHERE expires_at < ${before} LIMIT ${batch})`),
    },

    outbox: {
      async add(m) {
        await exec(insertRow(d, OUTBOX, {
          ...m, status: 'pending', attempts: 0, nextAttemptAt: m.createdAt, claimedBy: null, claimedUntil: null, sentAt: null, lastError: null,
        }));
      },
      async claim(claimant, now, until, limit) {
        // The rows are picked (and, in PostgreSQL, locked, passing over rows another claimer holds)
        // in a CTE, which runs once: an IN (subquery … LIMIT) may be re-run by the planner and
        // claim more than `limit`. The conditions are checked again on the row being updated.
        const claimable = sql`status = 'pending' AND next_attempt_at <= ${now} AND (claimed_until IS NULL OR claimed_until <= ${now})`;
        const claimed = await rows(sql`
          WITH picked AS (
            SELECT id FROM mail_outbox WHERE ${claimable} ORDER BY next_attempt_at, ${raw(d.ddl.binary('id'))} LIMIT ${limit}${raw(d.skipLocked)}
          )
          UPDATE mail_outbox SET claimed_by = ${claimant}, claimed_until = ${until}, attempts = attempts + 1
          FROM picked WHERE mail_outbox.id = picked.id AND ${claimable}
          RETURNING *`);
        return claimed.map(st.mail).sort((a, b) => a.nextAttemptAt - b.nextAttemptAt || (a.id < b.id ? -1 : 1));
      },
      renew: async (id, claimant, until) => (await changes(sql`
        UPDATE mail_outbox SET claimed_until = ${until} WHERE id = ${id} AND claimed_by = ${claimant} AND status = 'pending'`)) > 0,
      release: async (id, claimant) => (await changes(sql`
        UPDATE mail_outbox SET claimed_by = NULL, claimed_until = NULL, attempts = attempts - 1
        WHERE id = ${id} AND claimed_by = ${claimant} AND status = 'pending'`)) > 0,
      prepared: async (id, claimant, p) => (await changes(sql`
        UPDATE mail_outbox SET ${join(assignments(d, OUTBOX, { recipient: p.recipient, data: p.data, deadline: p.deadline, prepared: true }), ', ')}
        WHERE id = ${id} AND claimed_by = ${claimant} AND status = 'pending'`)) > 0,
      async sent(id, now) {
        await exec(sql`
          UPDATE mail_outbox SET ${join(assignments(d, OUTBOX, { status: 'sent', sentAt: now, recipient: '', data: {}, lastError: null }), ', ')}, claimed_by = NULL, claimed_until = NULL
          WHERE id = ${id} AND status = 'pending'`);
      },
      retry: async (id, claimant, nextAttemptAt, error) => (await changes(sql`
        UPDATE mail_outbox SET ${join(assignments(d, OUTBOX, { nextAttemptAt, lastError: error }), ', ')}, claimed_by = NULL, claimed_until = NULL
        WHERE id = ${id} AND claimed_by = ${claimant} AND status = 'pending'`)) > 0,
      finish: async (id, claimant, status, error) => (await changes(sql`
        UPDATE mail_outbox SET ${join(assignments(d, OUTBOX, { status, recipient: '', data: {} }), ', ')}, last_error = ${error}, claimed_by = NULL, claimed_until = NULL
        WHERE id = ${id} AND claimed_by = ${claimant} AND status = 'pending'`)) > 0,
      get: (id) => first(sql`SELECT * FROM mail_outbox WHERE id = ${id}`, st.mail),
      // Through mail_outbox_done_idx (migration 14), a batch at a time.
      purge: (before, batch) => changes(sql`
        DELETE FROM mail_outbox WHERE id IN (SELECT id FROM mail_outbox WHERE status <> 'pending' AND created_at < ${before} LIMIT ${batch})`),
      // The pending rows through mail_outbox_due_idx (few: mails wait seconds), then their recipient.
      pendingTo: async (recipient) => (await rows(sql`
        SELECT template, created_at FROM mail_outbox WHERE status = 'pending' AND recipient = ${recipient} ORDER BY created_at, ${raw(d.ddl.binary('id'))}`))
        .map((r) => ({ template: String(r.template), createdAt: Number(r.created_at) })),
    },

    devices: {
      async remember(userId, device, now) {
        if ((await changes(sql`UPDATE sign_in_devices SET last_seen = ${now} WHERE user_id = ${userId} AND device = ${device}`)) > 0) {
          return { isNew: false, before: 0 };
        }
        const inserted = await changes(sql`
          INSERT INTO sign_in_devices (user_id, device, first_seen, last_seen) VALUES (${userId}, ${device}, ${now}, ${now})
          ON CONFLICT (user_id, device) DO NOTHING`);
        if (inserted === 0) return { isNew: false, before: 0 }; // a concurrent sign-in from the same device recorded it
        const [row] = await rows(sql`SELECT count(*) AS n FROM sign_in_devices WHERE user_id = ${userId}`);
        return { isNew: true, before: Number(row!.n) - 1 };
      },
      // Through sign_in_devices_seen_idx, a batch at a time.
      purge: (before, batch) => changes(sql`
        DELETE FROM sign_in_devices WHERE (user_id, device) IN (SELECT user_id, device FROM sign_in_devices WHERE last_seen < ${before} LIMIT ${batch})`),
      // Through the primary key (user_id, device).
      listForUser: async (userId) => (await rows(sql`SELECT first_seen, last_seen FROM sign_in_devices WHERE user_id = ${userId} ORDER BY last_seen DESC`))
        .map((r) => ({ firstSeen: Number(r.first_seen), lastSeen: Number(r.last_seen) })),
    },

    ...sqlFactorStores(d, exec, write, together),

    events: {
      append: (events) => (events.length === 0 ? Promise.resolve() : transact(st.withEvents(nothing(), events))),
      async list(q) {
        checkLimit(q.limit);
        const where: Sql[] = [sql`TRUE`];
        if (q.types !== undefined && q.types.length > 0) where.push(sql`type IN (${join(q.types.map((t) => sql`${t}`), ', ')})`);
        if (q.actorId !== undefined) where.push(sql`actor_id = ${q.actorId}`);
        if (q.userId !== undefined) where.push(sql`user_id = ${q.userId}`);
        if (q.from !== undefined) where.push(sql`occurred_at >= ${q.from}`);
        if (q.to !== undefined) where.push(sql`occurred_at < ${q.to}`);
        // A row-value comparison: both databases turn it into one index range (see migration 7).
        if (q.before !== undefined) where.push(sql`(occurred_at, id) < (${q.before.time}, ${q.before.id})`);
        const found = await rows(sql`
          SELECT * FROM events WHERE ${join(where, ' AND ')} ORDER BY occurred_at DESC, id DESC LIMIT ${q.limit}`);
        return found.map(st.event);
      },
      // One range of events_type_idx (type, occurred_at, id), which holds all the count reads.
      count: async (type, from) => Number((await rows(sql`SELECT count(*) AS n FROM events WHERE type = ${type} AND occurred_at >= ${from}`))[0]!.n),
      purge: (before, batch) => changes(sql`
        DELETE FROM events WHERE id IN (SELECT id FROM events WHERE occurred_at < ${before} ORDER BY occurred_at LIMIT ${batch})`),
    },

    deliveries: {
      claim: (now, limit, leaseMs, claim, scope) => transact(st.claimDeliveries(now, limit, leaseMs, claim, scope)),
      async finish(id, claim, r) {
        const set = r.state === 'delivered'
          ? { state: r.state, lastStatus: r.status, lastError: null, deliveredAt: r.at }
          : r.state === 'pending'
            ? { state: r.state, lastStatus: r.status, lastError: r.error, nextAttemptAt: r.retryAt }
            : { state: r.state, lastStatus: r.status, lastError: r.error };
        // null is a value here (the last error cleared): assignments() leaves out only undefined.
        const n = await changes(sql`
          UPDATE webhook_deliveries SET ${join(assignments(d, DELIVERIES, set), ', ')}
          WHERE id = ${id} AND claim = ${claim} AND state = 'pending'`);
        return n > 0;
      },
      async list(q) {
        checkLimit(q.limit);
        const where: Sql[] = [sql`TRUE`];
        if (q.state !== undefined) where.push(sql`state = ${q.state}`);
        if (q.eventId !== undefined) where.push(sql`event_id = ${q.eventId}`);
        if (q.before !== undefined) where.push(sql`(created_at, id) < (${q.before.createdAt}, ${q.before.id})`);
        const found = await rows(sql`
          SELECT * FROM webhook_deliveries WHERE ${join(where, ' AND ')} ORDER BY created_at DESC, id DESC LIMIT ${q.limit}`);
        return found.map(st.delivery);
      },
      backlog: async () => Number((await rows(sql`SELECT count(*) AS n FROM webhook_deliveries WHERE state = 'pending'`))[0]!.n),
    },
  };
}

/** A LIMIT both databases read alike (SQLite takes -1 as "no limit"). */
function checkLimit(limit: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
}

/** Runs a plan statement by statement, outside any transaction (one statement needs none). */
function runPlan<T>(plan: Plan<T>, exec: (s: Sql | Script) => Promise<Result>): Promise<T> {
  return runPlanAsync(plan, exec);
}
