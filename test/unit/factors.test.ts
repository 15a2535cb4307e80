// The second-factor rules over the memory storage on a movable clock: TOTP enrolment and its
// confirmation, the MFA token between a password and the tokens, the ±1-step window, single use of
// codes, the per-user throttle, recovery codes, amr/acr in tokens, removal and an administrator's
// reset. Codes are computed by the tests' own TOTP (test/helpers/totp.ts), never Warden's.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JwtClaims } from '@warden/toolkit';
import type { MfaRequired } from '../../src/accounts/index.js';
import { SecretBox } from '../../src/accounts/factors/secret-box.js';
import { MFA_KEY, PASSWORD, accountsFixture, codeOf, type Fixture, type FixtureOptions } from '../helpers/accounts.js';
import { codeAt, secretOf } from '../helpers/totp.js';

const STEP = 30_000;

/** A user with an active TOTP factor: the secret (from the URI) and the recovery codes handed out. */
async function enrolled(o: FixtureOptions = {}) {
  const f = accountsFixture(o);
  const user = await f.addUser('carol');
  const first = await f.signIn('carol');
  const e = await f.accounts.factors.enrolTotp(first.access.claims);
  const secret = secretOf(e.uri);
  const { recoveryCodes } = await f.accounts.factors.confirmTotp(first.access.claims, code(f, secret));
  f.clock.advance(STEP); // the enrolment used this step's code
  return { f, user, secret, recoveryCodes: recoveryCodes!, first };
}

const code = (f: Fixture, secret: Buffer, steps = 0): string => codeAt(secret, Math.floor(f.clock() / 1000) + steps * 30);

async function mfaStep(f: Fixture, login = 'carol'): Promise<MfaRequired> {
  const r = await f.accounts.credentials.signIn(login, PASSWORD, f.meta);
  assert.equal(r.kind, 'mfa_required');
  return r as MfaRequired;
}

describe('TOTP enrolment', () => {
  it('a secret and an otpauth:// URI; inactive until one valid code confirms it; then 10 recovery codes', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const { access } = await f.signIn('carol');
    const e = await f.accounts.factors.enrolTotp(access.claims);
    assert.match(e.secret, /^[A-Z2-7]{32}$/, '160 bits in base32');
    assert.equal(secretOf(e.uri).length, 20);
    assert.match(e.uri, /^otpauth:\/\/totp\/Warden:carol%40example\.com\?secret=[A-Z2-7]{32}&issuer=Warden&/);
    assert.equal((await f.accounts.credentials.signIn('carol', PASSWORD, f.meta)).kind, 'tokens', 'a pending enrolment changes nothing');
    assert.deepEqual((await f.accounts.factors.list(access.claims.sub)).totp, []);

    const secret = secretOf(e.uri);
    assert.equal(await codeOf(f.accounts.factors.confirmTotp(access.claims, code(f, secret, 5))), 'ERR_MFA_CODE_INVALID');
    assert.equal(await codeOf(f.accounts.factors.confirmTotp(access.claims, 'abcdef')), 'ERR_VALIDATION');
    const { recoveryCodes } = await f.accounts.factors.confirmTotp(access.claims, code(f, secret));
    assert.equal(recoveryCodes?.length, 10);
    assert.equal((await f.accounts.factors.list(access.claims.sub)).recoveryCodesRemaining, 10);
    assert.deepEqual((await mfaStep(f)).methods, ['totp', 'recovery_code']);
    assert.equal(await codeOf(f.accounts.factors.enrolTotp(access.claims)), 'ERR_MFA_REQUIRED', 'a password-only token cannot add another device');
  });

  it('the secret is stored sealed: the row holds neither the secret nor anything that opens without the key', async () => {
    const { f, user, secret } = await enrolled();
    const [row] = await f.storage.factors.listTotp(user.id);
    assert.ok(row);
    const text = JSON.stringify(row);
    for (const form of [secret.toString('hex'), secret.toString('base64'), secret.toString('base64url')]) assert.ok(!text.includes(form));
    assert.deepEqual(new SecretBox(MFA_KEY).open(row.sealedSecret, `warden totp ${user.id} ${row.id}`), secret);
    assert.equal(new SecretBox(Buffer.alloc(32, 9)).open(row.sealedSecret, `warden totp ${user.id} ${row.id}`), 'other-key');
  });

  it('enrolling again replaces a pending enrolment; an active one must be removed first', async () => {
    const f = accountsFixture();
    await f.addUser('carol');
    const { access } = await f.signIn('carol');
    const old = secretOf((await f.accounts.factors.enrolTotp(access.claims)).uri);
    const fresh = secretOf((await f.accounts.factors.enrolTotp(access.claims)).uri);
    assert.equal(await codeOf(f.accounts.factors.confirmTotp(access.claims, code(f, old))), 'ERR_MFA_CODE_INVALID');
    await f.accounts.factors.confirmTotp(access.claims, code(f, fresh));
    const { access: strong } = await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, fresh, 1) }, f.meta);
    assert.equal(await codeOf(f.accounts.factors.enrolTotp(strong.claims)), 'ERR_CONFLICT');
  });
});

