// What bulk import and rehash-on-sign-in ask of every storage adapter (memory, SQLite,
// PostgreSQL): the legacy id column, the compare-and-set of the password hash, lookups by any key,
// and batch inserts in one transaction, with the events of the users inserted, that skip rows
// colliding with stored users.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { uuidv7 } from '../src/ids/uuidv7.js';
import type { NewEvent, NewUser, Storage } from '../src/storage/index.js';
import pg from 'pg';
import { scratchSchema, storageFactories, type StorageFactory } from './helpers/storage.js';

const T = 1_700_000_000_000;
const OLD = 'pbkdf2:sha256:1000$3T4W0pXq$97e31ef3dd9fd00a3cb79ae1b0fe7adc103e3054c3d2194c977245d366a3bca2';

let n = 0;
function user(over: Partial<NewUser> = {}): NewUser {
  n++;
  return {
    id: randomUUID(), username: `bulk${n}`, email: `bulk${n}@example.com`, fullName: null,
    roles: ['user'], isActive: true, passwordHash: OLD, createdAt: T + n, ...over,
  };
}

/** A user.imported event about `userId`, delivered to these webhook endpoints. */
function imported(userId: string, deliverTo: string[] = []): NewEvent {
  return { id: uuidv7(T), time: T, type: 'user.imported', outcome: 'success', actorId: null, userId, sessionId: null, ip: null, userAgent: null, details: { action: 'created' }, deliverTo };
}

const stored_ = ({ deliverTo: _, ...e }: NewEvent) => e;

/** insertMany's events argument: a user's events, out of this list. */
const about = (events: readonly NewEvent[]) => (userId: string) => events.filter((e) => e.userId === userId);

