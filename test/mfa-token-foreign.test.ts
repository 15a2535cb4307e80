// An MFA token is earned by the password alone. Services that verify Warden's tokens on their own —
// a real flask-jwt-extended and seed 001's PyJWT/python-jose decode sharing SECRET_KEY, PyJWT's
// PyJWKClient and the toolkit's createJwksVerifier reading /.well-known/jwks.json — refuse only a
// refresh token where an access token is due, so an MFA token they could verify would open them
// with the second factor skipped. Each of them refuses it; the access token the second factor then
// earns opens each of them (the control), and the MFA token still completes the sign-in at Warden.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  createJwksVerifier, createTokenIssuer, createTokenVerifier, generateKeyPem, keyRingFromJwks, keyRingFromPem, keyRingFromSecret, signCompact, WardenError,
} from '@warden/toolkit';
import { mfaTokenKeys } from '../src/accounts/index.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';
import { codeAt, secretOf } from './helpers/totp.js';

const run = promisify(execFile);
const flaskScript = new URL('./interop/flask_jwt.py', import.meta.url).pathname;
const pyjwtScript = new URL('./interop/pyjwt_jwks.py', import.meta.url).pathname;
const skip = pythonMissing('import flask_jwt_extended, jwt, cryptography, jose', 'python3-python-flask-jwt-extended python3-jwt python3-cryptography python3-jose', 'not checked');

async function py(script: string, args: string[]): Promise<any> {
  const { stdout } = await run(PYTHON, [script, ...args], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, timeout: 30_000 });
  return JSON.parse(stdout);
}

/** A user with TOTP: the MFA token a password sign-in at /oauth/token answers, and a recovery code. */
async function mfaPending(s: Running, name: string): Promise<{ mfaToken: string; recoveryCode: string }> {
  const password = 'password-123';
  assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password } })).status, 201);
  const access = (await call(`${s.url}/api/auth/signin`, { json: { username: name, password } })).json.access_token as string;
  const headers = { authorization: `Bearer ${access}` };
  const e = await call(`${s.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers });
  assert.equal(e.status, 201, e.text);
  const secret = secretOf(e.json.data.otpauth_uri);
  const c = await call(`${s.url}/api/v1/auth/mfa/totp/confirm`, { json: { code: codeAt(secret, Math.floor(Date.now() / 1000)) }, headers });
  assert.equal(c.status, 200, c.text);
  const o = await call(`${s.url}/oauth/token`, { form: { grant_type: 'password', username: name, password } });
  assert.equal(o.status, 400, o.text);
  assert.equal(o.json.error, 'invalid_grant');
  return { mfaToken: o.json.mfa_token, recoveryCode: c.json.data.recovery_codes[0] };
}

/** Completes the sign-in with the recovery code (no clock moves, so Python judges nbf with the same time): the access token. */
async function complete(s: Running, p: { mfaToken: string; recoveryCode: string }): Promise<string> {
  const r = await call(`${s.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: p.mfaToken, recovery_code: p.recoveryCode } });
  assert.equal(r.status, 200, r.text);
  return r.json.data.access_token;
}

describe('an MFA token opens no service that shares SECRET_KEY (HS256)', { skip }, () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('flask-jwt-extended\'s @jwt_required(), PyJWT and python-jose refuse it; the completed sign-in\'s access token passes each', async () => {
    const p = await mfaPending(s, 'mfaflask');
    assert.notEqual((await py(flaskScript, ['verify', p.mfaToken])).status, 200);
    assert.equal((await py(pyjwtScript, ['secret', p.mfaToken])).ok, false);
    assert.equal((await py(pyjwtScript, ['jose', p.mfaToken])).ok, false);
    const access = await complete(s, p);
    assert.equal((await py(flaskScript, ['verify', access])).status, 200);
    assert.equal((await py(pyjwtScript, ['secret', access])).ok, true);
    assert.equal((await py(pyjwtScript, ['jose', access])).ok, true);
  });
});

