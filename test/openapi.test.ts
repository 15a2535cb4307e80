// The OpenAPI document is complete and true: every operation lists the statuses it answers with
// bodies rendered from the error registry (the same rendering the routes send), its query
// parameters, media types and security. Route by route, every status the HTTP tests observe must be
// documented: test/helpers/server.ts records them and fails the test's close() otherwise — checked
// here against a route that answers an undocumented status.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifySchema } from 'fastify';
import { ERROR_CODES } from '../toolkit/src/errors.js';
import { operationId } from '../src/http/docs.js';
import { call, startServer, type Running } from './helpers/server.js';

type Op = {
  operationId?: string;
  security?: unknown[];
  parameters?: { in: string; name: string }[];
  requestBody?: { required?: boolean; content: Record<string, unknown> };
  responses: Record<string, { description: string; content?: Record<string, { examples?: Record<string, { value: unknown }> }>; headers?: Record<string, unknown> }>;
};

describe('the OpenAPI document', () => {
  let s: Running;
  let doc: { paths: Record<string, Record<string, Op>>; security?: unknown };
  const ops: [string, string, Op][] = [];
  before(async () => {
    s = await startServer();
    doc = (await call(`${s.url}/openapi.json`)).json;
    for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) ops.push([method.toUpperCase(), path, op]);
  });
  after(() => s.close());

  const op = (method: string, path: string) => doc.paths[path]![method.toLowerCase()]!;

  it('every operation documents a success and real statuses, never "Default Response"', () => {
    assert.ok(ops.length >= 27, `${ops.length} operations`);
    for (const [method, path, o] of ops) {
      const statuses = Object.keys(o.responses);
      assert.ok(statuses.some((x) => x.startsWith('2')), `${method} ${path} has a 2xx`);
      for (const [status, r] of Object.entries(o.responses)) {
        assert.notEqual(r.description, 'Default Response', `${method} ${path} ${status}`);
        assert.match(status, /^[1-5]\d\d$/);
      }
    }
  });

  it('each error example carries a registry code, and every example of a status renders to that status', () => {
    let examples = 0;
    for (const [method, path, o] of ops) {
      for (const [status, r] of Object.entries(o.responses)) {
        // /ready's 503 is its own body; a mailed link's page answers its refusals as HTML pages.
        if (Number(status) < 400 || !r.content?.['application/json'] || path === '/ready') continue;
        const ex = r.content['application/json']!.examples;
        assert.ok(ex && Object.keys(ex).length > 0, `${method} ${path} ${status} has examples`);
        for (const code of Object.keys(ex)) {
          assert.ok(code in ERROR_CODES, `${method} ${path} ${status}: ${code}`);
          examples++;
          // Families keep the registry's status, but for the two documented departures.
          const registry = ERROR_CODES[code as keyof typeof ERROR_CODES].status;
          const oauthRemap = path.startsWith('/oauth/') && Number(status) === 400;
          const meRemap = path === '/api/v1/auth/me' && Number(status) === 403 && (code.startsWith('ERR_JWT_'));
          assert.ok(registry === Number(status) || oauthRemap || meRemap, `${method} ${path}: ${code} documented as ${status}, registry says ${registry}`);
        }
      }
    }
    assert.ok(examples > 200, `${examples} examples`);
  });

  it('a documented example is exactly what the route sends', async () => {
    const cases: [string, string, RequestInit, number, string][] = [
      ['POST', '/token', { method: 'POST', body: 'username=nobody&password=nothing-here', headers: { 'content-type': 'application/x-www-form-urlencoded' } }, 401, 'ERR_BAD_CREDENTIALS'],
      ['POST', '/api/login', { method: 'POST', body: '{"email":"nobody@example.com","password":"nothing-here"}', headers: { 'content-type': 'application/json' } }, 401, 'ERR_BAD_CREDENTIALS'],
      ['GET', '/api/v1/auth/me', { method: 'GET' }, 403, 'ERR_JWT_MISSING'],
      ['GET', '/api/users', { method: 'GET', headers: { authorization: 'Bearer a.b.c' } }, 401, 'ERR_JWT_MALFORMED'],
      ['POST', '/api/auth/signin', { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }, 400, 'ERR_MISSING_CREDENTIALS'],
      ['POST', '/api/v1/auth/signup', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } }, 415, 'ERR_MEDIA_TYPE'],
    ];
    for (const [method, path, init, status, code] of cases) {
      const r = await fetch(`${s.url}${path}`, init);
      assert.equal(r.status, status, `${method} ${path}`);
      const documented = op(method, path).responses[String(status)]!.content!['application/json']!.examples![code]!.value as Record<string, unknown>;
      const body = await r.json() as Record<string, unknown>;
      // The missing-token text names the route's locations; everything else is identical.
      if (code === 'ERR_JWT_MISSING') assert.deepEqual(Object.keys(body), Object.keys(documented));
      else assert.deepEqual(body, documented, `${method} ${path}`);
    }
  });

  it('token errors are documented as each route answers them: 403 on /api/v1/auth/me, 401 elsewhere', () => {
    const me = op('GET', '/api/v1/auth/me').responses;
    assert.equal(me['401'], undefined);
    assert.ok(me['403']!.content!['application/json']!.examples!.ERR_JWT_EXPIRED);
    const users = op('GET', '/api/users').responses;
    assert.ok(users['401']!.content!['application/json']!.examples!.ERR_JWT_EXPIRED);
    assert.ok(users['403']!.content!['application/json']!.examples!.ERR_ROLE_REQUIRED);
    assert.ok(users['401']!.headers!['www-authenticate']);
    assert.ok(op('POST', '/api/v1/auth/password').responses['403']!.content!['application/json']!.examples!.ERR_FRESH_REQUIRED);
    // Cookies are accepted by default, so unsafe methods document the CSRF double submit.
    assert.ok(op('POST', '/api/auth/signout').responses['401']!.content!['application/json']!.examples!.ERR_CSRF_MISSING);
    assert.equal(op('GET', '/api/v1/auth/sessions').responses['401']!.content!['application/json']!.examples!.ERR_CSRF_MISSING, undefined);
  });

  it('security per route: public routes carry no lock, optional ones allow anonymous, refresh routes take a pasted token', () => {
    assert.equal(doc.security, undefined);
    const bearerOrOauth = [{ OAuth2PasswordBearer: [] }, { bearer: [] }];
    const PUBLIC = [
      'POST /token', 'POST /login', 'POST /api/login', 'POST /api/auth/signin', 'POST /api/v1/auth/login', 'POST /oauth/token',
      'POST /oauth/revoke', 'GET /.well-known/jwks.json', 'GET /health', 'GET /ready',
      // a sign-in's second step carries its MFA token in the body; passwordless sign-in carries a passkey's answer
      'POST /api/v1/auth/mfa/verify', 'POST /api/v1/auth/mfa/webauthn/options', 'POST /api/v1/auth/passkey/options', 'POST /api/v1/auth/passkey/login',
      // Account recovery and the links in mails: the token from the mail is the credential.
      'POST /api/v1/auth/password/forgot', 'POST /api/v1/auth/password/reset', 'POST /api/v1/auth/verify', 'POST /api/v1/auth/email/confirm',
      'GET /api/v1/auth/password/reset', 'GET /api/v1/auth/verify/confirm', 'GET /api/v1/auth/email/confirm',
      'POST /api/v1/auth/invite/accept', 'GET /api/v1/auth/invite/accept',
    ];
    for (const [method, path, o] of ops) {
      const expected = ['/api/auth/signup', '/api/v1/auth/signup'].includes(path) ? [{}, ...bearerOrOauth]
        : path.endsWith('/refresh') ? [{ bearer: [] }]
        : PUBLIC.includes(`${method} ${path}`) ? []
        : bearerOrOauth;
      assert.deepEqual(o.security, expected, `${method} ${path}`);
    }
  });

  it('query parameters are declared', () => {
    const names = (method: string, path: string) => (op(method, path).parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name).sort();
    assert.deepEqual(names('GET', '/api/users'), ['limit', 'offset']);
    assert.deepEqual(names('GET', '/api/v1/users'), ['active', 'email', 'legacy', 'limit', 'offset', 'role', 'username', 'verified']);
    assert.deepEqual(names('POST', '/api/v1/auth/logout'), ['scope']);
    assert.deepEqual(names('POST', '/api/v1/auth/refresh'), ['refresh_token']);
    assert.deepEqual((op('GET', '/api/v1/users/{id}').parameters ?? []).map((p) => `${p.in}:${p.name}`), ['path:id']);
  });

  it('media types: JSON and form where both are accepted, one where one is, multipart on FastAPI\'s form logins; refresh bodies are optional', () => {
    const media = (method: string, path: string) => Object.keys(op(method, path).requestBody!.content).sort();
    const both = ['application/json', 'application/x-www-form-urlencoded'];
    for (const path of ['/api/auth/signin', '/api/auth/signup', '/api/v1/auth/signup', '/api/v1/auth/password', '/api/v1/users', '/login']) {
      assert.deepEqual(media('POST', path), both, path);
    }
    assert.deepEqual(media('POST', '/api/v1/auth/login'), [...both, 'multipart/form-data']);
    assert.deepEqual(media('POST', '/token'), ['application/x-www-form-urlencoded', 'multipart/form-data']);
    for (const path of ['/oauth/token', '/oauth/revoke']) assert.deepEqual(media('POST', path), ['application/x-www-form-urlencoded'], path);
    assert.deepEqual(media('POST', '/api/login'), ['application/json']);
    for (const path of ['/api/auth/refresh', '/api/v1/auth/refresh']) assert.equal(op('POST', path).requestBody!.required, false, path);
    assert.equal(op('POST', '/api/auth/signin').requestBody!.required, true);
  });

  it('every operation has an operationId made of its method and path: unique, and stable while the route stays', () => {
    // Client generators (openapi-typescript's operations, orval, openapi-generator) name functions by it.
    const ids = ops.map(([method, path, o]) => {
      assert.equal(o.operationId, operationId(method, path), `${method} ${path}`);
      return o.operationId;
    });
    assert.equal(new Set(ids).size, ids.length);
    assert.equal(op('DELETE', '/api/v1/users/{id}/sessions/{sid}').operationId, 'deleteApiV1UsersByIdSessionsBySid');
    assert.equal(op('GET', '/.well-known/jwks.json').operationId, 'getWellKnownJwksJson');
  });

  it('every object a success answers with says which members it always carries', () => {
    // A typed client makes each member left out of `required` optional: every read of it a check.
    const loose: string[] = [];
    const visit = (x: unknown, at: string): void => {
      if (x === null || typeof x !== 'object') return;
      const o = x as { type?: unknown; properties?: unknown; required?: unknown };
      if (o.type === 'object' && o.properties !== undefined && !(Array.isArray(o.required) && o.required.length > 0)) loose.push(at);
      for (const [k, v] of Object.entries(o)) if (k !== 'examples') visit(v, `${at}.${k}`);
    };
    for (const [method, path, o] of ops) {
      for (const [status, r] of Object.entries(o.responses)) if (status.startsWith('2')) visit(r.content, `${method} ${path} ${status}`);
    }
    assert.deepEqual(loose, []);
  });

  it('a Fastify response schema changes nothing on the wire (documentation only)', async () => {
    // USER documents no "extra" member; the views decide what goes out, and the 201 is untouched.
    const r = await call(`${s.url}/api/auth/signup`, { json: { username: 'docs', email: 'docs@example.com', password: 'password-123' } });
    assert.equal(r.status, 201);
    assert.deepEqual(Object.keys(r.json).sort(), ['created_at', 'email', 'email_verified', 'full_name', 'id', 'is_active', 'roles', 'username']);
  });
});

