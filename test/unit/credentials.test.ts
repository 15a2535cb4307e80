// A person's own account, directly: who may take which roles at sign-up (the first-user
// bootstrap), sign-in, the profile, password change and the configured administrator.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CONFIGURED_ADMIN } from '../../src/accounts/index.js';
import { PASSWORD, accountsFixture, codeOf, tokensOf } from '../helpers/accounts.js';

const asking = (name: string, roles?: string[]) => ({ username: name, email: `${name}@example.com`, password: PASSWORD, roles });

describe('sign-up and the first-user bootstrap', () => {
  it('the first account may take any roles; after it, elevated roles need an administrator', async () => {
    const f = accountsFixture();
    const root = await f.accounts.credentials.signUp(asking('root', ['admin']), null);
    assert.deepEqual(root.roles, ['admin']);
    assert.equal(await codeOf(f.accounts.credentials.signUp(asking('mallory', ['admin']), null)), 'ERR_ROLES_FORBIDDEN');
    const plain = await f.accounts.credentials.signUp(asking('plain'), null);
    assert.deepEqual(plain.roles, ['user']);
    assert.equal(await codeOf(f.accounts.credentials.signUp(asking('mallory', ['admin']), f.asActor(plain))), 'ERR_ROLES_FORBIDDEN');
    assert.equal(await codeOf(f.accounts.credentials.signUp({ ...asking('mallory'), is_active: false }, null)), 'ERR_ROLES_FORBIDDEN');
    assert.equal(await f.storage.users.findByLogin('mallory'), null, 'a refused sign-up creates nothing');
    const deputy = await f.accounts.credentials.signUp(asking('deputy', ['admin', 'auditor']), f.asActor(root));
    assert.deepEqual(deputy.roles, ['admin', 'auditor']);
    assert.equal(await f.storage.users.count(), 3);
  });

  it('FIRST_SIGNUP_ADMIN off (production\'s default): not even the first account may ask for roles; the system still grants them', async () => {
    const f = accountsFixture({ firstSignUpAdmin: false });
    assert.equal(await codeOf(f.accounts.credentials.signUp(asking('claimer', ['admin']), null)), 'ERR_ROLES_FORBIDDEN');
    assert.equal(await f.storage.users.count(), 0, 'a refused sign-up creates nothing');
    const plain = await f.accounts.credentials.signUp(asking('plain'), null);
    assert.deepEqual(plain.roles, ['user']);
    const root = await f.accounts.credentials.ensureAdmin('root', 'root@example.com', PASSWORD);
    assert.deepEqual(root?.roles, ['admin']);
  });

  it('SIGNUP_ENABLED off: anyone but an administrator or the system is ERR_SIGNUP_DISABLED, the first account too', async () => {
    const f = accountsFixture({ signUpOpen: false });
    assert.equal(await codeOf(f.accounts.credentials.signUp(asking('first', ['admin']), null)), 'ERR_SIGNUP_DISABLED');
    assert.equal(await codeOf(f.accounts.credentials.signUp({ username: '', email: 'nope', password: '' }, null)), 'ERR_SIGNUP_DISABLED');
    assert.equal(await f.storage.users.count(), 0, 'a refused sign-up creates nothing');
    const root = await f.accounts.credentials.ensureAdmin('root', 'root@example.com', PASSWORD);
    assert.ok(root);
    const cli = await f.accounts.credentials.signUp(asking('operator-made'), { kind: 'system', task: 'warden users create', operator: true });
    assert.deepEqual(cli.roles, ['user']);
    const member = await f.accounts.credentials.signUp(asking('member'), f.asActor(root));
    assert.equal(await codeOf(f.accounts.credentials.signUp(asking('friend'), f.asActor(member))), 'ERR_SIGNUP_DISABLED');
    assert.equal(await f.storage.users.count(), 3);
  });

  it('of N concurrent first sign-ups asking for admin, exactly one gets it', async () => {
    const f = accountsFixture();
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => f.accounts.credentials.signUp(asking(`racer${i}`, ['admin']), null)));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(results.every((r) => r.status === 'fulfilled' || (r.reason as { code: string }).code === 'ERR_ROLES_FORBIDDEN'));
    assert.equal(await f.storage.users.count(), 1);
  });

  it('a taken username or email is ERR_CONFLICT naming the field', async () => {
    const f = accountsFixture();
    await f.accounts.credentials.signUp(asking('alice'), null);
    const e1 = await f.accounts.credentials.signUp({ ...asking('ALICE'), email: 'other@example.com' }, null).catch((e: unknown) => e);
    assert.deepEqual([(e1 as { code: string }).code, (e1 as { details: unknown }).details], ['ERR_CONFLICT', { field: 'username' }]);
    const e2 = await f.accounts.credentials.signUp({ ...asking('alice2'), email: 'Alice@Example.com' }, null).catch((e: unknown) => e);
    assert.deepEqual((e2 as { details: unknown }).details, { field: 'email' });
    // Both taken: the username is named, as it always was (seed 000's "Username already registered").
    const e3 = await f.accounts.credentials.signUp(asking('alice'), null).catch((e: unknown) => e);
    assert.deepEqual((e3 as { details: unknown }).details, { field: 'username' });
  });

  it('a username with an accent or in another script is refused saying which letters are taken', async () => {
    // "letters" alone told José that é, a letter, was allowed.
    const f = accountsFixture();
    for (const name of ['josé', 'محمد', '田中太郎']) {
      const e = await f.accounts.credentials.signUp({ ...asking('x'), username: name }, null).catch((err: unknown) => err);
      assert.equal((e as { code: string }).code, 'ERR_VALIDATION');
      assert.match((e as Error).message, /^username: must be 3 to 64 letters A–Z or a–z \(no accents or other scripts\)/, name);
    }
  });

  it('the configured administrator is created once, by the system actor', async () => {
    const f = accountsFixture();
    await f.accounts.credentials.signUp(asking('someone'), null); // not the first account: only a privileged actor may grant admin
    const admin = await f.accounts.credentials.ensureAdmin('boss', 'boss@example.com', PASSWORD);
    assert.deepEqual(admin!.roles, ['admin']);
    assert.equal(await f.accounts.credentials.ensureAdmin('boss', 'other@example.com', PASSWORD), null);
    assert.equal(await f.accounts.credentials.ensureAdmin('other', 'BOSS@example.com', PASSWORD), null);
    assert.equal(await f.storage.users.count(), 2);
    assert.equal(CONFIGURED_ADMIN.kind, 'system');
    // The system actor may grant what an administrator may.
    const viaSystem = await f.accounts.credentials.signUp(asking('ops', ['admin']), CONFIGURED_ADMIN);
    assert.deepEqual(viaSystem.roles, ['admin']);
  });
});

