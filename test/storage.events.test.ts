// The event stream's storage contract (src/events/records.ts: EventStore, DeliveryStore, and the
// `events` argument of every state-changing write), checked against every adapter with the same
// test bodies, as test/storage.conformance.test.ts does for users and sessions.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { uuidv7 } from '../src/ids/uuidv7.js';
import { EVENT_OUTCOMES, type EventType } from '../src/events/records.js';
import type { NewEvent, NewSession, NewUser, RotateResult, RotateStatus, Storage } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { spyPostgresQueries, storageFactories, type StorageFactory } from './helpers/storage.js';

/** Calls `seen` each time better-sqlite3 runs a statement whose text is `text`; returns the undo. */
async function countStatements(text: string, seen: () => void): Promise<() => void> {
  const db = openSqlite(':memory:');
  const proto = Object.getPrototypeOf(prepare(db, 'SELECT 1')) as { run: (...a: unknown[]) => unknown };
  db.close();
  const run = proto.run;
  proto.run = function (this: { source: string }, ...a: unknown[]) {
    if (this.source === text) seen();
    return run.apply(this, a);
  };
  return () => void (proto.run = run);
}

const T = 1_700_000_000_000;
const HOUR = 3_600_000;
let n = 0;

function user(over: Partial<NewUser> = {}): NewUser {
  n++;
  return {
    id: randomUUID(), username: `evuser${n}`, email: `evuser${n}@example.com`, fullName: null,
    roles: ['user'], isActive: true, passwordHash: 'x', createdAt: T + n, ...over,
  };
}

function session(userId: string, over: Partial<NewSession> = {}): NewSession {
  return { id: randomUUID(), userId, refreshJti: randomUUID(), createdAt: T, expiresAt: T + 24 * HOUR, idleExpiresAt: T + 2 * HOUR, userAgent: null, ip: null, ...over };
}

/** An event of `type` at `time` (default: T), with whatever fields the test sets. */
function ev(type: EventType = 'user.updated', over: Partial<NewEvent> = {}): NewEvent {
  const time = over.time ?? T;
  return {
    id: uuidv7(time), time, type, outcome: EVENT_OUTCOMES[type], actorId: null, userId: null, sessionId: null, ip: null, userAgent: null,
    details: {}, deliverTo: [], ...over,
  } as NewEvent;
}

const stored = ({ deliverTo: _, ...e }: NewEvent) => e;

