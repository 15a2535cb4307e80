// Rotation through JWKS_FILE: every configured key verifies, the chosen one signs, and the JWKS
// endpoint publishes the public halves only.
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { createMemoryStorage } from '../src/storage/memory.js';
import { buildCli, warden } from './helpers/cli.js';
import { call, startServer } from './helpers/server.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { codeAt, secretOf } from './helpers/totp.js';

function privateJwk(kid: string) {
  const { privateKey } = generateKeyPairSync('ed25519');
  return { ...privateKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' };
}

describe('key rotation with JWKS_FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-jwks-'));
  const file = join(dir, 'jwks.json');
  writeFileSync(file, JSON.stringify({ keys: [privateJwk('2026-old'), privateJwk('2026-new')] }), { mode: 0o600 });
  const storage = createMemoryStorage();
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('tokens signed by the old key keep working after the signer moves to the new one', async () => {
    const env = { ALGORITHM: 'EdDSA', JWKS_FILE: file };
    const before = await startServer({ ...env, JWKS_SIGNING_KID: '2026-old' }, { storage });
    await call(`${before.url}/api/auth/signup`, { json: { username: 'rot', email: 'rot@example.com', password: 'password-123' } });
    const old = (await call(`${before.url}/api/auth/signin`, { json: { username: 'rot', password: 'password-123' } })).json.access_token;
    const jwks = (await call(`${before.url}/.well-known/jwks.json`)).json;
    assert.deepEqual(jwks.keys.map((k: { kid: string }) => k.kid).sort(), ['2026-new', '2026-old']);
    assert.ok(jwks.keys.every((k: { d?: string; kty: string }) => k.d === undefined && k.kty === 'OKP'));
    await before.close();

    const afterRotation = await startServer({ ...env, JWKS_SIGNING_KID: '2026-new' }, { storage });
    try {
      const fresh = (await call(`${afterRotation.url}/api/auth/signin`, { json: { username: 'rot', password: 'password-123' } })).json.access_token;
      const kidOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid;
      assert.equal(kidOf(old), '2026-old');
      assert.equal(kidOf(fresh), '2026-new');
      for (const t of [old, fresh]) {
        assert.equal((await call(`${afterRotation.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${t}` } })).status, 200);
      }
    } finally {
      await afterRotation.close();
    }
  });

  it('a JWKS_SIGNING_KID that is not in the file stops the start with a clear message', async () => {
    await assert.rejects(startServer({ ALGORITHM: 'EdDSA', JWKS_FILE: file, JWKS_SIGNING_KID: 'nope' }), /nope/);
  });

  it('PRIVATE_KEY_FILE / PUBLIC_KEY_FILE (RS256): tokens verify and the JWKS has the RSA public key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const priv = join(dir, 'rs.pem');
    const pub = join(dir, 'rs.pub.pem');
    writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
    const s = await startServer({ ALGORITHM: 'RS256', PRIVATE_KEY_FILE: priv, PUBLIC_KEY_FILE: pub });
    try {
      await call(`${s.url}/api/auth/signup`, { json: { username: 'rsa', email: 'rsa@example.com', password: 'password-123' } });
      const t = (await call(`${s.url}/api/auth/signin`, { json: { username: 'rsa', password: 'password-123' } })).json.access_token;
      assert.equal(JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).alg, 'RS256');
      assert.equal((await call(`${s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${t}` } })).status, 200);
      const jwks = (await call(`${s.url}/.well-known/jwks.json`)).json;
      assert.equal(jwks.keys.length, 1);
      assert.equal(jwks.keys[0].kty, 'RSA');
      assert.equal(jwks.keys[0].alg, 'RS256');
      assert.equal(jwks.keys[0].d, undefined);
    } finally {
      await s.close();
    }
  });
});

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const flaskBlock = /<!-- rotation-flask:start -->\n```python\n([\s\S]*?)```/.exec(readme)?.[1];
const flaskMissing = pythonMissing('import flask_jwt_extended, cryptography; from jwt import PyJWKClient', 'python3-python-flask-jwt-extended python3-cryptography', 'the README\'s Flask service across the rotation not checked');

/**
 * The status a Flask service answers each token with: `readmeBlock` configures it as the README's
 * rotation block does (its JWKS URL pointed at `jwksUrl`); without it, with the shared secret alone.
 */
