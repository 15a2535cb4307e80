// sessions.create with `spends` (the exchange of another application's refresh token,
// LEGACY_REFRESH_TOKENS) on every storage adapter: the token's 'jti' record is added with the session
// only if absent; a token already recorded, or a user no longer as checked, writes nothing at all.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, after, beforeEach, describe, it } from 'node:test';
import { uuidv7 } from '../src/ids/uuidv7.js';
import { jtiRevocation } from '../src/revocation/records.js';
import { TokenSpent, UserChanged, type NewEvent, type NewSession, type NewUser, type Storage } from '../src/storage/index.js';
import { storageFactories, type StorageFactory } from './helpers/storage.js';

const T = 1_700_000_000_000;
const HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g';

const user = (): NewUser => {
  const id = randomUUID();
  return { id, username: `u${id.slice(0, 8)}`, email: `${id.slice(0, 8)}@example.com`, fullName: null, roles: ['user'], isActive: true, passwordHash: HASH, createdAt: T };
};
const session = (userId: string): NewSession => ({
  id: uuidv7(T), userId, refreshJti: randomUUID(), createdAt: T, lastUsedAt: T, expiresAt: T + 3_600_000, idleExpiresAt: T + 3_600_000, userAgent: null, ip: null,
});
const migrated = (userId: string, sessionId: string): NewEvent => ({
  id: uuidv7(T), time: T, type: 'session.migrated', outcome: 'success', actorId: userId, userId, sessionId, ip: null, userAgent: null, details: { legacy_id: '42' }, deliverTo: [],
});

function spends(f: StorageFactory): void {
  let s: Storage;
  beforeEach(async () => {
    s = await f.create();
  });
  afterEach(() => s.close());
  after(() => f.cleanup());

  const recorded = async (jti: string) => (await s.revocations.listLive(T)).filter((r) => r.kind === 'jti' && r.key === jti);
  const eventsOf = async (userId: string) => (await s.events.list({ limit: 100 })).filter((e) => e.userId === userId && e.type === 'session.migrated');

  it('the first create adds the token\'s record with the session and its event; a second one with the same token writes nothing (TokenSpent)', async () => {
    const u = await s.users.create(user());
    const jti = randomUUID();
    const spent = jtiRevocation(jti, T + 3_600_000);
    const first = session(u.id);
    await s.sessions.create(first, [migrated(u.id, first.id)], { passwordHashWas: HASH, spends: spent });
    assert.equal((await s.sessions.get(first.id))?.userId, u.id);
    assert.equal((await recorded(jti)).length, 1);
    const second = session(u.id);
    assert.ok(await s.sessions.create(second, [migrated(u.id, second.id)], { passwordHashWas: HASH, spends: spent }).then(() => false, (e) => e instanceof TokenSpent));
    assert.equal(await s.sessions.get(second.id), null);
    assert.equal((await eventsOf(u.id)).length, 1);
  });

  it('a token whose jti was revoked before is refused (TokenSpent), and nothing is written', async () => {
    const u = await s.users.create(user());
    const jti = randomUUID();
    await s.revocations.add(jtiRevocation(jti, T + 3_600_000));
    const one = session(u.id);
    assert.ok(await s.sessions.create(one, [migrated(u.id, one.id)], { passwordHashWas: HASH, spends: jtiRevocation(jti, T + 3_600_000) }).then(() => false, (e) => e instanceof TokenSpent));
    assert.equal(await s.sessions.get(one.id), null);
    assert.equal((await eventsOf(u.id)).length, 0);
  });

  it('a user no longer as checked (deactivated): UserChanged, and the token stays unspent', async () => {
    const u = await s.users.create({ ...user(), isActive: false });
    const jti = randomUUID();
    const one = session(u.id);
    assert.ok(await s.sessions.create(one, [migrated(u.id, one.id)], { passwordHashWas: HASH, spends: jtiRevocation(jti, T + 3_600_000) }).then(() => false, (e) => e instanceof UserChanged));
    assert.equal(await s.sessions.get(one.id), null);
    assert.deepEqual(await recorded(jti), []);
    assert.equal((await eventsOf(u.id)).length, 0);
  });
}

for (const f of await storageFactories()) {
  describe(`sessions.create spends a token once: ${f.name}`, f.skip !== undefined ? { skip: f.skip } : {}, () => spends(f));
}