function conformance(f: StorageFactory): void {
  let s: Storage;
  const extra: Storage[] = [];
  beforeEach(async () => {
    s = await f.create();
  });
  afterEach(async () => {
    for (const o of extra.splice(0)) await o.close();
    await s.close();
  });
  after(() => f.cleanup());

  const all = () => s.events.list({ limit: 1000 });

  describe('events', () => {
    it('append and list round-trip every field exactly; nulls and details included', async () => {
      const full = ev('signin.failed', {
        actorId: randomUUID(), userId: randomUUID(), sessionId: randomUUID(), ip: '2001:db8::1', userAgent: 'Mozilla/5.0 "quoted" ü',
        details: { reason: 'unknown_login', login: 'who@example.com' },
      });
      const bare = ev('session.refreshed', { time: T + 1 });
      await s.events.append([full, bare]);
      assert.deepEqual(await all(), [stored(bare), stored(full)]);
      await s.events.append([]);
      assert.equal((await all()).length, 2);
    });

    it('list is newest first by (time, id), and pages by key through every event exactly once', async () => {
      // Several events share a millisecond; ids break the tie.
      const written = Array.from({ length: 23 }, (_, i) => ev('user.updated', { time: T + Math.floor(i / 4) }));
      await s.events.append(written.slice().reverse());
      const expected = written.slice().sort((a, b) => b.time - a.time || (a.id < b.id ? 1 : -1)).map((e) => e.id);
      assert.deepEqual((await all()).map((e) => e.id), expected);
      const seen: string[] = [];
      let before: { time: number; id: string } | undefined;
      for (;;) {
        const page = await s.events.list({ limit: 5, ...(before ? { before } : {}) });
        seen.push(...page.map((e) => e.id));
        if (page.length < 5) break;
        before = { time: page.at(-1)!.time, id: page.at(-1)!.id };
      }
      assert.deepEqual(seen, expected);
    });

    it('filters: types (any of), actor, user, time range [from, to), combined with a cursor', async () => {
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      const e1 = ev('signin.succeeded', { time: T, userId: a, actorId: a, details: { method: 'password' } });
      const e2 = ev('signin.failed', { time: T + 10, userId: a, details: { reason: 'bad_password' } });
      const e3 = ev('user.roles_changed', { time: T + 20, userId: a, actorId: b, details: { from: [], to: ['admin'] } });
      const e4 = ev('user.deleted', { time: T + 30, userId: c, actorId: b });
      const e5 = ev('signin.succeeded', { time: T + 40, userId: c, actorId: c, details: { method: 'password' } });
      await s.events.append([e1, e2, e3, e4, e5]);
      const ids = async (q: Omit<Parameters<Storage['events']['list']>[0], 'limit'>) => (await s.events.list({ limit: 100, ...q })).map((e) => e.id);
      assert.deepEqual(await ids({ types: ['signin.succeeded'] }), [e5.id, e1.id]);
      assert.deepEqual(await ids({ types: ['signin.succeeded', 'signin.failed'] }), [e5.id, e2.id, e1.id]);
      assert.deepEqual(await ids({ actorId: b }), [e4.id, e3.id]);
      assert.deepEqual(await ids({ userId: a }), [e3.id, e2.id, e1.id]);
      assert.deepEqual(await ids({ from: T + 10, to: T + 30 }), [e3.id, e2.id]);
      assert.deepEqual(await ids({ userId: a, types: ['signin.failed', 'user.roles_changed'], before: { time: e3.time, id: e3.id } }), [e2.id]);
      assert.deepEqual(await ids({ userId: randomUUID() }), []);
      await assert.rejects(s.events.list({ limit: 0 }), RangeError);
    });

    it('a write given events commits them with the change: users, sessions, rotate, end, endAll, createFirst, delete', async () => {
      const u = user();
      await s.users.createFirst(u, [ev('user.created', { userId: u.id, details: { via: 'signup', roles: [] } })]);
      await s.users.update(u.id, { fullName: 'N' }, (r) => (r ? [ev('user.updated', { userId: r.id, details: { fields: ['full_name'] } })] : []));
      // A callback sees the result: an update that matched nothing records nothing.
      await s.users.update(randomUUID(), { fullName: 'N' }, (r) => (r ? [ev('user.updated')] : []));
      const x = await s.sessions.create(session(u.id), [ev('signin.succeeded', { details: { method: 'password' } })]);
      // A rotation's events depend on its status (PostgreSQL asks for a swap's before it runs it).
      const recorded = (status: RotateStatus) => [ev(status === 'rotated' ? 'session.refreshed' : 'session.reuse_detected')];
      const r1 = await s.sessions.rotate({ id: x.id, presentedJti: x.refreshJti, newJti: 'j2', now: T + 1, idleExpiresAt: T + HOUR, graceMs: 0 }, recorded);
      const r2 = await s.sessions.rotate({ id: x.id, presentedJti: x.refreshJti, newJti: 'j3', now: T + 2, idleExpiresAt: T + HOUR, graceMs: 0 }, recorded);
      assert.deepEqual([r1.status, r2.status], ['rotated', 'reused']);
      const y = await s.sessions.create(session(u.id));
      await s.sessions.end(y.id, 'logout', T + 3, (r) => (r ? [ev('signout', { details: { scope: 'local', sessions_ended: 1 } })] : []));
      await s.sessions.end(y.id, 'logout', T + 3, (r) => (r ? [ev('signout')] : [])); // already ended: no event
      await s.sessions.create(session(u.id));
      await s.sessions.endAllForUser(u.id, 'password', T + 4, undefined, (ids) => [ev('password.changed', { details: {} }), ...ids.map(() => ev('session.ended', { details: { reason: 'password' } }))]);
      await s.users.delete(u.id, [ev('user.deleted', { userId: u.id })]);
      const types = (await all()).map((e) => e.type).sort();
      assert.deepEqual(types, [
        'password.changed', 'session.ended', 'session.refreshed', 'session.reuse_detected', 'signin.succeeded', 'signout', 'user.created',
        'user.deleted', 'user.updated',
      ]);
      // The deleted user's history stays.
      assert.ok((await s.events.list({ limit: 10, userId: u.id })).some((e) => e.type === 'user.deleted'));
    });

    it('a failure after the change leaves neither: an event that cannot be written rolls the change back', async () => {
      const taken = ev('user.updated');
      await s.events.append([taken]);
      const dup = () => [{ ...ev('user.updated'), id: taken.id } as NewEvent];
      const u = await s.users.create(user({ fullName: 'before' }));
      const x = await s.sessions.create(session(u.id));

      const newUser = user();
      await assert.rejects(s.users.create(newUser, dup()));
      assert.equal(await s.users.findById(newUser.id), null, 'users.create rolled back');
      await assert.rejects(s.users.update(u.id, { fullName: 'after', roles: ['admin'] }, dup));
      assert.deepEqual(await s.users.findById(u.id), u, 'users.update rolled back');
      const newSession = session(u.id);
      await assert.rejects(s.sessions.create(newSession, dup()));
      assert.equal(await s.sessions.get(newSession.id), null, 'sessions.create rolled back');
      await assert.rejects(s.sessions.rotate({ id: x.id, presentedJti: x.refreshJti, newJti: 'never', now: T + 1, idleExpiresAt: T + HOUR, graceMs: 0 }, dup));
      assert.deepEqual(await s.sessions.get(x.id), x, 'rotate rolled back');
      // A reuse whose event cannot be written: neither the session's end nor its revocation.
      await assert.rejects(s.sessions.rotate({ id: x.id, presentedJti: 'retired', newJti: 'never', now: T + 1, idleExpiresAt: T + HOUR, graceMs: 0,
        onReuse: (id) => ({ kind: 'sid', key: id, value: '', expiresAt: T + HOUR }) }, dup));
      assert.deepEqual(await s.sessions.get(x.id), x, 'the reuse rolled back');
      await assert.rejects(s.sessions.end(x.id, 'logout', T + 1, dup));
      await assert.rejects(s.sessions.end(x.id, 'logout', T + 1, dup, (id) => ({ kind: 'sid', key: id, value: '', expiresAt: T + HOUR })));
      assert.deepEqual(await s.revocations.listLive(T), [], 'the revocation ending the session carried rolled back with it');
      await assert.rejects(s.sessions.endAllForUser(u.id, 'admin', T + 1, undefined, dup));
      await assert.rejects(s.sessions.endAllForUser(u.id, 'admin', T + 1, undefined, dup, (id) => ({ kind: 'sid', key: id, value: '', expiresAt: T + HOUR })));
      assert.deepEqual(await s.revocations.listLive(T), [], 'nor the revocations of the sessions it would have ended');
      assert.deepEqual(await s.sessions.get(x.id), x, 'end and endAllForUser rolled back');
      await assert.rejects(s.users.delete(u.id, dup()));
      assert.deepEqual(await s.users.findById(u.id), u, 'users.delete rolled back');
      assert.deepEqual(await s.sessions.get(x.id), x, 'and its cascade');
      // An event list whose second event fails leaves not even the first.
      await assert.rejects(s.events.append([ev('user.updated'), ...dup()]));
      assert.deepEqual((await all()).map((e) => e.id), [taken.id]);
      // createFirst into an empty table: a fresh storage.
      const empty = await f.create();
      extra.push(empty);
      await empty.events.append([taken]);
      await assert.rejects(empty.users.createFirst(user(), dup()));
      assert.equal(await empty.users.count(), 0, 'createFirst rolled back');
    });

    it('concurrent rotations stand alone: one whose event cannot be written is undone and refused alone', async () => {
      const taken = ev('user.updated');
      await s.events.append([taken]);
      const u = await s.users.create(user());
      const xs = await Promise.all(Array.from({ length: 6 }, () => s.sessions.create(session(u.id))));
      // On SQLite, rotations begun in one turn of the event loop share one transaction and commit:
      // count the BEGIN IMMEDIATEs the driver runs while these six are under way.
      let begins = 0;
      const restore = f.name === 'sqlite' ? await countStatements('BEGIN IMMEDIATE', () => begins++) : () => undefined;
      let results: PromiseSettledResult<unknown>[];
      try {
        results = await Promise.allSettled(xs.map((x, i) => s.sessions.rotate(
          { id: x.id, presentedJti: x.refreshJti, newJti: `n-${i}`, now: T + 1, idleExpiresAt: T + HOUR, graceMs: 0 },
          i === 2 ? () => [{ ...ev('session.refreshed'), id: taken.id } as NewEvent] : () => [ev('session.refreshed', { sessionId: x.id })],
        )));
      } finally {
        restore();
      }
      assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
      if (f.name === 'sqlite') assert.equal(begins, 1, 'one transaction for the six');
      for (const [i, x] of xs.entries()) {
        const now = await s.sessions.get(x.id);
        assert.deepEqual(now, i === 2 ? x : { ...now, refreshJti: `n-${i}` }, `session ${i}`);
      }
      const refreshed = (await all()).filter((e) => e.type === 'session.refreshed').map((e) => e.sessionId).sort();
      assert.deepEqual(refreshed, xs.filter((_, i) => i !== 2).map((x) => x.id).sort(), 'one event for each rotation that was answered');
    });

    it('rotations asked together answer as each would alone, each with its own events; PostgreSQL sends the swaps as one statement', async () => {
      const hook = 'http://a.test/hook';
      const u = await s.users.create(user());
      const [a, b, c, d] = await Promise.all([
        s.sessions.create(session(u.id)), s.sessions.create(session(u.id)), s.sessions.create(session(u.id, { expiresAt: T + 1 })), s.sessions.create(session(u.id)),
      ]);
      await s.sessions.rotate({ id: b.id, presentedJti: b.refreshJti, newJti: 'b-2', now: T, idleExpiresAt: T + HOUR, graceMs: 0 });
      const at = (x: { id: string }, presentedJti: string, newJti: string, over: { userId?: string; deliverTo?: string[] } = {}) => s.sessions.rotate(
        { id: x.id, presentedJti, newJti, now: T + 1, idleExpiresAt: T + HOUR, graceMs: 10_000, ...(over.userId ? { userId: over.userId } : {}) },
        (status) => (status === 'rotated' || status === 'grace' || status === 'reused'
          ? [ev(status === 'reused' ? 'session.reuse_detected' : 'session.refreshed', { sessionId: x.id, deliverTo: over.deliverTo ?? [] })]
          : []),
      );
      const sent: string[] = [];
      const restore = f.name === 'postgres' ? spyPostgresQueries((q) => sent.push(typeof q === 'string' ? q : (q.text ?? ''))) : () => undefined;
      let results: RotateResult[];
      try {
        results = await Promise.all([
          at(a, a.refreshJti, 'a-2', { userId: u.id }), // swaps, with the user
          at(b, b.refreshJti, 'b-3'), // the jti b-2 replaced, within the grace
          at(c, c.refreshJti, 'c-2'), // past its deadline
          at(d, d.refreshJti, 'd-2', { deliverTo: [hook] }), // swaps, its event delivered
          at({ id: randomUUID() }, 'x', 'x-2'), // no such session
          at(a, a.refreshJti, 'a-3'), // a again, with the jti the first call replaces
          at(d, 'forged', 'd-3'), // neither current nor previous: reuse
        ]);
      } finally {
        restore();
      }
      assert.deepEqual(results.map((r) => r.status), ['rotated', 'grace', 'expired', 'rotated', 'missing', 'grace', 'reused']);
      assert.deepEqual((results[0] as { user?: unknown }).user, u);
      assert.equal('user' in results[3]!, false, 'not asked, not read');
      assert.equal((await s.sessions.get(a.id))!.refreshJti, 'a-2');
      assert.equal((await s.sessions.get(b.id))!.refreshJti, 'b-2');
      assert.deepEqual(await s.sessions.get(c.id), c, 'the expired one unchanged');
      const dNow = (await s.sessions.get(d.id))!;
      assert.deepEqual([dNow.refreshJti, dNow.endReason], ['d-2', 'reuse'], 'd swapped, then ended by the forged jti');
      const written = (await all()).filter((e) => e.type.startsWith('session.')).map((e) => `${e.type} ${[a, b, c, d].findIndex((x) => x.id === e.sessionId)}`).sort();
      assert.deepEqual(written, ['session.refreshed 0', 'session.refreshed 0', 'session.refreshed 1', 'session.refreshed 3', 'session.reuse_detected 3']);
      const delivered = await s.deliveries.list({ limit: 10 });
      assert.deepEqual(delivered.map((x) => x.endpoint), [hook], 'the one event that asked for it');
      if (f.name === 'postgres') assert.equal(sent.filter((t) => t.includes('unnest(')).length, 1, `one statement for the swaps: ${sent.length} sent`);
    });

    it('two instances rotate the same sessions at once, in opposite orders: each session swaps once, the other caller is in the grace, nothing deadlocks', { skip: f.name === 'memory' && 'one process only' }, async () => {
      const other = f.reopen(s)!;
      extra.push(other);
      const u = await s.users.create(user());
      const xs = await Promise.all(Array.from({ length: 12 }, () => s.sessions.create(session(u.id))));
      const rotate = (on: Storage, x: NewSession, tag: string) => on.sessions.rotate(
        { id: x.id, presentedJti: x.refreshJti, newJti: `${tag}-${x.id}`, now: T + 1, idleExpiresAt: T + HOUR, graceMs: 10_000 },
        (status) => (status === 'rotated' || status === 'grace' ? [ev('session.refreshed', { sessionId: x.id })] : []),
      );
      // Each handle's calls are asked in one turn, so each sends one batch (on PostgreSQL, one
      // statement); the two batches meet on all twelve rows, one asked in reverse.
      const [mine, theirs] = await Promise.all([
        Promise.all(xs.map((x) => rotate(s, x, 'a'))),
        Promise.all([...xs].reverse().map((x) => rotate(other, x, 'b'))).then((r) => r.reverse()),
      ]);
      for (const [i, x] of xs.entries()) {
        const pair = [mine[i]!.status, theirs[i]!.status].sort();
        assert.deepEqual(pair, ['grace', 'rotated'], `session ${i}: one swap, one second presentation`);
        const won = mine[i]!.status === 'rotated' ? 'a' : 'b';
        assert.equal((await s.sessions.get(x.id))!.refreshJti, `${won}-${x.id}`, `session ${i}: the winner's jti is current`);
      }
      const refreshed = (await all()).filter((e) => e.type === 'session.refreshed').map((e) => e.sessionId);
      assert.equal(refreshed.length, 24, 'an event for each answer');
    });

    it('count: the events of one type from a moment on', async () => {
      await s.events.append([
        ev('signin.failed', { time: T - 1 }), ev('signin.failed', { time: T }), ev('signin.failed', { time: T + HOUR }),
        ev('signin.succeeded', { time: T + 1, details: { method: 'password' } }), ev('signin.throttled', { time: T + 2, details: { retry_after_seconds: 1, login: 'x' } }),
      ]);
      assert.equal(await s.events.count('signin.failed', T), 2, 'from `from` on, that moment included');
      assert.equal(await s.events.count('signin.failed', T - 1), 3);
      assert.equal(await s.events.count('signin.succeeded', T), 1);
      assert.equal(await s.events.count('user.deleted', 0), 0);
    });

    it('revocations.add, users.insertMany and factors.replaceRecoveryCodes take their events: written with the change, or neither', async () => {
      const hook = 'http://a.test/hook';
      const live = async () => (await s.revocations.listLive(T)).map((r) => r.key);
      await s.revocations.add({ kind: 'jti', key: 'j1', value: '', expiresAt: T + HOUR }, [ev('token.revoked', { details: { token_type: 'access' } })]);
      assert.deepEqual(await live(), ['j1']);
      // A bulk insert writes the events of the users it inserted, and of no other (a collision is skipped).
      const owner = await s.users.create(user());
      const batch = [user(), user(), user({ email: owner.email }), user()];
      const made = new Map(batch.map((u) => [u.id, [ev('user.imported', { userId: u.id, details: { action: 'created' }, deliverTo: [hook] })]]));
      const inserted = await s.users.insertMany(batch, (id) => made.get(id) ?? []);
      assert.deepEqual(inserted.sort(), [batch[0]!.id, batch[1]!.id, batch[3]!.id].sort());
      const imported = await s.events.list({ limit: 10, types: ['user.imported'] });
      assert.deepEqual(imported.map((e) => e.userId).sort(), [...inserted].sort());
      assert.equal(await s.deliveries.backlog(), 3, 'with their webhook deliveries');
      await s.factors.replaceRecoveryCodes(owner.id, ['h1', 'h2'], T, [ev('mfa.recovery_codes_regenerated', { userId: owner.id })]);
      assert.equal(await s.factors.countRecoveryCodes(owner.id), 2);
      assert.equal((await s.events.list({ limit: 10, types: ['token.revoked', 'mfa.recovery_codes_regenerated'] })).length, 2);

      const taken = ev('user.updated');
      await s.events.append([taken]);
      const dup = () => [{ ...ev('user.updated'), id: taken.id } as NewEvent];
      await assert.rejects(s.revocations.add({ kind: 'jti', key: 'j2', value: '', expiresAt: T + HOUR }, dup()));
      assert.deepEqual(await live(), ['j1'], 'revocations.add rolled back');
      const users = await s.users.count();
      const refused = [user(), user()];
      await assert.rejects(s.users.insertMany(refused, (id) => (id === refused[1]!.id ? dup() : [ev('user.imported', { userId: id, details: { action: 'created' } })])));
      assert.equal(await s.users.count(), users, 'insertMany rolled back, the first user of the batch too');
      assert.equal(await s.users.findById(refused[0]!.id), null);
      await assert.rejects(s.factors.replaceRecoveryCodes(owner.id, ['h3'], T + 1, dup()));
      assert.equal(await s.factors.countRecoveryCodes(owner.id), 2, 'replaceRecoveryCodes rolled back');
      assert.equal(await s.factors.useRecoveryCode(owner.id, 'h1', T + 2), true, 'the old codes still work');
    });

    it('purge deletes the oldest events before the cut-off, at most a batch at a time, with their deliveries', async () => {
      const old = Array.from({ length: 5 }, (_, i) => ev('user.updated', { time: T - 10 + i, deliverTo: ['http://a.test/hook'] }));
      const edge = ev('user.updated', { time: T, deliverTo: ['http://a.test/hook'] });
      const young = ev('user.updated', { time: T + 1 });
      await s.events.append([...old, edge, young]);
      assert.equal(await s.deliveries.backlog(), 6);
      assert.equal(await s.events.purge(T, 2), 2);
      assert.deepEqual((await all()).map((e) => e.id).sort(), [...old.slice(2), edge, young].map((e) => e.id).sort(), 'the two oldest went');
      assert.equal(await s.events.purge(T, 10), 3);
      assert.equal(await s.events.purge(T, 10), 0);
      assert.deepEqual((await all()).map((e) => e.id).sort(), [edge.id, young.id].sort());
      assert.equal(await s.deliveries.backlog(), 1, 'deliveries of purged events went with them');
    });
  });

  describe('webhook outbox', () => {
    const A = 'http://127.0.0.1:1/a';
    const B = 'http://127.0.0.1:1/b';

    it('an event gets one pending delivery per endpoint, written with it', async () => {
      const e = ev('user.created', { deliverTo: [A, B, A], details: { via: 'signup', roles: [] } });
      await s.users.create(user(), [e]);
      const rows = await s.deliveries.list({ limit: 10 });
      assert.deepEqual(rows.map((d) => d.endpoint).sort(), [A, B]);
      for (const d of rows) {
        assert.deepEqual({ ...d, id: '' }, {
          id: '', eventId: e.id, endpoint: d.endpoint, state: 'pending', attempts: 0, createdAt: T, nextAttemptAt: T,
          lastAttemptAt: null, lastStatus: null, lastError: null, deliveredAt: null, claim: null,
        });
      }
      assert.equal(await s.deliveries.backlog(), 2);
    });

    it('a rotation writes its events and their deliveries only when the swap matched', async () => {
      const u = await s.users.create(user());
      const x = await s.sessions.create(session(u.id));
      const byStatus = (status: RotateStatus) => (status === 'rotated' ? [ev('session.refreshed', { deliverTo: [A, B] })] : []);
      const ok = await s.sessions.rotate({ id: x.id, presentedJti: x.refreshJti, newJti: 'j2', now: T + 1, idleExpiresAt: T + HOUR, graceMs: 0 }, byStatus);
      assert.equal(ok.status, 'rotated');
      assert.deepEqual((await all()).map((e) => e.type), ['session.refreshed']);
      assert.equal(await s.deliveries.backlog(), 2);
      // A jti that matches nothing on a session that does not exist: no swap, nothing recorded.
      const none = await s.sessions.rotate({ id: randomUUID(), presentedJti: 'j2', newJti: 'j3', now: T + 2, idleExpiresAt: T + HOUR, graceMs: 0 }, byStatus);
      assert.equal(none.status, 'missing');
      assert.equal((await all()).length, 1);
      assert.equal(await s.deliveries.backlog(), 2);
    });

    it('a scoped claim takes only its endpoints\' deliveries, and any past the window (a rolling deploy adding an endpoint)', async () => {
      const e1 = ev('user.updated', { time: T, deliverTo: [A, B] });
      await s.events.append([e1]);
      const onlyA = await s.deliveries.claim(T, 10, 1000, 'old-instance', { endpoints: [A], orCreatedBefore: T - 1 });
      assert.deepEqual(onlyA.map((c) => c.delivery.endpoint), [A], 'B is left to the instances configured with it');
      const none = await s.deliveries.claim(T, 10, 1000, 'no-endpoints', { endpoints: [], orCreatedBefore: T });
      assert.deepEqual(none, [], 'created at T is not before T');
      const late = await s.deliveries.claim(T, 10, 1000, 'late', { endpoints: [], orCreatedBefore: T + 1 });
      assert.deepEqual(late.map((c) => c.delivery.endpoint), [B], 'past the window, any instance takes it (to give it up)');
    });

    it('claim takes due rows once per lease, with their events; finish records the attempt only for the claim holding it', async () => {
      const e1 = ev('user.updated', { time: T, deliverTo: [A] });
      const e2 = ev('user.updated', { time: T + 5, deliverTo: [A] });
      await s.events.append([e1, e2]);
      assert.deepEqual(await s.deliveries.claim(T - 1, 10, 1000, 'early'), [], 'nothing is due before its time');
      const first = await s.deliveries.claim(T, 10, 1000, 'c1');
      assert.equal(first.length, 1);
      assert.deepEqual(first[0]!.event, stored(e1));
      assert.equal(first[0]!.delivery.attempts, 1);
      assert.equal(first[0]!.delivery.claim, 'c1');
      assert.equal(first[0]!.delivery.lastAttemptAt, T);
      const second = await s.deliveries.claim(T + 10, 10, 1000, 'c2');
      assert.deepEqual(second.map((c) => c.event.id), [e2.id], 'a claimed row is not due again during its lease');
      const d1 = first[0]!.delivery;
      assert.equal(await s.deliveries.finish(d1.id, 'wrong', { state: 'delivered', at: T + 1, status: 200 }), false);
      assert.equal(await s.deliveries.finish(d1.id, 'c1', { state: 'pending', at: T + 1, retryAt: T + 100, status: 503, error: 'HTTP 503' }), true);
      assert.deepEqual(await s.deliveries.claim(T + 99, 10, 1000, 'c3'), []);
      const retried = await s.deliveries.claim(T + 100, 10, 1000, 'c4');
      assert.deepEqual(retried.map((c) => [c.delivery.id, c.delivery.attempts, c.delivery.lastStatus, c.delivery.lastError]), [[d1.id, 2, 503, 'HTTP 503']]);
      assert.equal(await s.deliveries.finish(d1.id, 'c1', { state: 'delivered', at: T + 101, status: 200 }), false, 'an older claim cannot finish it');
      assert.equal(await s.deliveries.finish(d1.id, 'c4', { state: 'delivered', at: T + 101, status: 204 }), true);
      assert.equal(await s.deliveries.finish(d1.id, 'c4', { state: 'failed', at: T + 102, status: null, error: 'x' }), false, 'a finished delivery stays finished');
      // A lapsed lease makes the row due again (its instance died mid-attempt).
      const lapsed = await s.deliveries.claim(T + 10 + 1000, 10, 1000, 'c5');
      assert.deepEqual(lapsed.map((c) => [c.delivery.id, c.delivery.attempts]), [[second[0]!.delivery.id, 2]]);
      assert.equal(await s.deliveries.finish(lapsed[0]!.delivery.id, 'c5', { state: 'failed', at: T, status: 410, error: 'HTTP 410' }), true);
      assert.equal(await s.deliveries.backlog(), 0);
      const rows = await s.deliveries.list({ limit: 10 });
      const byId = new Map(rows.map((d) => [d.id, d]));
      assert.equal(byId.get(d1.id)!.state, 'delivered');
      assert.equal(byId.get(d1.id)!.deliveredAt, T + 101);
      assert.equal(byId.get(d1.id)!.lastError, null);
      assert.equal(byId.get(d1.id)!.lastStatus, 204);
      assert.equal(byId.get(second[0]!.delivery.id)!.state, 'failed');
      assert.deepEqual(await s.deliveries.claim(T + 1e9, 10, 1000, 'c6'), []);
    });

    it('list: newest first, filtered by state and event, paged by key', async () => {
      const events = Array.from({ length: 7 }, (_, i) => ev('user.updated', { time: T + i, deliverTo: [A] }));
      await s.events.append(events);
      const [claimed] = await s.deliveries.claim(T, 1, 1000, 'c');
      await s.deliveries.finish(claimed!.delivery.id, 'c', { state: 'delivered', at: T, status: 200 });
      assert.deepEqual((await s.deliveries.list({ limit: 10, state: 'delivered' })).map((d) => d.eventId), [events[0]!.id]);
      assert.deepEqual((await s.deliveries.list({ limit: 10, eventId: events[3]!.id })).map((d) => d.eventId), [events[3]!.id]);
      const seen: string[] = [];
      let before: { createdAt: number; id: string } | undefined;
      for (;;) {
        const page = await s.deliveries.list({ limit: 3, ...(before ? { before } : {}) });
        seen.push(...page.map((d) => d.eventId));
        if (page.length < 3) break;
        before = { createdAt: page.at(-1)!.createdAt, id: page.at(-1)!.id };
      }
      assert.deepEqual(seen, events.map((e) => e.id).reverse());
    });

    it('concurrent claims from two handles on one database take each row exactly once', { skip: f.name === 'memory' && 'one process only' }, async () => {
      const events = Array.from({ length: 60 }, (_, i) => ev('user.updated', { time: T + i, deliverTo: [A, B] }));
      await s.events.append(events);
      const other = f.reopen(s)!;
      extra.push(other);
      const claims = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? other : s).deliveries.claim(T + 1000, 7, 60_000, `c${i}`)));
      const ids = claims.flat().map((c) => c.delivery.id);
      assert.equal(new Set(ids).size, ids.length, 'no row was claimed twice');
      assert.equal(ids.length, 84, '12 claims of 7 from 120 due rows');
      assert.equal(await s.deliveries.backlog(), 120, 'claimed rows are still pending until finished');
    });
  });
}

for (const f of await storageFactories()) {
  describe(`event storage conformance: ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => conformance(f));
}