describe('sign-in', () => {
  it('opens a session with a fresh access token carrying roles and the session id', async () => {
    const f = accountsFixture();
    const u = await f.addUser('carol', ['user', 'auditor']);
    const pair = tokensOf(await f.accounts.credentials.signIn(' carol ', PASSWORD, f.meta));
    assert.equal(pair.user.id, u.id);
    assert.equal(pair.access.claims.fresh, true);
    assert.deepEqual(pair.access.claims.roles, ['user', 'auditor']);
    assert.equal(pair.access.claims.sid, pair.session.id);
    assert.equal(pair.refresh.claims.sid, pair.session.id);
    assert.equal(pair.session.refreshJti, pair.refresh.claims.jti);
    assert.deepEqual([pair.session.ip, pair.session.userAgent, pair.session.createdAt], ['192.0.2.1', 'unit', f.clock()]);
    assert.equal(tokensOf(await f.accounts.credentials.signIn('carol@example.com', PASSWORD, f.meta)).user.id, u.id, 'the email works as the login');
  });

  it('a wrong password and an unknown user fail alike, and both pay for a hash check', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    assert.equal(await codeOf(f.accounts.credentials.signIn('carol', 'wrong-password', f.meta)), 'ERR_BAD_CREDENTIALS');
    assert.equal(await codeOf(f.accounts.credentials.signIn('nobody', PASSWORD, f.meta)), 'ERR_BAD_CREDENTIALS');
    assert.equal(f.hasher.verified.length, 2);
    assert.equal(f.hasher.verified[1], null, 'an unknown user is checked against no hash (the hasher spends the time)');
  });

  it('missing, over-long or NUL-bearing credentials are refused before any lookup', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    assert.equal(await codeOf(f.accounts.credentials.signIn('', PASSWORD, f.meta)), 'ERR_MISSING_CREDENTIALS');
    assert.equal(await codeOf(f.accounts.credentials.signIn('carol', undefined, f.meta)), 'ERR_MISSING_CREDENTIALS');
    assert.equal(await codeOf(f.accounts.credentials.signIn('c'.repeat(321), PASSWORD, f.meta)), 'ERR_BAD_CREDENTIALS');
    assert.equal(await codeOf(f.accounts.credentials.signIn('carol', 'p'.repeat(1025), f.meta)), 'ERR_BAD_CREDENTIALS');
    assert.equal(await codeOf(f.accounts.credentials.signIn('car\u0000ol', PASSWORD, f.meta)), 'ERR_BAD_CREDENTIALS');
    assert.equal(f.hasher.verified.length, 0);
  });

  it('an inactive user with the right password gets ERR_USER_INACTIVE and no session', async () => {
    const f = accountsFixture();
    const u = await f.addUser('sleepy', ['user'], false);
    assert.equal(await codeOf(f.accounts.credentials.signIn('sleepy', PASSWORD, f.meta)), 'ERR_USER_INACTIVE');
    assert.equal((await f.storage.sessions.listActive(u.id, f.clock(), { limit: 10, offset: 0 })).total, 0);
  });

  it('a hash made with older settings is replaced at the next sign-in', async () => {
    const f = accountsFixture();
    const u = await f.addUser('carol');
    // A hash the hasher says needs rehashing, that still verifies: wrap verify to accept it.
    await f.storage.users.update(u.id, { passwordHash: 'legacy-hash' });
    const verify = f.hasher.verify;
    f.hasher.verify = async (h, p) => (h === 'legacy-hash' ? p === PASSWORD : verify(h, p));
    await f.accounts.credentials.signIn('carol', PASSWORD, f.meta);
    assert.equal((await f.storage.users.findById(u.id))!.passwordHash, await f.hasher.hash(PASSWORD));
  });
});

