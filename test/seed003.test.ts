// Seed 003: flask-jwt-extended behind Flask-RESTX. The author's client posts {email, password} to
// /api/login, keeps the token of {"user", "token"} and sends it as Authorization: Bearer to the
// author's own @jwt_required() FeatureController. Replayed against Warden's /api/login and that
// controller rebuilt on the toolkit (examples/feature-service.ts), then every row of the seed's
// error table, the last of which ("500 JWT decode error: wrong secret key") is a refused start.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildFeatureService } from '../examples/feature-service.js';
import { ConfigError } from '../src/config.js';
import { call, curl, startServer, TEST_SECRET, type Running } from './helpers/server.js';

const claimsOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());

describe('seed 003: POST /api/login, the author\'s protected controller, the error table', () => {
  let s: Running;
  let base: string;
  let feature: FastifyInstance;
  let now = Date.now();
  const clock = () => now;
  let userId = '';
  before(async () => {
    s = await startServer({}, { clock });
    base = s.url;
    feature = await buildFeatureService(TEST_SECRET, clock);
    const r = await call(`${base}/api/auth/signup`, { json: { username: 'usuario1', email: 'usuario1@example.com', password: 'contrasena-segura' } });
    assert.equal(r.status, 201);
    userId = r.json.id;
  });
  after(async () => {
    await feature.close();
    await s.close();
  });

  const login = (email: string, password: string) => curl(`curl -X POST ${base}/api/login \\
  -H "Content-Type: application/json" \\
  -d '{"email": "${email}", "password": "${password}"}'`);
  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

  it('POST /api/login: 200 {"user", "token"}; the token\'s identity is the user id and it lasts LOGIN_TOKEN_EXPIRES_HOURS (8)', async () => {
    const r = await login('usuario1@example.com', 'contrasena-segura');
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.json), ['user', 'token']);
    assert.equal(r.json.user.id, userId);
    assert.equal(r.json.user.email, 'usuario1@example.com');
    assert.doesNotMatch(JSON.stringify(r.json.user), /argon2|password|hash/i);
    const c = claimsOf(r.json.token);
    assert.equal(c.sub, userId);
    assert.equal(c.type, 'access');
    assert.equal(c.exp - c.iat, 8 * 3600);
    assert.equal(c.fresh, true, 'a token from a password check is fresh');
    assert.deepEqual(c.roles, ['user']);
    assert.match(c.sid, /^[0-9a-f-]{36}$/);
  });

  it('the client sends it to the author\'s @jwt_required() controller and to Warden\'s routes, for 8 hours', async () => {
    const { token } = (await login('usuario1@example.com', 'contrasena-segura')).json;
    const r = await feature.inject({ url: '/feature', headers: bearer(token) });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(r.json(), { data: ['feature'], user: userId });
    assert.equal((await call(`${base}/api/v1/auth/me`, { headers: bearer(token) })).status, 200);

    const saved = now;
    try {
      now = saved + 7 * 3600 * 1000; // well past ACCESS_TOKEN_EXPIRES_MINUTES
      assert.equal((await feature.inject({ url: '/feature', headers: bearer(token) })).statusCode, 200);
      assert.equal((await call(`${base}/api/v1/auth/verify`, { headers: bearer(token) })).status, 200);
      now = saved + (8 * 3600 + 1) * 1000;
      const expired = await feature.inject({ url: '/feature', headers: bearer(token) });
      assert.equal(expired.statusCode, 401);
      assert.equal(expired.json().msg, 'Token has expired');
    } finally {
      now = saved;
    }
  });

  it('signing out ends the 8-hour token for good, also after the default access lifetime has passed', async () => {
    const { token } = (await login('usuario1@example.com', 'contrasena-segura')).json;
    assert.equal((await call(`${base}/api/auth/signout`, { method: 'POST', headers: bearer(token) })).status, 200);
    const saved = now;
    try {
      now = saved + 60 * 60 * 1000; // an hour: four default access lifetimes
      s.warden.revoker.index.sweep(now); // the minute timer's sweep drops facts whose tokens have all expired
      const r = await call(`${base}/api/v1/auth/verify`, { headers: bearer(token) });
      assert.equal(r.status, 401);
      assert.equal(r.json.code, 'ERR_JWT_REVOKED');
    } finally {
      now = saved;
    }
  });

  it('invalid data: 422 with marshmallow\'s messages_dict', async () => {
    const cases: [unknown, Record<string, string[]>][] = [
      [{ email: 'no-es-un-email', password: 'x' }, { email: ['Not a valid email address.'] }],
      [{ password: 'contrasena-segura' }, { email: ['Missing data for required field.'] }],
      [{}, { email: ['Missing data for required field.'], password: ['Missing data for required field.'] }],
      [{ email: 42, password: ['a'] }, { email: ['Not a valid string.'], password: ['Not a valid string.'] }],
      [{ email: null, password: 'x' }, { email: ['Field may not be null.'] }],
      [{ email: 'usuario1@example.com', password: 'contrasena-segura', remember: true }, { remember: ['Unknown field.'] }],
      [{ email: 'usuario1@example.com', password: 'contrasena-segura', toString: 1 }, { toString: ['Unknown field.'] }],
      [['usuario1@example.com'], { _schema: ['Invalid input type.'] }],
      ['usuario1@example.com', { _schema: ['Invalid input type.'] }],
      [null, { _schema: ['Invalid input type.'] }],
    ];
    for (const [body, messages] of cases) {
      const r = await call(`${base}/api/login`, { json: body });
      assert.equal(r.status, 422, JSON.stringify(body));
      assert.deepEqual(r.json, messages, JSON.stringify(body));
    }
  });

  it('a wrong password and an unknown email: the same 401 {"message": "Credenciales inválidas"} (never 404)', async () => {
    const wrong = await login('usuario1@example.com', 'contrasena-mala');
    const unknown = await login('nadie@example.com', 'contrasena-segura');
    for (const r of [wrong, unknown]) {
      assert.equal(r.status, 401);
      assert.equal(r.json.message, 'Credenciales inválidas');
    }
    assert.deepEqual(wrong.json, unknown.json);
    assert.deepEqual(wrong.headers['www-authenticate'], unknown.headers['www-authenticate']);
    assert.equal((await login('usuario1@example.com', '')).status, 401);
  });

  it('an inactive account: 400 {"message": "Inactive user"} after the right password, the same 401 as anyone after a wrong one', async () => {
    assert.equal((await call(`${base}/api/auth/signup`, { json: { username: 'usuario2', email: 'usuario2@example.com', password: 'contrasena-segura' } })).status, 201);
    const u = (await s.warden.storage.users.findByLogin('usuario2'))!;
    await s.warden.storage.users.update(u.id, { isActive: false });
    const right = await login('usuario2@example.com', 'contrasena-segura');
    assert.deepEqual([right.status, right.json.message], [400, 'Inactive user']);
    const wrong = await login('usuario2@example.com', 'contrasena-mala');
    assert.deepEqual([wrong.status, wrong.json.message], [401, 'Credenciales inválidas'], 'telling the account is inactive needs its password');
  });

  it('a body that is not JSON: 415 (or 400 when the JSON is malformed), never the seed\'s catch-all 503', async () => {
    const form = await call(`${base}/api/login`, { form: { email: 'usuario1@example.com', password: 'contrasena-segura' } });
    assert.equal(form.status, 415);
    assert.equal(form.json.message, 'Unsupported Media Type. Use application/json.');
    const bad = await call(`${base}/api/login`, { body: '{"email": ', headers: { 'content-type': 'application/json' } });
    assert.equal(bad.status, 400);
  });

  it('error table: 401 "Missing Authorization Header"', async () => {
    const r = await feature.inject({ url: '/feature' });
    assert.equal(r.statusCode, 401);
    assert.deepEqual(r.json(), { msg: 'Missing Authorization Header', code: 'ERR_JWT_MISSING' });
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    const warden = await call(`${base}/api/v1/auth/verify`);
    assert.equal(warden.status, 401);
    assert.match(warden.json.message, /Missing Authorization Header/);
  });

  it('error table: 401 for a malformed or an expired token', async () => {
    for (const t of ['not-a-token', 'a.b.c', `${(await login('usuario1@example.com', 'contrasena-segura')).json.token}x`]) {
      const r = await feature.inject({ url: '/feature', headers: bearer(t) });
      assert.equal(r.statusCode, 401, t);
      assert.match(r.json().code, /^ERR_JWT_(MALFORMED|SIGNATURE_INVALID)$/);
      assert.match(String(r.headers['www-authenticate']), /^Bearer error="invalid_token"/);
      assert.equal((await call(`${base}/api/v1/auth/verify`, { headers: bearer(t) })).status, 401);
    }
    const malformed = await feature.inject({ url: '/feature', headers: bearer('a.b.c') });
    assert.equal(malformed.json().msg, 'Invalid token');
    const { token } = (await login('usuario1@example.com', 'contrasena-segura')).json;
    const saved = now;
    try {
      now = saved + (8 * 3600 + 1) * 1000;
      for (const r of [await feature.inject({ url: '/feature', headers: bearer(token) })]) {
        assert.equal(r.statusCode, 401);
        assert.equal(r.json().msg, 'Token has expired');
      }
      const warden = await call(`${base}/api/v1/auth/verify`, { headers: bearer(token) });
      assert.equal(warden.status, 401);
      assert.equal(warden.json.message, 'Token has expired');
    } finally {
      now = saved;
    }
  });

  it('error table: 403 "Fresh token required" for a token that did not come from a password check', async () => {
    const fresh = (await login('usuario1@example.com', 'contrasena-segura')).json.token;
    assert.equal((await feature.inject({ method: 'POST', url: '/feature', headers: bearer(fresh) })).statusCode, 201);
    const pair = (await call(`${base}/api/v1/auth/login`, { form: { username: 'usuario1@example.com', password: 'contrasena-segura' } })).json.data;
    const refreshed = (await call(`${base}/api/v1/auth/refresh?refresh_token=${pair.refresh_token}`, { method: 'POST' })).json.data.access_token;
    assert.equal(claimsOf(refreshed).fresh, false);
    const r = await feature.inject({ method: 'POST', url: '/feature', headers: bearer(refreshed) });
    assert.equal(r.statusCode, 403);
    assert.deepEqual(r.json(), { msg: 'Fresh token required', code: 'ERR_FRESH_REQUIRED' });
    const warden = await call(`${base}/api/v1/auth/password`, { json: { current_password: 'contrasena-segura', new_password: 'otra-contrasena' }, headers: bearer(refreshed) });
    assert.equal(warden.status, 403);
    assert.equal(warden.json.message, 'Fresh token required');
  });

  it('LOGIN_TOKEN_EXPIRES_HOURS sets this route\'s token lifetime', async () => {
    const other = await startServer({ LOGIN_TOKEN_EXPIRES_HOURS: '2' });
    try {
      await call(`${other.url}/api/auth/signup`, { json: { username: 'dos', email: 'dos@example.com', password: 'contrasena-segura' } });
      const r = await call(`${other.url}/api/login`, { json: { email: 'dos@example.com', password: 'contrasena-segura' } });
      const c = claimsOf(r.json.token);
      assert.equal(c.exp - c.iat, 2 * 3600);
    } finally {
      await other.close();
    }
  });
});

