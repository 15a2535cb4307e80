// Rehash on sign-in: a hash made otherwise than today's settings is replaced after a successful
// sign-in, by a compare-and-set on the hash that was checked, so a password changed meanwhile is
// never overwritten and concurrent sign-ins leave one valid hash.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accountsFixture, codeOf, PASSWORD } from '../helpers/accounts.js';

const OTHER = 'another-password-456';

async function legacyUser(f: ReturnType<typeof accountsFixture>) {
  const u = await f.addUser('olga');
  await f.storage.users.update(u.id, { passwordHash: 'legacy-hash' });
  const verify = f.hasher.verify;
  f.hasher.verify = async (h, p) => (h === 'legacy-hash' ? p === PASSWORD : verify(h, p));
  return u;
}

describe('rehash on sign-in', () => {
  it('a password changed between the check and the rehash stands', async () => {
    const f = accountsFixture();
    const u = await legacyUser(f);
    const hash = f.hasher.hash;
    // The rehash is computed while an administrator sets another password.
    f.hasher.hash = async (p) => {
      await f.storage.users.update(u.id, { passwordHash: await hash(OTHER) });
      return hash(p);
    };
    // And the sign-in with the replaced password opens no session (the change ended them all).
    assert.equal(await codeOf(f.accounts.credentials.signIn('olga', PASSWORD, f.meta)), 'ERR_BAD_CREDENTIALS');
    f.hasher.hash = hash;
    assert.equal((await f.storage.users.findById(u.id))!.passwordHash, await hash(OTHER));
    assert.equal((await f.storage.sessions.listActive(u.id, f.clock(), { limit: 10, offset: 0 })).total, 0);
  });

  it('concurrent sign-ins all succeed; exactly one replaces the hash', async () => {
    const f = accountsFixture();
    const u = await legacyUser(f);
    const results: boolean[] = [];
    const replace = f.storage.users.replacePasswordHash.bind(f.storage.users);
    f.storage.users.replacePasswordHash = async (...a) => {
      const r = await replace(...a);
      results.push(r);
      return r;
    };
    const pairs = await Promise.all(Array.from({ length: 5 }, () => f.accounts.credentials.signIn('olga', PASSWORD, f.meta)));
    assert.equal(pairs.length, 5);
    assert.deepEqual(results.filter(Boolean).length, 1, JSON.stringify(results));
    assert.equal((await f.storage.users.findById(u.id))!.passwordHash, await f.hasher.hash(PASSWORD));
  });

  it('a wrong password leaves a legacy hash as it is', async () => {
    const f = accountsFixture();
    const u = await legacyUser(f);
    await assert.rejects(f.accounts.credentials.signIn('olga', OTHER, f.meta), { code: 'ERR_BAD_CREDENTIALS' });
    assert.equal((await f.storage.users.findById(u.id))!.passwordHash, 'legacy-hash');
  });
});
