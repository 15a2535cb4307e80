// Configuration: validated at start, every mistake named; development keys generated safely.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, readEnv } from '../src/config.js';
import { loadKeyRing } from '../src/keyring.js';
import { call, startServer } from './helpers/server.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  return [];
};

describe('configuration', () => {
  it('defaults need nothing at all', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8000);
    assert.equal(c.algorithm, 'HS256');
    assert.equal(c.accessTokenExpiresMinutes, 15);
    assert.equal(c.refreshTokenExpiresDays, 30);
    assert.match(c.databaseUrl, /^sqlite:.*data\/warden\.db$/);
    assert.deepEqual(c.adminRoles, ['admin', 'ROLE_ADMIN']);
    assert.equal(c.accessCookieName, 'access_token_cookie');
    assert.equal(c.cookieSecure, true);
  });

  it('each wrong value is reported, naming the variable and what it expects', () => {
    const p = problems({
      PORT: 'eighty', ALGORITHM: 'HS1', ACCESS_TOKEN_EXPIRES_MINUTES: '0', COOKIE_SECURE: 'maybe',
      COOKIE_SAMESITE: 'sometimes', DATABASE_URL: 'mysql://db', REDIS_URL: 'http://x', LOG_LEVEL: 'loud',
      ADMIN_USERNAME: 'root', ACCESS_COOKIE_NAME: 'bad name;', JWT_TOKEN_LOCATION: 'headers,carrier-pigeon',
      COOKIE_DOMAIN: 'example.com; HttpOnly=false',
    });
    for (const name of ['COOKIE_DOMAIN', 'JWT_TOKEN_LOCATION', 'PORT', 'ALGORITHM', 'ACCESS_TOKEN_EXPIRES_MINUTES', 'COOKIE_SECURE', 'COOKIE_SAMESITE', 'DATABASE_URL', 'REDIS_URL', 'LOG_LEVEL', 'ADMIN_USERNAME', 'ACCESS_COOKIE_NAME']) {
      assert.ok(p.some((x) => x.startsWith(name)), `${name} in ${JSON.stringify(p)}`);
    }
  });

  it('refuses an HMAC secret shorter than 32 bytes, always', () => {
    assert.match(problems({ SECRET_KEY: 'short' })[0]!, /SECRET_KEY must be at least 32 bytes/);
    assert.match(problems({ SECRET_KEY: 'x'.repeat(31), NODE_ENV: 'production' }).join(), /at least 32 bytes/);
    assert.deepEqual(problems({ SECRET_KEY: 'x'.repeat(32) }), []);
    assert.deepEqual(problems({ COOKIE_DOMAIN: '.example.com' }), []);
  });

  it('production refuses to start without a key', () => {
    assert.match(problems({ NODE_ENV: 'production' }).join(), /SECRET_KEY is required when NODE_ENV=production/);
    assert.match(problems({ NODE_ENV: 'production', ALGORITHM: 'EdDSA' }).join(), /PRIVATE_KEY_FILE or JWKS_FILE is required/);
    assert.match(problems({ COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'false' }).join(), /requires COOKIE_SECURE=true/);
  });

  it('reads .env, and the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'PORT=9001\nALGORITHM=HS512\n# comment\n');
      const env = readEnv({ PORT: '9002' }, dir);
      const c = loadConfig(env);
      assert.equal(c.port, 9002);
      assert.equal(c.algorithm, 'HS512');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a development start generates a key into DATA_DIR with mode 0600 and reuses it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-keys-'));
    try {
      for (const alg of ['HS256', 'EdDSA', 'ES256']) {
        const config = loadConfig({ DATA_DIR: dir, ALGORITHM: alg });
        const first = loadKeyRing(config);
        assert.ok(first.generatedFile);
        assert.equal(statSync(first.generatedFile).mode & 0o777, 0o600);
        const again = loadKeyRing(config);
        assert.equal(again.ring.signer.kid, first.ring.signer.kid);
        assert.ok(readFileSync(first.generatedFile, 'utf8').length > 40);
      }
      const configured = loadKeyRing(loadConfig({ DATA_DIR: dir, SECRET_KEY: 'y'.repeat(40) }));
      assert.equal(configured.generatedFile, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the token header and locations are configurable (flask-jwt-extended\'s JWT_HEADER_NAME / _TYPE / JWT_TOKEN_LOCATION)', async () => {
    const s = await startServer({ JWT_HEADER_NAME: 'X-Api-Token', JWT_HEADER_TYPE: '', JWT_TOKEN_LOCATION: 'headers,query_string' });
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'cfg', email: 'cfg@example.com', password: 'password-123' } });
      const t = (await call(`${s.url}/api/auth/signin`, { json: { username: 'cfg', password: 'password-123' } })).json.access_token;
      assert.equal((await call(`${s.url}/api/v1/auth/verify`, { headers: { 'x-api-token': t } })).status, 200);
      assert.equal((await call(`${s.url}/api/v1/auth/verify?jwt=${t}`)).status, 200);
      assert.equal((await call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${t}` } })).status, 401);
      assert.equal((await call(`${s.url}/api/v1/auth/verify`, { headers: { cookie: `access_token_cookie=${t}` } })).status, 401);
    } finally {
      await s.close();
    }
  });
});
