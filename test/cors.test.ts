// CORS_ORIGINS over HTTP: preflights answered for listed origins (with credentials), nothing for
// others, and the configuration refusing `*`. The browser side is test/cors-browser.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { call, startServer, type Running } from './helpers/server.js';

const APP = 'http://app.example.test:5173';

describe('CORS_ORIGINS', () => {
  let s: Running;
  before(async () => {
    s = await startServer({ CORS_ORIGINS: `${APP},https://admin.example.test` });
  });
  after(() => s.close());

  const preflight = (origin: string, method: string, headers: string) => fetch(`${s.url}/api/v1/auth/me`, {
    method: 'OPTIONS', headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
  });

  it('a listed origin\'s preflight is answered: that origin, credentials, the methods and headers Warden reads', async () => {
    const r = await preflight(APP, 'POST', 'content-type,x-csrf-token,authorization');
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), APP);
    assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
    assert.match(r.headers.get('access-control-allow-methods')!, /POST/);
    assert.match(r.headers.get('access-control-allow-methods')!, /DELETE/);
    const allowed = r.headers.get('access-control-allow-headers')!.toLowerCase();
    for (const h of ['authorization', 'content-type', 'x-csrf-token']) assert.ok(allowed.includes(h), allowed);
    assert.equal(r.headers.get('access-control-max-age'), '600');
    assert.match(r.headers.get('vary') ?? '', /Origin/);
  });

  it('Swagger UI\'s Authorize from a listed origin (a FastAPI service\'s /docs whose tokenUrl is Warden\'s): its preflight allows X-Requested-With and Authorization', async () => {
    // Swagger UI sends X-Requested-With: XMLHttpRequest and, by default, HTTP Basic client credentials.
    for (const path of ['/token', '/oauth/token']) {
      const r = await fetch(`${s.url}${path}`, {
        method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-requested-with' },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), APP);
      const allowed = r.headers.get('access-control-allow-headers')!.toLowerCase().split(/,\s*/);
      for (const h of ['authorization', 'x-requested-with', 'content-type']) assert.ok(allowed.includes(h), `${path}: ${allowed}`);
    }
  });

  it('a listed origin\'s request gets its origin back; an unlisted one gets no Access-Control-Allow-Origin', async () => {
    const listed = await call(`${s.url}/health`, { headers: { origin: 'https://admin.example.test' } });
    assert.equal(listed.headers.get('access-control-allow-origin'), 'https://admin.example.test');
    assert.match(listed.headers.get('access-control-expose-headers') ?? '', /WWW-Authenticate/);
    for (const origin of ['https://evil.example.test', 'http://app.example.test', `${APP}.evil.test`, 'null']) {
      const r = await call(`${s.url}/health`, { headers: { origin } });
      assert.equal(r.headers.get('access-control-allow-origin'), null, origin);
      const p = await preflight(origin, 'POST', 'content-type');
      assert.equal(p.headers.get('access-control-allow-origin'), null, origin);
    }
  });

  it('the preflight route, which answers OPTIONS on every path, makes no unknown path known: 404, and Allow lists the routes\' methods', async () => {
    for (const path of ['/nothing', '/api/v1/nothing', '/api/v1/users/a/b/c']) {
      const r = await call(`${s.url}${path}`);
      assert.equal(r.status, 404, path);
      assert.equal(r.headers.get('allow'), null, path);
    }
    const known = await call(`${s.url}/api/v1/auth/me`, { method: 'PUT' });
    assert.equal(known.status, 405);
    assert.equal(known.headers.get('allow'), 'GET, HEAD, PATCH');
    const preflight = await fetch(`${s.url}/nothing`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
    assert.equal(preflight.status, 204, 'preflights are still answered everywhere');
  });

  it('a request without an Origin header is not touched: no Access-Control-* header, no Vary', async () => {
    const r = await call(`${s.url}/health`);
    assert.deepEqual([...r.headers.keys()].filter((h) => h.startsWith('access-control-') || h === 'vary'), []);
  });

  it('an unlisted origin cannot sign in with cookies (the cross-site check); a listed one can', async () => {
    const body = { username: 'nobody', password: 'password-123' };
    const foreign = await call(`${s.url}/api/auth/signin`, { json: body, headers: { origin: 'https://evil.example.test', 'sec-fetch-site': 'cross-site' } });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get('set-cookie'), null);
    const listed = await call(`${s.url}/api/auth/signin`, { json: body, headers: { origin: APP, 'sec-fetch-site': 'cross-site' } });
    assert.equal(listed.status, 401, 'past the cross-site check, to the password check');
  });

  it('a listed origin gets past the cross-site check of the second-factor steps too (verify, passkey sign-in)', async () => {
    for (const [path, json] of [['/api/v1/auth/mfa/verify', { mfa_token: 'not-a-token', code: '123456' }], ['/api/v1/auth/passkey/login', { id: 'x' }]] as const) {
      const foreign = await call(`${s.url}${path}`, { json, headers: { origin: 'https://evil.example.test', 'sec-fetch-site': 'cross-site' } });
      assert.equal(foreign.status, 403, path);
      assert.equal(foreign.json.code, 'ERR_CROSS_SITE');
      const listed = await call(`${s.url}${path}`, { json, headers: { origin: APP, 'sec-fetch-site': 'cross-site' } });
      assert.notEqual(listed.json.code, 'ERR_CROSS_SITE', path);
      assert.ok(listed.status >= 400 && listed.status < 500, `${path}: ${listed.status}`);
    }
  });

  it('without CORS_ORIGINS: no CORS headers and no preflight route', async () => {
    const plain = await startServer();
    try {
      const r = await fetch(`${plain.url}/api/v1/auth/me`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'GET' } });
      // No preflight route: OPTIONS is a method the path does not take (405, as FastAPI without CORS answers).
      assert.equal(r.status, 405);
      assert.equal(r.headers.get('allow'), 'GET, HEAD, PATCH');
      assert.equal(r.headers.get('access-control-allow-origin'), null);
    } finally {
      await plain.close();
    }
  });

  it('with another JWT_HEADER_NAME, the preflight allows it and still Authorization (the token endpoints\' client credentials)', async () => {
    const custom = await startServer({ CORS_ORIGINS: APP, JWT_HEADER_NAME: 'X-Access-Token' });
    try {
      const r = await fetch(`${custom.url}/token`, { method: 'OPTIONS', headers: { origin: APP, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-access-token' } });
      assert.equal(r.status, 204);
      assert.deepEqual(r.headers.get('access-control-allow-headers'), 'X-Access-Token, Authorization, Content-Type, X-CSRF-TOKEN, X-Requested-With');
    } finally {
      await custom.close();
    }
  });

  it('the configuration takes exact origins only: never *, null, a path or a trailing slash', () => {
    assert.deepEqual(loadConfig({ CORS_ORIGINS: ' https://a.test , http://b.test:8080 ' }).cors.origins, ['https://a.test', 'http://b.test:8080']);
    for (const bad of ['*', 'null', 'https://a.test/', 'https://a.test/app', 'a.test', 'ftp://a.test', 'https://a.test,*']) {
      assert.throws(() => loadConfig({ CORS_ORIGINS: bad }), /CORS_ORIGINS must list/, bad);
    }
  });
});
