// Second factors and the mail features together, over memory storage on a movable clock: the
// REQUIRE_EMAIL_VERIFICATION gate runs after the password and before any MFA token, and the
// new-sign-in notice goes out when tokens are issued (after the second factor), not for a password
// that only earned an MFA token.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MfaRequired } from '../../src/accounts/index.js';
import type { ClientMeta } from '../../src/accounts/types.js';
import { accountsFixture, codeOf, PASSWORD } from '../helpers/accounts.js';
import { mailRig } from '../helpers/mail.js';
import { codeAt, secretOf } from '../helpers/totp.js';

const STEP = 30_000;

/** A user with an active TOTP factor, on a fixture with the mail features. */
async function enrolled(o: Parameters<typeof mailRig>[0] = {}, verified = true) {
  const mail = mailRig(o);
  const f = accountsFixture({ email: mail.options });
  const user = await f.addUser('carol');
  await f.storage.users.update(user.id, { emailVerified: true }); // to enrol under the gate
  const first = await f.signIn('carol', { userAgent: 'first', ip: '192.0.2.1' });
  const secret = secretOf((await f.accounts.factors.enrolTotp(first.access.claims)).uri);
  const code = (steps = 0) => codeAt(secret, Math.floor(f.clock() / 1000) + steps * 30);
  await f.accounts.factors.confirmTotp(first.access.claims, code());
  f.clock.advance(STEP); // the enrolment used this step's code
  if (!verified) await f.storage.users.update(user.id, { emailVerified: false });
  await mail.flush();
  const newSignInMails = () => mail.transport.sent.filter((m) => m.to === 'carol@example.com' && m.subject === 'New sign-in to your account');
  return { f, mail, user, code, newSignInMails };
}

describe('second factors with the mail features', () => {
  it('REQUIRE_EMAIL_VERIFICATION refuses an unverified user after the password, before any MFA token', async () => {
    const { f, user } = await enrolled({ requireVerified: true }, false);
    const meta: ClientMeta = { userAgent: 'x', ip: null };
    assert.equal(await codeOf(f.accounts.credentials.signIn('carol', 'wrong-password', meta)), 'ERR_BAD_CREDENTIALS');
    assert.equal(await codeOf(f.accounts.credentials.signIn('carol', PASSWORD, meta)), 'ERR_EMAIL_NOT_VERIFIED');
    await f.storage.users.update(user.id, { emailVerified: true });
    assert.equal((await f.accounts.credentials.signIn('carol', PASSWORD, meta)).kind, 'mfa_required');
  });

  it('the new-sign-in notice goes out when the second factor completes the sign-in, not at the password step', async () => {
    const { f, mail, code, newSignInMails } = await enrolled();
    const elsewhere: ClientMeta = { userAgent: 'second', ip: '198.51.100.7' };
    const step = (await f.accounts.credentials.signIn('carol', PASSWORD, elsewhere)) as MfaRequired;
    assert.equal(step.kind, 'mfa_required');
    await mail.flush();
    assert.equal(newSignInMails().length, 0, 'a password alone opened nothing');

    const pair = await f.accounts.factors.complete(step.mfaToken, { code: code() }, elsewhere);
    assert.deepEqual(pair.access.claims.amr, ['pwd', 'otp', 'mfa']);
    assert.equal(pair.access.claims.email_verified, true);
    await mail.flush();
    const [notice, ...more] = newSignInMails();
    assert.equal(more.length, 0);
    assert.match(notice!.text, /198\.51\.100\.7/);

    // The same device again: no notice.
    f.clock.advance(STEP);
    const again = (await f.accounts.credentials.signIn('carol', PASSWORD, elsewhere)) as MfaRequired;
    await f.accounts.factors.complete(again.mfaToken, { code: code() }, elsewhere);
    await mail.flush();
    assert.equal(newSignInMails().length, 1);
  });
});
