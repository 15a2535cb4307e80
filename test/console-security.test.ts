// The console as an attacker, or the next person at a shared computer, meets it in Debian's
// Chromium: what the pages read from the API does not stay in the browser's cache once signed out,
// a sign-out the server did not complete is not shown as done, and a hand-made audit link is
// answered beside its field rather than leaving the page blank.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { call, startServer, type Running } from './helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): console browser test not run`;

describe('console security in Chromium', { skip }, () => {
  let s: Running;
  let browser: Browser;
  beforeEach(async () => {
    s = await startServer({ DATABASE_URL: 'memory:' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterEach(async () => {
    await browser?.close();
    await s?.close();
  });

  async function signIn(page: Page, login: string, password: string, next: string): Promise<void> {
    await page.goto(`${s.url}/account/signin?next=${encodeURIComponent(next)}`);
    await page.fill('#signin-username', login);
    await page.fill('#signin-password', password);
    await page.press('#signin-password', 'Enter');
    await page.waitForURL(`${s.url}${next}`);
  }

  it('the browser refuses any string written as HTML on a console page (Trusted Types, no policy)', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${s.url}/account/signin`);
    const outcome = await page.evaluate(() => {
      try {
        document.body.insertAdjacentHTML('beforeend', '<img src=x>');
        return 'written';
      } catch (e) {
        return (e as Error).name;
      }
    });
    assert.equal(outcome, 'TypeError');
  });

  it('after sign-out, none of the API answers the console read can be had from the browser\'s cache', async () => {
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } })).status, 201);
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    const read = new Set<string>();
    page.on('response', (r) => {
      if (r.request().method() === 'GET' && new URL(r.url()).pathname.startsWith('/api/') && r.status() === 200) read.add(r.url());
    });
    await signIn(page, 'root', 'admin-password-1', '/admin/users');
    await page.locator('[data-users] a', { hasText: 'root@example.com' }).waitFor();
    await page.goto(`${s.url}/account`);
    await page.locator('[data-fact="email"]', { hasText: 'root@example.com' }).waitFor();
    await page.locator('[data-sessions] li').first().waitFor();
    assert.ok([...read].some((u) => u.includes('/api/v1/users?')) && [...read].some((u) => u.endsWith('/api/v1/auth/me')), [...read].join(' '));

    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/account\/signin/);
    assert.deepEqual(await ctx.cookies(), [], 'signed out');
    // Whoever uses this browser next, on this origin: a cached copy would be answered without any cookie.
    const fromCache = await page.evaluate(async (urls) => Promise.all(urls.map(async (u) => {
      const r = await fetch(u, { cache: 'force-cache' });
      return `${r.status} ${u}`;
    })), [...read]);
    assert.deepEqual(fromCache.filter((line) => line.startsWith('200 ')), [], 'answered from the cache after sign-out');
  });

  it('a sign-out the server did not complete says so and leaves the page; the next one signs out', async () => {
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'alice', email: 'alice@example.com', password: 'alice-password-1' } })).status, 201);
    const ctx = await browser.newContext({ locale: 'en-US' });
    const page = await ctx.newPage();
    await signIn(page, 'alice', 'alice-password-1', '/account');
    await page.locator('[data-fact="email"]', { hasText: 'alice@example.com' }).waitFor();
    // The server cannot end the session now (its database is down, or it is shutting down).
    await page.route('**/api/v1/auth/logout*', (route) => route.fulfill({
      status: 503, contentType: 'application/json', headers: { 'retry-after': '1' },
      body: JSON.stringify({ message: 'The server is shutting down; retry the request', data: null, code: 'ERR_UNAVAILABLE' }),
    }));
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await Promise.race([page.waitForURL(/\/account\/signin/), page.locator('[data-notice]:not(:empty)').waitFor()]);
    assert.equal(page.url(), `${s.url}/account`, 'not sent to sign in as if signed out');
    assert.match(await page.locator('[data-notice]').textContent() ?? '', /still signed in/i);
    const session = (await ctx.cookies()).map((c) => `${c.name}=${c.value}`).join('; ');
    assert.equal((await call(`${s.url}/api/v1/auth/me`, { headers: { cookie: session } })).status, 200, 'the session is indeed still live');

    await page.unroute('**/api/v1/auth/logout*');
    await page.getByRole('button', { name: 'Sign out', exact: true }).click();
    await page.waitForURL(/\/account\/signin/);
    assert.equal((await call(`${s.url}/api/v1/auth/me`, { headers: { cookie: session } })).status, 403, 'its token is refused');
  });

  it('an audit-log link whose time is no time says so beside the field, not a blank page', async () => {
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } })).status, 201);
    const page = await (await browser.newContext({ locale: 'en-US' })).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await signIn(page, 'root', 'admin-password-1', '/admin');
    for (const [query, field] of [['from=yesterday', 'from'], ['to=2026-13-45T99%3A00', 'to']] as const) {
      await page.goto(`${s.url}/admin/audit?${query}`);
      const thrown = page.waitForEvent('pageerror').catch(() => undefined); // the page's script failed instead
      await Promise.race([page.locator(`#audit-${field}-error:not(:empty)`).waitFor(), thrown]);
      assert.deepEqual(errors, [], query);
      assert.match(await page.locator(`#audit-${field}-error`).textContent() ?? '', /ISO 8601/, query);
    }
  });
});
