// Warden behind a real nginx (Debian's), configured with the README's own snippets:
//  - forward auth: a cookie-borne POST to an app behind auth_request needs X-CSRF-TOKEN, as
//    Warden's own routes do; a GET with the cookie, or a Bearer POST, passes;
//  - the proxy: with TRUST_PROXY=1 the client IP is the one nginx saw, whatever X-Forwarded-For
//    the client forges.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { startNginx, nginxOrSkip, type RunningNginx } from './helpers/nginx.js';
import { call, cookieHeader, cookiesFrom, startServer, type Running } from './helpers/server.js';

/** A fenced block of the README between `<!-- name:start -->` and `<!-- name:end -->`. */
function readmeSnippet(name: string): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = readme.split(`<!-- ${name}:start -->`)[1]!.split(`<!-- ${name}:end -->`)[0]!;
  return /```nginx\n([\s\S]*?)```/.exec(block)![1]!;
}

interface AppRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

describe('behind nginx, configured as the README says', { skip: nginxOrSkip() }, () => {
  let warden: Running;
  let app: Server;
  let nginx: RunningNginx;
  const reached: AppRequest[] = [];

  before(async () => {
    warden = await startServer({ TRUST_PROXY: '1' });
    app = createServer((req, res) => {
      reached.push({ method: req.method!, url: req.url!, headers: req.headers });
      res.end('app');
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appAddress = app.address();
    const appPort = typeof appAddress === 'object' && appAddress ? appAddress.port : 0;
    const wardenHost = new URL(warden.url).host;
    const conf = `${readmeSnippet('nginx-forward-auth')}\n${readmeSnippet('nginx-proxy')}`
      .replaceAll('http://warden:8000', `http://${wardenHost}`)
      .replaceAll('http://app:3000', `http://127.0.0.1:${appPort}`);
    nginx = await startNginx(conf);
  });
  after(async () => {
    await nginx?.close();
    await new Promise((resolve) => app?.close(resolve));
    await warden?.close();
  });

  /** Signs in through nginx; returns the cookies and the access token. */
  async function signIn(user: string, roles?: string[]): Promise<{ cookie: string; csrf: string; token: string }> {
    await call(`${nginx.url}/api/auth/signup`, { json: { username: user, email: `${user}@example.com`, password: 'password-123', ...(roles && { roles }) } });
    const r = await call(`${nginx.url}/api/auth/signin`, { json: { username: user, password: 'password-123' } });
    assert.equal(r.status, 200);
    const cookies = cookiesFrom(r.headers);
    return { cookie: cookieHeader(cookies), csrf: cookies.csrf_access_token!, token: r.json.access_token };
  }

  it('forward auth: a cookie-only POST without X-CSRF-TOKEN never reaches the app; with it, it does', async () => {
    const { cookie, csrf, token } = await signIn('fwd');
    const userId = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).sub;
    const send = (method: string, headers: Record<string, string>) =>
      call(`${nginx.url}/app/orders`, { method, headers, body: method === 'GET' ? undefined : '{}' });

    reached.length = 0;
    const refusedHeaders: Array<Record<string, string>> = [
      { cookie },
      { cookie, 'x-csrf-token': 'not-the-value' },
      { cookie, 'x-forwarded-method': 'GET' }, // a client cannot downgrade the method it is judged by
      { cookie, 'x-original-method': 'GET' },
    ];
    for (const headers of refusedHeaders) {
      const refused = await send('POST', headers);
      assert.equal(refused.status, 401, JSON.stringify(Object.keys(headers)));
    }
    for (const method of ['PUT', 'PATCH', 'DELETE']) assert.equal((await send(method, { cookie })).status, 401, method);
    assert.equal(reached.length, 0, 'nothing reached the app');

    assert.equal((await send('POST', { cookie, 'x-csrf-token': csrf })).status, 200);
    assert.equal((await send('GET', { cookie })).status, 200);
    assert.equal((await send('POST', { authorization: `Bearer ${token}` })).status, 200, 'a Bearer token is not CSRF-prone');
    assert.deepEqual(reached.map((r) => r.method), ['POST', 'GET', 'POST']);
    for (const r of reached) assert.equal(r.headers['x-auth-user'], userId);
    assert.equal((await send('GET', {})).status, 401, 'no token at all');
  });

  it('forward auth: a client\'s own X-Auth-User / X-Auth-Roles never reach the app, spelt with underscores either, nor for a user with no roles', async () => {
    const users = [await signIn('plainfwd'), await signIn('rolelessfwd', [])];
    for (const [i, user] of users.entries()) {
      const sub = JSON.parse(Buffer.from(user.token.split('.')[1]!, 'base64url').toString()).sub;
      reached.length = 0;
      const forged = { 'x-auth-user': 'someone-else', 'x-auth-roles': 'admin', 'x_auth_user': 'someone-else', 'x_auth_roles': 'admin' };
      assert.equal((await call(`${nginx.url}/app/me`, { headers: { ...forged, authorization: `Bearer ${user.token}` } })).status, 200);
      const h = reached[0]!.headers;
      // nginx drops a header with an underscore (underscores_in_headers off), which gunicorn before 22 would read as X-Auth-Roles.
      assert.deepEqual([h['x-auth-user'], h['x-auth-roles'], h['x_auth_user'], h['x_auth_roles']], [sub, i === 0 ? 'user' : undefined, undefined, undefined]);
    }
  });

  it('TRUST_PROXY=1 behind nginx: the session IP is the address nginx saw; a forged X-Forwarded-For rotates in vain', async () => {
    const { token } = await signIn('proxied');
    const sessions = await call(`${nginx.url}/api/v1/auth/sessions`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(sessions.json.data[0].ip, '127.0.0.1');

    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await call(`${nginx.url}/api/auth/signin`, {
        json: { username: 'proxied', password: `guess-${i}` }, headers: { 'x-forwarded-for': `198.18.0.${i}` },
      });
      statuses.push(r.status);
    }
    assert.deepEqual(statuses, [...Array(10).fill(401), ...Array(10).fill(429)]);
    await call(`${nginx.url}/api/auth/signup`, { json: { username: 'forger', email: 'forger@example.com', password: 'password-123' } });
    const forgedLogin = await call(`${nginx.url}/api/v1/auth/login`, {
      form: { username: 'forger@example.com', password: 'password-123' }, headers: { 'x-forwarded-for': '6.6.6.6' },
    });
    const listed = await call(`${nginx.url}/api/v1/auth/sessions`, { headers: { authorization: `Bearer ${forgedLogin.json.data.access_token}` } });
    assert.ok(listed.json.data.every((s: { ip: string }) => s.ip === '127.0.0.1'), JSON.stringify(listed.json.data));
  });

  it('a browser without Sec-Fetch-Site signs in from nginx\'s own origin on a port of its own; another origin is refused', async () => {
    await call(`${nginx.url}/api/auth/signup`, { json: { username: 'oldbrowser', email: 'oldbrowser@example.com', password: 'password-123' } });
    const signIn = (origin: string) =>
      call(`${nginx.url}/api/auth/signin`, { json: { username: 'oldbrowser', password: 'password-123' }, headers: { origin } });
    assert.equal((await signIn(nginx.url)).status, 200, 'the Host nginx passes on keeps the port the Origin names');
    const other = await signIn('http://127.0.0.1:1');
    assert.equal(other.status, 403);
    assert.equal(other.json.code, 'ERR_CROSS_SITE');
  });
});

describe('forward auth judges CSRF on the proxied method (without a proxy)', () => {
  it('X-Forwarded-Method / X-Original-Method naming an unsafe method require X-CSRF-TOKEN with the cookie', async () => {
    const s = await startServer();
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'direct', email: 'direct@example.com', password: 'password-123' } });
      const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'direct', password: 'password-123' } });
      const cookies = cookiesFrom(r.headers);
      const cookie = cookieHeader(cookies);
      const verify = (headers: Record<string, string>) => call(`${s.url}/api/v1/auth/verify`, { headers });
      assert.equal((await verify({ cookie })).status, 200);
      assert.equal((await verify({ cookie, 'x-forwarded-method': 'GET' })).status, 200);
      for (const header of ['x-forwarded-method', 'x-original-method']) {
        for (const method of ['POST', 'put', 'PATCH', 'DELETE']) {
          const refused = await verify({ cookie, [header]: method });
          assert.equal(refused.status, 401, `${header}: ${method}`);
          assert.equal(refused.json.code, 'ERR_CSRF_MISSING');
        }
        assert.equal((await verify({ cookie, [header]: 'POST', 'x-csrf-token': 'wrong' })).json.code, 'ERR_CSRF_MISMATCH');
        assert.equal((await verify({ cookie, [header]: 'POST', 'x-csrf-token': cookies.csrf_access_token! })).status, 200);
        assert.equal((await verify({ authorization: `Bearer ${r.json.access_token}`, [header]: 'POST' })).status, 200);
      }
    } finally {
      await s.close();
    }
  });
});
