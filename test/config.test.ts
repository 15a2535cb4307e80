// Configuration: one table gives the typed config, the validation (every mistake named at once)
// and the README's table; development keys generated safely.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_CSRF, DEFAULT_LOCATION_SETTINGS } from '@warden/toolkit';
import { ConfigError, loadConfig, readEnv } from '../src/config.js';
import { README_MARKERS, renderConfigTable } from '../src/config/docs.js';
import { configRows } from '../src/config/load.js';
import { CONFIG_RULES } from '../src/config/table.js';
import { parseDatabaseUrl } from '../src/storage/index.js';
import { loadKeyRing } from '../src/keyring.js';
import { freePort, startChildWarden } from './helpers/child-warden.js';
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
    assert.equal(c.server.port, 8000);
    assert.equal(c.server.production, false);
    assert.equal(c.keys.algorithm, 'HS256');
    assert.equal(c.tokens.accessTtlSeconds, 15 * 60);
    assert.equal(c.tokens.refreshTtlSeconds, 30 * 86400);
    assert.match(c.storage.databaseUrl, /^sqlite:.*data\/warden\.db$/);
    assert.deepEqual(c.accounts.adminRoles, ['admin', 'ROLE_ADMIN']);
    assert.equal(c.cookies.accessName, 'access_token_cookie');
    assert.equal(c.cookies.secure, true);
    assert.deepEqual(c.guard.locations, ['headers', 'cookies']);
  });

  it('values arrive in the unit their consumer uses', () => {
    const c = loadConfig({
      ACCESS_TOKEN_EXPIRES_MINUTES: '2', REFRESH_TOKEN_EXPIRES_DAYS: '3', SESSION_IDLE_DAYS: '1', JWT_LEEWAY_SECONDS: '30',
      SIGNIN_WINDOW_MINUTES: '10', SIGNIN_MAX_FAILURES_PER_IP: '0', NODE_ENV: 'production', SECRET_KEY: 'z'.repeat(32),
      DATA_DIR: 'rel/dir',
    });
    assert.equal(c.tokens.accessTtlSeconds, 120);
    assert.equal(c.tokens.refreshTtlSeconds, 3 * 86400);
    assert.equal(c.tokens.sessionIdleSeconds, 86400);
    assert.equal(c.tokens.leewaySeconds, 30);
    assert.equal(c.throttle.windowMs, 600_000);
    assert.equal(c.throttle.maxPerIp, Number.POSITIVE_INFINITY, '0 means no limit');
    assert.equal(c.server.production, true);
    assert.equal(c.server.dataDir, join(process.cwd(), 'rel/dir'));
    assert.equal(c.storage.databaseUrl, `sqlite:${join(process.cwd(), 'rel/dir', 'warden.db')}`, 'the default database follows DATA_DIR');
  });

  it('FIRST_SIGNUP_ADMIN: on by default, off in production unless set', () => {
    const prod = { NODE_ENV: 'production', SECRET_KEY: 'z'.repeat(32) };
    assert.equal(loadConfig({}).accounts.firstSignUpAdmin, true);
    assert.equal(loadConfig(prod).accounts.firstSignUpAdmin, false);
    assert.equal(loadConfig({ ...prod, FIRST_SIGNUP_ADMIN: 'true' }).accounts.firstSignUpAdmin, true);
    assert.equal(loadConfig({ FIRST_SIGNUP_ADMIN: 'false' }).accounts.firstSignUpAdmin, false);
  });

  it('the guard\'s defaults are the toolkit\'s own, defined once', () => {
    const c = loadConfig({});
    assert.equal(c.cookies.accessName, DEFAULT_LOCATION_SETTINGS.accessCookieName);
    assert.equal(c.cookies.refreshName, DEFAULT_LOCATION_SETTINGS.refreshCookieName);
    assert.equal(c.guard.headerName, DEFAULT_LOCATION_SETTINGS.headerName);
    assert.equal(c.guard.headerType, DEFAULT_LOCATION_SETTINGS.headerType);
    assert.equal(c.guard.csrfHeaderName, DEFAULT_CSRF.headerName);
  });

  it('an empty JWT_HEADER_TYPE means the bare token; ADMIN_PASSWORD is taken as written', () => {
    const c = loadConfig({ JWT_HEADER_TYPE: '', ADMIN_USERNAME: ' root ', ADMIN_EMAIL: 'root@example.com', ADMIN_PASSWORD: ' pass word ' });
    assert.equal(c.guard.headerType, '');
    assert.equal(c.admin.username, 'root');
    assert.equal(c.admin.password, ' pass word ');
    assert.equal(loadConfig({ PORT: '  ', JWT_ISSUER: '' }).server.port, 8000, 'blank is unset');
    assert.equal(loadConfig({ JWT_ISSUER: '' }).tokens.issuer, undefined);
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
    assert.equal(p.length, 12, 'one problem per mistake');
    assert.ok(p.includes('PORT must be a whole number from 0 to 65535 (got "eighty")'));
    assert.ok(p.includes('COOKIE_SECURE must be true or false (got "maybe")'));
  });

  it('a check across variables is skipped when one of them is already refused', () => {
    assert.deepEqual(problems({ ALGORITHM: 'HS1', SECRET_KEY: 'short' }), [
      'ALGORITHM must be HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512 or EdDSA (got "HS1")',
    ]);
    assert.deepEqual(problems({ ACCESS_TOKEN_EXPIRES_MINUTES: '10080', REFRESH_TOKEN_EXPIRES_DAYS: '7' }), [
      'REFRESH_TOKEN_EXPIRES_DAYS must outlast ACCESS_TOKEN_EXPIRES_MINUTES',
    ]);
  });

  it('DATABASE_URL is judged by the storage layer\'s own parser, and passwords never reach a message', () => {
    for (const url of ['memory:x', 'sqlite:', 'file://elsewhere/x.db', 'mysql://u:hunter2@db/x']) {
      assert.throws(() => parseDatabaseUrl(url));
      const p = problems({ DATABASE_URL: url });
      assert.equal(p.length, 1, url);
      assert.match(p[0]!, /^DATABASE_URL /);
      assert.doesNotMatch(p[0]!, /hunter2/);
    }
    for (const url of ['memory:', 'sqlite:./x.db', 'postgresql://u@h:5432/d', 'file:///tmp/x.db']) {
      assert.deepEqual(problems({ DATABASE_URL: url }), [], url);
    }
    assert.deepEqual(problems({ REDIS_URL: 'http://:hunter2@cache:6379' }), ['REDIS_URL must start with redis:// or rediss://']);
  });

  it('header and cookie names must be tokens, HOST a host name or address', () => {
    assert.match(problems({ CSRF_HEADER_NAME: 'X CSRF' }).join(), /^CSRF_HEADER_NAME must be a valid header name/);
    assert.match(problems({ JWT_HEADER_TYPE: 'Be arer' }).join(), /^JWT_HEADER_TYPE must be a word/);
    assert.match(problems({ HOST: 'a b' }).join(), /^HOST must be a host name or an IP address/);
    assert.deepEqual(problems({ HOST: '::' }), []);
    assert.deepEqual(problems({ HOST: 'localhost' }), []);
  });

  it('the table is well formed: one row per variable, every default valid, every rule names real variables', () => {
    const names = configRows().map((r) => r.setting.env);
    assert.equal(new Set(names).size, names.length);
    for (const rule of CONFIG_RULES) for (const n of rule.uses) assert.ok(names.includes(n), n);
    // Deployments set these names (the first four are the seeds'): none may disappear or be renamed.
    const published = [
      'SECRET_KEY', 'ALGORITHM', 'ACCESS_TOKEN_EXPIRES_MINUTES', 'REFRESH_TOKEN_EXPIRES_DAYS',
      'NODE_ENV', 'HOST', 'PORT', 'DATA_DIR', 'BODY_LIMIT_BYTES', 'TRUST_PROXY', 'DATABASE_URL', 'REDIS_URL',
      'PRIVATE_KEY_FILE', 'PUBLIC_KEY_FILE', 'JWKS_FILE', 'JWKS_SIGNING_KID', 'SESSION_IDLE_DAYS', 'JWT_ISSUER', 'JWT_AUDIENCE',
      'JWT_LEEWAY_SECONDS', 'VERIFY_CACHE_SIZE', 'COOKIE_SECURE', 'COOKIE_SAMESITE', 'COOKIE_DOMAIN', 'ACCESS_COOKIE_NAME',
      'REFRESH_COOKIE_NAME', 'ACCESS_CSRF_COOKIE_NAME', 'REFRESH_CSRF_COOKIE_NAME', 'JWT_TOKEN_LOCATION', 'JWT_HEADER_NAME',
      'JWT_HEADER_TYPE', 'CSRF_HEADER_NAME', 'ADMIN_ROLES', 'DEFAULT_ROLES', 'PASSWORD_MAX_LENGTH', 'ADMIN_USERNAME',
      'ADMIN_EMAIL', 'ADMIN_PASSWORD', 'SIGNIN_MAX_FAILURES', 'SIGNIN_MAX_FAILURES_PER_IP', 'SIGNIN_WINDOW_MINUTES', 'LOG_LEVEL',
    ];
    assert.deepEqual(published.filter((n) => !names.includes(n)), []);
  });

  it('the README\'s table is the one the configuration table renders (npm run docs:config rewrites it)', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const table = readme.split(README_MARKERS.start)[1]?.split(README_MARKERS.end)[0];
    assert.ok(table !== undefined, 'README has the configuration markers');
    assert.equal(table.trim(), renderConfigTable());
    for (const { setting } of configRows()) assert.ok(table.includes(`| \`${setting.env}\` |`), setting.env);
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

  it('LEGACY_REFRESH_PREFIX: a --legacy-prefix name, and only with LEGACY_REFRESH_TOKENS=true', () => {
    assert.match(problems({ LEGACY_REFRESH_PREFIX: 'shop' }).join(), /LEGACY_REFRESH_PREFIX is read only with LEGACY_REFRESH_TOKENS=true/);
    assert.match(problems({ LEGACY_REFRESH_TOKENS: 'true', LEGACY_REFRESH_PREFIX: 'shop:1' }).join(), /LEGACY_REFRESH_PREFIX must be 1 to 32 letters/);
    assert.deepEqual(problems({ LEGACY_REFRESH_TOKENS: 'true', LEGACY_REFRESH_PREFIX: 'shop' }), []);
  });

  it('reads .env, and the environment wins over it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-env-'));
    try {
      writeFileSync(join(dir, '.env'), 'PORT=9001\nALGORITHM=HS512\n# comment\n');
      const env = readEnv({ PORT: '9002' }, dir);
      const c = loadConfig(env);
      assert.equal(c.server.port, 9002);
      assert.equal(c.keys.algorithm, 'HS512');
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

  it('the start\'s warning about a development key names the variable that replaces it for the algorithm', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-devkey-'));
    try {
      for (const [alg, file, variable] of [['HS256', 'secret.key', 'SECRET_KEY'], ['EdDSA', 'eddsa-private.pem', 'PRIVATE_KEY_FILE']]) {
        const server = await startChildWarden(await freePort(), { DATABASE_URL: 'memory:', DATA_DIR: dir, ALGORITHM: alg! });
        try {
          const warnings = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string })
            .filter((l) => l.level === 40).map((l) => l.msg);
          assert.ok(warnings.includes(`No signing key configured: using the development key in ${join(dir, file!)}. Set ${variable} (or JWKS_FILE) before production.`), warnings.join('\n'));
        } finally {
          await server.stop();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a SECRET_KEY beside an asymmetric ALGORITHM is named as not used at start (a Flask key carried over would otherwise be ignored without a word)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'warden-unused-secret-'));
    try {
      const server = await startChildWarden(await freePort(), { DATABASE_URL: 'memory:', DATA_DIR: dir, ALGORITHM: 'EdDSA', SECRET_KEY: 'x'.repeat(40) });
      try {
        const warnings = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string })
          .filter((l) => l.level === 40).map((l) => l.msg);
        assert.ok(warnings.some((w) => w.startsWith('SECRET_KEY is set but not used: ALGORITHM=EdDSA signs and verifies with a generated development key')), warnings.join('\n'));
        assert.ok(!server.output().includes('x'.repeat(40)), 'never the secret');
      } finally {
        await server.stop();
      }
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
