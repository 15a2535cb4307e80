// Requests no route takes get an answer in the shape of the API their URL belongs to, with a stable
// code: an unknown path 404, a known path with another method 405 and Allow, a URL that does not
// decode 400, HTTP the parser refuses 400/431, and none of them Fastify's own body.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

describe('requests no route takes', () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('an unknown path: 404 in its API\'s shape', async () => {
    const cases: [string, unknown][] = [
      ['/nothing', { detail: 'Not Found', code: 'ERR_NOT_FOUND' }],
      ['/api/nothing', { detail: 'Not Found', code: 'ERR_NOT_FOUND' }],
      ['/api/v1/nothing', { message: 'Not Found', data: null, code: 'ERR_NOT_FOUND' }],
      ['/oauth/nothing', { error: 'invalid_request', error_description: 'Not Found' }],
    ];
    for (const [path, body] of cases) {
      const r = await call(`${s.url}${path}`);
      assert.equal(r.status, 404, path);
      assert.deepEqual(r.json, body, path);
    }
  });

  it('a known path with another method: 405 with Allow, in its API\'s shape, and nothing runs', async () => {
    const cases: [string, string, string, unknown][] = [
      ['PUT', '/api/v1/auth/me', 'GET, HEAD, PATCH', { message: 'Method Not Allowed', data: null, code: 'ERR_METHOD_NOT_ALLOWED' }],
      ['GET', '/oauth/token', 'POST', { error: 'invalid_request', error_description: 'Method Not Allowed' }],
      ['GET', '/token', 'POST', { detail: 'Method Not Allowed', code: 'ERR_METHOD_NOT_ALLOWED' }],
      ['GET', '/api/login', 'POST', { message: 'Method Not Allowed', code: 'ERR_METHOD_NOT_ALLOWED' }],
      ['DELETE', '/api/auth/signup', 'POST', { detail: 'Method Not Allowed', code: 'ERR_METHOD_NOT_ALLOWED' }],
    ];
    for (const [method, path, allow, body] of cases) {
      const r = await call(`${s.url}${path}`, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.get('allow'), allow, `${method} ${path}`);
      assert.deepEqual(r.json, body, `${method} ${path}`);
    }
    // A route with a parameter is matched as the router matches it.
    const user = await call(`${s.url}/api/v1/users/00000000-0000-4000-8000-000000000000`, { method: 'POST' });
    assert.equal(user.status, 405);
    assert.equal(user.headers.get('allow'), 'GET, HEAD, PATCH, DELETE');
    assert.equal(await s.warden.storage.users.count(), 0);
  });

  it('an unknown path or method with a malformed or oversized JSON body: still 404 or 405 in its API\'s shape', async () => {
    // Fastify parses the body before its not-found handler: these were 400 ERR_BAD_JSON and 413
    // ERR_BODY_TOO_LARGE in /api's shape (found by test/fuzz-routes.test.ts).
    const big = `{"a":"${'x'.repeat(20_000)}"}`;
    const cases: [string, string, string, number, unknown][] = [
      ['POST', '/api/v1/nothing', '{bad', 404, { message: 'Not Found', data: null, code: 'ERR_NOT_FOUND' }],
      ['POST', '/api/v1/nothing', big, 404, { message: 'Not Found', data: null, code: 'ERR_NOT_FOUND' }],
      ['POST', '/oauth/nothing', '{bad', 404, { error: 'invalid_request', error_description: 'Not Found' }],
      ['PUT', '/api/v1/auth/signup', '{bad', 405, { message: 'Method Not Allowed', data: null, code: 'ERR_METHOD_NOT_ALLOWED' }],
      ['PUT', '/api/login', big, 405, { message: 'Method Not Allowed', code: 'ERR_METHOD_NOT_ALLOWED' }],
    ];
    for (const [method, path, body, status, json] of cases) {
      const r = await call(`${s.url}${path}`, { method, body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, status, `${method} ${path} ${body.slice(0, 10)}`);
      assert.deepEqual(r.json, json, `${method} ${path} ${body.slice(0, 10)}`);
    }
  });

  it('a URL that does not decode is 400; a path segment longer than any id is 404', async () => {
    const bad = await call(`${s.url}/api/v1/users/%ZZ`);
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.json, { message: 'Malformed URL', data: null, code: 'ERR_BAD_REQUEST' });
    const long = await call(`${s.url}/api/v1/users/${'a'.repeat(150)}`);
    assert.equal(long.status, 404);
    assert.deepEqual(long.json, { message: 'Not Found', data: null, code: 'ERR_NOT_FOUND' });
    assert.doesNotMatch(long.text, /aaaa/, 'the path is not echoed');
  });

  /** Raw bytes to the server; the whole answer once it closes the connection. */
  const raw = (bytes: string) => new Promise<string>((resolve, reject) => {
    const { port } = new URL(s.url);
    const socket = connect(Number(port), '127.0.0.1', () => socket.end(bytes));
    let out = '';
    socket.on('data', (d) => (out += d.toString('latin1')));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
  const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as unknown;

  it('HTTP the parser refuses: 400 or 431 with a code, and the connection closed', async () => {
    const twoLengths = await raw('POST /api/auth/signin HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab');
    assert.match(twoLengths, /^HTTP\/1\.1 400 /);
    assert.deepEqual(bodyOf(twoLengths), { detail: 'Bad request', code: 'ERR_BAD_REQUEST' });
    const huge = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
    assert.match(huge, /^HTTP\/1\.1 431 /);
    assert.deepEqual(bodyOf(huge), { detail: 'Request header fields too large', code: 'ERR_HEADERS_TOO_LARGE' });
    // A HEAD's 431 has no body: Node's client failed on it with "Data after `Connection: close`"
    // (found by test/fuzz-routes.test.ts, with a long URL).
    const headHuge = await raw(`HEAD /health?pad=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    assert.match(headHuge, /^HTTP\/1\.1 431 /);
    assert.equal(headHuge.slice(headHuge.indexOf('\r\n\r\n') + 4), '');
  });
});
