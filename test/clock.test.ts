// One clock: a server or verifier given a clock reads time from it alone, so a test that moves
// time never meets a second, real clock (cookie Max-Age, remote JWKS expiry and refresh cooldown).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createJwksVerifier, createTokenIssuer, generateKeyPem, keyRingFromPem, publicJwks, WardenError,
} from '@warden/toolkit';
import { call, startServer } from './helpers/server.js';

const maxAges = (headers: Headers): Record<string, number> =>
  Object.fromEntries(headers.getSetCookie().map((line) => [line.split('=')[0]!, Number(/Max-Age=(\d+)/.exec(line)![1])]));

describe('cookie Max-Age', () => {
  it('counts from the server\'s clock, not the machine\'s', async () => {
    // A year behind, on a whole second: by the machine's clock every token would be long expired.
    const now = (Math.floor(Date.now() / 1000) - 365 * 86400) * 1000;
    const s = await startServer({ ACCESS_TOKEN_EXPIRES_MINUTES: '20', REFRESH_TOKEN_EXPIRES_DAYS: '3' }, { clock: () => now });
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'clocky', email: 'clocky@example.com', password: 'password-123' } });
      const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'clocky', password: 'password-123' } });
      assert.equal(r.status, 200);
      assert.deepEqual(maxAges(r.headers), {
        access_token_cookie: 20 * 60, csrf_access_token: 20 * 60, refresh_token_cookie: 3 * 86400, csrf_refresh_token: 3 * 86400,
      });
    } finally {
      await s.close();
    }
  });
});

describe('remote JWKS verifier', () => {
  const T = Date.UTC(2001, 0, 1);
  const signing = keyRingFromPem({ privateKeyPem: generateKeyPem('EdDSA').privateKeyPem, alg: 'EdDSA' });
  const stranger = keyRingFromPem({ privateKeyPem: generateKeyPem('EdDSA').privateKeyPem, alg: 'EdDSA' });
  const issue = (keys: typeof signing, at: number) =>
    createTokenIssuer({ keys, accessExpiresIn: 60, refreshExpiresIn: 600, clock: () => at }).createAccessToken('alice');

  function jwksServer() {
    const served = { fetches: 0 };
    const fetch = (async () => {
      served.fetches++;
      return new Response(JSON.stringify(publicJwks(signing)), { headers: { 'content-type': 'application/jwk-set+json' } });
    }) as typeof globalThis.fetch;
    return { served, fetch };
  }

  const codeOf = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (e) {
      return e instanceof WardenError ? e.code : String(e);
    }
  };

  it('judges exp by the clock it is given', async () => {
    const { fetch } = jwksServer();
    const token = issue(signing, T);
    const onTime = await createJwksVerifier({ url: 'https://warden.test/jwks', fetch, clock: () => T + 30_000 });
    const late = await createJwksVerifier({ url: 'https://warden.test/jwks', fetch, clock: () => T + 61_000 });
    try {
      assert.equal(onTime.verify(token).claims.sub, 'alice');
      assert.equal(codeOf(() => late.verify(token)), 'ERR_JWT_EXPIRED');
    } finally {
      onTime.close();
      late.close();
    }
  });

  it('an unknown kid refetches only once the cooldown has passed on that clock', async () => {
    const { served, fetch } = jwksServer();
    let now = T;
    const remote = await createJwksVerifier({ url: 'https://warden.test/jwks', fetch, clock: () => now, cooldownMs: 30_000 });
    try {
      assert.equal(served.fetches, 1);
      const unknown = issue(stranger, T);
      assert.equal(codeOf(() => remote.verify(unknown)), 'ERR_JWT_KEY_UNKNOWN');
      assert.equal(served.fetches, 1, 'within the cooldown: no refetch');
      now += 30_001;
      assert.equal(codeOf(() => remote.verify(unknown)), 'ERR_JWT_KEY_UNKNOWN');
      assert.equal(served.fetches, 2, 'past the cooldown by the given clock: one refetch');
      await remote.refresh(); // the refetch in flight
    } finally {
      remote.close();
    }
  });
});