describe('signing in with a second factor', () => {
  it('a password gives an MFA token, not tokens; a code completes it with amr pwd+otp+mfa and acr aal2, kept by refresh', async () => {
    const { f, secret } = await enrolled();
    const step = await mfaStep(f);
    assert.equal(step.expiresIn, 300);
    assert.equal(f.guard(step.mfaToken), 'ERR_JWT_KEY_UNKNOWN', 'the MFA token is no access token: its key is not among those that verify tokens');
    const pair = await f.accounts.factors.complete(step.mfaToken, { code: code(f, secret) }, f.meta);
    assert.deepEqual([pair.access.claims.amr, pair.access.claims.acr, pair.access.claims.fresh], [['pwd', 'otp', 'mfa'], 'aal2', true]);
    assert.equal(f.guard(pair.access.token), 'ok');
    const refreshed = await f.accounts.sessions.refresh(f.claimsOf(pair.refresh.token));
    assert.deepEqual([refreshed.access.claims.amr, refreshed.access.claims.acr, refreshed.access.claims.fresh], [['pwd', 'otp', 'mfa'], 'aal2', false]);
    assert.deepEqual(refreshed.refresh.claims.amr, ['pwd', 'otp', 'mfa']);
  });

  it('a password alone states amr pwd and acr aal1', async () => {
    const f = accountsFixture();
    await f.addUser('dave');
    const pair = await f.signIn('dave');
    assert.deepEqual([pair.access.claims.amr, pair.access.claims.acr], [['pwd'], 'aal1']);
  });

  it('the window is one step either side: earlier and later codes work, two steps off do not', async () => {
    const { f, secret } = await enrolled();
    f.clock.advance(STEP); // the step before now is not the enrolment's (already used)
    assert.ok(await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, secret, -1) }, f.meta));
    assert.ok(await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, secret, 1) }, f.meta));
    f.clock.advance(5 * STEP);
    for (const steps of [-2, 2]) {
      const c = code(f, secret, steps);
      if ([-1, 0, 1].some((d) => code(f, secret, d) === c)) continue; // a one-in-a-million coincidence
      assert.equal(await codeOf(f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: c }, f.meta)), 'ERR_MFA_CODE_INVALID', `${steps} steps`);
    }
  });

  it('a code is accepted once: replayed in its window, even with a new MFA token, it is refused', async () => {
    const { f, secret } = await enrolled();
    const c = code(f, secret);
    await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: c }, f.meta);
    assert.equal(await codeOf(f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: c }, f.meta)), 'ERR_MFA_CODE_INVALID');
    // and an earlier step's code after a later one was used
    assert.equal(await codeOf(f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, secret, -1) }, f.meta)), 'ERR_MFA_CODE_INVALID');
    f.clock.advance(STEP);
    assert.ok(await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, secret) }, f.meta));
  });

  it('of two concurrent completions with one code, exactly one succeeds', async () => {
    const { f, secret } = await enrolled();
    const [a, b] = [await mfaStep(f), await mfaStep(f)];
    const c = code(f, secret);
    const results = await Promise.allSettled([a, b].map((s) => f.accounts.factors.complete(s.mfaToken, { code: c }, f.meta)));
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  });

  it('the MFA token is single use, survives a wrong code, and dies after 5 minutes', async () => {
    const { f, secret } = await enrolled();
    const step = await mfaStep(f);
    assert.equal(await codeOf(f.accounts.factors.complete(step.mfaToken, { code: '000000' === code(f, secret) ? '111111' : '000000' }, f.meta)), 'ERR_MFA_CODE_INVALID');
    await f.accounts.factors.complete(step.mfaToken, { code: code(f, secret) }, f.meta);
    f.clock.advance(STEP);
    assert.equal(await codeOf(f.accounts.factors.complete(step.mfaToken, { code: code(f, secret) }, f.meta)), 'ERR_MFA_TOKEN_INVALID', 'used up');

    const late = await mfaStep(f);
    f.clock.advance(301_000);
    assert.equal(await codeOf(f.accounts.factors.complete(late.mfaToken, { code: code(f, secret) }, f.meta)), 'ERR_MFA_TOKEN_INVALID', 'expired');
    assert.equal(await codeOf(f.accounts.factors.complete('not-a-token', { code: code(f, secret) }, f.meta)), 'ERR_MFA_TOKEN_INVALID');
    assert.equal(await codeOf(f.accounts.factors.complete(undefined, { code: code(f, secret) }, f.meta)), 'ERR_VALIDATION');
    // An access token is not an MFA token either.
    const s = await mfaStep(f);
    const tokens = await f.accounts.factors.complete(s.mfaToken, { code: code(f, secret) }, f.meta);
    assert.equal(await codeOf(f.accounts.factors.complete(tokens.access.token, { code: code(f, secret, 1) }, f.meta)), 'ERR_MFA_TOKEN_INVALID');
  });

  it('exactly one proof: none, or two, is a 422', async () => {
    const { f, secret, recoveryCodes } = await enrolled();
    const step = await mfaStep(f);
    assert.equal(await codeOf(f.accounts.factors.complete(step.mfaToken, {}, f.meta)), 'ERR_VALIDATION');
    assert.equal(await codeOf(f.accounts.factors.complete(step.mfaToken, { code: code(f, secret), recovery_code: recoveryCodes[0] }, f.meta)), 'ERR_VALIDATION');
  });

  it('wrong codes are throttled per user: past the limit even the right code waits for the window', async () => {
    const { f, secret } = await enrolled({ mfaThrottle: { maxPerLogin: 3, maxPerIp: Infinity, windowMs: 10 * 60_000 } });
    const step = await mfaStep(f);
    const wrong = code(f, secret, 10);
    for (let i = 0; i < 3; i++) assert.equal(await codeOf(f.accounts.factors.complete(step.mfaToken, { code: wrong }, f.meta)), 'ERR_MFA_CODE_INVALID');
    assert.equal(await codeOf(f.accounts.factors.complete(step.mfaToken, { code: code(f, secret) }, f.meta)), 'ERR_RATE_LIMITED');
    f.clock.advance(10 * 60_000);
    const again = await mfaStep(f);
    assert.ok(await f.accounts.factors.complete(again.mfaToken, { code: code(f, secret) }, f.meta));
  });

  it('a deactivated user cannot complete a sign-in begun before', async () => {
    const { f, secret, user } = await enrolled();
    const step = await mfaStep(f);
    await f.storage.users.update(user.id, { isActive: false });
    assert.equal(await codeOf(f.accounts.factors.complete(step.mfaToken, { code: code(f, secret) }, f.meta)), 'ERR_USER_INACTIVE');
  });
});

