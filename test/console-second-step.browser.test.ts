// The console's second sign-in step when its MFA token is no longer good (five minutes passed, or
// the password changed meanwhile), in Debian's Chromium with a virtual authenticator, by keyboard:
// whether the person then gives a code or picks "Use a passkey instead", they are taken back to the
// password, which has the focus and an empty field, with the reason said — never left on the second
// step repeating "Invalid or expired MFA token", nor with the focus on a field that was hidden.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from './helpers/browser.js';
import { freePort } from './helpers/child-warden.js';
import { testClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): console second-step test not run`;
const MFA_TOKEN_LIFE = 5 * 60_000;

describe('console: a second step whose MFA token went stale', { skip }, () => {
  let s: Running;
  let origin: string;
  let browser: Browser;
  const clock = testClock();

  before(async () => {
    // On http://localhost (a secure context, the RP ID "localhost") so that passkeys work.
    const port = await freePort();
    origin = `http://localhost:${port}`;
    s = await startServer({ DATABASE_URL: 'memory:', WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: origin }, { port, clock });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  const focused = (page: Page) => page.evaluate(() => document.activeElement?.id ?? '');
  const passwordStep = async (page: Page, login: string, password: string) => {
    await page.goto(`${origin}/account/signin`);
    await page.getByLabel('Email or username').fill(login);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.keyboard.press('Enter');
    await page.getByLabel('Code from your authenticator app, or a recovery code').waitFor();
    assert.equal(await focused(page), 'mfa-code');
  };
  /** Back at the password: shown, empty, focused, and the reason said. */
  const backAtPassword = async (page: Page, what: string) => {
    await page.getByText('This sign-in can no longer be finished').waitFor();
    assert.equal(await page.getByLabel('Code from your authenticator app, or a recovery code').isVisible(), false, what);
    assert.equal(await focused(page), 'signin-password', `${what}: the password has the focus`);
    assert.equal(await page.getByLabel('Password', { exact: true }).inputValue(), '', `${what}: to be given again`);
  };

  it('a code or a passkey given too late, or after a new password, leads back to the password with the focus there', async () => {
    // The first account bootstraps the administrator.
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'root-password-1', roles: ['admin'] } })).status, 201);
    const signup = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'nell', email: 'nell@example.com', password: 'nell-password-1' } });
    assert.equal(signup.status, 201);
    const ctx = await browser.newContext({ locale: 'en-US' });
    const page = await ctx.newPage();
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    await page.goto(`${origin}/account/signin`);
    await page.getByLabel('Email or username').fill('nell');
    await page.getByLabel('Password', { exact: true }).fill('nell-password-1');
    await page.keyboard.press('Enter');
    await page.waitForURL(`${origin}/account`);
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await page.locator('[data-notice]', { hasText: 'Your passkey is added.' }).waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/account\/signin/);

    // A code, six minutes later.
    await passwordStep(page, 'nell', 'nell-password-1');
    clock.advance(MFA_TOKEN_LIFE + 60_000);
    await page.keyboard.type('123456');
    await page.keyboard.press('Enter');
    await backAtPassword(page, 'a code too late');

    // The passkey, six minutes later.
    await page.keyboard.type('nell-password-1');
    await page.keyboard.press('Enter');
    await page.getByLabel('Code from your authenticator app, or a recovery code').waitFor();
    clock.advance(MFA_TOKEN_LIFE + 60_000);
    await page.getByRole('button', { name: 'Use a passkey instead' }).focus();
    await page.keyboard.press('Enter');
    await backAtPassword(page, 'a passkey too late');

    // The passkey, after the password was changed elsewhere (an administrator's new password).
    await page.keyboard.type('nell-password-1');
    await page.keyboard.press('Enter');
    await page.getByLabel('Code from your authenticator app, or a recovery code').waitFor();
    const admin = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: 'root-password-1' } });
    const set = await call(`${s.url}/api/v1/users/${signup.json.data.id}`, {
      method: 'PATCH', json: { password: 'nell-password-2' }, headers: { authorization: `Bearer ${admin.json.data.access_token}` },
    });
    assert.equal(set.status, 200, set.text);
    await page.getByRole('button', { name: 'Use a passkey instead' }).focus();
    await page.keyboard.press('Enter');
    await backAtPassword(page, 'a passkey after a new password');
    await ctx.close();
  });
});
