// An administrator's console page about a user who is not there (deleted by another administrator,
// an old bookmark, an audit event's "About" link: the audit log keeps deleted accounts' ids) says
// so, and leaves the administrator signed in: the API's 404 ERR_USER_NOT_FOUND there is about
// that user, not about the caller's session.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { call, startServer, type Running } from './helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): console browser test not run`;

describe('console: a user page for a user who is gone', { skip }, () => {
  let s: Running;
  let browser: Browser;
  let adminToken: string;
  before(async () => {
    s = await startServer();
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } })).status, 201);
    adminToken = (await call(`${s.url}/api/auth/signin`, { json: { username: 'root', password: 'admin-password-1' } })).json.access_token;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('shows "User not found" and keeps the administrator signed in', async () => {
    const auth = { authorization: `Bearer ${adminToken}` };
    const created = await call(`${s.url}/api/v1/users`, { json: { username: 'gone', email: 'gone@example.com', password: 'gone-password-1' }, headers: auth });
    assert.equal(created.status, 201);
    const id: string = created.json.data.id;
    assert.equal((await call(`${s.url}/api/v1/users/${id}`, { method: 'DELETE', headers: auth })).status, 200);

    const ctx = await browser.newContext({ locale: 'en-US' });
    const page = await ctx.newPage();
    await page.goto(`${s.url}/account/signin`);
    await page.fill('#signin-username', 'root');
    await page.fill('#signin-password', 'admin-password-1');
    await page.press('#signin-password', 'Enter');
    await page.waitForURL(`${s.url}/account`);

    await page.goto(`${s.url}/admin/users/${id}`);
    await page.locator('[data-notice]', { hasText: 'User not found' }).waitFor();
    assert.equal(page.url(), `${s.url}/admin/users/${id}`, 'still on the user page, not sent to sign in');
    // Still signed in: the next page works without signing in again.
    await page.goto(`${s.url}/admin/users`);
    await page.locator('a', { hasText: 'root@example.com' }).waitFor();
    assert.equal(page.url(), `${s.url}/admin/users`);
    await ctx.close();
  });
});
