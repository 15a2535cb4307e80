// Headers that keep tokens out of caches and pages out of frames, and the log redaction of
// token-bearing query parameters however their names are percent-encoded.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { redactUrl } from '@warden/toolkit';
import { call, startServer } from './helpers/server.js';

describe('response headers', () => {
  it('every response that carries a token says no-store (and Pragma: no-cache)', async () => {
    const s = await startServer();
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'cache', email: 'cache@example.com', password: 'password-123' } });
      const signin = await call(`${s.url}/api/auth/signin`, { json: { username: 'cache', password: 'password-123' } });
      const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'cache@example.com', password: 'password-123' } });
      const refreshApi = await call(`${s.url}/api/auth/refresh`, { method: 'POST', headers: { authorization: `Bearer ${signin.json.refresh_token}` } });
      const refreshV1 = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${login.json.data.refresh_token}`, { method: 'POST' });
      const oauth = await call(`${s.url}/oauth/token`, { form: { grant_type: 'password', username: 'cache', password: 'password-123' } });
      for (const [name, r] of Object.entries({ signin, login, refreshApi, refreshV1, oauth })) {
        assert.equal(r.status, 200, name);
        assert.ok(JSON.stringify(r.json).includes('refresh_token'), `${name} carries tokens`);
        assert.equal(r.headers.get('cache-control'), 'no-store', name);
        assert.equal(r.headers.get('pragma'), 'no-cache', name);
      }
    } finally {
      await s.close();
    }
  });

  it('no-store on every answer that says nothing of its own caching (the API\'s personal data); the keys and static files keep theirs', async () => {
    const s = await startServer({ DATABASE_URL: 'memory:' });
    try {
      await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'admin-password-1', roles: ['admin'] } });
      const token: string = (await call(`${s.url}/api/v1/auth/login`, { json: { username: 'root', password: 'admin-password-1' } })).json.data.access_token;
      const auth = { authorization: `Bearer ${token}` };
      for (const path of ['/api/v1/auth/me', '/api/v1/users', '/api/v1/auth/sessions', '/api/v1/audit', '/api/users', '/health', '/nowhere']) {
        assert.equal((await call(`${s.url}${path}`, { headers: auth })).headers.get('cache-control'), 'no-store', path);
      }
      assert.equal((await call(`${s.url}/api/v1/users`)).headers.get('cache-control'), 'no-store', 'a refusal too');
      assert.match((await call(`${s.url}/.well-known/jwks.json`)).headers.get('cache-control')!, /^public, max-age=300/);
      assert.equal((await call(`${s.url}/console/static/api.js`)).headers.get('cache-control'), 'no-cache');
    } finally {
      await s.close();
    }
  });

  it('nosniff on every response; HSTS only when cookies are HTTPS-only', async () => {
    const plain = await startServer({ COOKIE_SECURE: 'false' });
    const secure = await startServer({ COOKIE_SECURE: 'true' });
    try {
      for (const path of ['/health', '/nowhere', '/api/users', '/docs', '/.well-known/jwks.json', '/openapi.json']) {
        const p = await call(`${plain.url}${path}`);
        const q = await call(`${secure.url}${path}`);
        assert.equal(p.headers.get('x-content-type-options'), 'nosniff', path);
        assert.equal(q.headers.get('x-content-type-options'), 'nosniff', path);
        assert.equal(p.headers.get('strict-transport-security'), null, path);
        assert.equal(q.headers.get('strict-transport-security'), 'max-age=31536000; includeSubDomains', path);
      }
      assert.equal((await call(`${secure.url}/api/users`)).status, 401, 'error answers carry them too');
    } finally {
      await plain.close();
      await secure.close();
    }
  });

  it('/docs cannot be framed', async () => {
    const s = await startServer();
    try {
      // Swagger UI's own HTML page among its static files (served by @fastify/static, outside the UI's routes) too.
      for (const path of ['/docs', '/docs/', '/docs/static/oauth2-redirect.html']) {
        const r = await call(`${s.url}${path}`);
        assert.equal(r.status, 200, path);
        assert.match(r.text, /swagger|oauth2-redirect/i);
        assert.equal(r.headers.get('x-frame-options'), 'DENY', path);
        assert.equal(r.headers.get('content-security-policy'), "frame-ancestors 'none'", path);
      }
      assert.equal((await call(`${s.url}/health`)).headers.get('x-frame-options'), null, 'the API is left alone');
    } finally {
      await s.close();
    }
  });
});

describe('log redaction', () => {
  it('redacts a secret parameter whatever the encoding of its name, and never throws', () => {
    const r = (q: string) => redactUrl(`/api/v1/auth/refresh?${q}`);
    assert.equal(r('refresh_token=abc.def'), '/api/v1/auth/refresh?refresh_token=[redacted]');
    assert.equal(r('refresh_%74oken=abc'), '/api/v1/auth/refresh?refresh_%74oken=[redacted]');
    assert.equal(r('%72%65fresh_token=abc&x=1'), '/api/v1/auth/refresh?%72%65fresh_token=[redacted]&x=1');
    assert.equal(r('refresh_%2574oken=abc'), '/api/v1/auth/refresh?refresh_%2574oken=[redacted]', 'decoded twice');
    assert.equal(r('Refresh_TOKEN=abc'), '/api/v1/auth/refresh?Refresh_TOKEN=[redacted]');
    assert.equal(r('a=1&j%77t=abc&pass%77ord=hunter2&b=2'), '/api/v1/auth/refresh?a=1&j%77t=[redacted]&pass%77ord=[redacted]&b=2');
    assert.equal(r('my+token=abc'), '/api/v1/auth/refresh?my+token=[redacted]');
    // Malformed or partial percent-encoding: left as is, the rest still judged.
    assert.equal(r('%E0%A4%A=1&%=2&%zz=3&to%ken=4&token%=5'), '/api/v1/auth/refresh?%E0%A4%A=1&%=2&%zz=3&to%ken=4&token%=[redacted]');
    assert.equal(r('next=%2Fhome&page=2'), '/api/v1/auth/refresh?next=%2Fhome&page=2');
    // A token whose name hides or is missing, or under an innocent name; a client secret.
    const jws = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    assert.equal(r(`refresh_token%3D${jws}&a=1`), '/api/v1/auth/refresh?[redacted]&a=1');
    assert.equal(r(`${jws}`), '/api/v1/auth/refresh?[redacted]');
    assert.equal(r(`t=${jws}`), '/api/v1/auth/refresh?t=[redacted]');
    assert.equal(r(`t=Bearer%20${jws.replace('eyJ', '%65yJ')}`), '/api/v1/auth/refresh?t=[redacted]');
    assert.equal(r('client_secret=s3cret&client_id=app'), '/api/v1/auth/refresh?client_secret=[redacted]&client_id=app');
    // /auth/mfa/verify's fields sent as a query (params= for data=): a recovery code works until used.
    assert.equal(r('recovery_code=k7qm-2xfa-p3zt-4bnd&code=123456&mfa_token=x'), '/api/v1/auth/refresh?recovery_code=[redacted]&code=[redacted]&mfa_token=[redacted]');
    assert.equal(r('flag&x=y'), '/api/v1/auth/refresh?flag&x=y');
    assert.equal(redactUrl('/health'), '/health');
    // A token a client put in the path (a URL no route takes, or a matrix parameter): its segment goes.
    assert.equal(redactUrl(`/api/v1/auth/me;jwt=${jws}`), '/api/v1/auth/[redacted]');
    assert.equal(redactUrl(`/api/v1/auth/me/${jws}?x=1`), '/api/v1/auth/me/[redacted]?x=1');
    assert.equal(redactUrl(`/api/v1/auth/me/Bearer%20${jws.replace('eyJ', '%65yJ')}/x?t=${jws}`), '/api/v1/auth/me/[redacted]/x?t=[redacted]');
    assert.equal(redactUrl('/api/v1/users/0192c4e2-7b1a-7c3e-9d4f-2a6b8c0d1e2f/sessions'), '/api/v1/users/0192c4e2-7b1a-7c3e-9d4f-2a6b8c0d1e2f/sessions');
  });

  it('a refresh token sent as ?refresh_%74oken= works and never reaches the debug log', async () => {
    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _enc, done) { lines.push(String(chunk)); done(); } });
    const s = await startServer({ LOG_LEVEL: 'debug' }, { logStream });
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'redact', email: 'redact@example.com', password: 'password-123' } });
      const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'redact@example.com', password: 'password-123' } });
      const token: string = login.json.data.refresh_token;
      const refreshed = await call(`${s.url}/api/v1/auth/refresh?refresh_%74oken=${token}`, { method: 'POST' });
      assert.equal(refreshed.status, 200, 'the server decodes the name: it is the refresh token');
      const all = lines.join('\n');
      assert.match(all, /refresh_%74oken=\[redacted\]/);
      assert.equal(all.includes(token.split('.')[2]!), false);
    } finally {
      await s.close();
    }
  });
});
