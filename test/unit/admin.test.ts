// User administration, directly: role overrides take effect on the next check; deactivation,
// deletion and an administrator's password reset refuse every token of the user.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_LEEWAY_SECONDS } from '../../src/accounts/retention.js';
import { ACCESS_TTL, REFRESH_TTL, accountsFixture, codeOf } from '../helpers/accounts.js';

describe('role overrides', () => {
  it('a role change overrides the roles of the user\'s live tokens from the next check', async () => {
    const f = accountsFixture();
    const u = await f.addUser('deputy', ['admin']);
    const pair = await f.signIn('deputy');
    assert.deepEqual(f.rolesOf(pair.access.token), ['admin']);
    const at = f.clock();
    const updated = await f.accounts.admin.update(u.id, { roles: ['user'] });
    assert.deepEqual(updated.roles, ['user']);
    assert.deepEqual(f.rolesOf(pair.access.token), ['user']);
    assert.equal(f.guard(pair.access.token), 'ok', 'an override is not a revocation: the token still passes');
    // Kept until every access token with the old roles has expired (then the claim is right again).
    const [record] = await f.storage.revocations.listLive(at);
    assert.deepEqual(record, { kind: 'roles', key: u.id, value: '["user"]', expiresAt: at + (ACCESS_TTL + 2 * MAX_LEEWAY_SECONDS) * 1000 });
  });

  it('tokens issued after the change carry the new roles; other users are unaffected', async () => {
    const f = accountsFixture();
    const u = await f.addUser('deputy', ['admin']);
    await f.addUser('other', ['admin']);
    const other = await f.signIn('other');
    await f.accounts.admin.update(u.id, { roles: ['auditor', 'user'] });
    const again = await f.signIn('deputy');
    assert.deepEqual(again.access.claims.roles, ['auditor', 'user']);
    assert.deepEqual(f.rolesOf(other.access.token), ['admin']);
  });

  it('the same roles in another order write no override', async () => {
    const f = accountsFixture();
    const u = await f.addUser('deputy', ['admin', 'user']);
    await f.accounts.admin.update(u.id, { roles: ['user', 'admin'] });
    assert.equal(f.index.size, 0);
    assert.deepEqual(await f.storage.revocations.listLive(f.clock()), []);
  });
});

describe('deactivation, deletion, password reset', () => {
  async function userWithTokens() {
    const f = accountsFixture();
    const u = await f.addUser('deputy');
    const a = await f.signIn('deputy');
    const b = await f.signIn('deputy');
    const { createTokenIssuer, keyRingFromSecret } = await import('@warden/toolkit');
    const mint = createTokenIssuer({
      keys: keyRingFromSecret('unit-tier-secret-that-is-at-least-32-bytes!', 'HS256'), accessExpiresIn: ACCESS_TTL, refreshExpiresIn: 3600, clock: f.clock,
    });
    const sessionless = mint.issue('access', u.id).token;
    return { f, u, a, b, sessionless };
  }

  it('deactivation refuses every token: both sessions\' and the sessionless one; sign-in says inactive', async () => {
    const { f, u, a, b, sessionless } = await userWithTokens();
    assert.equal(f.guard(sessionless), 'ok');
    const at = f.clock();
    const off = await f.accounts.admin.update(u.id, { is_active: false });
    assert.equal(off.isActive, false);
    for (const t of [a.access.token, b.access.token, sessionless]) assert.equal(f.guard(t), 'ERR_JWT_REVOKED');
    for (const p of [a, b]) assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(p.refresh.token))), 'ERR_REFRESH_INVALID');
    assert.equal(await codeOf(f.signIn('deputy')), 'ERR_USER_INACTIVE');
    // The user rule outlives any token issued before it.
    const user = (await f.storage.revocations.listLive(at)).find((r) => r.kind === 'user');
    assert.deepEqual(user, { kind: 'user', key: u.id, value: String(Math.floor(at / 1000)), expiresAt: at + (REFRESH_TTL + 2 * MAX_LEEWAY_SECONDS) * 1000 });

    f.clock.advance(1000);
    await f.accounts.admin.update(u.id, { is_active: true });
    assert.equal(f.guard((await f.signIn('deputy')).access.token), 'ok', 'reactivated: a new sign-in works');
  });

  it('deactivating an already inactive user writes nothing more', async () => {
    const f = accountsFixture();
    const u = await f.addUser('sleepy', ['user'], false);
    await f.accounts.admin.update(u.id, { is_active: false });
    assert.equal(f.index.size, 0);
  });

  it('an administrator\'s password reset refuses every token', async () => {
    const { f, u, a, sessionless } = await userWithTokens();
    await f.accounts.admin.update(u.id, { password: 'reset-password-1' });
    assert.equal(f.guard(a.access.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(sessionless), 'ERR_JWT_REVOKED');
    assert.ok(await f.accounts.credentials.signIn('deputy', 'reset-password-1', f.meta));
  });

  it('deletion refuses every token and the user is gone', async () => {
    const { f, u, a, b, sessionless } = await userWithTokens();
    await f.accounts.admin.delete(u.id);
    for (const t of [a.access.token, b.access.token, sessionless]) assert.equal(f.guard(t), 'ERR_JWT_REVOKED');
    assert.equal(await codeOf(f.accounts.admin.get(u.id)), 'ERR_USER_NOT_FOUND');
    assert.equal(await codeOf(f.accounts.admin.delete(u.id)), 'ERR_USER_NOT_FOUND');
  });
});

describe('reading and changing users', () => {
  it('get finds inactive users too; unknown ids and non-UUIDs are not found', async () => {
    const f = accountsFixture();
    const u = await f.addUser('sleepy', ['user'], false);
    assert.equal((await f.accounts.admin.get(u.id)).username, 'sleepy');
    assert.equal(await codeOf(f.accounts.admin.get('00000000-0000-4000-8000-00000000ffff')), 'ERR_USER_NOT_FOUND');
    assert.equal(await codeOf(f.accounts.admin.get("' OR 1=1 --")), 'ERR_USER_NOT_FOUND');
  });

  it('a field that cannot be changed, a bad value or a taken email changes nothing', async () => {
    const f = accountsFixture();
    const u = await f.addUser('carol');
    await f.addUser('dave');
    assert.equal(await codeOf(f.accounts.admin.update(u.id, { password_hash: 'x' })), 'ERR_VALIDATION');
    assert.equal(await codeOf(f.accounts.admin.update(u.id, { roles: 'admin' })), 'ERR_VALIDATION');
    assert.equal(await codeOf(f.accounts.admin.update(u.id, { email: 'dave@example.com' })), 'ERR_CONFLICT');
    const now = await f.accounts.admin.get(u.id);
    assert.deepEqual([now.email, now.roles], ['carol@example.com', ['user']]);
    assert.equal(f.index.size, 0);
  });

  it('lists with filters and pages', async () => {
    const f = accountsFixture();
    for (const [name, roles] of [['a1', ['user']], ['a2', ['auditor']], ['a3', ['auditor']]] as const) {
      f.clock.advance(1000);
      await f.addUser(name, [...roles]);
    }
    const { users, total } = await f.accounts.admin.list({ limit: 1, offset: 1, role: 'auditor' });
    assert.equal(total, 2);
    assert.deepEqual(users.map((x) => x.username), ['a3']);
  });
});