function bulk(f: StorageFactory): void {
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

  it('legacyId round-trips, and is null for users created without one', async () => {
    const a = await s.users.create(user({ legacyId: '1234' }));
    const b = await s.users.create(user());
    assert.equal((await s.users.findById(a.id))!.legacyId, '1234');
    assert.equal((await s.users.findById(b.id))!.legacyId, null);
  });

  it('replacePasswordHash replaces only while the hash is the expected one', async () => {
    const u = await s.users.create(user());
    assert.equal(await s.users.replacePasswordHash(u.id, 'something else', 'new-1'), false);
    assert.equal((await s.users.findById(u.id))!.passwordHash, OLD);
    assert.equal(await s.users.replacePasswordHash(u.id, OLD, 'new-1'), true);
    const after1 = (await s.users.findById(u.id))!;
    assert.equal(after1.passwordHash, 'new-1');
    assert.ok(after1.updatedAt > u.updatedAt);
    assert.equal(await s.users.replacePasswordHash(u.id, OLD, 'new-2'), false, 'the old hash no longer matches');
    assert.equal(await s.users.replacePasswordHash(randomUUID(), OLD, 'new-2'), false);
    assert.equal((await s.users.findById(u.id))!.passwordHash, 'new-1');
  });

  it('replacePasswordHash from two handles at once: exactly one wins', { skip: f.name === 'memory' && 'one process only' }, async () => {
    const u = await s.users.create(user());
    const other = f.reopen(s)!;
    extra.push(other);
    for (let round = 0; round < 5; round++) {
      const from = (await s.users.findById(u.id))!.passwordHash;
      const results = await Promise.all([s.users.replacePasswordHash(u.id, from, `a${round}`), other.users.replacePasswordHash(u.id, from, `b${round}`)]);
      assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
      assert.equal((await s.users.findById(u.id))!.passwordHash, results[0] ? `a${round}` : `b${round}`);
    }
  });

  it('findByKeys finds users by id, legacy id, email or username (case-insensitively), each once', async () => {
    const [a, b, c, d] = [
      await s.users.create(user()), await s.users.create(user({ legacyId: 'L-2' })),
      await s.users.create(user({ email: 'Mixed@Example.com' })), await s.users.create(user({ username: 'CasedName' })),
    ];
    await s.users.create(user());
    const found = await s.users.findByKeys({ ids: [a.id, randomUUID()], legacyIds: ['L-2', 'nope'], emails: [' MIXED@example.com'], usernames: ['casedname', a.username] });
    assert.deepEqual(found.map((u) => u.id).sort(), [a.id, b.id, c.id, d.id].sort());
    assert.deepEqual(await s.users.findByKeys({ ids: [], legacyIds: [], emails: [], usernames: [] }), []);
  });

  it('insertMany inserts every row of a large batch in one call and returns their ids', async () => {
    const batch = Array.from({ length: 1234 }, (_, i) => user({ legacyId: `big-${i}`, fullName: i % 2 ? `Name ${i}` : null, roles: i % 3 ? ['user'] : ['admin', 'user'] }));
    const ids = await s.users.insertMany(batch);
    assert.deepEqual([...ids].sort(), batch.map((u) => u.id).sort());
    assert.equal(await s.users.count(), 1234);
    const x = batch[777]!;
    assert.deepEqual(await s.users.findById(x.id), { ...x, email: x.email, emailVerified: false, legacyId: 'big-777', updatedAt: x.createdAt });
  });

  it('insertMany stores every value as given: quotes, backslashes, braces, commas, the text NULL, a null', async () => {
    const names = ['say "hi"', 'back\\slash \\"', '{a,b}', 'NULL', '', 'Zoë, 名前', null];
    const batch = names.map((fullName, i) => user({ fullName, legacyId: i % 2 ? `x"${i}\\` : null, roles: i === 2 ? ['user', 'a"b'] : ['user'] }));
    const ids = await s.users.insertMany(batch);
    assert.equal(ids.length, batch.length);
    for (const u of batch) {
      const got = (await s.users.findById(u.id))!;
      assert.deepEqual([got.fullName, got.legacyId, got.roles], [u.fullName, u.legacyId, u.roles]);
    }
  });

  it('insertMany skips rows colliding with stored users or with earlier rows of the batch, and inserts the rest', async () => {
    const stored = await s.users.create(user({ legacyId: 'old-1' }));
    const ok1 = user();
    const ok2 = user({ legacyId: 'new-1' });
    const ids = await s.users.insertMany([
      user({ id: stored.id }),
      user({ username: stored.username.toUpperCase() }),
      user({ email: stored.email }),
      user({ legacyId: 'old-1' }),
      ok1,
      user({ email: ok1.email }),
      ok2,
      user({ legacyId: 'new-1' }),
    ]);
    assert.deepEqual([...ids].sort(), [ok1.id, ok2.id].sort());
    assert.equal(await s.users.count(), 3);
  });

  it('insertMany writes the events of the users it inserts, with their deliveries, in its transaction; not those of users it skips', async () => {
    const stored = await s.users.create(user());
    const batch = [user(), user({ email: stored.email }), user()];
    const events = batch.map((u, i) => imported(u.id, i === 0 ? ['https://hooks.example/a', 'https://hooks.example/b'] : []));
    const ids = await s.users.insertMany(batch, about(events));
    assert.deepEqual([...ids].sort(), [batch[0]!.id, batch[2]!.id].sort());
    const written = await s.events.list({ limit: 10, types: ['user.imported'] });
    assert.deepEqual(written.map((e) => e.id).sort(), [events[0]!.id, events[2]!.id].sort(), 'the skipped user\'s events are not written');
    assert.deepEqual(written.find((e) => e.id === events[0]!.id), stored_(events[0]!));
    const deliveries = await s.deliveries.list({ limit: 10 });
    assert.deepEqual(deliveries.map((d) => [d.eventId, d.endpoint, d.state]).sort(), [
      [events[0]!.id, 'https://hooks.example/a', 'pending'], [events[0]!.id, 'https://hooks.example/b', 'pending'],
    ]);
  });

  it('insertMany writes the events of a batch of several statements\' worth of users, one colliding in the middle', async () => {
    const stored = await s.users.create(user());
    const batch = Array.from({ length: 2345 }, (_, i) => user(i === 1500 ? { email: stored.email } : {}));
    const ids = await s.users.insertMany(batch, about(batch.map((u) => imported(u.id))));
    assert.equal(ids.length, 2344);
    assert.equal((await s.users.list({ limit: 1, offset: 0 })).total, 2345);
    assert.deepEqual((await s.events.list({ limit: 5, userId: batch[2222]!.id })).map((e) => e.type), ['user.imported']);
    assert.deepEqual(await s.events.list({ limit: 5, userId: batch[1500]!.id }), []);
  });

  it('insertMany is one transaction with its events: an event the database refuses leaves no user of the batch', async () => {
    const a = user();
    const b = user();
    const twice = imported(a.id);
    await assert.rejects(s.users.insertMany([a, b], about([twice, { ...imported(b.id), id: twice.id }])));
    assert.equal(await s.users.count(), 0);
    assert.deepEqual(await s.events.list({ limit: 10 }), []);
  });

  it('insertMany is one transaction: a row the database refuses leaves none of the batch', { skip: f.name === 'memory' && 'no column constraints' }, async () => {
    const good = user();
    const bad = { ...user(), passwordHash: null } as unknown as NewUser; // NOT NULL
    await assert.rejects(s.users.insertMany([good, bad]));
    assert.equal(await s.users.findById(good.id), null);
    assert.equal(await s.users.count(), 0);
  });
}

