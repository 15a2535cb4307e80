// users.list's filters at scale (migration 10): the username search through its trigram index, each
// filter's users listed from an index in list order, and the totals of filters without a search
// read from counts that triggers keep. Those counts must stay exact through every kind of write
// (create, insertMany, update of each filtered field, a rehash, delete) and cover users that
// existed before the migration; the answers must be the ones the users themselves give.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { CURRENT_HASH_PREFIX } from '../src/accounts/argon2-hasher.js';
import { INDEXED_HASH_PREFIX } from '../src/storage/migrations.js';
import { createPostgresStorage, createSqliteStorage, type NewUser, type Storage, type UserQuery, type UserRecord } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { postgresBefore, scratchSchema, sqliteBefore, storageFactories } from './helpers/storage.js';

const CURRENT = `${CURRENT_HASH_PREFIX}c2FsdA$aGFzaA`;
const LEGACY = 'pbkdf2:sha256:600000$salt$0123abcd';
const ROLES = ['admin', 'user', 'editor'];

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function someUser(rnd: () => number, i: number): NewUser & { emailVerified: boolean } {
  return {
    id: randomUUID(), username: `Person.${i}`, email: `p${i}@corp.io`, fullName: null,
    roles: ROLES.filter(() => rnd() < 0.4), isActive: rnd() < 0.7, emailVerified: rnd() < 0.5,
    passwordHash: rnd() < 0.5 ? CURRENT : LEGACY, createdAt: 1_000 + Math.floor(rnd() * 50), // ties in created_at: the id orders them
  };
}

/** The query's answer from the users themselves (the list's own order: created_at, then id). */
function expected(all: UserRecord[], q: UserQuery): string[] {
  return all.filter((u) => (q.role === undefined || u.roles.includes(q.role))
    && (q.active === undefined || u.isActive === q.active)
    && (q.verified === undefined || u.emailVerified === q.verified)
    && (q.legacyHash === undefined || !u.passwordHash.startsWith(q.legacyHash.currentPrefix) === q.legacyHash.legacy)
    && (q.username === undefined || u.username.toLowerCase().includes(q.username.toLowerCase())))
    .map((u) => u.id);
}

/** Every combination of the four filters (and none), with today's prefix and with another one. */
function* combinations(): Generator<UserQuery> {
  for (const role of [undefined, ...ROLES, 'nobody']) {
    for (const active of [undefined, true, false]) {
      for (const verified of [undefined, true, false]) {
        for (const legacy of [undefined, true, false]) {
          for (const currentPrefix of legacy === undefined ? [CURRENT_HASH_PREFIX] : [CURRENT_HASH_PREFIX, 'pbkdf2:']) {
            yield {
              limit: 7, offset: 3, ...(role !== undefined ? { role } : {}), ...(active !== undefined ? { active } : {}),
              ...(verified !== undefined ? { verified } : {}), ...(legacy !== undefined ? { legacyHash: { legacy, currentPrefix } } : {}),
            };
          }
        }
      }
    }
  }
}

/** Each combination's page and total, against the users as they are. */
async function agrees(s: Storage, label: string): Promise<void> {
  const all = (await s.users.list({ limit: 1000, offset: 0 })).users;
  assert.equal((await s.users.list({ limit: 0, offset: 0 })).total, all.length, `${label}: the total`);
  for (const q of [...combinations(), { limit: 7, offset: 0, username: 'SON.1' }, { limit: 50, offset: 0, username: 'son.1', role: 'user', active: true }]) {
    const ids = expected(all, q);
    const got = await s.users.list(q);
    assert.deepEqual({ total: got.total, page: got.users.map((u) => u.id) }, { total: ids.length, page: ids.slice(q.offset, q.offset + q.limit) }, `${label}: ${JSON.stringify(q)}`);
  }
}

