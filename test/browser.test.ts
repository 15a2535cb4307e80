// The cookie path in a real browser (Debian's Chromium driven by playwright-core): a page signs in,
// the token cookies are httpOnly (the page cannot read them) while the CSRF cookie is readable,
// the browser sends the cookie on its own, and an unsafe request needs the CSRF header.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { call, startServer, type Running } from './helpers/server.js';
import { CHROMIUM, launchChromium } from './helpers/browser.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): browser cookie test not run`;

// Served from Warden's own origin, so the cookies are first-party as they are for a real front end.
const PAGE = `<!doctype html><html><body><script>
  window.run = async () => {
    const out = {};
    const signin = await fetch('/api/auth/signin', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'browser', password: 'password-123' }) });
    out.signin = signin.status;
    out.cookieSeenByPage = document.cookie;
    out.users = (await fetch('/api/users')).status;
    out.signoutWithoutCsrf = (await fetch('/api/auth/signout', { method: 'POST' })).status;
    const csrf = document.cookie.split('; ').find((c) => c.startsWith('csrf_access_token=')).split('=')[1];
    out.signout = (await fetch('/api/auth/signout', { method: 'POST', headers: { 'X-CSRF-TOKEN': csrf } })).status;
    out.cookieAfterSignout = document.cookie;
    out.usersAfterSignout = (await fetch('/api/users')).status;
    return out;
  };
</script></body></html>`;

describe('browser: cookies and CSRF in Chromium', { skip }, () => {
  let s: Running;
  let browser: Browser;
  let page: Page;
  before(async () => {
    s = await startServer({ COOKIE_SAMESITE: 'strict' }, { routes: (app) => app.get('/page', (_req, reply) => void reply.type('text/html').send(PAGE)) });
    // The first account may take the admin role, so /api/users answers 200 to it.
    const r = await call(`${s.url}/api/auth/signup`, { json: { username: 'browser', email: 'browser@example.com', password: 'password-123', roles: ['admin'] } });
    assert.equal(r.status, 201);
    browser = await launchChromium();
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await s?.close();
  });

  it('signs in, sends the cookie by itself, cannot read the token, and signs out only with the CSRF header', async () => {
    await page.goto(`${s.url}/page`);
    const out = await page.evaluate(() => (window as unknown as { run(): Promise<Record<string, unknown>> }).run());
    assert.equal(out.signin, 200);
    assert.match(String(out.cookieSeenByPage), /csrf_access_token=/);
    assert.doesNotMatch(String(out.cookieSeenByPage), /access_token_cookie=|refresh_token_cookie=/, 'token cookies are httpOnly');
    assert.equal(out.users, 200, 'the browser sent the cookie on its own');
    assert.equal(out.signoutWithoutCsrf, 401);
    assert.equal(out.signout, 200);
    assert.doesNotMatch(String(out.cookieAfterSignout), /csrf_access_token=/, 'sign-out cleared the cookies');
    assert.equal(out.usersAfterSignout, 401);
    const cookies = await page.context().cookies();
    assert.deepEqual(cookies.map((c) => c.name), [], 'no cookie is left in the browser');
  });
});
