// The console clicked through in Debian's Chromium (playwright-core), as a person would: a user signs
// in on /account, sees an API error beside its field, ends another session (whose token the API then
// refuses) and changes their password; an administrator reads the overview's figures, finds that
// user by email among 10,000 (a SQLite database, seeded through storage's bulk insert) and
// deactivates them, and the user's open page is signed out on its next action. Every page is
// checked by axe-core (no serious or critical violation), no CSP violation may occur, and each page
// is laid out at desktop and phone width without overlapping or off-screen controls (screenshots
// are written to docs/screenshots/ when UPDATE_SCREENSHOTS=1).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { CURRENT_HASH_PREFIX } from '../src/accounts/argon2-hasher.js';
import type { NewUser } from '../src/storage/index.js';
import { call, startServer, type Running } from './helpers/server.js';
import { linkIn, startSmtp, tokenIn, type Delivered, type TestSmtp } from './helpers/smtp.js';
import { codeAt, secretOf } from './helpers/totp.js';
import { freePort } from './helpers/child-warden.js';
import { CHROMIUM, launchChromium } from './helpers/browser.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): console browser test not run`;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? 'docs/screenshots' : undefined;
const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;

interface Violation { page: string; text: string }

/**
 * Run in the page (as text: tsx would add helpers the page lacks to a compiled function): the visible
 * controls and headings that leave the screen sideways or overlap another (unless one holds the other).
 */
const LAYOUT_CHECK = `(() => {
  const out = [];
  const label = (e) => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '[' + (e.textContent || '').trim().slice(0, 30) + ']';
  const seen = [...document.querySelectorAll('main a, main button, main input:not([type=hidden]), main select, main label, main h1, main h2, main th, main td, header a, header button')]
    .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && getComputedStyle(e).visibility !== 'hidden'; });
  const vw = document.documentElement.clientWidth;
  const sw = document.documentElement.scrollWidth;
  if (sw > vw + 1) out.push('the page scrolls sideways (' + sw + ' > ' + vw + ')');
  for (const e of seen) {
    const r = e.getBoundingClientRect();
    // Cells of a table that scrolls in its own box may pass the edge.
    if (e.closest('.table-wrap')) continue;
    if (r.left < -1 || r.right > vw + 1) out.push(label(e) + ' off screen (' + Math.round(r.left) + '..' + Math.round(r.right) + ' of ' + vw + ')');
  }
  for (let i = 0; i < seen.length; i++) {
    for (let j = i + 1; j < seen.length; j++) {
      const a = seen[i], b = seen[j];
      if (a.contains(b) || b.contains(a)) continue;
      const p = a.getBoundingClientRect(), q = b.getBoundingClientRect();
      const x = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const y = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (x > 1 && y > 1) out.push(label(a) + ' overlaps ' + label(b));
    }
  }
  return out;
})()`;

const APP_URL = 'https://auth.example.test';
const FILLERS = 10_000;
const to = (address: string, subject: string) => (m: Delivered) => m.to === address && m.subject === subject;