for (const f of await storageFactories()) {
  describe(`users.list filters (${f.name})`, { skip: f.skip }, () => {
    after(() => f.cleanup());

    it('pages and totals agree with the users through create, insertMany, updates, a rehash and delete', async () => {
      const s = await f.create();
      const rnd = random(20260131);
      try {
        const made: string[] = [];
        for (let i = 0; i < 30; i++) made.push((await s.users.create(someUser(rnd, i))).id);
        made.push(...await s.users.insertMany(Array.from({ length: 30 }, (_, i) => someUser(rnd, 30 + i))));
        await agrees(s, 'created');
        for (const [n, id] of made.entries()) {
          const pick = n % 5;
          if (pick === 0) await s.users.update(id, { roles: ROLES.filter(() => rnd() < 0.5) });
          if (pick === 1) await s.users.update(id, { isActive: rnd() < 0.5, emailVerified: rnd() < 0.5 });
          if (pick === 2) await s.users.update(id, { passwordHash: rnd() < 0.5 ? CURRENT : LEGACY, fullName: 'x' });
          if (pick === 3) {
            const u = (await s.users.findById(id))!;
            await s.users.replacePasswordHash(id, u.passwordHash, u.passwordHash === LEGACY ? CURRENT : LEGACY);
          }
          if (pick === 4 && n % 2 === 0) await s.users.delete(id);
          if (pick === 4 && n % 2 === 1) await s.users.update(id, { fullName: 'nothing filtered changes' });
        }
        await agrees(s, 'changed');
      } finally {
        await s.close();
      }
    });

    it('finds usernames by a case-insensitive part through inserts, renames and deletes', async () => {
      const s = await f.create();
      try {
        const names = async (needle: string) => (await s.users.list({ limit: 100, offset: 0, username: needle })).users.map((u) => u.username).sort();
        const base = { fullName: null, roles: [], isActive: true, passwordHash: 'h' };
        const ann = await s.users.create({ ...base, id: randomUUID(), username: 'Ann_Smith', email: 'a@x.io' });
        await s.users.insertMany([{ ...base, id: randomUUID(), username: 'bob.smith', email: 'b@x.io' }, { ...base, id: randomUUID(), username: 'carol', email: 'c@x.io' }]);
        assert.deepEqual(await names('SMITH'), ['Ann_Smith', 'bob.smith']);
        assert.deepEqual(await names('n_s'), ['Ann_Smith'], "'_' is literal");
        assert.deepEqual(await names('b.s'), ['bob.smith'], "'.' is literal");
        assert.deepEqual(await names('%'), [], "'%' is literal");
        assert.deepEqual(await names('ro'), ['carol'], 'two characters: no trigram, same answer');
        await s.users.update(ann.id, { username: 'Ann_Jones' });
        assert.deepEqual(await names('smith'), ['bob.smith'], 'the old name is no longer found');
        assert.deepEqual(await names('jones'), ['Ann_Jones']);
        await s.users.delete(ann.id);
        assert.deepEqual(await names('jones'), []);
      } finally {
        await s.close();
      }
    });
  });
}

describe('the legacy-hash index', () => {
  it('is built for the prefix of the hashes Warden makes today', () => {
    // Should this fail, the hashing settings changed: add a migration that rebuilds migration 10's
    // legacy-hash indexes and counts for the new prefix, and move INDEXED_HASH_PREFIX to it.
    assert.equal(INDEXED_HASH_PREFIX, CURRENT_HASH_PREFIX);
  });
});

/** Users written before migration 10, straight into the tables as a deployed database holds them. */
const EARLY = [
  { id: randomUUID(), username: 'Early.Bird', email: 'early@corp.io', roles: ['admin', 'user'], active: true, hash: CURRENT },
  { id: randomUUID(), username: 'old_timer', email: 'old@corp.io', roles: ['user'], active: false, hash: LEGACY },
];

async function coversEarlyUsers(s: Storage): Promise<void> {
  assert.deepEqual((await s.users.list({ limit: 10, offset: 0, username: 'bird' })).users.map((u) => u.username), ['Early.Bird']);
  const total = async (q: Omit<UserQuery, 'limit' | 'offset'>) => (await s.users.list({ limit: 10, offset: 0, ...q })).total;
  assert.equal(await total({ role: 'user' }), 2);
  assert.equal(await total({ role: 'admin', active: true }), 1);
  assert.equal(await total({ active: false }), 1);
  assert.equal(await total({ legacyHash: { legacy: true, currentPrefix: CURRENT_HASH_PREFIX } }), 1);
  assert.equal(await total({ verified: false, legacyHash: { legacy: false, currentPrefix: CURRENT_HASH_PREFIX } }), 1);
  // And later writes move the counts from where the migration left them.
  await s.users.update(EARLY[1]!.id, { isActive: true, roles: ['admin'] });
  assert.equal(await total({ role: 'admin', active: true }), 2);
  assert.equal(await total({ role: 'user' }), 1);
}

describe('migration 10 on a database that has users (SQLite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-filters-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('indexes and counts the users already there', async () => {
    const path = join(dir, 'old.db');
    const db = openSqlite(path);
    sqliteBefore(db, 10);
    const insert = prepare(db, `INSERT INTO users (id, username, username_lower, email, roles, is_active, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 1)`);
    for (const u of EARLY) insert.run(u.id, u.username, u.username.toLowerCase(), u.email, JSON.stringify(u.roles), Number(u.active), u.hash);
    db.close();
    const s = createSqliteStorage(path);
    try {
      await s.migrate();
      await coversEarlyUsers(s);
    } finally {
      await s.close();
    }
  });
});

describe('migration 10 on a database that has users (PostgreSQL)', async () => {
  const { url, skip, schema } = await scratchSchema('warden_test_filters');

  it('indexes and counts the users already there', { skip }, async () => {
    const c = new pg.Client({ connectionString: url, options: `-c search_path=${schema}` });
    await c.connect();
    try {
      await postgresBefore(c, schema, 10);
      for (const u of EARLY) {
        await c.query(`INSERT INTO users (id, username, username_lower, email, roles, is_active, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 1, 1)`,
          [u.id, u.username, u.username.toLowerCase(), u.email, JSON.stringify(u.roles), u.active, u.hash]);
      }
    } finally {
      await c.end();
    }
    const s = createPostgresStorage(url!, { schema });
    try {
      await s.migrate();
      await coversEarlyUsers(s);
    } finally {
      await s.close();
    }
  });
});