describe('an MFA token opens no service that verifies with /.well-known/jwks.json (EdDSA)', { skip }, () => {
  let s: Running;
  before(async () => {
    s = await startServer({ ALGORITHM: 'EdDSA' });
  });
  after(() => s.close());

  it('PyJWT\'s PyJWKClient and the toolkit\'s createJwksVerifier refuse it; the completed sign-in\'s access token passes both', async () => {
    const jwksUrl = `${s.url}/.well-known/jwks.json`;
    const remote = await createJwksVerifier({ url: jwksUrl, algorithms: ['EdDSA'] });
    try {
      const p = await mfaPending(s, 'mfajwks');
      assert.equal((await py(pyjwtScript, ['jwks', jwksUrl, p.mfaToken])).ok, false);
      assert.throws(() => remote.verify(p.mfaToken), WardenError);
      const access = await complete(s, p);
      assert.equal((await py(pyjwtScript, ['jwks', jwksUrl, access])).ok, true);
      assert.equal(remote.verify(access).claims.type, 'access');
    } finally {
      remote.close();
    }
  });
});

describe('an MFA token of the previous release, signed with the signing key', { skip }, () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('still finishes its sign-in (a rolling upgrade: the password on an old instance, the code here), and opens nothing else', async () => {
    const p = await mfaPending(s, 'mfaprevious');
    // What an instance of the previous release issued for the same password step: the same claims,
    // signed with SECRET_KEY's own key (and its kid), as before 2026-11-25.
    const signing = keyRingFromSecret(TEST_SECRET, 'HS256').signer;
    const previous = signCompact({ alg: 'HS256', typ: 'JWT', kid: signing.kid }, Buffer.from(p.mfaToken.split('.')[1]!, 'base64url'), signing);
    assert.notEqual(previous, p.mfaToken);
    // Refused as any token of the wrong type: /auth/me as seed 004 says (403), forward auth 401.
    for (const [path, status] of [['/api/v1/auth/me', 403], ['/api/v1/auth/verify', 401]] as const) {
      const r = await call(`${s.url}${path}`, { headers: { authorization: `Bearer ${previous}` } });
      assert.equal(r.status, status, `${path}: ${r.text}`);
    }
    const access = await complete(s, { ...p, mfaToken: previous });
    assert.equal((await call(`${s.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${access}` } })).status, 200);
  });
});

describe('the MFA token keys', () => {
  it('every instance derives the same ones from the same key; after a rotation the old key\'s MFA tokens still verify', () => {
    const { privateKeyPem } = generateKeyPem('EdDSA');
    const a = mfaTokenKeys(keyRingFromPem({ privateKeyPem, alg: 'EdDSA' }));
    const b = mfaTokenKeys(keyRingFromPem({ privateKeyPem, alg: 'EdDSA' }));
    const issued = createTokenIssuer({ keys: a, accessExpiresIn: 60, refreshExpiresIn: 60 }).issue('mfa', 'u1', { expiresIn: 300 }).token;
    assert.equal(createTokenVerifier({ keys: b, types: ['mfa'] })(issued).claims.sub, 'u1');
    // JWKS_FILE holding the old key and a new one that now signs (JWKS_SIGNING_KID).
    const old = keyRingFromPem({ privateKeyPem, alg: 'EdDSA', kid: 'old' });
    const fresh = keyRingFromPem({ privateKeyPem: generateKeyPem('ES256').privateKeyPem, alg: 'ES256', kid: 'new' });
    const jwk = (ring: typeof old) => ({ ...ring.signer.privateKey!.export({ format: 'jwk' }), kid: ring.signer.kid, alg: ring.signer.alg });
    const rotated = mfaTokenKeys(keyRingFromJwks({ keys: [jwk(old), jwk(fresh)] }, { signingKid: 'new' }));
    assert.notEqual(rotated.signer.kid, a.signer.kid);
    assert.equal(createTokenVerifier({ keys: rotated, types: ['mfa'] })(issued).claims.sub, 'u1');
    // Never the signing key's own kid, nor verifiable by it.
    assert.throws(() => createTokenVerifier({ keys: old, types: ['mfa'] })(issued), WardenError);
  });
});
