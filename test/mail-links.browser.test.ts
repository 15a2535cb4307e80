// The links in mails, followed as a person who lost something would: each opened in a fresh
// Chromium profile (nothing signed in), driven by the keyboard alone, and each page it lands on
// must lead on — to sign in after a reset, to ask for another link when one cannot be used, to the
// account after a verification or an address change — rather than end the walk. The links start
// with APP_URL whatever Host the request that caused the mail came with, and the "password changed"
// notice tells someone who did not change it what they can actually do.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from './helpers/browser.js';
import { freePort } from './helpers/child-warden.js';
import { call, startServer, type Running } from './helpers/server.js';
import { linkIn, startSmtp, type Delivered, type TestSmtp } from './helpers/smtp.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): mail-link browser test not run`;
const to = (address: string, subject: string) => (m: Delivered) => m.to === address && m.subject === subject;

describe('mail links in a fresh browser, by keyboard', { skip }, () => {
  let smtp: TestSmtp;
  let s: Running;
  let browser: Browser;
  let appUrl: string;

  before(async () => {
    smtp = await startSmtp();
    const port = await freePort();
    // The public address is localhost; the browser below asks on 127.0.0.1 (another Host).
    appUrl = `http://localhost:${port}`;
    s = await startServer({
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
      APP_URL: appUrl, MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
    }, { port, email: { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } } });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
    await smtp?.close();
  });

  /** A page in a profile of its own: no cookie of any earlier step. */
  const freshPage = async (): Promise<Page> => (await browser.newContext({ locale: 'en-US' })).newPage();
  /** The mail's link, which must start with APP_URL. */
  const linkOf = (mail: Delivered): string => {
    const link = linkIn(mail);
    assert.ok(link.startsWith(`${appUrl}/`), `${mail.subject}: ${link} is not under APP_URL`);
    return link;
  };
  /** Tab from the top of the page to the link named `name` (the first focusable thing there), then Enter. */
  const followByKeyboard = async (page: Page, name: string): Promise<void> => {
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), name, `${page.url()}: Tab reaches "${name}"`);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
  };
  /** The focused element as Chromium's accessibility tree has it: name, description, aria-invalid. */
  const focusedField = async (page: Page): Promise<{ name?: string; description?: string; invalid?: string }> => {
    const cdp = await page.context().newCDPSession(page);
    const { nodes } = await cdp.send('Accessibility.getFullAXTree');
    const node = nodes.find((n) => n.role?.value !== 'RootWebArea' && n.properties?.some((p) => p.name === 'focused' && p.value.value === true));
    assert.ok(node, 'something has the focus');
    return {
      name: node.name?.value as string | undefined,
      description: node.description?.value as string | undefined,
      invalid: node.properties?.find((p) => p.name === 'invalid')?.value.value as string | undefined,
    };
  };
  /** "Go to your account": this profile is signed out, so the account page sends it on to sign in. */
  const toAccount = async (page: Page): Promise<void> => {
    await followByKeyboard(page, 'Go to your account');
    await page.waitForURL(/\/account\/signin\?next=%2Faccount$/);
  };
  const signUp = async (username: string) => {
    const r = await call(`${s.url}/api/v1/auth/signup`, { json: { username, email: `${username}@example.com`, password: `${username}-password-1` } });
    assert.equal(r.status, 201, r.text);
    return `${username}@example.com`;
  };

  it('forgot, reset, then on to sign in; the used link leads to asking for a new one', async () => {
    const email = await signUp('lena');
    const page = await freshPage();
    await page.goto(`${s.url}/account/forgot`);
    await page.getByLabel('Email address').focus();
    await page.keyboard.type(email);
    await page.keyboard.press('Enter');
    await page.locator('[data-notice]', { hasText: 'If an account has this address' }).waitFor();
    const link = linkOf(await smtp.waitFor(to(email, 'Reset your password')));

    const reset = await freshPage();
    await reset.goto(link);
    // The field has the focus: type, Enter. Four emoji are eight UTF-16 units, enough for the
    // browser's minlength, but four characters for the server: the form comes back, the field
    // focused and described by the reason (as a screen reader announces it) and marked invalid.
    await reset.locator('input[name=new_password]:focus').waitFor(); // autofocus lands after the load
    await reset.keyboard.type('😀😀😀😀');
    await Promise.all([reset.waitForNavigation(), reset.keyboard.press('Enter')]);
    await reset.getByText('The password must be at least 8 characters').waitFor();
    const field = await focusedField(reset);
    assert.equal(field.name, 'New password');
    assert.equal(field.description, 'The password must be at least 8 characters');
    assert.equal(field.invalid, 'true');
    await reset.keyboard.type('lena-password-2');
    await Promise.all([reset.waitForNavigation(), reset.keyboard.press('Enter')]);
    await reset.getByRole('heading', { name: 'Password changed' }).waitFor();
    await followByKeyboard(reset, 'Sign in');
    assert.equal(new URL(reset.url()).pathname, '/account/signin');
    await reset.getByLabel('Email or username').fill(email);
    await reset.getByLabel('Password', { exact: true }).fill('lena-password-2');
    await reset.keyboard.press('Enter');
    await reset.waitForURL(/\/account$/);
    // The notice's advice is one its reader can follow: they no longer know the password, and every
    // session is already over, so "change your password" would lead nowhere; a reset does.
    const notice = await smtp.waitFor(to(email, 'Your password was changed'));
    for (const part of [notice.text, notice.html]) {
      assert.doesNotMatch(part, /change your password now/);
      assert.match(part, /choose a new password at once with (&quot;|")Forgot password/);
      assert.ok(part.includes(appUrl), 'names where to find the administrators');
    }

    const again = await freshPage();
    await again.goto(link);
    await again.getByText('This link has already been used').waitFor();
    await followByKeyboard(again, 'Ask for a new link');
    assert.equal(new URL(again.url()).pathname, '/account/forgot');
  });

  it('a verification link and an address-change link lead to the account, used or not', async () => {
    const email = await signUp('vic');
    const verify = linkOf(await smtp.waitFor(to(email, 'Confirm your email address')));
    const page = await freshPage();
    await page.goto(verify);
    // Opening the link shows a button; pressing it (by keyboard: it has the focus) verifies.
    await page.getByRole('heading', { name: 'Confirm your email address' }).waitFor();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Email address verified' }).waitFor();
    await toAccount(page);

    const used = await freshPage();
    await used.goto(verify);
    await used.getByRole('heading', { name: 'This verification link cannot be used' }).waitFor();
    await toAccount(used);

    const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'vic', password: 'vic-password-1' } });
    const changed = await call(`${s.url}/api/v1/auth/email`, { json: { new_email: 'vic.new@example.org' }, headers: { authorization: `Bearer ${login.json.data.access_token}` } });
    assert.equal(changed.status, 202, changed.text);
    const confirm = linkOf(await smtp.waitFor(to('vic.new@example.org', 'Confirm your new email address')));
    const other = await freshPage();
    await other.goto(confirm);
    await other.getByRole('button', { name: 'Confirm the new address' }).click();
    await other.getByRole('heading', { name: 'Email address changed' }).waitFor();
    await toAccount(other);
    await other.goto(confirm);
    await other.getByRole('heading', { name: 'Email address not changed' }).waitFor();
    await toAccount(other);
  });

  it('an address change asked for in the console, then signed out: the page, the mail and the dead link each say why', async () => {
    await signUp('sara');
    const page = await freshPage();
    await page.goto(`${s.url}/account/signin`);
    await page.getByLabel('Email or username').fill('sara');
    await page.getByLabel('Password', { exact: true }).fill('sara-password-1');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/account$/);
    await page.getByLabel('New email address').fill('sara.new@example.org');
    await page.getByRole('button', { name: 'Change email' }).click();
    await page.locator('[data-notice]', { hasText: 'signing this session out cancels the change' }).waitFor();
    const mail = await smtp.waitFor(to('sara.new@example.org', 'Confirm your new email address'));
    assert.match(mail.text, /while the session that asked for\s+it is still signed in/);
    // Signed out as people do when they leave a computer; the link, opened elsewhere, is void (as
    // the README says) and the page gives the reason that applies rather than only "a newer one was sent".
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/account\/signin/);
    const other = await freshPage();
    await other.goto(linkOf(mail));
    await other.getByText('the session that asked for the change was signed out').waitFor();
    await toAccount(other);
  });

  it('with the console off, the pages link nowhere (the application leads on)', async () => {
    const bare = await startServer({ DATABASE_URL: 'memory:', CONSOLE_ENABLED: 'false' });
    try {
      const page = await freshPage();
      await page.goto(`${bare.url}/api/v1/auth/password/reset?token=${'A'.repeat(43)}`);
      await page.getByText('This link is not valid').waitFor();
      assert.equal(await page.locator('a').count(), 0);
    } finally {
      await bare.close();
    }
  });
});
