// The account rules that work through mail, over memory storage, a fake hasher, a real outbox
// worker with a capturing transport, and a movable clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Storage } from '../../src/storage/types.js';
import { accountsFixture, codeOf, PASSWORD, tokensOf } from '../helpers/accounts.js';
import { mailRig, tokenOf } from '../helpers/mail.js';
import { codeAt, secretOf } from '../helpers/totp.js';

function setup(o: Parameters<typeof mailRig>[0] = {}) {
  const mail = mailRig(o);
  const f = accountsFixture({ email: mail.options });
  const email = f.accounts.email!;
  const sent = (to: string, subject: string) => mail.transport.sent.filter((m) => m.to === to && m.subject === subject);
  return { ...f, mail, email, sent };
}

/** Every call the forgot path makes on the storage, in order, by store and method. */
function recording(storage: Storage, calls: string[]): void {
  for (const store of ['users', 'sessions', 'emailTokens', 'outbox', 'devices'] as const) {
    const target = storage[store] as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const [name, fn] of Object.entries(target)) target[name] = (...a: unknown[]) => (calls.push(`${store}.${name}`), fn(...a));
  }
}

describe('password recovery', () => {
  it('forgot does the same storage work for a known and an unknown address (nothing at all about the account)', async () => {
    const { storage, addUser, email, mail } = setup();
    await addUser('ann');
    await mail.outbox!.stop(); // only the request's own work is recorded, not the worker's
    const known: string[] = [];
    const unknown: string[] = [];
    const calls: string[] = [];
    recording(storage, calls);
    await email.recovery.forgot('ann@example.com', '192.0.2.1');
    known.push(...calls.splice(0));
    await email.recovery.forgot('nobody@example.com', '192.0.2.1');
    unknown.push(...calls.splice(0));
    assert.deepEqual(known, ['outbox.add']);
    assert.deepEqual(unknown, known);
  });

  it('the worker mails a token to a known active account, and drops the mail for an unknown or inactive one', async () => {
    const { addUser, email, mail, storage, sent } = setup();
    await addUser('ann');
    await addUser('off', ['user'], false);
    for (const a of ['ann@example.com', 'nobody@example.com', 'off@example.com']) await email.recovery.forgot(a, null);
    await mail.flush();
    assert.equal(mail.transport.sent.length, 1);
    const m = sent('ann@example.com', 'Reset your password')[0]!;
    assert.match(m.text, /https:\/\/app\.test\/reset\?token=[\w-]{43}/);
    assert.match(m.text, /within 30 minutes/);
    // Only a hash of the token is stored.
    const token = tokenOf(m);
    assert.equal(await storage.emailTokens.find(token, 'reset'), null);
  });

  it('reset: sets the password, refuses every token of the user, verifies the address, sends a notice', async () => {
    const { addUser, email, mail, signIn, guard, accounts, storage, sent } = setup();
    const ann = await addUser('ann');
    const a = await signIn('ann');
    const b = await signIn('ann', { userAgent: 'other', ip: '198.51.100.9' });
    await email.recovery.forgot('ann@example.com', null);
    await mail.flush();
    await email.recovery.reset(tokenOf(sent('ann@example.com', 'Reset your password')[0]!), 'new-password-1');
    for (const t of [a.access.token, b.access.token]) assert.equal(guard(t), 'ERR_JWT_REVOKED');
    assert.equal(await codeOf(accounts.sessions.refresh(a.refresh.claims)), 'ERR_REFRESH_INVALID');
    assert.equal((await storage.users.findById(ann.id))!.emailVerified, true);
    await accounts.credentials.signIn('ann', 'new-password-1', { userAgent: 'x', ip: null });
    assert.equal(await codeOf(accounts.credentials.signIn('ann', PASSWORD, { userAgent: 'x', ip: null })), 'ERR_BAD_CREDENTIALS');
    await mail.flush();
    assert.equal(sent('ann@example.com', 'Your password was changed').length, 1);
  });

  it('reset of an account whose address was never proven removes its second factors; of a proven one, keeps them', async () => {
    // Someone signs up first with another's address, and enrols an authenticator app: the owner's
    // reset (the first proof of the address) must not leave them locked out behind it.
    const { addUser, email, mail, signIn, accounts, storage, sent, clock } = setup();
    const withFactor = async (name: string, verified: boolean) => {
      const u = await addUser(name);
      await storage.users.update(u.id, { emailVerified: verified });
      const first = await signIn(name);
      const secret = secretOf((await accounts.factors.enrolTotp(first.access.claims)).uri);
      await accounts.factors.confirmTotp(first.access.claims, codeAt(secret, Math.floor(clock() / 1000)));
      return u;
    };
    const resetBy = async (address: string) => {
      await email.recovery.forgot(address, null);
      await mail.flush();
      await email.recovery.reset(tokenOf(sent(address, 'Reset your password').at(-1)!), 'new-password-1');
    };
    const squatted = await withFactor('squatted', false);
    const owned = await withFactor('owned', true);
    await resetBy('squatted@example.com');
    await resetBy('owned@example.com');
    const meta = { userAgent: 'x', ip: null };
    assert.equal((await accounts.credentials.signIn('squatted', 'new-password-1', meta)).kind, 'tokens', 'the owner is in, with no factor of another\'s');
    assert.deepEqual(await storage.factors.listTotp(squatted.id), []);
    const removed = (await storage.events.list({ limit: 100 })).filter((e) => e.type === 'mfa.removed' && e.userId === squatted.id);
    assert.deepEqual(removed.map((e) => [e.actorId, e.details]), [[squatted.id, { method: 'all' }]]);
    assert.equal((await accounts.credentials.signIn('owned', 'new-password-1', meta)).kind, 'mfa_required', 'a proven address\'s factors stay');
    assert.equal((await storage.factors.listTotp(owned.id)).length, 1);
  });

  it('a refused reset changes nothing: expired, superseded, used, forged, for a deleted user', async () => {
    const { addUser, email, mail, storage, clock, sent } = setup();
    const ann = await addUser('ann');
    const hash = ann.passwordHash;
    const next = async () => {
      await email.recovery.forgot('ann@example.com', null);
      await mail.flush();
      return tokenOf(sent('ann@example.com', 'Reset your password').at(-1)!);
    };
    const first = await next();
    const second = await next();
    assert.equal(await codeOf(email.recovery.reset(first, 'whatever-123')), 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.equal(await codeOf(clock.during(30 * 60_000, () => email.recovery.reset(second, 'whatever-123'))), 'ERR_EMAIL_TOKEN_EXPIRED');
    assert.equal(await codeOf(email.recovery.reset('A'.repeat(43), 'whatever-123')), 'ERR_EMAIL_TOKEN_INVALID');
    assert.equal(await codeOf(email.recovery.reset(second, 'short')), 'ERR_VALIDATION');
    assert.equal((await storage.users.findById(ann.id))!.passwordHash, hash);
    await email.recovery.reset(second, 'whatever-123');
    assert.equal(await codeOf(email.recovery.reset(second, 'whatever-456')), 'ERR_EMAIL_TOKEN_USED');
    const third = await next();
    await storage.users.delete(ann.id);
    assert.equal(await codeOf(email.recovery.reset(third, 'whatever-123')), 'ERR_EMAIL_TOKEN_INVALID');
  });

  it('a forged token costs no password hash', async () => {
    const { email, hasher } = setup();
    let hashed = 0;
    const original = hasher.hash;
    hasher.hash = async (p) => (hashed++, original(p));
    await codeOf(email.recovery.reset('B'.repeat(43), 'whatever-123'));
    assert.equal(hashed, 0);
  });
});

describe('email verification', () => {
  it('a sign-up is mailed a link; a token for an address the account no longer has is superseded', async () => {
    const { accounts, email, mail, storage, sent } = setup();
    const u = await accounts.credentials.signUp({ username: 'bob', email: 'bob@example.com', password: PASSWORD }, null);
    await mail.flush();
    const token = tokenOf(sent('bob@example.com', 'Confirm your email address')[0]!);
    await storage.users.update(u.id, { email: 'bob2@example.com' });
    assert.equal(await codeOf(email.verification.verify(token)), 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.equal((await storage.users.findById(u.id))!.emailVerified, false);
  });

  it('an administrator\'s new address landing while the link is about to write is not marked verified', async () => {
    const { accounts, email, mail, storage, sent } = setup();
    const u = await accounts.credentials.signUp({ username: 'bea', email: 'bea@example.com', password: PASSWORD }, null);
    await mail.flush();
    const token = tokenOf(sent('bea@example.com', 'Confirm your email address')[0]!);
    beforeWrite(storage, (p) => p.emailVerified === true && p.email === undefined, () => accounts.admin.update(u.id, { email: 'bea.new@example.com' }));
    assert.equal(await codeOf(email.verification.verify(token)), 'ERR_EMAIL_TOKEN_SUPERSEDED');
    const now = (await storage.users.findById(u.id))!;
    assert.deepEqual([now.email, now.emailVerified], ['bea.new@example.com', false], 'nobody proved the new address');
  });

  it('the administrator the configuration creates gets no mail; an administrator\'s new user does', async () => {
    const { accounts, mail } = setup();
    const root = await accounts.credentials.ensureAdmin('root', 'root@example.com', PASSWORD);
    assert.equal(root!.emailVerified, true, 'REQUIRE_EMAIL_VERIFICATION must not lock the configured administrator out');
    await accounts.credentials.signUp({ username: 'made', email: 'made@example.com', password: PASSWORD }, { kind: 'user', userId: 'x', roles: ['admin'] });
    await mail.flush();
    assert.deepEqual(mail.transport.sent.map((m) => m.to), ['made@example.com']);
  });

  it('REQUIRE_EMAIL_VERIFICATION refuses an unverified user after the password check only', async () => {
    const { accounts, addUser, storage } = setup({ requireVerified: true });
    const u = await addUser('carl');
    assert.equal(await codeOf(accounts.credentials.signIn('carl', 'wrong-password', { userAgent: null, ip: null })), 'ERR_BAD_CREDENTIALS');
    assert.equal(await codeOf(accounts.credentials.signIn('carl', PASSWORD, { userAgent: null, ip: null })), 'ERR_EMAIL_NOT_VERIFIED');
    await storage.users.update(u.id, { emailVerified: true });
    const pair = tokensOf(await accounts.credentials.signIn('carl', PASSWORD, { userAgent: null, ip: null }));
    assert.equal(pair.access.claims.email_verified, true);
  });

  it('an administrator\'s new address is unverified unless they say otherwise', async () => {
    const { accounts, addUser, storage } = setup();
    const u = await addUser('dora');
    await storage.users.update(u.id, { emailVerified: true });
    assert.equal((await accounts.admin.update(u.id, { email: 'dora2@example.com' })).emailVerified, false);
    assert.equal((await accounts.admin.update(u.id, { email_verified: true })).emailVerified, true);
    assert.equal((await accounts.admin.update(u.id, { email: 'dora3@example.com', email_verified: true })).emailVerified, true);
    assert.equal(await codeOf(accounts.admin.update(u.id, { email_verified: 'yes' })), 'ERR_VALIDATION');
  });
});

/**
 * Runs `meanwhile` to its end when a request, past its checks, is about to write the user
 * (`users.update` with a patch `which` picks), then lets that write go on: the interleaving of two
 * requests on two instances, forced.
 */
function beforeWrite(storage: Storage, which: (patch: Record<string, unknown>) => boolean, meanwhile: () => Promise<unknown>): void {
  const users = storage.users as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const update = users.update!;
  let done = false;
  users.update = async (...a: unknown[]) => {
    if (!done && which(a[1] as Record<string, unknown>)) {
      done = true;
      await meanwhile();
    }
    return update(...a);
  };
}

describe('a reset, an address change and a password change landing at once: exactly one wins', () => {
  /** Eve, signed in, with a reset link and an address-change link (to new@) both open. */
  async function twoLinks() {
    const t = setup();
    const eve = await t.addUser('eve');
    const pair = await t.signIn('eve');
    await t.email.emailChange.request(t.claimsOf(pair.access.token), 'new@example.com', null);
    await t.email.recovery.forgot('eve@example.com', null);
    await t.mail.flush();
    const change = tokenOf(t.sent('new@example.com', 'Confirm your new email address')[0]!);
    const reset = tokenOf(t.sent('eve@example.com', 'Reset your password')[0]!);
    return { ...t, eve, pair, change, reset };
  }
  const isReset = (p: Record<string, unknown>) => p.passwordHash !== undefined && p.emailVerified === true;
  const isAddress = (p: Record<string, unknown>) => p.email !== undefined;

  it('the reset lands while the address change is about to write: the reset wins, the address stays', async () => {
    const { email, storage, eve, change, reset } = await twoLinks();
    let resetDone: unknown;
    beforeWrite(storage, isAddress, async () => (resetDone = await email.recovery.reset(reset, 'reset-password-1')));
    assert.equal(await codeOf(email.emailChange.confirm(change)), 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.ok(resetDone, 'the reset went through');
    const now = (await storage.users.findById(eve.id))!;
    assert.equal(now.email, 'eve@example.com', 'the address the reset shut out is not taken');
    assert.notEqual(now.passwordHash, eve.passwordHash);
  });

  it('the address change lands while the reset is about to write: the change wins, the password stays', async () => {
    const { email, storage, eve, change, reset } = await twoLinks();
    beforeWrite(storage, isReset, () => email.emailChange.confirm(change));
    assert.equal(await codeOf(email.recovery.reset(reset, 'reset-password-1')), 'ERR_EMAIL_TOKEN_SUPERSEDED');
    const now = (await storage.users.findById(eve.id))!;
    assert.deepEqual([now.email, now.passwordHash], ['new@example.com', eve.passwordHash], 'no password set through the old address\'s link');
  });

  it('the reset lands while a password change is about to write: the reset wins, the change is refused', async () => {
    const { accounts, email, storage, eve, pair, reset, claimsOf } = await twoLinks();
    beforeWrite(storage, (p) => p.passwordHash !== undefined && p.emailVerified === undefined, () => email.recovery.reset(reset, 'reset-password-1'));
    assert.equal(await codeOf(accounts.credentials.changePassword(claimsOf(pair.access.token), PASSWORD, 'changed-password-1')), 'ERR_BAD_CREDENTIALS');
    await accounts.credentials.signIn('eve', 'reset-password-1', { userAgent: 'x', ip: null });
    assert.equal(await codeOf(accounts.credentials.signIn('eve', 'changed-password-1', { userAgent: 'x', ip: null })), 'ERR_BAD_CREDENTIALS');
    assert.ok(eve);
  });

  it('a password change lands while the reset is about to write: the change wins, the reset is refused', async () => {
    const { accounts, email, storage, pair, reset, claimsOf } = await twoLinks();
    beforeWrite(storage, isReset, () => accounts.credentials.changePassword(claimsOf(pair.access.token), PASSWORD, 'changed-password-1'));
    assert.equal(await codeOf(email.recovery.reset(reset, 'reset-password-1')), 'ERR_EMAIL_TOKEN_SUPERSEDED');
    await accounts.credentials.signIn('eve', 'changed-password-1', { userAgent: 'x', ip: null });
    assert.equal(await codeOf(accounts.credentials.signIn('eve', 'reset-password-1', { userAgent: 'x', ip: null })), 'ERR_BAD_CREDENTIALS');
  });
});

describe('email change and notices', () => {
  it('confirming an address another account took meanwhile is a conflict, and changes nothing', async () => {
    const { addUser, email, mail, signIn, storage, sent, claimsOf } = setup();
    const u = await addUser('eve');
    const pair = await signIn('eve');
    await email.emailChange.request(claimsOf(pair.access.token), 'new@example.com', null);
    await mail.flush();
    const token = tokenOf(sent('new@example.com', 'Confirm your new email address')[0]!);
    await addUser('new'); // takes new@example.com
    assert.equal(await codeOf(email.emailChange.confirm(token)), 'ERR_CONFLICT');
    assert.equal((await storage.users.findById(u.id))!.email, 'eve@example.com');
  });

  it('a new device is told of from the second device on; NOTIFY_NEW_SIGNIN=false turns it off', async () => {
    for (const notify of [true, false]) {
      const { addUser, signIn, mail, sent } = setup({ notifyNewSignIn: notify });
      await addUser('fay');
      await signIn('fay', { userAgent: 'a', ip: '192.0.2.1' });
      await signIn('fay', { userAgent: 'a', ip: '192.0.2.1' });
      await signIn('fay', { userAgent: 'a', ip: '192.0.2.2' });
      await signIn('fay', { userAgent: 'b', ip: '192.0.2.2' });
      await mail.flush();
      assert.equal(sent('fay@example.com', 'New sign-in to your account').length, notify ? 2 : 0);
    }
  });

  it('notices to one address are capped at MAIL_LIMIT_PER_ADDRESS a window, apart from the mails asked for; the user agent shown is short and marked', async () => {
    // Someone who signed up with another's address (never verified) signs in again and again, each
    // time as a new "device" whose user agent is text of their choosing.
    const { addUser, signIn, email, mail, sent, clock } = setup({ maxPerAddress: 3 });
    await addUser('hal');
    await signIn('hal', { userAgent: 'first', ip: '192.0.2.1' });
    for (let i = 0; i < 6; i++) await signIn('hal', { userAgent: `Win a prize at spam.example ${i}\u0085${'x'.repeat(400)}`, ip: '192.0.2.1' });
    await mail.flush();
    const notices = sent('hal@example.com', 'New sign-in to your account');
    assert.equal(notices.length, 3);
    assert.ok(notices.every((m) => !m.text.includes('x'.repeat(201)) && m.text.includes('\ufffd') && !m.text.includes('\u0085')), notices[0]!.text);
    // The address's budget for mails asked for is untouched: a reset still goes.
    await email.recovery.forgot('hal@example.com', null);
    await mail.flush();
    assert.equal(sent('hal@example.com', 'Reset your password').length, 1);
    // A new window, new notices.
    clock.advance(3600_000);
    await signIn('hal', { userAgent: 'next window', ip: '192.0.2.1' });
    await mail.flush();
    assert.equal(sent('hal@example.com', 'New sign-in to your account').length, 4);
  });

  it('new-sign-in notices cannot use up the notices of a change: a thief holding the password who signs in past the cap still has the password and address changes told to the owner', async () => {
    // The thief signs in as new "devices" (user agents copied from the owner's browser, so each
    // notice reads as the owner's own), until the address's notices are used up, then takes the account.
    const { addUser, signIn, accounts, email, mail, sent, claimsOf } = setup({ maxPerAddress: 3 });
    await addUser('kim');
    await signIn('kim', { userAgent: 'Firefox', ip: '192.0.2.1' });
    let pair = await signIn('kim', { userAgent: 'Firefox', ip: '203.0.113.1' });
    for (let i = 2; i <= 4; i++) pair = await signIn('kim', { userAgent: 'Firefox', ip: `203.0.113.${i}` });
    await mail.flush();
    assert.equal(sent('kim@example.com', 'New sign-in to your account').length, 3, 'the cap holds new-sign-in notices');
    await accounts.credentials.changePassword(claimsOf(pair.access.token), PASSWORD, 'thief-password-1');
    pair = await signIn('kim', { userAgent: 'Firefox', ip: '203.0.113.4' }).catch(() => pair);
    await email.emailChange.request(claimsOf(pair.access.token), 'thief@example.com', null);
    await mail.flush();
    assert.equal(sent('kim@example.com', 'Your password was changed').length, 1, 'the password change is told of');
    assert.equal(sent('kim@example.com', 'A change of your email address was requested').length, 1, 'the address change asked for is told of to the old address');
  });

  it('a changed password (by the user or an administrator) is told of', async () => {
    const { addUser, signIn, accounts, mail, sent, claimsOf } = setup();
    const u = await addUser('gus');
    const pair = await signIn('gus');
    await accounts.credentials.changePassword(claimsOf(pair.access.token), PASSWORD, 'changed-pass-1');
    await accounts.admin.update(u.id, { password: 'changed-pass-2' });
    await mail.flush();
    assert.equal(sent('gus@example.com', 'Your password was changed').length, 2);
  });

  it('mail requests over the per-address limit are refused with a wait', async () => {
    const { email } = setup({ maxPerAddress: 2 });
    await email.recovery.forgot('h@example.com', null);
    await email.recovery.forgot('h@example.com', null);
    const err = await email.recovery.forgot('h@example.com', null).then(() => undefined, (e: unknown) => e as { code: string; details: { retryAfter: number } });
    assert.equal(err?.code, 'ERR_RATE_LIMITED');
    assert.equal(err?.details.retryAfter, 3600);
  });

  it('asking for an address another account has counts as a mail request: past the limit, taken and free addresses get the same 429', async () => {
    // Answered before counting, "taken" (409) was an oracle of which addresses have accounts that
    // no limit bounded, and past the limit the only answer still telling the two apart.
    const { addUser, signIn, email, claimsOf } = setup({ maxPerIp: 3 });
    await addUser('ida');
    await addUser('jon');
    const claims = claimsOf((await signIn('ida')).access.token);
    const ask = (address: string) => codeOf(email.emailChange.request(claims, address, '192.0.2.9')).catch(() => 'accepted');
    assert.deepEqual([await ask('jon@example.com'), await ask('jon@example.com'), await ask('free@example.com')], ['ERR_CONFLICT', 'ERR_CONFLICT', 'accepted']);
    assert.deepEqual([await ask('jon@example.com'), await ask('free2@example.com')], ['ERR_RATE_LIMITED', 'ERR_RATE_LIMITED']);
  });
});


describe('the hourly clean-up of mailed tokens and sign-in devices', () => {
  it('deletes a backlog a bounded batch per statement, not in one statement', async () => {
    // An instance restarted more often than hourly never ran this purge before it also ran at
    // start, so its first run may meet months of expired tokens: one DELETE of 300,000 of them
    // held SQLite's only thread 1.4 s. Each statement must take a bounded batch, as the session,
    // mail and event purges do (src/storage/batches.ts).
    const { storage, email, addUser, clock } = setup();
    const u = await addUser('backlog');
    const ROWS = 2_500;
    for (let i = 0; i < ROWS; i++) {
      await storage.emailTokens.issue({ hash: `expired-${i}`, userId: u.id, purpose: 'verify', email: u.email, createdAt: clock() - 10 * 86_400_000, expiresAt: clock() - 9 * 86_400_000 });
      await storage.devices.remember(u.id, `device-${i}`, clock() - 800 * 86_400_000);
    }
    const deleted: Record<'emailTokens' | 'devices', number[]> = { emailTokens: [], devices: [] };
    for (const store of ['emailTokens', 'devices'] as const) {
      const target = storage[store] as unknown as { purge: (...a: unknown[]) => Promise<number> };
      const purge = target.purge.bind(target);
      target.purge = async (...a: unknown[]) => {
        const n = await purge(...a);
        deleted[store].push(n);
        return n;
      };
    }
    await email.purge();
    for (const store of ['emailTokens', 'devices'] as const) {
      assert.equal(deleted[store].reduce((a, b) => a + b, 0), ROWS, `${store}: the whole backlog goes`);
      assert.ok(Math.max(...deleted[store]) <= 500, `${store}: statements deleted ${JSON.stringify(deleted[store])}`);
    }
  });
});