describe('console in Chromium', { skip }, () => {
  let s: Running;
  let smtp: TestSmtp;
  let browser: Browser;
  const csp: Violation[] = [];
  /** The violations, but for the one the collector's own check provokes. */
  const PROBE = 'csp-probe=1';
  const realViolations = () => csp.filter((v) => !v.page.includes(PROBE));
  /** A mail's link, pointed at this test's server. */
  const local = (mail: Delivered) => linkIn(mail).replace(APP_URL, s.url);

  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile,
      MAIL_FROM: 'Warden <no-reply@warden.test>', APP_URL, MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
      MFA_REQUIRED_ROLES: 'auditor', ACCOUNT_SELF_DELETE: 'true',
    }, { email: { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } } });
    // The first account bootstraps the administrator.
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } })).status, 201);
    // 10,000 users through storage's bulk insert, as `warden import` writes them (hashing 10,000
    // passwords, or 10,000 sign-ups, would only slow the test): one in a hundred deactivated, one
    // in a hundred on a legacy hash; none can sign in (their hashes check no password).
    const since = Date.now() - 86_400_000; // joined yesterday, one a millisecond: listed in order
    const fillers: NewUser[] = Array.from({ length: FILLERS }, (_, i) => ({
      id: randomUUID(), username: `filler${i}`, email: `filler${i}@example.org`, fullName: null, roles: ['user'], createdAt: since + i,
      isActive: i % 100 !== 1, passwordHash: i % 100 === 2 ? 'pbkdf2:sha256:1000$salt$00' : `${CURRENT_HASH_PREFIX}none$none`,
    }));
    assert.equal((await s.warden.storage.users.insertMany(fillers)).length, FILLERS);
    // playwright refuses --user-data-dir with launch(): it gives each launch a fresh temporary
    // profile of its own, and each context below is a fresh (incognito-like) profile too.
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
    await smtp?.close();
  });

  /** A fresh browser profile whose pages report CSP violations (the event and the console message). */
  async function context(): Promise<BrowserContext> {
    const ctx = await browser.newContext({ viewport: VIEWPORTS.desktop, locale: 'en-US' });
    await ctx.exposeBinding('__cspViolation', ({ page }, text: string) => void csp.push({ page: page.url(), text }));
    await ctx.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        (window as unknown as { __cspViolation(t: string): void }).__cspViolation(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    ctx.on('console', (msg) => {
      if (/Content[- ]Security[- ]Policy/i.test(msg.text())) csp.push({ page: msg.page()?.url() ?? '', text: msg.text() });
    });
    return ctx;
  }

  /** axe-core on the page as it stands (evaluated through the debugger protocol: the page's CSP forbids injected scripts). */
  async function accessible(page: Page, name: string): Promise<void> {
    await page.evaluate(AXE);
    const results = await page.evaluate(() => (window as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string; help: string; nodes: unknown[] }> }> } }).axe.run());
    const bad = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(bad.map((v) => `${v.id} (${v.impact}): ${v.help} x${v.nodes.length}`), [], `${name}: axe-core violations`);
  }

  /**
   * At each width: no control leaves the screen sideways or overlaps another (unless one holds the
   * other), and the page does not scroll sideways. Writes the screenshot when asked to.
   */
  async function laidOut(page: Page, name: string): Promise<void> {
    for (const [width, viewport] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(viewport);
      const problems = await page.evaluate(LAYOUT_CHECK) as string[];
      assert.deepEqual(problems, [], `${name} at ${width} width`);
      if (SHOTS) {
        mkdirSync(SHOTS, { recursive: true });
        await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
      }
    }
    await page.setViewportSize(VIEWPORTS.desktop);
  }

  async function check(page: Page, name: string): Promise<void> {
    await accessible(page, name);
    await laidOut(page, name);
  }

  async function signIn(page: Page, login: string, password: string, path = '/account/signin') {
    await page.goto(path.startsWith('http') ? path : `${s.url}${path}`);
    await page.getByLabel('Email or username').fill(login);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  }

  it('a user signs in, ends another session, changes their password; an administrator finds and deactivates them; their page is signed out', async () => {
    const signup = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'alice', email: 'alice@example.com', password: 'alice-password-1', full_name: 'Alice Liddell' } });
    assert.equal(signup.status, 201);
    // A second session, on another device: its token is used with the API directly.
    const other = await call(`${s.url}/api/v1/auth/login`, { json: { username: 'alice', password: 'alice-password-1' }, headers: { 'user-agent': 'curl/8.5.0' } });
    assert.equal(other.status, 200);
    const otherAuth = { authorization: `Bearer ${other.json.data.access_token}` };
    assert.equal((await call(`${s.url}/api/v1/auth/sessions`, { headers: otherAuth })).status, 200);

    const userCtx = await context();
    const page = await userCtx.newPage();
    await page.goto(`${s.url}/account`);
    // Not signed in: the page sends the browser to sign in, without saying a session ended (this
    // browser never had one).
    await page.waitForURL(`${s.url}/account/signin?next=%2Faccount`);
    assert.equal((await page.locator('[data-notice]').textContent())?.trim(), '');
    await check(page, 'account-signin');

    // A wrong password: the API's error beside the password field.
    await signIn(page, 'alice@example.com', 'not-her-password');
    await assert.doesNotReject(page.locator('#signin-password-error', { hasText: 'Invalid username or password' }).waitFor());
    assert.equal(await page.getByLabel('Password', { exact: true }).getAttribute('aria-invalid'), 'true');

    await signIn(page, 'alice@example.com', 'alice-password-1', '/account/signin?next=/account');
    await page.waitForURL(`${s.url}/account`);
    await page.locator('[data-fact="email"]', { hasText: 'alice@example.com' }).waitFor();
    assert.equal(await page.locator('[data-fact="full_name"]').textContent(), 'Alice Liddell');
    assert.equal(await page.locator('[data-admin-only]').isVisible(), false, 'no administration link for a plain user');
    const sessions = page.locator('[data-sessions] li');
    await sessions.nth(1).waitFor();
    assert.equal(await sessions.count(), 2);
    assert.match(await sessions.filter({ hasText: 'this device' }).textContent() ?? '', /Chrom/);
    await check(page, 'account');

    // Change the name; too long a one is refused beside the field.
    const name = page.locator('#name');
    await name.getByLabel('Full name').fill('A'.repeat(201));
    await name.getByRole('button', { name: 'Save name' }).click();
    await page.locator('#name-full_name-error', { hasText: 'Must be at most 200 characters' }).waitFor();
    await name.getByLabel('Full name').fill('Alice P. Liddell');
    await name.getByRole('button', { name: 'Save name' }).click();
    await page.locator('[data-fact="full_name"]', { hasText: 'Alice P. Liddell' }).waitFor();
    assert.equal((await call(`${s.url}/api/v1/auth/me`, { headers: otherAuth })).json.data.full_name, 'Alice P. Liddell');

    // End the other session from the page: the API refuses its token from then on.
    await sessions.filter({ hasText: 'curl' }).getByRole('button', { name: /Sign out this session/ }).click();
    await page.locator('[data-notice]', { hasText: 'The session has been signed out.' }).waitFor();
    // The list is fetched again after the notice: wait for the ended session to leave it.
    await sessions.filter({ hasText: 'curl' }).waitFor({ state: 'detached' });
    assert.equal(await sessions.count(), 1);
    assert.equal((await call(`${s.url}/api/v1/auth/sessions`, { headers: otherAuth })).status, 401);

    // Change the password: a wrong current one is reported beside that field.
    const pw = page.locator('#password');
    await pw.getByLabel('Current password').fill('wrong-password-1');
    await pw.getByLabel('New password').fill('alice-password-2');
    await pw.getByRole('button', { name: 'Change password' }).click();
    await page.locator('#password-current_password-error', { hasText: 'Current password is incorrect' }).waitFor();
    await pw.getByLabel('Current password').fill('alice-password-1');
    await pw.getByRole('button', { name: 'Change password' }).click();
    await page.locator('[data-notice]', { hasText: 'Your password has been changed' }).waitFor();
    const third = await call(`${s.url}/api/v1/auth/login`, { json: { username: 'alice', password: 'alice-password-2' }, headers: { 'user-agent': 'curl/8.5.0' } });
    assert.equal(third.status, 200);
    const thirdAuth = { authorization: `Bearer ${third.json.data.access_token}` };

    // The administrator, in another browser profile.
    const adminCtx = await context();
    const admin = await adminCtx.newPage();
    await signIn(admin, 'root', 'admin-password-1', '/account/signin?next=/admin');
    await admin.waitForURL(`${s.url}/admin`);
    // The overview: root, alice and the fillers (100 deactivated); alice's three sign-ins and the
    // administrator's, her wrong password; live: her browser's, the third one's and the administrator's.
    const figure = (name: string) => admin.locator(`[data-figure="${name}"]`);
    await figure('sessions_live').filter({ hasText: /^\d/ }).waitFor();
    const figures = async () => Object.fromEntries(await Promise.all(
      ['users_total', 'users_active', 'users_inactive', 'signins_succeeded', 'signins_failed', 'signins_throttled', 'sessions_live'].map(async (n) => [n, await figure(n).textContent()])));
    assert.deepEqual(await figures(), {
      users_total: '10,002', users_active: '9,902', users_inactive: '100', signins_succeeded: '4', signins_failed: '1', signins_throttled: '0', sessions_live: '3',
    });
    await check(admin, 'admin-overview');
    await admin.getByRole('link', { name: '100 (list them)' }).click();
    await admin.waitForURL(/\/admin\/users\?active=false$/);
    await admin.locator('[data-count]', { hasText: 'Users 1–50 of 100' }).waitFor();

    await admin.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Users' }).click();
    await admin.waitForURL(`${s.url}/admin/users`);
    await admin.locator('[data-count]', { hasText: /of 10002$/ }).waitFor();
    assert.equal(await admin.locator('[data-users] tbody tr').count(), 50);
    await check(admin, 'admin-users');
    await admin.getByRole('link', { name: 'Next page' }).click();
    await admin.locator('[data-count]', { hasText: 'Users 51–100 of 10002' }).waitFor();

    // Those still on a legacy hash (the filter is in the address, as the others).
    await admin.getByLabel('Password hash').selectOption('true');
    await admin.getByRole('button', { name: 'Search' }).click();
    await admin.waitForURL(/legacy=true/);
    await admin.locator('[data-count]', { hasText: 'Users 1–50 of 100' }).waitFor();
    assert.match(await admin.locator('[data-users] tbody tr').first().textContent() ?? '', /filler2@example\.org/);
    await admin.getByLabel('Password hash').selectOption('');

    // By username, then by email (the filters are in the address: the page can be bookmarked).
    await admin.getByLabel('Username contains').fill('ALI');
    await admin.getByRole('button', { name: 'Search' }).click();
    await admin.locator('[data-count]', { hasText: 'Users 1–1 of 1' }).waitFor();
    await admin.getByLabel('Username contains').fill('');
    await admin.getByLabel('Email contains').fill('alice@');
    await admin.getByRole('button', { name: 'Search' }).click();
    await admin.waitForURL(/email=alice%40/);
    await admin.locator('[data-count]', { hasText: 'Users 1–1 of 1' }).waitFor();
    await admin.getByRole('link', { name: 'alice@example.com' }).click();
    await admin.locator('h1', { hasText: 'Alice P. Liddell (alice)' }).waitFor();
    // The user's sessions: the browser's and the one signed in with curl; the administrator ends the latter.
    const userSessions = admin.locator('[data-sessions] li');
    await admin.locator('[data-sessions-count]', { hasText: '2 live session(s).' }).waitFor();
    await check(admin, 'admin-user');
    await userSessions.filter({ hasText: 'curl' }).getByRole('button', { name: /End this session/ }).click();
    await admin.locator('[data-sessions-count]', { hasText: '1 live session(s).' }).waitFor();
    assert.equal((await call(`${s.url}/api/v1/auth/sessions`, { headers: thirdAuth })).status, 401, 'the ended session\'s token is refused');
    await admin.getByRole('button', { name: 'Send a password reset mail' }).click();
    await admin.locator('[data-notice]', { hasText: 'A password reset mail is on its way' }).waitFor();
    await smtp.waitFor(to('alice@example.com', 'Reset your password'));
    await admin.getByRole('button', { name: 'Deactivate' }).click();
    await admin.locator('[data-fact="is_active"]', { hasText: 'Deactivated' }).waitFor();
    await admin.locator('[data-sessions-count]', { hasText: 'No live session.' }).waitFor();
    await admin.getByRole('navigation', { name: 'Administration' }).getByRole('link', { name: 'Overview' }).click();
    await figure('users_active').filter({ hasText: '9,901' }).waitFor();
    assert.equal(await figure('sessions_live').textContent(), '1', 'only the administrator\'s');
    await admin.goBack();
    await admin.locator('[data-fact="is_active"]', { hasText: 'Deactivated' }).waitFor();
    assert.equal((await call(`${s.url}/api/v1/users/${signup.json.data.id}`, { headers: { authorization: `Bearer ${(await call(`${s.url}/api/v1/auth/login`, { json: { username: 'root', password: 'admin-password-1' } })).json.data.access_token}` } })).json.data.is_active, false);

    // The audit log shows what happened to the user: the session the administrator ended, the deactivation.
    await admin.getByRole('link', { name: 'This user\'s events' }).click();
    await admin.waitForURL(/\/admin\/audit\?user=/);
    await admin.locator('[data-events] tr[data-event-type="user.deactivated"]').waitFor();
    assert.ok(await admin.locator('[data-events] tr[data-event-type="session.ended"]').count() >= 1);
    await check(admin, 'admin-audit');
    await admin.getByLabel('Event types (comma-separated)').fill('user.deactivated');
    await admin.getByRole('button', { name: 'Filter' }).click();
    await admin.waitForURL(/type=user\.deactivated/);
    await admin.locator('[data-count]', { hasText: '1 event(s).' }).waitFor();
    await admin.getByLabel('Event types (comma-separated)').fill('no.such-type');
    await admin.getByRole('button', { name: 'Filter' }).click();
    await admin.locator('#audit-type-error:not(:empty)').waitFor();

    // The user's open page: its next action finds the session over and goes to sign in.
    await page.getByRole('button', { name: 'Sign out all other sessions' }).click();
    await page.waitForURL(/\/account\/signin\?ended=1/);
    await page.locator('[data-notice]', { hasText: 'Your session has ended' }).waitFor();
    await signIn(page, 'alice', 'alice-password-2');
    await page.locator('#signin-username-error', { hasText: 'Inactive user' }).waitFor();

    // Create a user from the admin console; a conflict is reported beside the username.
    await admin.goto(`${s.url}/admin/users/new`);
    const create = admin.locator('#create');
    await create.getByLabel('Username').fill('alice');
    await create.getByLabel('Email address').fill('bob@example.com');
    await create.getByLabel('Password').fill('bob-password-1');
    await create.getByRole('button', { name: 'Create user' }).click();
    await admin.locator('#create [data-error-for]:not(:empty)').first().waitFor();
    await check(admin, 'admin-new-user');
    // Three mistakes the browser lets through are all said, each beside its input, in one answer.
    await create.getByLabel('Username').fill('a b');
    await create.getByLabel('Email address').fill('bob@localhost');
    await create.getByLabel('Password').fill('short');
    await create.getByRole('button', { name: 'Create user' }).click();
    await admin.locator('#create-password-error', { hasText: 'Must be at least 8 characters' }).waitFor();
    assert.match(await admin.locator('#create-username-error').textContent() ?? '', /^Must be 3 to 64 letters/);
    assert.equal(await admin.locator('#create-email-error').textContent(), 'Must be a valid email address');
    assert.deepEqual(await admin.locator('#create [aria-invalid="true"]').evaluateAll((els) => els.map((e) => e.getAttribute('name'))), ['username', 'email', 'password']);
    assert.equal(await admin.evaluate(() => document.activeElement?.getAttribute('name')), 'username', 'the first gets focus');
    await create.getByLabel('Email address').fill('bob@example.com');
    await create.getByLabel('Password').fill('bob-password-1');
    await create.getByLabel('Username').fill('bob');
    await create.getByLabel('Roles (comma-separated)').fill('user, editor');
    await create.getByRole('button', { name: 'Create user' }).click();
    await admin.locator('h1', { hasText: 'bob' }).waitFor();
    assert.equal(await admin.locator('#roles-roles').inputValue(), 'user, editor');

    // The pages reached from mails and the sign-in link.
    const anon = await (await context()).newPage();
    await anon.goto(`${s.url}/account/forgot`);
    await check(anon, 'account-forgot');
    await anon.goto(`${s.url}/account/reset?token=not-a-real-token`);
    await anon.getByLabel('New password', { exact: true }).fill('whatever-password-1');
    await anon.getByRole('button', { name: 'Set the new password' }).click();
    await anon.locator('#reset [data-error-for]:not(:empty)').first().waitFor();
    await check(anon, 'account-reset');

    assert.deepEqual(realViolations(), [], 'no CSP violation on any page');

    // The collector does see a violation: an image from elsewhere is refused and reported.
    const probe = await (await context()).newPage();
    await probe.goto(`${s.url}/account/forgot?${PROBE}`);
    await probe.evaluate(() => { const img = document.createElement('img'); img.alt = ''; img.src = 'http://127.0.0.2:9/probe.png'; document.body.append(img); });
    const provoked = () => csp.some((v) => v.page.includes(PROBE) && v.text.includes('img-src'));
    const deadline = Date.now() + 5000;
    while (!provoked() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(provoked(), 'a provoked violation is collected');
    await userCtx.close();
    await adminCtx.close();
  });

  it('mails: the verification link verifies, the console changes the address through its confirmation, forgot and reset set a new password', async () => {
    const signup = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'mailer', email: 'mailer@example.com', password: 'mailer-password-1' } });
    assert.equal(signup.status, 201);
    const page = await (await context()).newPage();

    // The verification mail's link lands on its page; the console then shows the address verified.
    const verify = await smtp.waitFor(to('mailer@example.com', 'Confirm your email address'));
    await page.goto(local(verify));
    await page.getByRole('button', { name: 'Confirm my address' }).click();
    await page.getByRole('heading', { name: 'Email address verified' }).waitFor();
    await signIn(page, 'mailer', 'mailer-password-1');
    await page.waitForURL(`${s.url}/account`);
    await page.locator('[data-fact="email_verified"]', { hasText: 'Yes' }).waitFor();
    assert.equal(await page.locator('[data-verify]').isVisible(), false);

    // Change of address: a taken one is refused beside the field; a free one waits for its confirmation.
    const email = page.locator('#email');
    await email.getByLabel('New email address').fill('root@example.com');
    await email.getByRole('button', { name: 'Change email' }).click();
    await page.locator('#email-new_email-error:not(:empty)').waitFor();
    await email.getByLabel('New email address').fill('mailer.new@example.com');
    await email.getByRole('button', { name: 'Change email' }).click();
    await page.locator('[data-notice]', { hasText: 'A confirmation has been sent to mailer.new@example.com' }).waitFor();
    await page.goto(local(await smtp.waitFor(to('mailer.new@example.com', 'Confirm your new email address'))));
    await page.getByRole('button', { name: 'Confirm the new address' }).click();
    await page.getByRole('heading', { name: 'Email address changed' }).waitFor();
    await page.goto(`${s.url}/account`);
    await page.locator('[data-fact="email"]', { hasText: 'mailer.new@example.com' }).waitFor();

    // Forgot, then the console's reset page with the mailed token: a short password is refused beside the field.
    await page.goto(`${s.url}/account/forgot`);
    await page.getByLabel('Email address').fill('mailer.new@example.com');
    await page.getByRole('button', { name: 'Send the link' }).click();
    await page.locator('[data-notice]', { hasText: 'If an account has this address' }).waitFor();
    const reset = await smtp.waitFor(to('mailer.new@example.com', 'Reset your password'));
    await page.goto(`${s.url}/account/reset?token=${tokenIn(reset)}`);
    await page.getByLabel('New password', { exact: true }).fill('short');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('#reset-new_password-error:not(:empty)').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('mailer-password-2');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.locator('[data-notice]', { hasText: 'Your password has been changed' }).waitFor();
    await signIn(page, 'mailer.new@example.com', 'mailer-password-2');
    await page.waitForURL(`${s.url}/account`);
    assert.deepEqual(realViolations(), [], 'no CSP violation on any page');
  });

  it('second factor: a user enrols an authenticator app from the QR\'s URI, signs in again with its code, an administrator resets it', async () => {
    const signup = await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'tina', email: 'tina@example.com', password: 'tina-password-1' } });
    assert.equal(signup.status, 201);
    const page = await (await context()).newPage();
    await signIn(page, 'tina', 'tina-password-1');
    await page.waitForURL(`${s.url}/account`);
    await page.locator('[data-mfa-summary]', { hasText: 'None yet' }).waitFor();

    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const qr = page.getByRole('img', { name: /QR code/ });
    await qr.waitFor();
    assert.ok(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0), 'the QR code is drawn (a data: image the CSP allows)');
    const uri = (await page.getByRole('link', { name: 'Open in an authenticator app on this device' }).getAttribute('href'))!;
    assert.match(uri, /^otpauth:\/\/totp\/Warden:tina%40example\.com\?secret=/);
    const secret = secretOf(uri);
    const totp = page.locator('#totp');
    await totp.getByLabel('Code the app shows').fill('000000' === codeAt(secret, Date.now() / 1000) ? '111111' : '000000');
    await totp.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('#totp-code-error:not(:empty)').waitFor();
    await totp.getByLabel('Code the app shows').fill(codeAt(secret, Date.now() / 1000));
    await totp.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-notice]', { hasText: 'Your authenticator app is set up' }).waitFor();
    assert.equal(await page.locator('[data-recovery-codes] li').count(), 10, 'ten recovery codes, shown once');
    const recovery = (await page.locator('[data-recovery-codes] li').first().textContent())!;
    await page.locator('[data-factors] li', { hasText: 'Authenticator app' }).waitFor();
    await check(page, 'account-second-factor');

    // Signed out, then in again: the password, then the code (the next step's: the current one is used).
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/account\/signin/);
    await signIn(page, 'tina', 'tina-password-1');
    const code = page.getByLabel('Code from your authenticator app, or a recovery code');
    await code.waitFor();
    assert.equal(await page.getByLabel('Password', { exact: true }).isVisible(), false);
    await code.fill('12345678');
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('#mfa-code-error:not(:empty)').waitFor();
    await check(page, 'account-signin-second-step');
    // Typed as the app shows it, in two groups of three.
    await code.fill(codeAt(secret, Date.now() / 1000 + 30).replace(/^(\d{3})/, '$1 '));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${s.url}/account`);
    await page.locator('[data-mfa-summary]', { hasText: 'Recovery codes left: 10' }).waitFor();

    // A recovery code works once, in place of the app's code.
    const other = await (await context()).newPage();
    await signIn(other, 'tina', 'tina-password-1');
    await other.getByLabel('Code from your authenticator app, or a recovery code').fill(recovery);
    await other.getByRole('button', { name: 'Continue' }).click();
    await other.waitForURL(`${s.url}/account`);
    await other.locator('[data-mfa-summary]', { hasText: 'Recovery codes left: 9' }).waitFor();

    // The administrator resets tina's factors: her sessions end, and her open page goes to sign in.
    const admin = await (await context()).newPage();
    await signIn(admin, 'root', 'admin-password-1', `/account/signin?next=${encodeURIComponent(`/admin/users/${signup.json.data.id}`)}`);
    await admin.locator('[data-factors-summary]', { hasText: 'Authenticator app; recovery codes left: 9.' }).waitFor();
    admin.once('dialog', (d) => void d.accept());
    await admin.getByRole('button', { name: 'Reset second factors' }).click();
    await admin.locator('[data-notice]', { hasText: 'Second factors reset; 2 session(s) ended.' }).waitFor();
    await admin.locator('[data-factors-summary]', { hasText: 'None.' }).waitFor();
    await page.getByRole('button', { name: 'Sign out all other sessions' }).click();
    await page.waitForURL(/\/account\/signin\?ended=1/);
    await signIn(page, 'tina', 'tina-password-1');
    await page.waitForURL(`${s.url}/account`);
    await page.locator('[data-mfa-summary]', { hasText: 'None yet' }).waitFor();
    assert.deepEqual(realViolations(), [], 'no CSP violation on any page');
  });

  it('a role that requires a second factor: the account page offers enrolment and sign-out alone, then everything once signed in with it', async () => {
    const root = (await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: 'admin-password-1' } })).json.data.access_token as string;
    const made = await call(`${s.url}/api/v1/auth/signup`, {
      json: { username: 'audra', email: 'audra@example.com', password: 'audra-password-1', roles: ['auditor'] }, headers: { authorization: `Bearer ${root}` },
    });
    assert.equal(made.status, 201, made.text);
    const page = await (await context()).newPage();
    await signIn(page, 'audra', 'audra-password-1');
    await page.waitForURL(`${s.url}/account`);
    await page.locator('[data-notice]', { hasText: 'Your role requires a second factor' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Profile' }).isVisible(), false, 'what the token cannot reach is not offered');
    await page.getByRole('button', { name: 'Set up an authenticator app' }).click();
    const link = page.getByRole('link', { name: 'Open in an authenticator app on this device' });
    await link.waitFor();
    const secret = secretOf((await link.getAttribute('href'))!);
    const totp = page.locator('#totp');
    await totp.getByLabel('Code the app shows').fill(codeAt(secret, Date.now() / 1000));
    await totp.getByRole('button', { name: 'Confirm' }).click();
    await page.locator('[data-notice]', { hasText: 'Your authenticator app is set up' }).waitFor();
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/account\/signin/);
    await signIn(page, 'audra', 'audra-password-1');
    await page.getByLabel('Code from your authenticator app, or a recovery code').fill(codeAt(secret, Date.now() / 1000 + 30));
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(`${s.url}/account`);
    await page.getByRole('heading', { name: 'Profile' }).waitFor();
    await page.locator('[data-fact="roles"]', { hasText: 'auditor' }).waitFor();
    assert.deepEqual(realViolations(), [], 'no CSP violation on any page');
  });

  it('a user deletes their own account from its page: a wrong password is said at its field, the right one deletes it', async () => {
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'dora', email: 'dora@example.com', password: 'dora-password-1' } })).status, 201);
    const page = await (await context()).newPage();
    await signIn(page, 'dora', 'dora-password-1');
    await page.waitForURL(`${s.url}/account`);
    const form = page.locator('#delete');
    await form.getByLabel('Current password').fill('not-doras-password');
    await form.getByRole('button', { name: 'Delete my account' }).click();
    await page.locator('#delete-current_password-error', { hasText: 'Current password is incorrect' }).waitFor();
    assert.ok(await s.warden.storage.users.findByLogin('dora'), 'still there');
    await form.getByLabel('Current password').fill('dora-password-1');
    await form.getByRole('button', { name: 'Delete my account' }).click();
    await page.waitForURL(/\/account\/signin\?deleted=1$/);
    await page.locator('[data-notice]', { hasText: 'Your account has been deleted.' }).waitFor();
    assert.equal(await s.warden.storage.users.findByLogin('dora'), null);
    // The cookies are gone with it: the account page sends the browser to sign in.
    await page.goto(`${s.url}/account`);
    await page.waitForURL(/\/account\/signin/);
    assert.deepEqual(realViolations(), [], 'no CSP violation on any page');
  });

  it('passkeys: added from the account page, then used alone and as the second step, then removed', async () => {
    // A server of its own on http://localhost (a secure context; the RP ID "localhost").
    const port = await freePort();
    const origin = `http://localhost:${port}`;
    const p = await startServer({ DATABASE_URL: 'memory:', WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: origin }, { port });
    const ctx = await context();
    try {
      assert.equal((await call(`${p.url}/api/v1/auth/signup`, { json: { username: 'kim', email: 'kim@example.com', password: 'kim-password-1' } })).status, 201);
      const page = await ctx.newPage();
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('WebAuthn.enable');
      const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
        options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
      });
      await signIn(page, 'kim', 'kim-password-1', `${origin}/account/signin`);
      await page.waitForURL(`${origin}/account`);
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.locator('[data-notice]', { hasText: 'Your passkey is added.' }).waitFor();
      assert.equal(await page.locator('[data-recovery-codes] li').count(), 10);
      await page.locator('[data-factors] li', { hasText: 'Chrome on Linux' }).waitFor();
      assert.equal((await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials.length, 1);

      // Alone: no password.
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(/\/account\/signin/);
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await page.waitForURL(`${origin}/account`);
      await page.locator('[data-factors] li', { hasText: 'Chrome on Linux' }).waitFor();

      // As the second step after the password; that sign-in carries two factors, so removing one is allowed.
      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForURL(/\/account\/signin/);
      await signIn(page, 'kim', 'kim-password-1', `${origin}/account/signin`);
      await page.getByRole('button', { name: 'Use a passkey instead' }).click();
      await page.waitForURL(`${origin}/account`);
      await page.getByRole('button', { name: 'Remove Chrome on Linux' }).click();
      await page.locator('[data-notice]', { hasText: 'Chrome on Linux removed.' }).waitFor();
      await page.locator('[data-mfa-summary]', { hasText: 'None yet' }).waitFor();
      assert.deepEqual(realViolations(), [], 'no CSP violation on any page');
    } finally {
      await ctx.close();
      await p.close();
    }
  });
});
