// Python clients nobody here wrote: PyJWT's PyJWKClient (Debian's python3-jwt, with
// python3-cryptography for RS256 and EdDSA) fetches Warden's /.well-known/jwks.json and verifies
// Warden's tokens, as a FastAPI service behind Warden would; and seed 001's own get_current_user
// decodes an HS256 token with the shared SECRET_KEY.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';

const script = new URL('./interop/pyjwt_jwks.py', import.meta.url).pathname;
const run = promisify(execFile);

async function python(args: string[], env: Record<string, string> = {}): Promise<{ ok: boolean; alg?: string; kid?: string; sub?: string; claims?: Record<string, unknown>; error?: string }> {
  const { stdout } = await run(PYTHON, [script, ...args], { env: { ...process.env, SECRET_KEY: TEST_SECRET, ...env }, timeout: 30_000 });
  return JSON.parse(stdout);
}

async function signedIn(s: Running, name: string) {
  const r = await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } });
  assert.equal(r.status, 201);
  const form = await call(`${s.url}/token`, { form: { username: name, password: 'password-123' } });
  assert.equal(form.status, 200);
  return { id: r.json.id as string, token: form.json.access_token as string };
}

const skip = pythonMissing('import jwt, cryptography; from jwt import PyJWKClient', 'python3-jwt python3-cryptography', 'JWKS interop not checked');
const joseSkip = pythonMissing('from jose import jwt', 'python3-jose', 'seed 001\'s jose decode not checked');

for (const alg of ['EdDSA', 'RS256'] as const) {
  describe(`PyJWT's PyJWKClient verifies Warden's ${alg} tokens through /.well-known/jwks.json`, { skip }, () => {
    let s: Running;
    before(async () => {
      s = await startServer({ ALGORITHM: alg });
    });
    after(() => s.close());

    it('picks the key by kid and verifies signature and claims', async () => {
      const { id, token } = await signedIn(s, `py${alg.toLowerCase()}`);
      const jwks = (await call(`${s.url}/.well-known/jwks.json`)).json;
      const out = await python(['jwks', `${s.url}/.well-known/jwks.json`, token]);
      assert.equal(out.ok, true, JSON.stringify(out));
      assert.equal(out.alg, alg);
      assert.equal(out.kid, jwks.keys[0].kid);
      assert.equal(out.sub, id);
      assert.equal(out.claims!.type, 'access');
      assert.deepEqual(out.claims!.roles, ['user']);
    });

    it('refuses a token whose claims were changed after signing', async () => {
      const { token } = await signedIn(s, `forger${alg.toLowerCase()}`);
      const [h, p, sig] = token.split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
      claims.roles = ['admin'];
      const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
      const out = await python(['jwks', `${s.url}/.well-known/jwks.json`, forged]);
      assert.deepEqual(out, { ok: false, error: 'InvalidSignatureError' });
    });
  });
}

describe('seed 001\'s get_current_user: jwt.decode(token, SECRET_KEY, algorithms=["HS256"]) with the shared secret', { skip }, () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('reads payload["sub"] from a token of POST /token; another secret is refused', async () => {
    const { id, token } = await signedIn(s, 'seedone');
    const out = await python(['secret', token]);
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.equal(out.alg, 'HS256');
    assert.equal(out.sub, id);
    const { stdout } = await run(PYTHON, [script, 'secret', token], { env: { ...process.env, SECRET_KEY: 'another-secret-that-is-at-least-32-bytes' }, timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout), { ok: false, error: 'InvalidSignatureError' });
  });
});

describe('seed 001\'s get_current_user as written, with python-jose (`from jose import JWTError, jwt`)', { skip: joseSkip }, () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('reads payload["sub"] from a token of POST /token; another secret is refused', async () => {
    const { id, token } = await signedIn(s, 'seedjose');
    const out = await python(['jose', token]);
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.equal(out.sub, id);
    const { stdout } = await run(PYTHON, [script, 'jose', token], { env: { ...process.env, SECRET_KEY: 'another-secret-that-is-at-least-32-bytes' }, timeout: 30_000 });
    assert.deepEqual(JSON.parse(stdout), { ok: false, error: 'JWTError' });
  });
});

describe('with JWT_AUDIENCE, seed 001\'s decode must name the audience (the README says so)', { skip }, () => {
  let s: Running;
  before(async () => {
    s = await startServer({ JWT_AUDIENCE: 'orders-api' });
  });
  after(() => s.close());

  it('PyJWT and python-jose refuse a token with an aud they were not given, and accept it with audience=', async () => {
    const { id, token } = await signedIn(s, 'seedaud');
    assert.deepEqual(await python(['secret', token]), { ok: false, error: 'InvalidAudienceError' });
    const out = await python(['secret', token], { AUDIENCE: 'orders-api' });
    assert.equal(out.ok, true, JSON.stringify(out));
    assert.equal(out.sub, id);
    if (joseSkip === undefined) {
      assert.deepEqual(await python(['jose', token]), { ok: false, error: 'JWTClaimsError' });
      assert.equal((await python(['jose', token], { AUDIENCE: 'orders-api' })).ok, true);
    }
  });
});