describe('seed 003, last row: a wrong key is refused at start, not answered 500 per request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-badkey-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const pem = (type: 'rsa' | 'ec' | 'ed25519', part: 'privateKey' | 'publicKey' = 'privateKey') => {
    const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' }) : generateKeyPairSync('ed25519');
    return pair[part].export({ type: part === 'privateKey' ? 'pkcs8' : 'spki', format: 'pem' }) as string;
  };

  async function refused(env: Record<string, string>): Promise<string[]> {
    try {
      const s = await startServer(env);
      await s.close();
    } catch (e) {
      assert.ok(e instanceof ConfigError, `a ConfigError, not ${String(e)}`);
      return e.problems;
    }
    assert.fail('the server started');
  }

  it('each wrong key stops the start with a ConfigError naming the variable', async () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ SECRET_KEY: 'too-short' }, /^SECRET_KEY must be at least 32 bytes/],
      [{ ALGORITHM: 'RS256', PRIVATE_KEY_FILE: write('ec.pem', pem('ec')) }, /^PRIVATE_KEY_FILE \(ALGORITHM=RS256\): RS256 needs an RSA key/],
      [{ ALGORITHM: 'EdDSA', PRIVATE_KEY_FILE: write('garbage.pem', 'not a key') }, /^PRIVATE_KEY_FILE \(ALGORITHM=EdDSA\): The private key is not a readable/],
      [{ ALGORITHM: 'EdDSA', PRIVATE_KEY_FILE: write('ed.pem', pem('ed25519')), PUBLIC_KEY_FILE: write('other.pub', pem('ed25519', 'publicKey')) }, /^PUBLIC_KEY_FILE: The public key does not belong to the private key/],
      [{ ALGORITHM: 'HS256', PRIVATE_KEY_FILE: write('rsa.pem', pem('rsa')) }, /^PRIVATE_KEY_FILE is set but ALGORITHM=HS256 signs with SECRET_KEY/],
      [{ JWKS_FILE: write('bad.json', '{"keys": 1}') }, /^JWKS_FILE: must hold a JWKS/],
      [{ JWKS_FILE: write('one.json', JSON.stringify({ keys: [{ ...generateKeyPairSync('ed25519').privateKey.export({ format: 'jwk' }), kid: 'k1' }] })), JWKS_SIGNING_KID: 'k2' }, /^JWKS_SIGNING_KID: signingKid "k2" is not in the key ring/],
    ];
    for (const [env, expected] of cases) {
      const problems = await refused(env);
      assert.equal(problems.length, 1, JSON.stringify(problems));
      assert.match(problems[0]!, expected);
    }
  });

  it('`warden` prints the problem and exits 1 without listening', async () => {
    const cli = new URL('../src/cli.ts', import.meta.url).pathname;
    const env = { PATH: process.env.PATH ?? '', DATA_DIR: dir, ALGORITHM: 'RS256', PRIVATE_KEY_FILE: write('cli-ec.pem', pem('ec')), PORT: '0', LOG_LEVEL: 'silent' };
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = execFile(process.execPath, ['--conditions=warden-source', '--import', 'tsx', cli], { env, timeout: 30_000 }, (_err, _out, stderr) => {
        resolve({ code: child.exitCode, stderr });
      });
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^warden: Invalid configuration:\n {2}- PRIVATE_KEY_FILE \(ALGORITHM=RS256\): RS256 needs an RSA key/);
  });
});
