// A single-page app on another origin, in Debian's Chromium: pages served from two other ports of
// 127.0.0.1 (two origins), one listed in CORS_ORIGINS and one not. The listed page runs the README's
// own fetch code: cookies + CSRF, then a Bearer token. The unlisted page is refused by the browser,
// and its sign-in never reaches Warden's password check.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { call, startServer, type Running } from './helpers/server.js';
import { CHROMIUM, launchChromium } from './helpers/browser.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): browser CORS test not run`;

// The README's browser code, exactly (between its markers).
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const SPA = /<!-- spa-example:start -->\n```js\n([\s\S]*?)```\n<!-- spa-example:end -->/.exec(readme)![1]!;

const page = (warden: string) => `<!doctype html><html><body><script>
${SPA.replace("const WARDEN = 'https://auth.example.com';", `const WARDEN = ${JSON.stringify(warden)};`)}
window.cookieFlow = async () => {
  const out = {};
  out.signIn = await signIn('spa', 'password-123');
  out.csrfReadable = csrfToken() !== '';
  out.tokenCookieHidden = !document.cookie.includes('access_token_cookie');
  out.profile = (await profile()).status;
  out.signOutWithoutCsrf = (await fetch(WARDEN + '/api/v1/auth/logout', { method: 'POST', credentials: 'include' })).status;
  out.signOut = (await signOut()).status;
  out.profileAfter = (await profile()).status;
  return out;
};
window.signInStatus = () => signIn('spa', 'password-123');
window.signOutStatus = async () => (await signOut()).status;
window.bearerFlow = async () => {
  const token = await signInForToken('spa', 'password-123');
  const ok = await profileWithToken(token);
  const bad = await fetch(WARDEN + '/api/v1/auth/verify', { headers: { Authorization: 'Bearer not-a-token' } });
  return { profile: ok.status, user: (await ok.json()).data.email, refused: bad.status, wwwAuthenticate: bad.headers.get('WWW-Authenticate') };
};
window.attempt = async (what) => {
  try {
    if (what === 'signin') return { status: await signIn('spa', 'password-123') };
    if (what === 'bearer') return { status: (await profileWithToken(window.token)).status };
  } catch (e) {
    return { error: e.name };
  }
};
</script></body></html>`;

/** Serves one page on its own port of 127.0.0.1: its own origin. */
async function origin(html: () => string): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('browser: a SPA on another origin (Chromium)', { skip }, () => {
  let warden: Running;
  let browser: Browser;
  let listed: { url: string; server: Server };
  let unlisted: { url: string; server: Server };
  before(async () => {
    listed = await origin(() => page(warden.url));
    unlisted = await origin(() => page(warden.url));
    warden = await startServer({ CORS_ORIGINS: listed.url });
    const r = await call(`${warden.url}/api/auth/signup`, { json: { username: 'spa', email: 'spa@example.com', password: 'password-123' } });
    assert.equal(r.status, 201);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await warden?.close();
    listed?.server.close();
    unlisted?.server.close();
  });

  it('the listed origin signs in with cookies and calls the API with the CSRF header; signs out', async () => {
    const p = await browser.newPage();
    await p.goto(`${listed.url}/`);
    const out = await p.evaluate(() => (window as unknown as { cookieFlow(): Promise<Record<string, unknown>> }).cookieFlow());
    assert.deepEqual(out, {
      // /auth/me answers a missing or bad token with 403 (seed 004's contract).
      signIn: 200, csrfReadable: true, tokenCookieHidden: true, profile: 200, signOutWithoutCsrf: 401, signOut: 200, profileAfter: 403,
    });
    await p.close();
  });

  it('signing out once the access cookies have run out (ACCESS_TOKEN_EXPIRES_MINUTES) still ends the session', async () => {
    const context = await browser.newContext();
    const p = await context.newPage();
    await p.goto(`${listed.url}/`);
    assert.equal(await p.evaluate(() => (window as unknown as { signInStatus(): Promise<number> }).signInStatus()), 200);
    // What the browser holds after an idle quarter of an hour: the access cookies have reached their
    // Max-Age, the refresh cookies (REFRESH_TOKEN_EXPIRES_DAYS) have not.
    const [refreshCookie] = (await context.cookies(warden.url)).filter((c) => c.name === 'refresh_token_cookie');
    await context.clearCookies({ name: /^(access_token_cookie|csrf_access_token)$/ });
    assert.equal(await p.evaluate(() => (window as unknown as { signOutStatus(): Promise<number> }).signOutStatus()), 200);
    // The session is over: the refresh token the browser held is refused, wherever it is presented.
    const after = await call(`${warden.url}/api/auth/refresh`, { json: { refresh_token: refreshCookie!.value } });
    assert.equal(after.status, 401);
    assert.equal(after.json.detail, 'Token has been revoked');
    await context.close();
  });

  it('the listed origin uses a Bearer token; a refused one shows the page its WWW-Authenticate', async () => {
    const p = await browser.newPage();
    await p.goto(`${listed.url}/`);
    const out = await p.evaluate(() => (window as unknown as { bearerFlow(): Promise<Record<string, unknown>> }).bearerFlow());
    assert.equal(out.profile, 200);
    assert.equal(out.user, 'spa@example.com');
    assert.equal(out.refused, 401);
    assert.match(String(out.wwwAuthenticate), /^Bearer error="invalid_token"/);
    await p.close();
  });

  it('an unlisted origin is refused: its sign-in and its Bearer calls fail in the browser, and nothing signs in', async () => {
    const signins = async () => (await warden.warden.storage.events.list({ limit: 1000 })).filter((e) => e.type.startsWith('signin.')).length;
    const before = await signins();
    const token = (await call(`${warden.url}/api/auth/signin`, { json: { username: 'spa', password: 'password-123' } })).json.access_token as string;
    const p = await browser.newPage();
    await p.goto(`${unlisted.url}/`);
    await p.evaluate((t) => ((window as unknown as { token: string }).token = t), token);
    const signin = await p.evaluate(() => (window as unknown as { attempt(w: string): Promise<unknown> }).attempt('signin'));
    const bearer = await p.evaluate(() => (window as unknown as { attempt(w: string): Promise<unknown> }).attempt('bearer'));
    assert.deepEqual(signin, { error: 'TypeError' });
    assert.deepEqual(bearer, { error: 'TypeError' });
    assert.equal(await signins(), before + 1, 'only the test\'s own sign-in happened; the page\'s never reached Warden');
    await p.close();
  });
});
