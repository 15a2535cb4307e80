// The storage contract (src/storage/types.ts), checked against every adapter with the same
// test bodies. A fresh, empty storage per test; PostgreSQL uses a fresh schema per storage and
// is skipped (or, with CI set, failed) when no server is reachable.
import { describe, it, before, after, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import {
  MIGRATIONS, NoOtherHolder, UniqueViolation, openStorage, parseDatabaseUrl,
  type NewSession, type NewUser, type PasskeyRecord, type RotateResult, type SessionRecord, type Storage,
} from '../src/storage/index.js';
import { roleOverride, type RoleOverride } from '../src/revocation/records.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';

const T = 1_700_000_000_000; // a fixed "now" in epoch ms: every deadline below is relative to it
const HOUR = 3_600_000;
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0LXNhbHQ$SECRET-HASH-MARKER';

let n = 0;
function user(over: Partial<NewUser> = {}): NewUser {
  n++;
  return {
    id: randomUUID(), username: `user${n}`, email: `user${n}@example.com`, fullName: `User ${n}`,
    roles: ['user'], isActive: true, passwordHash: HASH, createdAt: T + n, ...over,
  };
}

function session(userId: string, over: Partial<NewSession> = {}): NewSession {
  return {
    id: randomUUID(), userId, refreshJti: randomUUID(), createdAt: T, expiresAt: T + 24 * HOUR,
    idleExpiresAt: T + 2 * HOUR, userAgent: 'test-agent/1.0', ip: '203.0.113.7', ...over,
  };
}

/** The rejection of `p` (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => assert.fail('expected a rejection'), (e: unknown) => e);
}

function conformance(f: StorageFactory): void {
  let s: Storage;
  const extra: Storage[] = []; // other handles opened by a test; closed after it
  const reopen = (of: Storage): Storage | null => {
    const o = f.reopen(of);
    if (o) extra.push(o);
    return o;
  };

  beforeEach(async () => {
    s = await f.create();
  });
  afterEach(async () => {
    for (const o of extra.splice(0)) await o.close();
    await s.close();
  });
  after(() => f.cleanup());

  describe('users', () => {
    it('create returns the record and findById round-trips every field exactly', async () => {
      const input = user({ fullName: null, roles: ['admin', 'user'], isActive: false, createdAt: 4_102_444_800_123 });
      const created = await s.users.create(input);
      const { createdAt, ...rest } = input;
      assert.deepEqual(created, { ...rest, emailVerified: false, legacyId: null, createdAt, updatedAt: createdAt });
      assert.deepEqual(await s.users.findById(input.id), created);
      assert.equal(await s.users.findById(randomUUID()), null);
      assert.equal(await s.users.findById('not-a-uuid'), null, 'a malformed id is simply not found');
    });

    it('create defaults createdAt and updatedAt to now', async () => {
      const before = Date.now();
      const { createdAt: _omit, ...input } = user();
      const u = await s.users.create(input);
      assert.ok(u.createdAt >= before && u.createdAt <= Date.now(), `createdAt ${u.createdAt}`);
      assert.equal(u.updatedAt, u.createdAt);
    });

    it('the timestamps it sets itself come from its clock: createdAt by default, updatedAt on update', async () => {
      let now = T + 5 * HOUR;
      const timed = await f.create({ clock: () => now });
      extra.push(timed);
      const { createdAt: _a, ...first } = user();
      const { createdAt: _b, ...second } = user();
      const u = await timed.users.createFirst(first);
      assert.deepEqual([u?.createdAt, u?.updatedAt], [T + 5 * HOUR, T + 5 * HOUR]);
      now += 1000;
      assert.equal((await timed.users.create(second)).createdAt, T + 5 * HOUR + 1000);
      assert.equal((await timed.users.update(u!.id, { fullName: 'x' }))?.updatedAt, T + 5 * HOUR + 1000);
      now -= HOUR; // the clock steps back: updatedAt still moves forward, by the least step
      assert.equal((await timed.users.update(u!.id, { fullName: 'y' }))?.updatedAt, T + 5 * HOUR + 1001);
      assert.equal((await timed.users.findById(u!.id))?.createdAt, T + 5 * HOUR, 'an update leaves createdAt alone');
    });

    it('usernames are unique and found case-insensitively beyond ASCII', async () => {
      await s.users.create(user({ username: 'Ärger' }));
      const err = await rejection(s.users.create(user({ username: 'äRGER' })));
      assert.ok(err instanceof UniqueViolation && err.field === 'username', String(err));
      assert.equal((await s.users.findByLogin('ÄRGER'))?.username, 'Ärger');
    });

    it('rejects a duplicate username case-insensitively and a duplicate email, with UniqueViolation', async () => {
      await s.users.create(user({ username: 'Alice', email: 'alice@example.com' }));
      const byName = await rejection(s.users.create(user({ username: 'aLICE' })));
      assert.ok(byName instanceof UniqueViolation, String(byName));
      assert.equal(byName.field, 'username');
      const byEmail = await rejection(s.users.create(user({ email: 'alice@example.com' })));
      assert.ok(byEmail instanceof UniqueViolation, String(byEmail));
      assert.equal(byEmail.field, 'email');
      assert.ok(!inspect(byName).includes('SECRET-HASH') && !inspect(byEmail).includes('SECRET-HASH'));
      assert.equal(await s.users.count(), 1);
    });

    it('a failed user write never carries the password hash in its error', async () => {
      // roles that are not an array: a CHECK failure in SQL, whose details would list the whole row.
      const err = await s.users.create(user({ roles: 'admin' as unknown as string[] })).then(() => null, (e: unknown) => e);
      if (f.name !== 'memory') assert.ok(err, 'the database refuses a non-array roles value');
      assert.ok(!inspect(err, { depth: 5, showHidden: true }).includes('SECRET-HASH'), inspect(err));
    });

    it('createFirst inserts only into an empty table', async () => {
      const first = await s.users.createFirst(user({ username: 'root' }));
      assert.equal(first?.username, 'root');
      assert.equal(await s.users.createFirst(user({ username: 'second' })), null);
      assert.equal(await s.users.findByLogin('second'), null);
      assert.equal(await s.users.count(), 1);
    });

    it('createFirst: of 10 concurrent calls exactly one creates', async () => {
      const results = await Promise.all(Array.from({ length: 10 }, () => s.users.createFirst(user())));
      assert.equal(results.filter((r) => r !== null).length, 1);
      assert.equal(await s.users.count(), 1);
    });

    it('createFirst: exactly one wins across two handles on the same database', { skip: f.name === 'memory' && 'one process only' }, async () => {
      const other = reopen(s)!;
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : s).users.createFirst(user())));
      assert.equal(results.filter((r) => r !== null).length, 1);
      assert.equal(await other.users.count(), 1);
    });

    it('findByLogin matches the username in any case, or the email trimmed and lower-cased', async () => {
      const u = await s.users.create(user({ username: 'Carol.Smith', email: 'carol@example.com' }));
      assert.equal((await s.users.findByLogin('carol.smith'))?.id, u.id);
      assert.equal((await s.users.findByLogin('CAROL.SMITH'))?.id, u.id);
      assert.equal((await s.users.findByLogin('carol@example.com'))?.id, u.id);
      assert.equal((await s.users.findByLogin('  Carol@Example.COM '))?.id, u.id);
      assert.equal(await s.users.findByLogin('carol'), null);
      assert.equal(await s.users.findByLogin('carol@example'), null);
      assert.equal(await s.users.findByLogin('%'), null, 'no wildcard matching');
      // A NUL names nobody (PostgreSQL refused the text: the audit log's ?user=%00 answered 500).
      assert.equal(await s.users.findByLogin('carol\u0000'), null);
      assert.equal(await s.users.findByLogin('carol@example.com\u0000'), null);
    });

    it('findByLogin reads a login without "@" as a username only (every email the accounts layer stores holds one)', async () => {
      const named = await s.users.create(user({ username: 'erin', email: 'erin@example.com' }));
      // Only storage itself could hold such an email; the lookup does not consult emails for it.
      await s.users.create(user({ username: 'frank', email: 'erin-without-at' }));
      assert.equal((await s.users.findByLogin('ERIN'))?.id, named.id);
      assert.equal(await s.users.findByLogin('erin-without-at'), null);
    });

    it('findByLogin prefers the email match for a login with "@", the username match otherwise', async () => {
      const owner = await s.users.create(user({ username: 'dave', email: 'dave@example.com' }));
      const squatter = await s.users.create(user({ username: 'dave@example.com', email: 'other@example.com' }));
      assert.equal((await s.users.findByLogin('Dave@Example.com'))?.id, owner.id);
      assert.equal((await s.users.findByLogin('dave'))?.id, owner.id);
      assert.equal((await s.users.findByLogin('other@example.com'))?.id, squatter.id);
    });

    it('list: created_at then id order, pagination and total', async () => {
      // Inserted out of order; two share a createdAt so the id decides.
      const ids = ['00000000-0000-4000-8000-00000000000b', '00000000-0000-4000-8000-00000000000a'];
      await s.users.create(user({ username: 'u3', createdAt: T + 30 }));
      await s.users.create(user({ username: 'u1', createdAt: T + 10 }));
      await s.users.create(user({ id: ids[0]!, username: 'u2b', createdAt: T + 20 }));
      await s.users.create(user({ id: ids[1]!, username: 'u2a', createdAt: T + 20 }));
      await s.users.create(user({ username: 'u4', createdAt: T + 40 }));
      const all = await s.users.list({ limit: 100, offset: 0 });
      assert.deepEqual(all.users.map((u) => u.username), ['u1', 'u2a', 'u2b', 'u3', 'u4']);
      assert.equal(all.total, 5);
      const pages = [];
      for (let offset = 0; offset < 6; offset += 2) pages.push(await s.users.list({ limit: 2, offset }));
      assert.deepEqual(pages.map((p) => p.users.map((u) => u.username)), [['u1', 'u2a'], ['u2b', 'u3'], ['u4']]);
      assert.deepEqual(pages.map((p) => p.total), [5, 5, 5]);
      assert.deepEqual(await s.users.list({ limit: 10, offset: 50 }), { users: [], total: 5 });
      assert.deepEqual(await s.users.list({ limit: 0, offset: 0 }), { users: [], total: 5 });
      await assert.rejects(s.users.list({ limit: -1, offset: 0 }), RangeError);
    });

    it('list filters: email substring, exact role membership, active; total counts the matches', async () => {
      await s.users.create(user({ username: 'a', email: 'ann@corp.io', roles: ['admin'] }));
      await s.users.create(user({ username: 'b', email: 'bob@corp.io', roles: ['superadmin', 'user'], isActive: false }));
      await s.users.create(user({ username: 'c', email: 'cy_x@home.net', roles: ['user', 'admin'] }));
      await s.users.create(user({ username: 'd', email: 'cyzx@home.net', roles: [] }));
      const names = async (q: Parameters<Storage['users']['list']>[0]) => {
        const r = await s.users.list(q);
        return { names: r.users.map((u) => u.username), total: r.total };
      };
      assert.deepEqual(await names({ limit: 10, offset: 0, email: '@corp' }), { names: ['a', 'b'], total: 2 });
      assert.deepEqual(await names({ limit: 10, offset: 0, email: 'CORP.IO' }), { names: ['a', 'b'], total: 2 });
      assert.deepEqual(await names({ limit: 10, offset: 0, email: 'y_' }), { names: ['c'], total: 1 }, "'_' is literal");
      assert.deepEqual(await names({ limit: 10, offset: 0, email: '%' }), { names: [], total: 0 }, "'%' is literal");
      assert.deepEqual(await names({ limit: 10, offset: 0, role: 'admin' }), { names: ['a', 'c'], total: 2 }, 'not superadmin');
      assert.deepEqual(await names({ limit: 10, offset: 0, role: 'dmin' }), { names: [], total: 0 });
      assert.deepEqual(await names({ limit: 10, offset: 0, active: false }), { names: ['b'], total: 1 });
      assert.deepEqual(await names({ limit: 10, offset: 0, active: true }), { names: ['a', 'c', 'd'], total: 3 });
      assert.deepEqual(await names({ limit: 1, offset: 0, role: 'user', active: true }), { names: ['c'], total: 1 });
      assert.deepEqual(await names({ limit: 1, offset: 1, email: 'home' }), { names: ['d'], total: 2 });
      // Username: a case-insensitive substring, '_' and '%' literal, combined with the others.
      await s.users.create(user({ username: 'Carol_Admin', email: 'carol@corp.io', roles: ['user'], createdAt: T + 100 }));
      await s.users.create(user({ username: 'carolXadmin', email: 'carolx@home.net', roles: ['user'], createdAt: T + 200 }));
      assert.deepEqual(await names({ limit: 10, offset: 0, username: 'CAROL' }), { names: ['Carol_Admin', 'carolXadmin'], total: 2 });
      assert.deepEqual(await names({ limit: 10, offset: 0, username: 'l_a' }), { names: ['Carol_Admin'], total: 1 }, "'_' is literal");
      assert.deepEqual(await names({ limit: 10, offset: 0, username: '%' }), { names: [], total: 0 }, "'%' is literal");
      assert.deepEqual(await names({ limit: 10, offset: 0, username: 'carol', email: 'corp' }), { names: ['Carol_Admin'], total: 1 });
      const carol = (await s.users.findByLogin('Carol_Admin'))!;
      await s.users.update(carol.id, { emailVerified: true });
      assert.deepEqual(await names({ limit: 10, offset: 0, verified: true }), { names: ['Carol_Admin'], total: 1 });
      assert.deepEqual((await names({ limit: 10, offset: 0, verified: false, username: 'carol' })).names, ['carolXadmin']);
    });

    it('update applies each field, bumps updatedAt, keeps the rest', async () => {
      const u = await s.users.create(user({ createdAt: Date.now() }));
      const patched = await s.users.update(u.id, {
        roles: ['admin'], isActive: false, fullName: null, passwordHash: 'new-hash', email: ' New@Example.com ',
      });
      assert.ok(patched);
      assert.ok(patched.updatedAt > u.updatedAt, 'updatedAt moves forward even within the same millisecond');
      assert.deepEqual(patched, {
        ...u, roles: ['admin'], isActive: false, fullName: null, passwordHash: 'new-hash', email: 'new@example.com',
        updatedAt: patched.updatedAt,
      });
      assert.deepEqual(await s.users.findById(u.id), patched);
      const again = await s.users.update(u.id, { fullName: 'Back', email: undefined, roles: undefined });
      assert.ok(again && again.updatedAt > patched.updatedAt);
      assert.equal(again.fullName, 'Back');
      assert.equal(again.email, 'new@example.com', 'undefined leaves a field alone');
      assert.deepEqual(again.roles, ['admin']);
      assert.equal((await s.users.findByLogin('new@example.com'))?.id, u.id);
      assert.equal(await s.users.update(randomUUID(), { fullName: 'x' }), null);
    });

    it('update to a taken email throws UniqueViolation and changes nothing; keeping one\'s own email is fine', async () => {
      const a = await s.users.create(user({ email: 'a@example.com' }));
      const b = await s.users.create(user({ email: 'b@example.com' }));
      const err = await rejection(s.users.update(b.id, { email: 'A@example.com', fullName: 'changed' }));
      assert.ok(err instanceof UniqueViolation && err.field === 'email', String(err));
      assert.deepEqual(await s.users.findById(b.id), b);
      assert.equal((await s.users.update(a.id, { email: 'a@example.com' }))?.email, 'a@example.com');
    });

    it('update and delete given `keep` go through only while another active user holds one of those roles; else NoOtherHolder, nothing written', async () => {
      const a = await s.users.create(user({ roles: ['admin'] }));
      const b = await s.users.create(user({ roles: ['owner', 'user'] }));
      const keep = ['admin', 'owner'];
      // b holds another of the roles: a may be demoted.
      assert.deepEqual((await s.users.update(a.id, { roles: ['user'] }, undefined, { keep }))?.roles, ['user']);
      // b is now the only one: not demoted, deactivated or deleted.
      for (const attempt of [
        () => s.users.update(b.id, { roles: ['user'], fullName: 'changed' }, undefined, { keep }),
        () => s.users.update(b.id, { isActive: false, passwordHash: 'x' }, undefined, { keep }),
        () => s.users.delete(b.id, undefined, { keep }),
        () => s.users.delete(b.id, () => [], { keep }),
      ]) {
        const err = await rejection(attempt());
        assert.ok(err instanceof NoOtherHolder, String(err));
      }
      assert.deepEqual((await s.users.findById(b.id))?.roles, ['owner', 'user'], 'nothing written');
      assert.equal((await s.users.findById(b.id))?.fullName, b.fullName);
      // An inactive holder does not count; an active one does.
      const c = await s.users.create(user({ roles: ['admin'], isActive: false }));
      assert.ok((await rejection(s.users.delete(b.id, undefined, { keep }))) instanceof NoOtherHolder);
      await s.users.update(c.id, { isActive: true });
      assert.equal(await s.users.delete(b.id, undefined, { keep }), true);
    });

    it('update given `passwordHashWas`, `emailWas` or `isActiveWas` writes only while the stored hash, address or state is that one; else null and nothing written', async () => {
      const a = await s.users.create(user());
      assert.equal(await s.users.update(a.id, { passwordHash: 'next', fullName: 'x' }, undefined, { passwordHashWas: 'not-the-hash' }), null);
      assert.deepEqual(await s.users.findById(a.id), a);
      assert.equal(await s.users.update(a.id, { fullName: 'y' }, () => [], { passwordHashWas: 'not-the-hash' }), null);
      const done = await s.users.update(a.id, { passwordHash: 'next', fullName: 'x' }, undefined, { passwordHashWas: HASH });
      assert.deepEqual([done?.passwordHash, done?.fullName], ['next', 'x']);
      // emailWas likewise (compared as stored: trimmed, lower-cased).
      assert.equal(await s.users.update(a.id, { passwordHash: 'third' }, undefined, { passwordHashWas: 'next', emailWas: 'other@example.com' }), null);
      assert.equal((await s.users.findById(a.id))?.passwordHash, 'next');
      assert.equal((await s.users.update(a.id, { passwordHash: 'third' }, undefined, { passwordHashWas: 'next', emailWas: ` ${a.email.toUpperCase()}` }))?.passwordHash, 'third');
      // isActiveWas likewise.
      await s.users.update(a.id, { isActive: false });
      assert.equal(await s.users.update(a.id, { passwordHash: 'fourth' }, undefined, { isActiveWas: true }), null);
      assert.equal((await s.users.findById(a.id))?.passwordHash, 'third');
      assert.equal((await s.users.update(a.id, { passwordHash: 'fourth' }, undefined, { isActiveWas: false }))?.passwordHash, 'fourth');
    });

    it('update given `sessionOpen` writes only while that session is not ended, or one live at `now` opened by `openedBy` is; else null and nothing written', async () => {
      const a = await s.users.create(user());
      const b = await s.users.create(user());
      const mine = await s.sessions.create(session(a.id, { createdAt: T + 10 }));
      const theirs = await s.sessions.create(session(b.id, { createdAt: T }));
      assert.equal(await s.users.update(a.id, { fullName: 'x' }, undefined, { sessionOpen: { id: theirs.id } }), null);
      assert.equal((await s.users.update(a.id, { fullName: 'x' }, undefined, { sessionOpen: { id: mine.id } }))?.fullName, 'x');
      assert.equal(await s.users.update(a.id, { fullName: 'y' }, undefined, { sessionOpen: { openedBy: T + 9, now: T + HOUR } }), null);
      assert.equal(await s.users.update(a.id, { fullName: 'y' }, undefined, { sessionOpen: { openedBy: T + 10, now: T + 3 * HOUR } }), null, 'idle by then');
      assert.equal((await s.users.update(a.id, { fullName: 'y' }, undefined, { sessionOpen: { openedBy: T + 10, now: T + HOUR } }))?.fullName, 'y');
      await s.sessions.end(mine.id, 'logout', T + HOUR);
      assert.equal(await s.users.update(a.id, { fullName: 'z' }, () => [], { sessionOpen: { id: mine.id } }), null);
      assert.equal(await s.users.update(a.id, { fullName: 'z' }, undefined, { sessionOpen: { openedBy: T + 10, now: T + HOUR } }), null);
      assert.equal((await s.users.findById(a.id))?.fullName, 'y');
    });

    it('update given `override` adds the role override in its write, its deadline past the one it replaces, and hands it back as stored', async () => {
      const a = await s.users.create(user());
      const made = (deadline: number) => {
        const out: { stored?: RoleOverride } = {};
        return { out, override: { record: (u: { id: string; roles: string[] }) => roleOverride(u.id, u.roles, deadline), stored: (r: RoleOverride) => (out.stored = r) } };
      };
      const first = made(T + 1000);
      await s.users.update(a.id, { roles: ['admin'] }, undefined, {}, first.override);
      assert.deepEqual(first.out.stored, roleOverride(a.id, ['admin'], T + 1000));
      // A later change asking for an earlier deadline (another instance's clock) still comes after.
      const second = made(T + 500);
      await s.users.update(a.id, { roles: ['user'] }, undefined, {}, second.override);
      assert.deepEqual(second.out.stored, roleOverride(a.id, ['user'], T + 1001));
      assert.deepEqual((await s.revocations.listLive(T)).filter((r) => r.key === a.id), [second.out.stored]);
      // No user, no write: nothing stored, nothing handed back.
      const none = made(T + 5000);
      assert.equal(await s.users.update(randomUUID(), { roles: ['admin'] }, undefined, {}, none.override), null);
      assert.equal(none.out.stored, undefined);
      assert.equal((await s.revocations.listLive(T)).length, 1);
    });

    it('update given `updatedAtWas` writes only over the row of that updatedAt; else null and nothing written', async () => {
      const a = await s.users.create(user());
      assert.equal(await s.users.update(a.id, { isActive: false }, () => [], { updatedAtWas: a.updatedAt - 1 }), null);
      assert.deepEqual(await s.users.findById(a.id), a);
      const done = await s.users.update(a.id, { isActive: false }, undefined, { updatedAtWas: a.updatedAt });
      assert.equal(done?.isActive, false);
      assert.equal(await s.users.update(a.id, { isActive: true }, undefined, { updatedAtWas: a.updatedAt }), null, 'the first write moved it on');
    });

    it('delete removes the user and cascades to their sessions only', async () => {
      const a = await s.users.create(user());
      const b = await s.users.create(user());
      const sa = await s.sessions.create(session(a.id));
      const sb = await s.sessions.create(session(b.id));
      assert.equal(await s.users.delete(a.id), true);
      assert.equal(await s.users.delete(a.id), false);
      assert.equal(await s.users.findById(a.id), null);
      assert.equal(await s.sessions.get(sa.id), null);
      assert.deepEqual(await s.sessions.get(sb.id), sb);
      assert.equal(await s.users.count(), 1);
      // The freed username and email can be taken again.
      await s.users.create(user({ username: a.username.toUpperCase(), email: a.email }));
    });

    it('count follows creates and deletes', async () => {
      assert.equal(await s.users.count(), 0);
      const a = await s.users.create(user());
      await s.users.create(user());
      assert.equal(await s.users.count(), 2);
      await s.users.delete(a.id);
      assert.equal(await s.users.count(), 1);
    });

    it('returned records are copies, not live views', async () => {
      const u = await s.users.create(user({ roles: ['user'] }));
      u.roles.push('admin');
      (await s.users.findById(u.id))!.roles.push('root');
      assert.deepEqual((await s.users.findById(u.id))!.roles, ['user']);
    });
  });

  describe('sessions', () => {
    let uid: string;
    beforeEach(async () => {
      uid = (await s.users.create(user())).id;
    });

    it('create fills lastUsedAt and the end fields; get round-trips', async () => {
      const input = session(uid, { userAgent: null, ip: null });
      const created = await s.sessions.create(input);
      assert.deepEqual(created, { ...input, lastUsedAt: T, previousJti: null, rotatedAt: null, endedAt: null, endReason: null });
      assert.deepEqual(await s.sessions.get(input.id), created);
      const withLast = await s.sessions.create(session(uid, { lastUsedAt: T + 5 }));
      assert.equal(withLast.lastUsedAt, T + 5);
      assert.equal(await s.sessions.get(randomUUID()), null);
    });

    it('create refuses an unknown user and a duplicate id', async () => {
      await assert.rejects(s.sessions.create(session(randomUUID())));
      const x = await s.sessions.create(session(uid));
      await assert.rejects(s.sessions.create(session(uid, { id: x.id })));
    });

    const GRACE = 10_000;
    /** A rotate with no grace (strict), unless `graceMs` says otherwise. */
    const rotate = (id: string, presentedJti: string, newJti: string = randomUUID(), now = T + HOUR, graceMs = 0) =>
      s.sessions.rotate({ id, presentedJti, newJti, now, idleExpiresAt: now + 2 * HOUR, graceMs });

    it('rotate swaps the jti and moves lastUsedAt and the idle deadline', async () => {
      const x = await s.sessions.create(session(uid));
      const r = await rotate(x.id, x.refreshJti, 'jti-2');
      assert.equal(r.status, 'rotated');
      const expected: SessionRecord = {
        ...x, refreshJti: 'jti-2', previousJti: x.refreshJti, rotatedAt: T + HOUR, lastUsedAt: T + HOUR, idleExpiresAt: T + 3 * HOUR,
      };
      assert.deepEqual((r as { session: SessionRecord }).session, expected);
      assert.deepEqual(await s.sessions.get(x.id), expected);
      // And again from the new one, later (the idle deadline has moved, so this is still live).
      assert.equal((await rotate(x.id, 'jti-2', 'jti-3', T + 2.5 * HOUR)).status, 'rotated');
    });

    it('rotate reads the user asked for with a rotated or grace answer (null when there is none), and only then', async () => {
      const x = await s.sessions.create(session(uid));
      const me = await s.users.findById(uid);
      const at = (presentedJti: string, newJti: string, now: number, userId?: string) =>
        s.sessions.rotate({ id: x.id, presentedJti, newJti, now, idleExpiresAt: now + 2 * HOUR, graceMs: GRACE, ...(userId ? { userId } : {}) });
      const r = await at(x.refreshJti, 'jti-2', T + HOUR, uid);
      assert.equal(r.status, 'rotated');
      assert.deepEqual((r as { user?: unknown }).user, me);
      const g = await at(x.refreshJti, 'jti-3', T + HOUR + 1, randomUUID());
      assert.equal(g.status, 'grace');
      assert.equal((g as { user?: unknown }).user, null);
      assert.equal('user' in (await at('jti-2', 'jti-4', T + HOUR + 2)), false, 'not asked, not read');
      assert.deepEqual(await at('nope', 'jti-5', T + HOUR + 3, uid), { status: 'reused', session: await s.sessions.get(x.id) });
    });

    it('rotate records onReuse with the session\'s end on reuse, and only then', async () => {
      const x = await s.sessions.create(session(uid));
      const onReuse = (id: string) => ({ kind: 'sid' as const, key: id, value: '', expiresAt: T + 2 * HOUR });
      const args = { id: x.id, idleExpiresAt: T + 2 * HOUR, graceMs: 0, onReuse };
      assert.equal((await s.sessions.rotate({ ...args, presentedJti: x.refreshJti, newJti: 'jti-2', now: T + 1 })).status, 'rotated');
      assert.deepEqual(await s.revocations.listLive(T), [], 'a rotation revokes nothing');
      assert.equal((await s.sessions.rotate({ ...args, presentedJti: x.refreshJti, newJti: 'jti-3', now: T + HOUR })).status, 'reused');
      assert.deepEqual((await s.revocations.listLive(T)).map((r) => [r.kind, r.key, r.expiresAt]), [['sid', x.id, T + 2 * HOUR]]);
    });

    it('rotate with a retired jti reports reuse and ends the session; the current jti is then dead too', async () => {
      const x = await s.sessions.create(session(uid));
      await rotate(x.id, x.refreshJti, 'jti-2');
      const r = await rotate(x.id, x.refreshJti, 'jti-3', T + HOUR + 1);
      assert.equal(r.status, 'reused');
      const ended = (r as { session: SessionRecord }).session;
      assert.equal(ended.endedAt, T + HOUR + 1);
      assert.equal(ended.endReason, 'reuse');
      assert.equal(ended.refreshJti, 'jti-2', 'reuse does not install the new jti');
      assert.deepEqual(await s.sessions.get(x.id), ended);
      assert.deepEqual(await rotate(x.id, 'jti-2', 'jti-4', T + HOUR + 2), { status: 'ended' });
      assert.deepEqual(await s.sessions.get(x.id), ended, 'nothing changed');
    });

    it('rotate on an ended session reports ended and changes nothing', async () => {
      const x = await s.sessions.create(session(uid));
      const ended = await s.sessions.end(x.id, 'logout', T + 1);
      assert.deepEqual(await rotate(x.id, x.refreshJti), { status: 'ended' });
      assert.deepEqual(await rotate(x.id, 'some-other-jti'), { status: 'ended' });
      assert.deepEqual(await s.sessions.get(x.id), ended);
    });

    it('rotate past the absolute deadline reports expired (the deadline itself is past)', async () => {
      const x = await s.sessions.create(session(uid, { expiresAt: T + HOUR, idleExpiresAt: T + 10 * HOUR }));
      assert.deepEqual(await rotate(x.id, x.refreshJti, 'n1', T + HOUR), { status: 'expired' });
      assert.deepEqual(await rotate(x.id, 'stale-jti', 'n2', T + HOUR), { status: 'expired' }, 'not reuse');
      assert.deepEqual(await s.sessions.get(x.id), x, 'nothing changed, not ended');
      assert.equal((await rotate(x.id, x.refreshJti, 'n3', T + HOUR - 1)).status, 'rotated', 'one ms before is fine');
    });

    it('rotate past the idle deadline reports expired', async () => {
      const x = await s.sessions.create(session(uid, { idleExpiresAt: T + HOUR }));
      assert.deepEqual(await rotate(x.id, x.refreshJti, 'n1', T + HOUR), { status: 'expired' });
      assert.deepEqual(await rotate(x.id, x.refreshJti, 'n1', T + 5 * HOUR), { status: 'expired' });
      assert.deepEqual(await s.sessions.get(x.id), x);
      assert.equal((await rotate(x.id, x.refreshJti, 'n2', T + HOUR - 1)).status, 'rotated');
    });

    it('rotate of an unknown session reports missing', async () => {
      assert.deepEqual(await rotate(randomUUID(), 'whatever'), { status: 'missing' });
    });

    it('rotate race within the grace: of 20 concurrent calls with the same jti one rotates, the others get the current jti', async () => {
      const x = await s.sessions.create(session(uid));
      const other = f.name === 'memory' ? s : reopen(s)!;
      const results: RotateResult[] = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? other : s).sessions.rotate({ id: x.id, presentedJti: x.refreshJti, newJti: `new-${i}`, now: T + HOUR, idleExpiresAt: T + 3 * HOUR, graceMs: GRACE }),
        ),
      );
      const statuses = results.map((r) => r.status);
      assert.equal(statuses.filter((st) => st === 'rotated').length, 1, statuses.join());
      assert.equal(statuses.filter((st) => st === 'grace').length, 19, statuses.join());
      const final = (await s.sessions.get(x.id))!;
      assert.equal(final.endedAt, null);
      assert.equal(final.previousJti, x.refreshJti);
      for (const r of results) assert.equal((r as { session: SessionRecord }).session.refreshJti, final.refreshJti);
    });

    it('the previous jti within the grace answers grace and changes nothing; after it, or an older jti, is reuse', async () => {
      const x = await s.sessions.create(session(uid));
      await rotate(x.id, x.refreshJti, 'jti-2', T + HOUR);
      const rotated = (await s.sessions.get(x.id))!;
      const g = await rotate(x.id, x.refreshJti, 'jti-3', T + HOUR + GRACE - 1, GRACE);
      assert.deepEqual(g, { status: 'grace', session: rotated });
      assert.deepEqual(await s.sessions.get(x.id), rotated, 'nothing changed');
      // The grace follows the last rotation: the jti before the previous one is reuse at once.
      await rotate(x.id, 'jti-2', 'jti-3', T + HOUR + 1, GRACE);
      assert.equal((await rotate(x.id, 'jti-2', 'jti-4', T + HOUR + 2, GRACE)).status, 'grace');
      const older = await rotate(x.id, x.refreshJti, 'jti-5', T + HOUR + 3, GRACE);
      assert.equal(older.status, 'reused');
      assert.equal((await s.sessions.get(x.id))!.endReason, 'reuse');
    });

    it('the previous jti at the end of the grace is reuse; a grace of 0 has none', async () => {
      const a = await s.sessions.create(session(uid));
      await rotate(a.id, a.refreshJti, 'a-2', T + HOUR);
      assert.equal((await rotate(a.id, a.refreshJti, 'a-3', T + HOUR + GRACE, GRACE)).status, 'reused');
      const b = await s.sessions.create(session(uid));
      await rotate(b.id, b.refreshJti, 'b-2', T + HOUR);
      assert.equal((await rotate(b.id, b.refreshJti, 'b-3', T + HOUR, 0)).status, 'reused');
    });

    it('an ended or expired session is reported as such to the previous jti, even within the grace', async () => {
      const x = await s.sessions.create(session(uid, { idleExpiresAt: T + 2 * HOUR }));
      await s.sessions.rotate({ id: x.id, presentedJti: x.refreshJti, newJti: 'jti-2', now: T + HOUR, idleExpiresAt: T + HOUR + 1000, graceMs: GRACE });
      assert.deepEqual(await rotate(x.id, x.refreshJti, 'n', T + HOUR + 1000, GRACE), { status: 'expired' });
      const y = await s.sessions.create(session(uid));
      await rotate(y.id, y.refreshJti, 'y-2', T + HOUR);
      await s.sessions.end(y.id, 'logout', T + HOUR + 1);
      assert.deepEqual(await rotate(y.id, y.refreshJti, 'n', T + HOUR + 2, GRACE), { status: 'ended' });
    });

    it('rotate race: of 20 concurrent calls with the same jti exactly one rotates, and reuse ends the session', async () => {
      const x = await s.sessions.create(session(uid));
      const other = f.name === 'memory' ? s : reopen(s)!; // a second pool / connection where possible
      const results: RotateResult[] = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (i % 2 ? other : s).sessions.rotate({ id: x.id, presentedJti: x.refreshJti, newJti: `new-${i}`, now: T + HOUR, idleExpiresAt: T + 3 * HOUR, graceMs: 0 }),
        ),
      );
      const winners = results.filter((r) => r.status === 'rotated');
      assert.equal(winners.length, 1, JSON.stringify(results.map((r) => r.status)));
      const losers = results.filter((r) => r.status !== 'rotated').map((r) => r.status);
      assert.ok(losers.every((st) => st === 'reused' || st === 'ended'), losers.join());
      assert.ok(losers.includes('reused'), 'the first loser detects the reuse');
      const final = await s.sessions.get(x.id);
      assert.equal(final?.endReason, 'reuse');
      assert.equal(final?.endedAt, T + HOUR);
      assert.equal(final?.refreshJti, (winners[0] as { session: SessionRecord }).session.refreshJti);
    });

    it('end ends a session once; absent or already ended gives null', async () => {
      const x = await s.sessions.create(session(uid));
      const ended = await s.sessions.end(x.id, 'logout', T + 7);
      assert.deepEqual(ended, { ...x, endedAt: T + 7, endReason: 'logout' });
      assert.equal(await s.sessions.end(x.id, 'admin', T + 8), null);
      assert.deepEqual(await s.sessions.get(x.id), ended, 'the first ending stands');
      assert.equal(await s.sessions.end(randomUUID(), 'logout', T), null);
    });

    it('end with a revocation records it with the ending, and even when the session had already ended', async () => {
      const x = await s.sessions.create(session(uid));
      const sid = (until: number) => (id: string) => ({ kind: 'sid' as const, key: id, value: '', expiresAt: until });
      assert.equal((await s.sessions.end(x.id, 'logout', T + 7, undefined, sid(T + HOUR)))?.endedAt, T + 7);
      assert.deepEqual((await s.revocations.listLive(T)).map((r) => [r.kind, r.key, r.expiresAt]), [['sid', x.id, T + HOUR]]);
      // A retry after a lost answer: nothing more to end, the record still written (its later deadline kept).
      assert.equal(await s.sessions.end(x.id, 'logout', T + 8, undefined, sid(T + 2 * HOUR)), null);
      assert.deepEqual((await s.revocations.listLive(T)).map((r) => [r.key, r.expiresAt]), [[x.id, T + 2 * HOUR]]);
    });

    it('endAllForUser and endOldest with a revocation record one for each session they end, and only those', async () => {
      const revoke = (id: string) => ({ kind: 'sid' as const, key: id, value: '', expiresAt: T + HOUR });
      const [a, b, c] = [await s.sessions.create(session(uid, { createdAt: T })), await s.sessions.create(session(uid, { createdAt: T + 1 })), await s.sessions.create(session(uid, { createdAt: T + 2 }))];
      const oldest = await s.sessions.endOldest(uid, 1, 'limit', T + 3, c.id, undefined, revoke);
      assert.deepEqual(oldest, [a.id], 'c is kept as exceptId, b as the newest other');
      assert.deepEqual((await s.revocations.listLive(T)).map((r) => r.key), [a.id]);
      const rest = await s.sessions.endAllForUser(uid, 'logout', T + 4, c.id, undefined, revoke);
      assert.deepEqual(rest, [b.id]);
      assert.deepEqual((await s.revocations.listLive(T)).map((r) => r.key).sort(), [a.id, b.id].sort());
    });

    it('endAllForUser ends the user\'s unended sessions except one, and only theirs', async () => {
      const other = (await s.users.create(user())).id;
      const keep = await s.sessions.create(session(uid));
      const a = await s.sessions.create(session(uid));
      const b = await s.sessions.create(session(uid, { expiresAt: T + 1 })); // expired, never ended
      const before = await s.sessions.create(session(uid));
      const previously = await s.sessions.end(before.id, 'logout', T + 2);
      const theirs = await s.sessions.create(session(other));

      const ended = await s.sessions.endAllForUser(uid, 'password', T + HOUR, keep.id);
      assert.deepEqual(ended.sort(), [a.id, b.id].sort());
      for (const id of [a.id, b.id]) {
        const row = await s.sessions.get(id);
        assert.equal(row?.endedAt, T + HOUR);
        assert.equal(row?.endReason, 'password');
      }
      assert.equal((await s.sessions.get(keep.id))?.endedAt, null);
      assert.deepEqual(await s.sessions.get(before.id), previously, 'an earlier ending is kept');
      assert.deepEqual(await s.sessions.get(theirs.id), theirs);

      assert.deepEqual(await s.sessions.endAllForUser(uid, 'admin', T + 2 * HOUR), [keep.id]);
      assert.deepEqual(await s.sessions.endAllForUser(uid, 'admin', T + 3 * HOUR), []);
      assert.deepEqual(await s.sessions.endAllForUser(randomUUID(), 'admin', T), []);
    });

    it('endOldest keeps the newest live sessions (and the excepted one) and ends the older ones, in one call', async () => {
      const now = T + HOUR;
      const other = (await s.users.create(user())).id;
      const made: SessionRecord[] = [];
      for (let i = 0; i < 6; i++) made.push(await s.sessions.create(session(uid, { createdAt: T + i })));
      const expired = await s.sessions.create(session(uid, { createdAt: T - 1, idleExpiresAt: now })); // not counted, not ended
      const theirs = await s.sessions.create(session(other, { createdAt: T - 2 }));
      // Keep 2, and made[0] (say, the one just opened) whatever its age.
      const ended = await s.sessions.endOldest(uid, 2, 'limit', now, made[0]!.id);
      assert.deepEqual(ended.sort(), [made[1]!.id, made[2]!.id, made[3]!.id].sort());
      for (const id of ended) {
        const row = await s.sessions.get(id);
        assert.equal(row?.endedAt, now);
        assert.equal(row?.endReason, 'limit');
      }
      const { sessions: live } = await s.sessions.listActive(uid, now, { limit: 10, offset: 0 });
      assert.deepEqual(live.map((x) => x.id), [made[5]!.id, made[4]!.id, made[0]!.id]);
      assert.deepEqual(await s.sessions.get(expired.id), expired);
      assert.deepEqual(await s.sessions.get(theirs.id), theirs);
      assert.deepEqual(await s.sessions.endOldest(uid, 2, 'limit', now, made[0]!.id), []);
      assert.deepEqual((await s.sessions.endOldest(uid, 0, 'limit', now)).length, 3);
    });

    it('endOldest racing sign-ins on two connections: never more than the limit live', async () => {
      const other = f.name === 'memory' ? s : reopen(s)!;
      const keep = 3;
      // Several rounds, the later ones with logouts everywhere racing too, which end overlapping sets
      // (and may end every session, the racers' own included). On PostgreSQL, statements that locked
      // rows in their plans' order deadlocked in 8 runs of this test in 12.
      for (let round = 0; round < 6; round++) {
        const logouts = round >= 3;
        await Promise.all(Array.from({ length: 30 }, async (_, i) => {
          const h = i % 2 ? other : s;
          const x = await h.sessions.create(session(uid, { createdAt: T + round * 100 + i }));
          if (logouts && i % 10 === 9) await h.sessions.endAllForUser(uid, 'logout', T + HOUR, x.id);
          else await h.sessions.endOldest(uid, keep - 1, 'limit', T + HOUR, x.id);
        }));
        const { total } = await s.sessions.listActive(uid, T + HOUR, { limit: 100, offset: 0 });
        assert.ok(total <= keep && (logouts || total >= 1), `round ${round}: ${total} live`);
      }
    });

    it('listActive: live sessions of the user only, newest first', async () => {
      const now = T + HOUR;
      const other = (await s.users.create(user())).id;
      const old = await s.sessions.create(session(uid, { createdAt: T - 10 }));
      const newest = await s.sessions.create(session(uid, { createdAt: T + 10 }));
      const tieA = await s.sessions.create(session(uid, { id: '00000000-0000-4000-8000-00000000000a', createdAt: T }));
      const tieB = await s.sessions.create(session(uid, { id: '00000000-0000-4000-8000-00000000000b', createdAt: T }));
      const ended = await s.sessions.create(session(uid, { createdAt: T + 20 }));
      await s.sessions.end(ended.id, 'logout', T + 30);
      await s.sessions.create(session(uid, { createdAt: T + 21, expiresAt: now })); // absolute deadline reached
      await s.sessions.create(session(uid, { createdAt: T + 22, idleExpiresAt: now - 1 })); // idle
      await s.sessions.create(session(other, { createdAt: T + 23 }));
      const page = { limit: 100, offset: 0 };
      const { sessions: live, total } = await s.sessions.listActive(uid, now, page);
      assert.deepEqual(live.map((x) => x.id), [newest.id, tieB.id, tieA.id, old.id]);
      assert.equal(total, 4);
      assert.deepEqual(live[0], newest);
      assert.deepEqual(await s.sessions.listActive(randomUUID(), now, page), { sessions: [], total: 0 });
      // Pages of that order; the total whatever the page, past the end included.
      const second = await s.sessions.listActive(uid, now, { limit: 2, offset: 2 });
      assert.deepEqual(second.sessions.map((x) => x.id), [tieA.id, old.id]);
      assert.equal(second.total, 4);
      assert.deepEqual(await s.sessions.listActive(uid, now, { limit: 2, offset: 10 }), { sessions: [], total: 4 });
      await assert.rejects(s.sessions.listActive(uid, now, { limit: -1, offset: 0 }), RangeError);
    });

    it('countLive counts every user\'s live sessions: not ended, before both deadlines', async () => {
      const now = T + HOUR;
      const other = (await s.users.create(user())).id;
      const before = await s.sessions.countLive(now);
      await s.sessions.create(session(uid));
      await s.sessions.create(session(other));
      const ended = await s.sessions.create(session(other));
      await s.sessions.end(ended.id, 'logout', T + 1);
      await s.sessions.create(session(uid, { expiresAt: now })); // absolute deadline reached
      await s.sessions.create(session(uid, { idleExpiresAt: now })); // idle deadline reached
      assert.equal(await s.sessions.countLive(now), before + 2);
      assert.equal(await s.sessions.countLive(now - 1), before + 4, 'a moment earlier, the expired two were live');
    });

    it('countLive is exact on either side of each hour boundary of the idle deadlines', async () => {
      // PostgreSQL counts the later hours from its index and reads only the current hour's rows
      // (migration 11): every deadline near an hour's start, end or `now` must land on the right side.
      const base = Math.ceil((T + 5 * HOUR) / HOUR) * HOUR; // an hour boundary
      const deadlines = [-HOUR - 1, -HOUR, -1, 0, 1, 899_999, 900_000, 900_001, HOUR - 1, HOUR, HOUR + 1, 2 * HOUR].map((x) => base + x);
      const before = await s.sessions.countLive(base - 2 * HOUR);
      for (const idleExpiresAt of deadlines) await s.sessions.create(session(uid, { expiresAt: base + 10 * HOUR, idleExpiresAt }));
      for (const now of [base - 2 * HOUR, base - HOUR - 1, base - 1, base, base + 1, base + 900_000, base + HOUR - 1, base + HOUR, base + 3 * HOUR]) {
        const expected = deadlines.filter((x) => x > now).length;
        assert.equal(await s.sessions.countLive(now) - before, expected, `now = base + ${now - base}`);
      }
    });

    it('purge deletes sessions ended or expired strictly before the cut-off, and nothing else', async () => {
      const cut = T + 10 * HOUR;
      const later = { expiresAt: cut + HOUR, idleExpiresAt: cut + HOUR }; // deadlines after the cut-off
      const endedBefore = await s.sessions.create(session(uid, later));
      await s.sessions.end(endedBefore.id, 'logout', cut - 1);
      const endedAt = await s.sessions.create(session(uid, later));
      await s.sessions.end(endedAt.id, 'logout', cut); // not before the cut-off
      const expired = await s.sessions.create(session(uid, { expiresAt: cut - 1, idleExpiresAt: cut + HOUR }));
      const idle = await s.sessions.create(session(uid, { expiresAt: cut + HOUR, idleExpiresAt: cut - 1 }));
      const live = await s.sessions.create(session(uid, later));
      const edge = await s.sessions.create(session(uid, { expiresAt: cut, idleExpiresAt: cut }));
      assert.equal(await s.sessions.purge(cut), 3);
      for (const gone of [endedBefore, expired, idle]) assert.equal(await s.sessions.get(gone.id), null);
      for (const kept of [endedAt, live, edge]) assert.ok(await s.sessions.get(kept.id));
      assert.equal(await s.sessions.purge(cut), 0);
    });

    it('purge with a batch deletes at most that many per call, and the rest at the next calls', async () => {
      // The server's hourly purge goes in batches: one DELETE of every due session held SQLite's only thread.
      const cut = T + 20 * HOUR;
      const gone: string[] = [];
      for (let i = 0; i < 5; i++) {
        const ended = await s.sessions.create(session(uid, { expiresAt: cut + HOUR, idleExpiresAt: cut + HOUR }));
        await s.sessions.end(ended.id, 'logout', cut - 1);
        gone.push(ended.id);
      }
      const live = await s.sessions.create(session(uid, { expiresAt: cut + HOUR, idleExpiresAt: cut + HOUR }));
      assert.equal(await s.sessions.purge(cut, 2), 2);
      assert.equal(await s.sessions.purge(cut, 2), 2);
      assert.equal(await s.sessions.purge(cut, 2), 1);
      assert.equal(await s.sessions.purge(cut, 2), 0);
      for (const id of gone) assert.equal(await s.sessions.get(id), null);
      assert.ok(await s.sessions.get(live.id));
    });
  });

  describe('revocations', () => {
    it('add upserts on (kind, key): the new value, the later deadline (a role override\'s past the one it replaces)', async () => {
      await s.revocations.add({ kind: 'roles', key: 'u1', value: '["a"]', expiresAt: T + 100 });
      await s.revocations.add({ kind: 'roles', key: 'u1', value: '["b"]', expiresAt: T + 50 });
      await s.revocations.add({ kind: 'user', key: 'u1', value: '1700000000', expiresAt: T + 10 });
      await s.revocations.add({ kind: 'user', key: 'u1', value: '1700000100', expiresAt: T + 20 });
      await s.revocations.add({ kind: 'jti', key: 'j1', value: '', expiresAt: T + 30 });
      const live = await s.revocations.listLive(T);
      const byKind = Object.fromEntries(live.map((r) => [`${r.kind}:${r.key}`, r]));
      assert.equal(live.length, 3);
      assert.deepEqual(byKind['roles:u1'], { kind: 'roles', key: 'u1', value: '["b"]', expiresAt: T + 101 });
      assert.deepEqual(byKind['user:u1'], { kind: 'user', key: 'u1', value: '1700000100', expiresAt: T + 20 });
      assert.deepEqual(byKind['jti:j1'], { kind: 'jti', key: 'j1', value: '', expiresAt: T + 30 });
    });

    it('a user cut-off keeps the later moment when an earlier one is written after it', async () => {
      await s.revocations.add({ kind: 'user', key: 'u1', value: '1700000100.250', expiresAt: T + 10 });
      await s.revocations.add({ kind: 'user', key: 'u1', value: '1700000100', expiresAt: T + 20 });
      await s.revocations.add({ kind: 'user', key: 'u2', value: '1700000100', expiresAt: T + 10 });
      await s.revocations.add({ kind: 'user', key: 'u2', value: '1700000100.001', expiresAt: T + 5 });
      const byKey = Object.fromEntries((await s.revocations.listLive(T)).map((r) => [r.key, r]));
      assert.deepEqual(byKey.u1, { kind: 'user', key: 'u1', value: '1700000100.250', expiresAt: T + 20 });
      assert.deepEqual(byKey.u2, { kind: 'user', key: 'u2', value: '1700000100.001', expiresAt: T + 10 });
    });

    it('listLive pages in (kind, key) order: every live record once, none expired, across kinds', async () => {
      const keys = ['a', 'b', 'c', 'd', 'e'];
      for (const kind of ['jti', 'sid', 'user'] as const) {
        for (const key of keys) await s.revocations.add({ kind, key, value: kind === 'user' ? '1700000000' : '', expiresAt: T + 10 });
      }
      await s.revocations.add({ kind: 'sid', key: 'bb', value: '', expiresAt: T - 1 });
      const seen: string[] = [];
      let after: { kind: 'jti' | 'sid' | 'user' | 'roles'; key: string } | null = null;
      for (let pages = 0; ; pages++) {
        assert.ok(pages < 10, 'paging ends');
        const page = await s.revocations.listLive(T, { after, limit: 4 });
        assert.ok(page.length <= 4);
        seen.push(...page.map((r) => `${r.kind}:${r.key}`));
        if (page.length < 4) break;
        after = { kind: page[3]!.kind, key: page[3]!.key };
      }
      assert.deepEqual(seen, ['jti', 'sid', 'user'].flatMap((k) => keys.map((key) => `${k}:${key}`)));
      assert.equal((await s.revocations.listLive(T)).length, 15, 'without a page: all of them');
    });

    it('listLive leaves out facts expired at now; purge deletes exactly those', async () => {
      await s.revocations.add({ kind: 'jti', key: 'gone', value: '', expiresAt: T - 1 });
      await s.revocations.add({ kind: 'sid', key: 'edge', value: '', expiresAt: T });
      await s.revocations.add({ kind: 'sid', key: 'live', value: '', expiresAt: T + 1 });
      assert.deepEqual((await s.revocations.listLive(T)).map((r) => r.key), ['live']);
      assert.equal((await s.revocations.listLive(T - 1)).length, 2);
      assert.equal(await s.revocations.purge(T), 2);
      assert.equal(await s.revocations.purge(T), 0);
      assert.deepEqual((await s.revocations.listLive(0)).map((r) => r.key), ['live']);
    });

    it('listRecordedSince: the records written (or extended) at or after a moment of its clock, expired ones too', async () => {
      let now = T;
      const timed = await f.create({ clock: () => now });
      extra.push(timed);
      await timed.revocations.add({ kind: 'sid', key: 'early', value: '', expiresAt: T + HOUR });
      now = T + 1000;
      await timed.revocations.add({ kind: 'jti', key: 'late', value: '', expiresAt: T - 1 });
      await timed.revocations.add({ kind: 'user', key: 'u1', value: '1700000000', expiresAt: T + HOUR });
      const keys = async (since: number) => (await timed.revocations.listRecordedSince(since)).map((r) => r.key).sort();
      assert.deepEqual(await keys(T + 1000), ['late', 'u1']);
      assert.deepEqual(await keys(T), ['early', 'late', 'u1']);
      assert.deepEqual(await keys(T + 1001), []);
      // Writing a fact again stamps it anew; the records come back as written, without the stamp.
      now = T + 5000;
      await timed.revocations.add({ kind: 'sid', key: 'early', value: '', expiresAt: T + 2 * HOUR });
      assert.deepEqual(await timed.revocations.listRecordedSince(T + 5000), [{ kind: 'sid', key: 'early', value: '', expiresAt: T + 2 * HOUR }]);
    });
  });

  describe('second factors', () => {
    let uid: string;
    beforeEach(async () => {
      uid = (await s.users.create(user())).id;
    });
    const totp = (over: Partial<{ id: string; userId: string; createdAt: number }> = {}) => ({
      id: randomUUID(), userId: uid, sealedSecret: `v1.key.iv.${randomUUID()}`, createdAt: T, ...over,
    });
    const passkey = (over: Partial<PasskeyRecord> = {}): PasskeyRecord => ({
      id: Buffer.from(randomUUID()).toString('base64url'), userId: uid, publicKey: 'pQECAyYgASFYIA', signCount: 0,
      transports: ['internal', 'hybrid'], deviceType: 'singleDevice', backedUp: false, name: null, createdAt: T, lastUsedAt: null, ...over,
    });

    it('a pending TOTP factor replaces the earlier pending one; confirming activates it once, and only one may be active', async () => {
      const a = await s.factors.addPendingTotp(totp({ createdAt: T }));
      assert.deepEqual(a, { ...totp(), id: a.id, sealedSecret: a.sealedSecret, confirmedAt: null, lastUsedStep: null, lastUsedAt: null });
      const b = await s.factors.addPendingTotp(totp({ createdAt: T + 1 }));
      assert.deepEqual((await s.factors.listTotp(uid)).map((t) => t.id), [b.id]);
      assert.equal(await s.factors.confirmTotp(randomUUID(), b.id, 56_666_666, T + 2), false, 'another user\'s id');
      assert.equal(await s.factors.confirmTotp(uid, b.id, 56_666_666, T + 2), true);
      assert.equal(await s.factors.confirmTotp(uid, b.id, 56_666_667, T + 3), false, 'already active');
      const c = await s.factors.addPendingTotp(totp({ createdAt: T + 4 }));
      assert.deepEqual((await s.factors.listTotp(uid)).map((t) => [t.id, t.confirmedAt, t.lastUsedStep]), [[b.id, T + 2, 56_666_666], [c.id, null, null]]);
      assert.equal(await s.factors.confirmTotp(uid, c.id, 56_666_668, T + 5), false, 'one active factor per user');
    });

    it('a TOTP step is used once: only a later step moves it, and of concurrent uses of one step exactly one wins', async () => {
      const t = await s.factors.addPendingTotp(totp());
      assert.equal(await s.factors.useTotpStep(t.id, 100, T), false, 'not while pending');
      await s.factors.confirmTotp(uid, t.id, 100, T);
      assert.equal(await s.factors.useTotpStep(t.id, 100, T + 1), false, 'the confirming step is used');
      assert.equal(await s.factors.useTotpStep(t.id, 99, T + 1), false);
      const other = f.name === 'memory' ? s : reopen(s)!;
      const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : s).factors.useTotpStep(t.id, 101, T + 2)));
      assert.equal(wins.filter(Boolean).length, 1);
      const [row] = await s.factors.listTotp(uid);
      assert.deepEqual([row?.lastUsedStep, row?.lastUsedAt], [101, T + 2]);
      assert.equal(await s.factors.deleteTotp(randomUUID(), t.id), false, 'only the owner deletes');
      assert.equal(await s.factors.deleteTotp(uid, t.id), true);
      assert.deepEqual(await s.factors.listTotp(uid), []);
    });

    it('a TOTP secret is sealed again only while it still is the one read (compare-and-set)', async () => {
      const t = await s.factors.addPendingTotp(totp());
      assert.equal(await s.factors.resealTotp(t.id, 'not-the-stored-one', 'x'), false);
      assert.equal(await s.factors.resealTotp(t.id, t.sealedSecret, 'sealed-again'), true);
      assert.equal(await s.factors.resealTotp(t.id, t.sealedSecret, 'a-racing-twin'), false, 'the first reseal moved it');
      assert.equal((await s.factors.listTotp(uid))[0]?.sealedSecret, 'sealed-again');
    });

    it('recovery codes: replaced as a set, each used once (also under concurrency), counted', async () => {
      await s.factors.replaceRecoveryCodes(uid, ['h1', 'h2', 'h3'], T);
      assert.equal(await s.factors.countRecoveryCodes(uid), 3);
      assert.equal(await s.factors.useRecoveryCode(uid, 'h2', T + 1), true);
      assert.equal(await s.factors.useRecoveryCode(uid, 'h2', T + 2), false);
      assert.equal(await s.factors.useRecoveryCode(randomUUID(), 'h1', T + 2), false, 'another user\'s code');
      assert.equal(await s.factors.countRecoveryCodes(uid), 2);
      const wins = await Promise.all(Array.from({ length: 10 }, () => s.factors.useRecoveryCode(uid, 'h3', T + 3)));
      assert.equal(wins.filter(Boolean).length, 1);
      await s.factors.replaceRecoveryCodes(uid, ['h4', 'h5'], T + 4);
      assert.equal(await s.factors.useRecoveryCode(uid, 'h1', T + 5), false, 'the old set is void');
      assert.equal(await s.factors.countRecoveryCodes(uid), 2);
      await s.factors.replaceRecoveryCodes(uid, [], T + 6);
      assert.equal(await s.factors.countRecoveryCodes(uid), 0);
    });

    it('recovery codes: a first set is issued only while none is unused, one set of many asked at once', async () => {
      // Two first enrolments at once (a passkey and an authenticator app, two instances) each issue
      // codes; the second set must not undo the first one the user was shown.
      const other = f.name === 'memory' ? s : reopen(s)!;
      const sets = Array.from({ length: 8 }, (_, i) => [`a${i}`, `b${i}`]);
      const issued = await Promise.all(sets.map((h, i) => (i % 2 ? other : s).factors.issueRecoveryCodes(uid, h, T)));
      assert.equal(issued.filter(Boolean).length, 1, `issued: ${issued}`);
      const kept = sets[issued.indexOf(true)]!;
      assert.equal(await s.factors.countRecoveryCodes(uid), 2);
      assert.equal(await s.factors.issueRecoveryCodes(uid, ['c1'], T + 1), false, 'unused codes are left alone');
      for (const h of kept) assert.equal(await s.factors.useRecoveryCode(uid, h, T + 2), true, 'the issued set is the one kept');
      assert.equal(await s.factors.issueRecoveryCodes(uid, ['c1'], T + 3), true, 'all used: a new set');
      assert.equal(await s.factors.useRecoveryCode(uid, 'c1', T + 4), true);
    });

    it('passkeys: every field round-trips, a credential id is registered once, lists are per user, oldest first', async () => {
      const a = passkey({ createdAt: T + 1, name: 'laptop', deviceType: 'multiDevice', backedUp: true, signCount: 4_000_000_000 });
      const b = passkey({ createdAt: T, transports: [] });
      assert.deepEqual(await s.factors.addPasskey(a), a);
      assert.deepEqual(await s.factors.addPasskey(b), b);
      assert.equal(await s.factors.addPasskey({ ...a, userId: (await s.users.create(user())).id }), null, 'the same credential id, for anyone');
      assert.deepEqual(await s.factors.getPasskey(a.id), a);
      assert.equal(await s.factors.getPasskey('unknown'), null);
      assert.deepEqual((await s.factors.listPasskeys(uid)).map((p) => p.id), [b.id, a.id]);
      assert.equal(await s.factors.deletePasskey(randomUUID(), a.id), false);
      assert.equal(await s.factors.deletePasskey(uid, a.id), true);
      assert.deepEqual((await s.factors.listPasskeys(uid)).map((p) => p.id), [b.id]);
    });

    it('a passkey\'s counter moves by compare-and-set: a stale previous value, or a concurrent twin, loses', async () => {
      const p = await s.factors.addPasskey(passkey({ signCount: 5 }));
      assert.equal(await s.factors.usePasskey(p!.id, 4, 9, true, T + 1), false);
      assert.equal(await s.factors.usePasskey(p!.id, 5, 6, true, T + 1), true);
      assert.deepEqual(await s.factors.getPasskey(p!.id), { ...p, signCount: 6, backedUp: true, lastUsedAt: T + 1 });
      const wins = await Promise.all(Array.from({ length: 10 }, (_, i) => s.factors.usePasskey(p!.id, 6, 7 + i, true, T + 2)));
      assert.equal(wins.filter(Boolean).length, 1);
    });

    it('deleteAllForUser, and deleting the user, remove every factor and challenge of theirs only', async () => {
      const other = (await s.users.create(user())).id;
      for (const id of [uid, other]) {
        await s.factors.addPendingTotp(totp({ userId: id }));
        await s.factors.addPasskey(passkey({ userId: id }));
        await s.factors.replaceRecoveryCodes(id, [`code-of-${id}`], T);
        await s.challenges.put({ id: `c-${id}`, kind: 'mfa_token', userId: id, createdAt: T, expiresAt: T + HOUR });
      }
      await s.factors.deleteAllForUser(uid);
      assert.deepEqual([(await s.factors.listTotp(uid)).length, (await s.factors.listPasskeys(uid)).length, await s.factors.countRecoveryCodes(uid)], [0, 0, 0]);
      assert.deepEqual([(await s.factors.listTotp(other)).length, (await s.factors.listPasskeys(other)).length, await s.factors.countRecoveryCodes(other)], [1, 1, 1]);
      await s.users.delete(other);
      assert.deepEqual([(await s.factors.listTotp(other)).length, (await s.factors.listPasskeys(other)).length, await s.factors.countRecoveryCodes(other)], [0, 0, 0]);
      assert.equal(await s.challenges.get(`c-${other}`, 'mfa_token', T), null, 'cascades to challenges');
      assert.ok(await s.challenges.get(`c-${uid}`, 'mfa_token', T));
      assert.equal(await s.challenges.deleteForUser(uid), 1);
      assert.equal(await s.challenges.get(`c-${uid}`, 'mfa_token', T), null);
    });
  });

  describe('challenges', () => {
    it('a challenge is read while live, taken once, and never after its deadline; kinds do not mix', async () => {
      await s.challenges.put({ id: 'abc', kind: 'passkey_login', userId: null, createdAt: T, expiresAt: T + 1000 });
      assert.deepEqual(await s.challenges.get('abc', 'passkey_login', T + 999), { id: 'abc', kind: 'passkey_login', userId: null, createdAt: T, expiresAt: T + 1000 });
      assert.equal(await s.challenges.get('abc', 'passkey_login', T + 1000), null, 'the deadline itself is past');
      assert.equal(await s.challenges.get('abc', 'passkey_register', T), null);
      assert.equal(await s.challenges.take('abc', 'passkey_register', T), null);
      assert.equal((await s.challenges.take('abc', 'passkey_login', T))?.id, 'abc');
      assert.equal(await s.challenges.take('abc', 'passkey_login', T), null, 'once');
      await s.challenges.put({ id: 'late', kind: 'passkey_login', userId: null, createdAt: T, expiresAt: T + 1000 });
      assert.equal(await s.challenges.take('late', 'passkey_login', T + 1000), null, 'expired: taken away, not handed out');
      assert.equal(await s.challenges.take('late', 'passkey_login', T), null);
    });

    it('of concurrent takes of one challenge exactly one gets it, across handles too', async () => {
      await s.challenges.put({ id: 'race', kind: 'passkey_login', userId: null, createdAt: T, expiresAt: T + HOUR });
      const other = f.name === 'memory' ? s : reopen(s)!;
      const got = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? other : s).challenges.take('race', 'passkey_login', T)));
      assert.equal(got.filter((c) => c !== null).length, 1);
    });

    it('purge deletes the challenges past their deadline only', async () => {
      for (const [id, expiresAt] of [['a', T - 1], ['b', T], ['c', T + 1]] as const) {
        await s.challenges.put({ id, kind: 'passkey_login', userId: null, createdAt: T - HOUR, expiresAt });
      }
      assert.equal(await s.challenges.purge(T), 2);
      assert.ok(await s.challenges.get('c', 'passkey_login', T));
      assert.equal(await s.challenges.purge(T), 0);
    });
  });

  describe('lifecycle', () => {
    it('migrate again is a no-op that keeps the data', async () => {
      const u = await s.users.create(user());
      await s.migrate();
      await s.migrate();
      assert.deepEqual(await s.users.findById(u.id), u);
      assert.equal(await s.users.count(), 1);
    });

    it('several instances migrating a new database at once apply each migration once', { skip: f.name === 'memory' && 'one process only' }, async () => {
      const fresh = await f.create({ migrate: false });
      extra.push(fresh);
      const handles = [fresh, reopen(fresh)!, reopen(fresh)!, reopen(fresh)!];
      await Promise.all(handles.map((h) => h.migrate()));
      const u = await handles[1]!.users.create(user());
      assert.deepEqual(await handles[2]!.users.findById(u.id), u);
      assert.ok(MIGRATIONS.length >= 1);
    });

    it('data persists across close and reopen', { skip: f.name === 'memory' && 'nothing to reopen' }, async () => {
      const u = await s.users.create(user());
      const x = await s.sessions.create(session(u.id));
      await s.revocations.add({ kind: 'sid', key: x.id, value: '', expiresAt: T + HOUR });
      const again = reopen(s)!;
      await s.close();
      await again.migrate();
      assert.deepEqual(await again.users.findById(u.id), u);
      assert.deepEqual(await again.sessions.get(x.id), x);
      assert.deepEqual(await again.revocations.listLive(T), [{ kind: 'sid', key: x.id, value: '', expiresAt: T + HOUR }]);
    });

    it('ping answers while open and fails after close; close twice is fine', async () => {
      await s.ping();
      await s.close();
      await assert.rejects(s.ping());
      await s.close();
    });
  });
}