const factories = await storageFactories();
for (const f of factories) {
  describe(`storage, bulk import and rehash: ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => bulk(f));
}

describe('storage, bulk import: SQLite in memory (no worker: the plan runs in-process)', () => {
  it('inserts, skips collisions, returns the ids', async () => {
    const { createSqliteStorage } = await import('../src/storage/index.js');
    const s = createSqliteStorage(':memory:');
    await s.migrate();
    try {
      const a = user();
      const ids = await s.users.insertMany([a, user({ email: a.email }), user({ legacyId: 'm-1' }), user({ legacyId: 'm-1' })]);
      assert.equal(ids.length, 2);
      assert.equal(ids[0], a.id);
      assert.equal(await s.users.count(), 2);
    } finally {
      await s.close();
    }
  });
});

describe('storage, bulk import: PostgreSQL writes one-statement batches side by side', async () => {
  const { url, skip, schema } = await scratchSchema('bulk_side');
  it('a batch of one statement is not held up by another one waiting on a lock; a batch of several waits for both', { ...(skip ? { skip } : {}), timeout: 30_000 }, async () => {
    const { createPostgresStorage } = await import('../src/storage/index.js');
    const s = createPostgresStorage(url!, { schema });
    await s.migrate();
    const blocker = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await blocker.connect();
    try {
      // The blocker holds an uncommitted user whose username batch A also inserts: A waits on the
      // unique index until the blocker ends. Its insert fires no trigger (replica mode), so it
      // holds no count row that B might need: only that index entry.
      const seed = await s.users.create(user());
      const a = user();
      await blocker.query('BEGIN');
      await blocker.query("SET LOCAL session_replication_role = replica");
      await blocker.query(`INSERT INTO users SELECT * FROM jsonb_populate_record(NULL::users, (SELECT to_jsonb(u) FROM users u WHERE id = $1)
        || jsonb_build_object('id', $2::text, 'username', $3::text, 'username_lower', lower($3::text), 'email', $4::text))`, [seed.id, randomUUID(), a.username, `other-${a.email}`]);
      const settled: string[] = [];
      const track = <T>(name: string, p: Promise<T>) => {
        const t = p.then((v) => (settled.push(name), v));
        t.catch(() => {}); // awaited below; an assertion failing first must not leave it unhandled
        return t;
      };
      const pa = track('A', s.users.insertMany([a]));
      // Until A is seen waiting on the lock, B and C could not show anything.
      const waiting = async () => (await blocker.query('SELECT pg_stat_clear_snapshot()'), Number((await blocker.query(`SELECT count(*) AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO users%'`)).rows[0].n));
      const giveUp = Date.now() + 20_000; // not a timing assumption: a bound, so a broken lock can only fail the test, never hang the run
      while ((await waiting()) === 0) {
        assert.ok(Date.now() < giveUp, 'batch A never waited on the blocker\'s row');
        await new Promise((r) => setImmediate(r));
      }
      const b = user();
      const pb = track('B', s.users.insertMany([b]));
      const many = Array.from({ length: 1001 }, () => user()); // two statements' worth
      const pc = track('C', s.users.insertMany(many));
      assert.deepEqual(await pb, [b.id], 'B is written while A waits');
      assert.deepEqual(settled, ['B']);
      await blocker.query('ROLLBACK');
      assert.deepEqual(await pa, [a.id]);
      assert.equal((await pc).length, 1001);
      assert.deepEqual(settled, ['B', 'A', 'C'], 'C, of several statements, ran after A');
      assert.equal(await s.users.count(), 1 + 1 + 1 + 1001);
    } finally {
      await blocker.end();
      await s.close();
    }
  });
});