describe('the OpenAPI document follows the configured token locations', () => {
  it('with JWT_TOKEN_LOCATION=headers,query_string: ?jwt= is declared and no CSRF errors are listed', async () => {
    const s = await startServer({ JWT_TOKEN_LOCATION: 'headers,query_string' });
    try {
      const doc = (await call(`${s.url}/openapi.json`)).json;
      const query = (path: string, method: string) => doc.paths[path][method].parameters.filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name).sort();
      assert.deepEqual(query('/api/users', 'get'), ['jwt', 'limit', 'offset']);
      assert.deepEqual(query('/api/v1/auth/sessions', 'get'), ['jwt', 'limit', 'offset']);
      assert.deepEqual(query('/api/v1/auth/refresh', 'post'), ['refresh_token'], 'the refresh route names its own parameter');
      assert.equal(doc.paths['/api/auth/signout'].post.responses['401'].content['application/json'].examples.ERR_CSRF_MISSING, undefined);
    } finally {
      await s.close();
    }
  });
});

describe('the status recorder of the test server', () => {
  it('fails a test whose route answered a status the document does not list', async () => {
    const schema: FastifySchema = { tags: ['test'], response: { 200: { description: 'tea', type: 'object' } } };
    const s = await startServer({}, {
      routes: (app) => app.get('/teapot', { schema }, (_req, reply) => void reply.code(418).send({ tea: true })),
    });
    assert.equal((await call(`${s.url}/teapot`)).status, 418);
    assert.equal((await call(`${s.url}/health`)).status, 200);
    await assert.rejects(() => s.close(), (e: Error) => {
      assert.match(e.message, /GET \/teapot -> 418/);
      assert.doesNotMatch(e.message, /health/);
      return true;
    });
  });
});