const factories = await storageFactories();
for (const f of factories) {
  describe(`storage conformance: ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => conformance(f));
}

describe('openStorage', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'warden-open-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('picks the adapter from the URL', () => {
    assert.deepEqual(parseDatabaseUrl('memory:'), { kind: 'memory' });
    assert.deepEqual(parseDatabaseUrl('sqlite:./data/w.db'), { kind: 'sqlite', path: './data/w.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite:/abs/w.db'), { kind: 'sqlite', path: '/abs/w.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite:///abs/w.db'), { kind: 'sqlite', path: '/abs/w.db' });
    assert.deepEqual(parseDatabaseUrl('sqlite://rel/w.db'), { kind: 'sqlite', path: 'rel/w.db' });
    assert.deepEqual(parseDatabaseUrl('file:///abs/my%20w.db'), { kind: 'sqlite', path: '/abs/my w.db' });
    assert.deepEqual(parseDatabaseUrl('file:rel.db'), { kind: 'sqlite', path: 'rel.db' });
    assert.deepEqual(parseDatabaseUrl('postgres://u@h:5432/d'), { kind: 'postgres', url: 'postgres://u@h:5432/d' });
    assert.deepEqual(parseDatabaseUrl('postgresql://u@h/d'), { kind: 'postgres', url: 'postgresql://u@h/d' });
  });

  it('an unknown scheme names DATABASE_URL and the accepted forms, without the password', async () => {
    const err = await rejection(openStorage('mysql://me:hunter2@db/x'));
    assert.ok(err instanceof Error);
    assert.match(err.message, /DATABASE_URL/);
    for (const form of ['sqlite:', 'postgres://', 'memory:']) assert.ok(err.message.includes(form), err.message);
    assert.ok(!err.message.includes('hunter2'));
    assert.throws(() => parseDatabaseUrl('sqlite:'), /DATABASE_URL/);
  });

  it('opens migrated storages: memory, and sqlite in a folder it creates, via each URL form', async () => {
    const mem = await openStorage('memory:');
    assert.equal(mem.kind, 'memory');
    await mem.users.create(user());
    await mem.close();
    const urls = [`sqlite:${join(dir, 'a', 'w.db')}`, `sqlite://${join(dir, 'b', 'w.db')}`, pathToFileURL(join(dir, 'c', 'w.db')).href];
    for (const url of urls) {
      const db = await openStorage(url);
      assert.equal(db.kind, 'sqlite');
      await db.users.create(user());
      assert.equal(await db.users.count(), 1);
      await db.close();
    }
    for (const sub of ['a', 'b', 'c']) assert.ok(existsSync(join(dir, sub, 'w.db')));
  });
});
