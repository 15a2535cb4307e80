// Login CSRF: a page on another site cannot sign a browser in (or swap its tokens) through the
// routes that set auth cookies: a browser's cross-site request gets 403 ERR_CROSS_SITE and no cookie.
// Same-origin pages, and clients that send no Origin / Sec-Fetch-Site (curl, servers), still work.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';
import { CHROMIUM, launchChromium } from './helpers/browser.js';

const EVIL = 'https://evil.example';

describe('login CSRF: cookie-setting routes refuse browsers\' cross-site requests', () => {
  let s: Running;
  let refreshToken: string;
  before(async () => {
    s = await startServer();
    await call(`${s.url}/api/auth/signup`, { json: { username: 'attacker', email: 'attacker@example.com', password: 'password-123' } });
    refreshToken = (await call(`${s.url}/api/auth/signin`, { json: { username: 'attacker', password: 'password-123' } })).json.refresh_token;
  });
  after(() => s.close());

  const form = { username: 'attacker', password: 'password-123' };
  const routes = (): Array<{ path: string; form: Record<string, string>; shape: 'detail' | 'envelope' }> => [
    { path: '/api/auth/signin', form, shape: 'detail' },
    { path: '/api/v1/auth/login', form: { username: 'attacker@example.com', password: 'password-123' }, shape: 'envelope' },
    { path: '/api/auth/refresh', form: { refresh_token: refreshToken }, shape: 'detail' },
    { path: `/api/v1/auth/refresh?refresh_token=${refreshToken}`, form: {}, shape: 'envelope' },
  ];

  it('a cross-site form post gets 403 ERR_CROSS_SITE and no Set-Cookie, on every cookie-setting route', async () => {
    const browserSays: Array<Record<string, string>> = [
      { origin: EVIL, 'sec-fetch-site': 'cross-site' }, // today's browsers
      { origin: EVIL }, // a browser without Fetch Metadata
      { origin: 'null' }, // a sandboxed or data: page
      { origin: `https://sibling.127.0.0.1`, 'sec-fetch-site': 'same-site' }, // another subdomain of the site
      { 'sec-fetch-site': 'cross-site' },
    ];
    for (const route of routes()) {
      for (const headers of browserSays) {
        const r = await call(`${s.url}${route.path}`, { form: route.form, headers });
        assert.equal(r.status, 403, `${route.path} ${JSON.stringify(headers)}`);
        assert.equal(r.json.code, 'ERR_CROSS_SITE');
        assert.equal(route.shape === 'detail' ? r.json.detail : r.json.message, 'Cross-site request refused');
        assert.deepEqual(r.headers.getSetCookie(), []);
      }
    }
  });

  it('same-origin browsers and header-less clients (curl, servers) are served as before', async () => {
    const ownOrigin = new URL(s.url).origin;
    const allowed: Array<Record<string, string>> = [
      {},
      { origin: ownOrigin, 'sec-fetch-site': 'same-origin' },
      { origin: ownOrigin }, // an older browser on Warden's own origin
      { 'sec-fetch-site': 'none' }, // a navigation the user started
    ];
    for (const headers of allowed) {
      const signin = await call(`${s.url}/api/auth/signin`, { form, headers });
      assert.equal(signin.status, 200, JSON.stringify(headers));
      assert.equal(signin.headers.getSetCookie().length, 4);
      const refreshed = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${signin.json.refresh_token}`, { method: 'POST', headers });
      assert.equal(refreshed.status, 200, JSON.stringify(headers));
    }
    // Other routes are not judged: a cross-site request to them is the guard's business (CSRF double submit).
    assert.equal((await call(`${s.url}/health`, { headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } })).status, 200);
  });
});

describe('login CSRF in a real browser (Chromium)', { skip: existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): browser test not run` }, () => {
  it('a form on another site auto-posting to sign-in gets 403 and sets no cookie; the same form on Warden\'s origin signs in', async () => {
    const port = () => new URL(s.url).port;
    const formPage = (action: string) => `<!doctype html><form method="POST" action="${action}">
      <input name="username" value="attacker"><input name="password" value="password-123"></form>
      <script>document.forms[0].submit()</script>`;
    const s: Running = await startServer({}, {
      // The page posts to Warden at 127.0.0.1; opened as http://localhost/form it is another site's.
      routes: (app) => app.get('/form', (_req, reply) => void reply.type('text/html').send(formPage(`http://127.0.0.1:${port()}/api/auth/signin`))),
    });
    const browser = await launchChromium();
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'attacker', email: 'attacker@example.com', password: 'password-123' } });
      const context = await browser.newContext();
      const page = await context.newPage();
      for (const [host, status, cookies] of [['localhost', 403, 0], ['127.0.0.1', 200, 4]] as const) {
        const answered = page.waitForResponse((r) => r.url().endsWith('/api/auth/signin'));
        await page.goto(`http://${host}:${port()}/form`);
        const response = await answered;
        assert.equal(response.status(), status, host);
        const sent = await response.request().allHeaders();
        assert.equal(sent['sec-fetch-site'], host === 'localhost' ? 'cross-site' : 'same-origin');
        assert.equal((await context.cookies(`http://127.0.0.1:${port()}`)).length, cookies, host);
      }
    } finally {
      await browser.close();
      await s.close();
    }
  });
});
