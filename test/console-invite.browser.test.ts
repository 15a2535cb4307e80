// The console's "Invite a user", clicked through in Debian's Chromium (playwright-core): an
// administrator invites an address from /admin/users/invite (a taken address said beside its
// input), lands on the new user's page, and the invited person follows the mailed link, chooses a
// password on its page and signs in on /account/signin. The page passes axe-core (no serious or
// critical violation).
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startServer, type Running } from './helpers/server.js';
import { linkIn, startSmtp, type TestSmtp } from './helpers/smtp.js';
import { CHROMIUM, launchChromium } from './helpers/browser.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): console browser test not run`;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const APP_URL = 'https://auth.example.test';

describe('console: invite a user, in Chromium', { skip }, () => {
  let s: Running;
  let smtp: TestSmtp;
  let browser: Browser;
  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>', APP_URL,
      SIGNUP_ENABLED: 'false', ADMIN_USERNAME: 'root', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: 'root-password-1',
    });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
    await smtp?.close();
  });

  async function signIn(page: Page, login: string, password: string) {
    await page.goto(`${s.url}/account/signin`);
    await page.getByLabel('Email or username').fill(login);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  it('an administrator invites; the person sets their password from the mail and signs in', async () => {
    const ctx = await browser.newContext({ locale: 'en-US' });
    try {
      const admin = await ctx.newPage();
      await signIn(admin, 'root', 'root-password-1');
      await admin.waitForURL(/\/account$/);
      await admin.goto(`${s.url}/admin/users`);
      await admin.getByRole('link', { name: 'Invite a user' }).click();
      await admin.waitForURL(/\/admin\/users\/invite$/);
      const invite = admin.locator('#invite');
      await invite.getByLabel('Email address').fill('root@example.com');
      await invite.getByRole('button', { name: 'Send the invitation' }).click();
      await admin.locator('#invite-email-error:not(:empty)').waitFor();

      await admin.evaluate(AXE); // through the debugger protocol: the page's CSP forbids injected scripts
      const violations = await admin.evaluate(async () => {
        const r = await (window as unknown as { axe: { run(): Promise<{ violations: { id: string; impact: string }[] }> } }).axe.run();
        return r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => v.id);
      });
      assert.deepEqual(violations, []);

      await invite.getByLabel('Email address').fill('dora@example.com');
      await invite.getByLabel('Full name').fill('Dora Invited');
      await invite.getByLabel('Roles (comma-separated)').fill('user, editor');
      await invite.getByRole('button', { name: 'Send the invitation' }).click();
      await admin.waitForURL(/\/admin\/users\/[0-9a-f-]{36}$/);
      await admin.getByText('dora@example.com').first().waitFor();

      const mail = await smtp.waitFor((m) => m.to === 'dora@example.com');
      const person = await ctx.browser()!.newContext({ locale: 'en-US' });
      try {
        const page = await person.newPage();
        await page.goto(linkIn(mail).replace(APP_URL, s.url));
        await page.getByLabel('Your password').fill('doras-own-password');
        await page.getByRole('button', { name: 'Set my password' }).click();
        await page.getByRole('heading', { name: 'Password set' }).waitFor();
        await page.getByRole('link', { name: 'Sign in' }).click();
        await page.getByLabel('Email or username').fill('dora');
        await page.getByLabel('Password', { exact: true }).fill('doras-own-password');
        await page.getByRole('button', { name: 'Sign in', exact: true }).click();
        await page.waitForURL(/\/account$/);
      } finally {
        await person.close();
      }
      const dora = (await s.warden.storage.users.findByLogin('dora'))!;
      assert.deepEqual(dora.roles, ['user', 'editor']);
      assert.equal(dora.fullName, 'Dora Invited');
      assert.equal(dora.emailVerified, true);
    } finally {
      await ctx.close();
    }
  });
});