describe('profile and password change', () => {
  it('the profile is the token\'s user: 404 when gone or not a UUID, 400 when inactive', async () => {
    const f = accountsFixture();
    const u = await f.addUser('carol');
    assert.equal((await f.accounts.credentials.profile(u.id)).username, 'carol');
    assert.equal(await codeOf(f.accounts.credentials.profile('00000000-0000-4000-8000-00000000ffff')), 'ERR_USER_NOT_FOUND');
    assert.equal(await codeOf(f.accounts.credentials.profile('carol')), 'ERR_USER_NOT_FOUND');
    await f.storage.users.update(u.id, { isActive: false });
    assert.equal(await codeOf(f.accounts.credentials.profile(u.id)), 'ERR_USER_INACTIVE');
  });

  it('needs the current password, keeps this session and ends the others', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const here = await f.signIn('carol');
    const there = await f.signIn('carol');
    const claims = f.claimsOf(here.access.token);
    assert.equal(await codeOf(f.accounts.credentials.changePassword(claims, 'nope-nope', 'new-password-456')), 'ERR_BAD_CREDENTIALS');
    assert.equal(await codeOf(f.accounts.credentials.changePassword(claims, '', 'new-password-456')), 'ERR_VALIDATION');
    assert.equal(await codeOf(f.accounts.credentials.changePassword(claims, PASSWORD, 'short')), 'ERR_VALIDATION');
    assert.equal(f.guard(there.access.token), 'ok', 'refused attempts change nothing');

    await f.accounts.credentials.changePassword(claims, PASSWORD, 'new-password-456');
    assert.equal(f.guard(here.access.token), 'ok');
    assert.equal(f.guard(there.access.token), 'ERR_JWT_REVOKED');
    assert.equal(await codeOf(f.accounts.sessions.refresh(f.claimsOf(there.refresh.token))), 'ERR_REFRESH_INVALID');
    assert.equal(await codeOf(f.signIn('carol')), 'ERR_BAD_CREDENTIALS');
    assert.ok(await f.accounts.credentials.signIn('carol', 'new-password-456', f.meta));
  });
});

describe('password length', () => {
  it('counts the password as it is hashed (NFKC): eight code points that normalise to four are too short', async () => {
    const f = accountsFixture();
    // "e" and a combining acute accent, four times: 8 code points as typed, "éééé" as hashed.
    const combining = 'e\u0301'.repeat(4);
    assert.equal([...combining].length, 8);
    const refused = await codeOf(f.accounts.credentials.signUp({ ...asking('dora'), password: combining }, null));
    assert.equal(refused, 'ERR_VALIDATION');
    assert.equal(await f.storage.users.findByLogin('dora'), null, 'nothing was written');
    // Eight that stay eight are taken, combining marks or not; a ligature that NFKC splits in two counts twice.
    await f.accounts.credentials.signUp({ ...asking('erin'), password: 'e\u0301'.repeat(8) }, null);
    await f.accounts.credentials.signUp({ ...asking('fred'), password: '\ufb00'.repeat(4) }, null);
  });
});

describe('own profile', () => {
  it('a user changes their full name and nothing else; a refusal changes nothing', async () => {
    const f = accountsFixture();
    const u = await f.accounts.credentials.signUp({ ...asking('nina'), full_name: 'Nina' }, null);
    const changed = await f.accounts.credentials.updateProfile(u.id, { full_name: '  Nina Simone ' });
    assert.equal(changed.fullName, 'Nina Simone');
    assert.equal((await f.accounts.credentials.updateProfile(u.id, { full_name: '' })).fullName, null);
    for (const input of [{ roles: ['admin'] }, { full_name: 'x', email: 'other@example.com' }, {}, { full_name: 'y'.repeat(201) }, { full_name: 5 }]) {
      assert.equal(await codeOf(f.accounts.credentials.updateProfile(u.id, input)), 'ERR_VALIDATION', JSON.stringify(input).slice(0, 40));
    }
    const after = (await f.storage.users.findById(u.id))!;
    assert.deepEqual([after.fullName, after.roles, after.email], [null, ['user'], 'nina@example.com']);
  });

  it('an inactive or deleted user cannot change theirs', async () => {
    const f = accountsFixture();
    const u = await f.accounts.credentials.signUp(asking('gone'), null);
    await f.storage.users.update(u.id, { isActive: false });
    assert.equal(await codeOf(f.accounts.credentials.updateProfile(u.id, { full_name: 'G' })), 'ERR_USER_INACTIVE');
    await f.storage.users.delete(u.id);
    assert.equal(await codeOf(f.accounts.credentials.updateProfile(u.id, { full_name: 'G' })), 'ERR_USER_NOT_FOUND');
  });
});
