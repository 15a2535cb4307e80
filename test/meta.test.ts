// Health, readiness, the OpenAPI document, the docs page and the 404 body.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

describe('meta routes', () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('health and readiness', async () => {
    assert.deepEqual((await call(`${s.url}/health`)).json, { status: 'ok' });
    assert.deepEqual((await call(`${s.url}/ready`)).json, { status: 'ready', storage: 'sqlite' });
  });

  it('the OpenAPI document lists every route, with request bodies where there are some', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json;
    for (const path of ['/api/auth/signup', '/api/auth/signin', '/api/auth/refresh', '/api/auth/signout', '/api/users',
      '/api/v1/auth/login', '/api/v1/auth/refresh', '/api/v1/auth/me', '/api/v1/auth/logout', '/api/v1/auth/sessions/{id}',
      '/api/v1/auth/password', '/api/v1/auth/verify', '/api/v1/users', '/api/v1/users/{id}', '/oauth/token', '/oauth/revoke',
      '/.well-known/jwks.json', '/health', '/ready']) {
      assert.ok(doc.paths[path], path);
    }
    const signin = doc.paths['/api/auth/signin'].post.requestBody.content;
    assert.deepEqual(Object.keys(signin).sort(), ['application/json', 'application/x-www-form-urlencoded']);
    assert.deepEqual(doc.paths['/oauth/token'].post.requestBody.content['application/x-www-form-urlencoded'].schema.required, ['grant_type']);
  });

  it('the docs page is served', async () => {
    const r = await fetch(`${s.url}/docs/`);
    assert.equal(r.status, 200);
    assert.match(await r.text(), /swagger/i);
  });

  it('an unknown route is a 404 with a code', async () => {
    const r = await call(`${s.url}/nope`);
    assert.equal(r.status, 404);
    assert.deepEqual(r.json, { detail: 'Not Found', code: 'ERR_NOT_FOUND' });
  });
});
