// The example services trust Warden's tokens: one through JWKS (EdDSA), one through a shared secret.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildJwksService } from '../examples/jwks-service.js';
import { buildSharedSecretService } from '../examples/shared-secret-service.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';

async function tokensFor(s: Running, roles?: string[]) {
  const name = `u${Math.random().toString(36).slice(2, 10)}`;
  const r = await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123', roles } });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const login = await call(`${s.url}/api/auth/signin`, { json: { username: name, password: 'password-123' } });
  return { ...login.json, id: r.json.id } as { access_token: string; refresh_token: string; id: string };
}

describe('example: a service verifying through JWKS (EdDSA)', () => {
  let warden: Running;
  let service: FastifyInstance;
  before(async () => {
    warden = await startServer({ ALGORITHM: 'EdDSA' });
    service = await buildJwksService(`${warden.url}/.well-known/jwks.json`);
  });
  after(async () => {
    await service.close();
    await warden.close();
  });

  it('Warden publishes an OKP Ed25519 public key and no private part', async () => {
    const r = await call(`${warden.url}/.well-known/jwks.json`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('cache-control')!, /max-age=300/);
    assert.equal(r.json.keys.length, 1);
    assert.equal(r.json.keys[0].kty, 'OKP');
    assert.equal(r.json.keys[0].alg, 'EdDSA');
    assert.equal(r.json.keys[0].d, undefined);
  });

  it('accepts Warden\'s access token, enforces roles, refuses refresh tokens and tampering', async () => {
    const admin = await tokensFor(warden, ['admin']);
    const user = await tokensFor(warden);
    const ok = await service.inject({ url: '/orders', headers: { authorization: `Bearer ${user.access_token}` } });
    assert.equal(ok.statusCode, 200);
    assert.deepEqual(ok.json(), { user: user.id, roles: ['user'] });
    assert.equal((await service.inject({ url: '/reports', headers: { authorization: `Bearer ${user.access_token}` } })).statusCode, 403);
    assert.equal((await service.inject({ url: '/reports', headers: { authorization: `Bearer ${admin.access_token}` } })).statusCode, 200);
    assert.equal((await service.inject({ url: '/orders', headers: { authorization: `Bearer ${user.refresh_token}` } })).statusCode, 401);
    const [h, p, sig] = user.access_token.split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
    claims.roles = ['admin'];
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
    const r = await service.inject({ url: '/reports', headers: { authorization: `Bearer ${forged}` } });
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().code, 'ERR_JWT_SIGNATURE_INVALID');
    assert.equal((await service.inject({ url: '/orders' })).statusCode, 401);
  });
});

describe('example: a service sharing the HS256 secret', () => {
  let warden: Running;
  let service: FastifyInstance;
  before(async () => {
    warden = await startServer();
    service = await buildSharedSecretService(TEST_SECRET);
  });
  after(async () => {
    await service.close();
    await warden.close();
  });

  it('accepts Warden\'s tokens by header and by cookie with CSRF; fresh only after a password check', async () => {
    const t = await tokensFor(warden);
    assert.equal((await service.inject({ url: '/orders', headers: { authorization: `Bearer ${t.access_token}` } })).statusCode, 200);
    const csrf = JSON.parse(Buffer.from(t.access_token.split('.')[1]!, 'base64url').toString()).csrf;
    const cookie = `access_token_cookie=${t.access_token}`;
    assert.equal((await service.inject({ method: 'POST', url: '/orders', headers: { cookie } })).statusCode, 401);
    assert.equal((await service.inject({ method: 'POST', url: '/orders', headers: { cookie, 'x-csrf-token': csrf } })).statusCode, 201);

    const refreshed = await call(`${warden.url}/api/auth/refresh`, { json: { refresh_token: t.refresh_token } });
    const stale = await service.inject({ method: 'POST', url: '/orders', headers: { authorization: `Bearer ${refreshed.json.access_token}` } });
    assert.equal(stale.statusCode, 403);
    assert.equal(stale.json().detail, 'Fresh token required');
  });

  it('refuses tokens signed with another secret', async () => {
    const other = await buildSharedSecretService('another-secret-that-is-at-least-32-bytes!');
    const t = await tokensFor(warden);
    assert.equal((await other.inject({ url: '/orders', headers: { authorization: `Bearer ${t.access_token}` } })).statusCode, 401);
    await other.close();
  });
});