describe('recovery codes', () => {
  it('each works once, as typed in any case; they are stored only as hashes', async () => {
    const { f, user, recoveryCodes } = await enrolled();
    for (const [i, rc] of recoveryCodes.entries()) {
      const typed = i % 2 ? rc.toUpperCase() : rc.replaceAll('-', '');
      const pair = await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { recovery_code: typed }, f.meta);
      assert.deepEqual(pair.access.claims.amr, ['pwd', 'otp', 'mfa']);
      assert.equal(await codeOf(f.accounts.factors.complete((await mfaStep(f)).mfaToken, { recovery_code: rc }, f.meta)), 'ERR_MFA_CODE_INVALID', 'used');
    }
    assert.equal(await f.storage.factors.countRecoveryCodes(user.id), 0);
    assert.deepEqual((await mfaStep(f)).methods, ['totp'], 'none left to offer');
    assert.equal(await codeOf(f.accounts.factors.complete((await mfaStep(f)).mfaToken, { recovery_code: 'not-a-code' }, f.meta)), 'ERR_MFA_CODE_INVALID');
  });

  it('regenerating voids the old set; another user\'s code never works', async () => {
    const { f, secret, recoveryCodes } = await enrolled();
    const strong = await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, secret) }, f.meta);
    const fresh = await f.accounts.factors.regenerateRecoveryCodes(strong.access.claims, f.meta);
    assert.equal(fresh.length, 10);
    const written = await f.storage.events.list({ limit: 10, types: ['mfa.recovery_codes_regenerated'] });
    assert.deepEqual(written.map((e) => [e.actorId, e.userId, e.sessionId, e.ip, e.details]),
      [[strong.user.id, strong.user.id, strong.access.claims.sid, f.meta.ip, {}]], 'one event, of the session that asked');
    assert.ok(!JSON.stringify(written).includes(fresh[0]!), 'never a code');
    assert.equal(await codeOf(f.accounts.factors.complete((await mfaStep(f)).mfaToken, { recovery_code: recoveryCodes[1] }, f.meta)), 'ERR_MFA_CODE_INVALID');
    assert.ok(await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { recovery_code: fresh[1] }, f.meta));

    const other = await f.addUser('erin');
    const { access } = await f.signIn('erin');
    const e = await f.accounts.factors.enrolTotp(access.claims);
    await f.accounts.factors.confirmTotp(access.claims, code(f, secretOf(e.uri)));
    assert.equal(await codeOf(f.accounts.factors.complete((await mfaStep(f, 'erin')).mfaToken, { recovery_code: fresh[2] }, f.meta)), 'ERR_MFA_CODE_INVALID');
    assert.equal(other.username, 'erin');
  });
});

