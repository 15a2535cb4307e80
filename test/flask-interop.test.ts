// Tokens cross between Warden and a real flask-jwt-extended (Debian's python3-python-flask-jwt-extended)
// sharing SECRET_KEY: Flask accepts Warden's access tokens and Warden accepts Flask's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import Fastify from 'fastify';
import { createTokenVerifier, keyRingFromSecret, wardenErrorHandler, wardenGuard, type TokenLocation } from '@warden/toolkit';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';

const script = new URL('./interop/flask_jwt.py', import.meta.url).pathname;

function flask(mode: 'create' | 'verify' | 'missing', arg: string): string {
  return execFileSync(PYTHON, [script, mode, arg], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, encoding: 'utf8' }).trim();
}

const flaskMissing = pythonMissing('import flask_jwt_extended', 'python3-python-flask-jwt-extended', 'interop not checked');

describe('interop with flask-jwt-extended', { skip: flaskMissing }, () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('a Flask service with the same SECRET_KEY accepts Warden\'s access token and reads its claims', async () => {
    await call(`${s.url}/api/auth/signup`, { json: { username: 'pyuser', email: 'py@example.com', password: 'password-123' } });
    const login = await call(`${s.url}/api/auth/signin`, { json: { username: 'pyuser', password: 'password-123' } });
    const out = JSON.parse(flask('verify', login.json.access_token));
    assert.equal(out.status, 200);
    assert.equal(out.claims.sub, login.json.id);
    assert.equal(out.claims.type, 'access');
    assert.equal(out.claims.fresh, true);
    assert.deepEqual(out.claims.roles, ['user']);
    // and refuses Warden's refresh token where an access token is required, as it should
    assert.notEqual(JSON.parse(flask('verify', login.json.refresh_token)).status, 200);
  });

  it('Warden\'s guard accepts an access token made by flask-jwt-extended', async () => {
    const id = '7b0c5a4e-1f2d-4c3b-9a8e-6d5f4e3c2b1a';
    const token = flask('create', id);
    const r = await call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('x-auth-user'), id);
    assert.equal(r.headers.get('x-auth-roles'), 'user');
    // Its claims have the same names and order as Warden's own.
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    assert.deepEqual(Object.keys(claims).filter((k) => k !== 'roles'), ['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf', 'exp']);
  });
});

describe('a token found nowhere: the guard words it as flask-jwt-extended does', { skip: flaskMissing }, () => {
  interface Case { locations: TokenLocation[]; method: 'GET' | 'POST'; headers?: Record<string, string>; body?: string }
  const basic = 'Basic Zm9vOmJhcg==';
  const cases: Case[] = [
    { locations: ['headers'], method: 'GET' },
    { locations: ['headers'], method: 'GET', headers: { Authorization: basic } },
    { locations: ['headers'], method: 'GET', headers: { Authorization: 'Bearer a, Bearer b' } },
    { locations: ['headers', 'cookies'], method: 'GET', headers: { Authorization: basic } },
    { locations: ['headers', 'cookies', 'query_string', 'json'], method: 'GET' },
    { locations: ['headers', 'json'], method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' },
    { locations: ['cookies', 'headers'], method: 'GET', headers: { Authorization: `${basic},` } },
  ];

  it('for each case, the text is Flask\'s own', async () => {
    const expected = JSON.parse(flask('missing', JSON.stringify(cases))) as string[];
    const app = Fastify();
    app.setErrorHandler(wardenErrorHandler);
    await app.register(wardenGuard, { verify: createTokenVerifier({ keys: keyRingFromSecret(TEST_SECRET, 'HS256') }) });
    cases.forEach((c, i) => app.route({ method: c.method, url: `/case/${i}`, preHandler: app.jwtRequired({ locations: c.locations }), handler: async () => ({}) }));
    try {
      const got: string[] = [];
      for (const [i, c] of cases.entries()) {
        const r = await app.inject({ method: c.method, url: `/case/${i}`, headers: c.headers ?? {}, ...(c.body === undefined ? {} : { payload: c.body }) });
        assert.equal(r.statusCode, 401, JSON.stringify(c));
        got.push(r.json().detail);
      }
      assert.deepEqual(got, expected);
    } finally {
      await app.close();
    }
  });
});