async function flaskStatuses(secret: string, tokens: string[], readmeBlock?: { jwksUrl: string }): Promise<number[]> {
  const setup = readmeBlock
    ? flaskBlock!.replace('http://warden:8000/.well-known/jwks.json', readmeBlock.jwksUrl)
    : 'from flask_jwt_extended import JWTManager\napp.config["JWT_SECRET_KEY"] = os.environ["SECRET_KEY"]\nJWTManager(app)\n';
  const program = [
    'import json, os, sys',
    'from flask import Flask, jsonify',
    'from flask_jwt_extended import jwt_required, get_jwt',
    'app = Flask(__name__)',
    setup,
    '@app.get("/p")',
    '@jwt_required()',
    'def p(): return jsonify(get_jwt())',
    'print(json.dumps([app.test_client().get("/p", headers={"Authorization": "Bearer " + t}).status_code for t in sys.argv[1:]]))',
  ].join('\n');
  // Not execFileSync: the service fetches the JWKS from the server running in this process.
  const { stdout } = await promisify(execFile)(PYTHON, ['-c', program, ...tokens], { env: { ...process.env, SECRET_KEY: secret }, timeout: 30_000 });
  return JSON.parse(stdout);
}

describe('key rotation from SECRET_KEY, as the README says it', () => {
  it('`warden keygen EdDSA --jwks FILE` begins the file with today\'s key: moving to JWKS_FILE logs nobody out', async () => {
    await buildCli();
    const dir = mkdtempSync(join(tmpdir(), 'warden-rotate-'));
    const file = join(dir, 'keys.json');
    const storage = createMemoryStorage();
    const secret = 'a-secret-of-at-least-thirty-two-bytes!!';
    const kidOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid as string;
    const signIn = async (url: string) => (await call(`${url}/api/auth/signin`, { json: { username: 'rot', password: 'password-123' } })).json.access_token as string;
    const verify = (url: string, t: string) => call(`${url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${t}` } });
    try {
      const before = await startServer({ SECRET_KEY: secret }, { storage });
      await call(`${before.url}/api/auth/signup`, { json: { username: 'rot', email: 'rot@example.com', password: 'password-123' } });
      const old = await signIn(before.url);
      await before.close();

      const made = await warden(['keygen', 'EdDSA', '--kid', 'ed-new', '--jwks', file], { cwd: dir, env: { SECRET_KEY: secret } });
      assert.equal(made.code, 0, made.stderr);
      assert.match(made.stdout, new RegExp(`begins with the key the server signs with now \\("${kidOf(old)}", HS256\\)`));

      // Step 1: JWKS_FILE; the old key still signs, the new one verifies and is published.
      const step1 = await startServer({ JWKS_FILE: file }, { storage });
      try {
        assert.equal((await verify(step1.url, old)).status, 200, 'a token from before still verifies');
        assert.equal(kidOf(await signIn(step1.url)), kidOf(old), 'the old key still signs');
        const published = (await call(`${step1.url}/.well-known/jwks.json`)).json.keys as { kid: string; k?: string; d?: string }[];
        assert.deepEqual(published.map((k) => k.kid), ['ed-new'], 'the HMAC secret is never published');
      } finally {
        await step1.close();
      }
      // Step 2: the new key signs; the old tokens keep verifying.
      const step2 = await startServer({ JWKS_FILE: file, JWKS_SIGNING_KID: 'ed-new' }, { storage });
      try {
        const fresh = await signIn(step2.url);
        assert.equal(kidOf(fresh), 'ed-new');
        for (const t of [old, fresh]) assert.equal((await verify(step2.url, t)).status, 200);
        if (flaskMissing === undefined) {
          // A Flask service holding only the secret refuses the new key's tokens (hence the README's block)...
          assert.deepEqual(await flaskStatuses(secret, [old, fresh]), [200, 422]);
          // ...and one configured by the README's block takes both.
          assert.ok(flaskBlock, 'the README has the rotation-flask block');
          assert.deepEqual(await flaskStatuses(secret, [old, fresh], { jwksUrl: `${step2.url}/.well-known/jwks.json` }), [200, 200]);
        }
      } finally {
        await step2.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A JWKS_FILE holding the keys 2026-old and 2026-new (removed after the suite), and one store for the suite's servers. */
function rotationFixture(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const file = join(dir, 'jwks.json');
  writeFileSync(file, JSON.stringify({ keys: [privateJwk('2026-old'), privateJwk('2026-new')] }), { mode: 0o600 });
  after(() => rmSync(dir, { recursive: true, force: true }));
  return { file, storage: createMemoryStorage() };
}

/** Signs `username` up on `url` and enrols an authenticator app at `nowSeconds`: its secret. */
async function enrolTotp(url: string, username: string, nowSeconds: number): Promise<Buffer> {
  await call(`${url}/api/auth/signup`, { json: { username, email: `${username}@example.com`, password: 'password-123' } });
  const access = (await call(`${url}/api/v1/auth/login`, { form: { username, password: 'password-123' } })).json.data.access_token as string;
  const headers = { authorization: `Bearer ${access}` };
  const secret = secretOf((await call(`${url}/api/v1/auth/mfa/totp`, { method: 'POST', headers })).json.data.otpauth_uri);
  const confirm = await call(`${url}/api/v1/auth/mfa/totp/confirm`, { json: { code: codeAt(secret, nowSeconds) }, headers });
  assert.equal(confirm.status, 200, confirm.text);
  return secret;
}

describe('an authenticator app enrolled before a key change keeps working', () => {
  const { file, storage } = rotationFixture('warden-jwks-totp-');
  let now = Date.UTC(2026, 10, 24, 12);
  const clock = () => now;

  it('after JWKS_SIGNING_KID moves, the old key is removed, MFA_ENCRYPTION_KEY is set: the code the app shows still signs in', async () => {
    const env = { ALGORITHM: 'EdDSA', JWKS_FILE: file };
    const first = await startServer({ ...env, JWKS_SIGNING_KID: '2026-old' }, { storage, clock });
    let secret: Buffer;
    try {
      secret = await enrolTotp(first.url, 'tina', now / 1000);
    } finally {
      await first.close();
    }
    // Each later server a minute on: a fresh step, not the replay of a used code.
    const signsIn = async (extra: Record<string, string>) => {
      now += 60_000;
      const s = await startServer({ ...env, ...extra }, { storage, clock });
      try {
        const part = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'tina', password: 'password-123' } });
        const done = await call(`${s.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: part.json.data.mfa_token, code: codeAt(secret, now / 1000) } });
        return done.status;
      } finally {
        await s.close();
      }
    };
    const keys = JSON.parse(readFileSync(file, 'utf8')) as { keys: { kid: string }[] };
    assert.equal(await signsIn({ JWKS_SIGNING_KID: '2026-new' }), 200, 'the signer moved; the old key is still in the file');
    // That sign-in sealed the secret again under the new key: the old one can go.
    writeFileSync(file, JSON.stringify({ keys: keys.keys.filter((k) => k.kid === '2026-new') }), { mode: 0o600 });
    assert.equal(await signsIn({}), 200, 'the old key removed from the file');
    const mfaKey = randomBytes(32).toString('hex');
    assert.equal(await signsIn({ MFA_ENCRYPTION_KEY: mfaKey }), 200, 'MFA_ENCRYPTION_KEY set afterwards');
    writeFileSync(file, JSON.stringify({ keys: [privateJwk('2027')] }), { mode: 0o600 });
    assert.equal(await signsIn({ MFA_ENCRYPTION_KEY: mfaKey }), 200, 'sealed again under MFA_ENCRYPTION_KEY: no signing key matters any more');
    // Under a key nothing holds (MFA_ENCRYPTION_KEY dropped): unreadable, the user falls back to a recovery code.
    assert.equal(await signsIn({}), 401);
  });
});

describe('a sign-in with a second factor across a rotation\'s restart', () => {
  const { file, storage } = rotationFixture('warden-jwks-mfa-');
  let now = Date.UTC(2026, 10, 24, 12);
  const clock = () => now;

  it('two instances, one still signing with the old key (no MFA_ENCRYPTION_KEY): the MFA token one hands out completes the sign-in at the other', async () => {
    const env = { ALGORITHM: 'EdDSA', JWKS_FILE: file };
    const before = await startServer({ ...env, JWKS_SIGNING_KID: '2026-old' }, { storage, clock });
    const moved = await startServer({ ...env, JWKS_SIGNING_KID: '2026-new' }, { storage, clock });
    try {
      const secret = await enrolTotp(before.url, 'rosa', now / 1000);
      for (const [from, to, name] of [[before, moved, 'old signer to new'], [moved, before, 'new signer to old']] as const) {
        now += 60_000; // a fresh step: not the replay of a used code
        const part = await call(`${from.url}/api/v1/auth/login`, { form: { username: 'rosa', password: 'password-123' } });
        assert.equal(part.status, 200, part.text);
        const done = await call(`${to.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: part.json.data.mfa_token, code: codeAt(secret, now / 1000) } });
        assert.equal(done.status, 200, `${name}: ${done.text}`);
      }
    } finally {
      await before.close();
      await moved.close();
    }
  });
});