describe('removing factors, and an administrator\'s reset', () => {
  it('removing the last factor takes the recovery codes with it: a password alone signs in again', async () => {
    const { f, secret, user } = await enrolled();
    const strong = await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, secret) }, f.meta);
    const [totp] = (await f.accounts.factors.list(user.id)).totp;
    assert.equal(await codeOf(f.accounts.factors.remove(strong.access.claims, '00000000-0000-4000-8000-000000000999')), 'ERR_FACTOR_NOT_FOUND');
    const stranger = { ...strong.access.claims, sub: '00000000-0000-4000-8000-000000000998' } as JwtClaims;
    assert.equal(await codeOf(f.accounts.factors.remove(stranger, totp!.id)), 'ERR_FACTOR_NOT_FOUND', 'only the owner\'s');
    await f.accounts.factors.remove(strong.access.claims, totp!.id);
    assert.equal(await f.storage.factors.countRecoveryCodes(user.id), 0);
    assert.equal((await f.accounts.credentials.signIn('carol', PASSWORD, f.meta)).kind, 'tokens');
  });

  it('a reset deletes every factor and pending sign-in and ends all the user\'s sessions, recorded by one mfa.removed', async () => {
    const { f, secret, user, first } = await enrolled();
    const strong = await f.accounts.factors.complete((await mfaStep(f)).mfaToken, { code: code(f, secret) }, f.meta);
    const pending = await mfaStep(f);
    const admin = await f.addUser('root', ['admin']);
    const { sessionsEnded } = await f.accounts.factors.reset(user.id, f.asActor(admin));
    assert.equal(sessionsEnded, 2);
    assert.equal(f.guard(strong.access.token), 'ERR_JWT_REVOKED');
    assert.equal(f.guard(first.access.token), 'ERR_JWT_REVOKED');
    assert.equal(await codeOf(f.accounts.factors.complete(pending.mfaToken, { code: code(f, secret, 1) }, f.meta)), 'ERR_MFA_TOKEN_INVALID');
    assert.deepEqual(await f.accounts.factors.list(user.id), { totp: [], passkeys: [], recoveryCodesRemaining: 0 });
    assert.equal((await f.accounts.credentials.signIn('carol', PASSWORD, f.meta)).kind, 'tokens');
    const [removed] = await f.storage.events.list({ limit: 1, types: ['mfa.removed'] });
    assert.deepEqual([removed?.actorId, removed?.userId, removed?.details], [admin.id, user.id, { method: 'all' }]);
    assert.equal(await codeOf(f.accounts.factors.reset('00000000-0000-4000-8000-000000000999', f.asActor(admin))), 'ERR_USER_NOT_FOUND');
  });

  it('the command line finds users by id, username or email', async () => {
    const { f, user } = await enrolled();
    for (const key of [user.id, 'carol', 'CAROL@example.com']) assert.equal((await f.accounts.factors.userFor(key)).id, user.id);
    assert.equal(await codeOf(f.accounts.factors.userFor('nobody')), 'ERR_USER_NOT_FOUND');
    assert.equal((await f.accounts.factors.listFor(user.id)).totp.length, 1);
  });
});
