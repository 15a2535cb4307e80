// Authlib (Debian's python3-authlib), a client nobody here wrote: its requests OAuth2Session takes a
// password grant from /oauth/token and revokes the refresh token at /oauth/revoke (RFC 7009), and
// authlib.jose.JsonWebToken verifies Warden's EdDSA, ES256 and RS256 access tokens against
// /.well-known/jwks.json, validating exp, iss and aud.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { testClock } from './helpers/clock.js';
import { keyPairFor } from './helpers/keys.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { call, startServer, type Running } from './helpers/server.js';

const script = new URL('./interop/authlib_client.py', import.meta.url).pathname;
const run = promisify(execFile);

interface Out {
  ok: boolean; error?: string; oauth_error?: string | null;
  token?: Record<string, unknown>; before?: { status: number; user_id: string | null }; after?: { status: number; user_id: string | null };
  revoke_status?: number; refresh_after_revoke?: { error: string | null; description?: string };
  header?: Record<string, unknown>; claims?: Record<string, unknown>;
}

async function authlib(args: string[], env: Record<string, string> = {}): Promise<Out> {
  const { stdout } = await run(PYTHON, [script, ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
  return JSON.parse(stdout);
}

async function signUp(s: Running, name: string): Promise<string> {
  const r = await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } });
  assert.equal(r.status, 201);
  return r.json.id;
}

const skip = pythonMissing('import authlib, requests; from authlib.integrations.requests_client import OAuth2Session', 'python3-authlib python3-requests', 'Authlib\'s OAuth2Session against /oauth/token not checked');
const joseSkip = pythonMissing('import cryptography; from authlib.jose import JsonWebToken', 'python3-authlib python3-cryptography', 'Authlib\'s JWT verification through the JWKS not checked');

describe('Authlib\'s OAuth2Session: password grant, then revoke_token (RFC 7009)', { skip }, () => {
  let s: Running;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  for (const [how, env] of [['a public client (client_id in the body)', {}], ['a confidential client (client_secret_basic: ignored, README)', { CLIENT_SECRET: 'shh-not-checked' }]] as const) {
    it(`as ${how}: the token opens a protected call; after revoke_token the refresh is invalid_grant and the access token is refused`, async () => {
      const name = `authlib${Object.keys(env).length}`;
      const id = await signUp(s, name);
      const out = await authlib(['password', s.url, name, 'password-123'], env);
      assert.equal(out.ok, true, JSON.stringify(out));
      assert.equal(out.token!.token_type, 'Bearer');
      assert.equal(out.token!.scope, 'user');
      assert.equal(typeof out.token!.expires_at, 'number', 'Authlib computed expires_at from expires_in');
      assert.deepEqual(out.before, { status: 200, user_id: id });
      assert.equal(out.revoke_status, 200);
      assert.equal(out.refresh_after_revoke!.error, 'invalid_grant');
      assert.deepEqual(out.after, { status: 401, user_id: null });
    });
  }

  it('a wrong password is Authlib\'s OAuthError with error "invalid_grant"', async () => {
    await signUp(s, 'authlibwrong');
    const out = await authlib(['password', s.url, 'authlibwrong', 'not-the-password']);
    assert.deepEqual(out, { ok: false, error: 'OAuthError', oauth_error: 'invalid_grant' });
  });
});

const ISSUER = 'https://warden.example.com';
const AUDIENCE = 'orders-api';

for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
  describe(`authlib.jose.JsonWebToken verifies Warden's ${alg} access tokens through /.well-known/jwks.json, with iss and aud`, { skip: joseSkip }, () => {
    let s: Running;
    const dir = mkdtempSync(join(tmpdir(), 'warden-authlib-'));
    const clock = testClock();
    before(async () => {
      // The README's key settings: PRIVATE_KEY_FILE (its public key derived), PUBLIC_KEY_FILE beside it for RS256.
      const keys = keyPairFor(alg);
      writeFileSync(join(dir, 'private.pem'), keys.privateKeyPem, { mode: 0o600 });
      writeFileSync(join(dir, 'public.pem'), keys.publicKeyPem);
      s = await startServer({
        ALGORITHM: alg, PRIVATE_KEY_FILE: join(dir, 'private.pem'), ...(alg === 'RS256' ? { PUBLIC_KEY_FILE: join(dir, 'public.pem') } : {}),
        JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE,
      }, { clock });
    });
    after(async () => {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    });

    const jwks = () => `${s.url}/.well-known/jwks.json`;
    const expected = { ISSUER, AUDIENCE };
    const token = async (name: string) => {
      const r = await call(`${s.url}/oauth/token`, { form: { grant_type: 'password', username: name, password: 'password-123' } });
      assert.equal(r.status, 200);
      return r.json.access_token as string;
    };

    it('picks the key by kid, checks the signature, and validates exp, iss and aud', async () => {
      const id = await signUp(s, `jose${alg.toLowerCase()}`);
      const out = await authlib(['verify', jwks(), await token(`jose${alg.toLowerCase()}`), alg], expected);
      assert.equal(out.ok, true, JSON.stringify(out));
      assert.equal(out.header!.alg, alg);
      assert.equal(out.header!.kid, (await call(jwks())).json.keys[0].kid);
      assert.equal(out.claims!.sub, id);
      assert.equal(out.claims!.iss, ISSUER);
      assert.equal(out.claims!.aud, AUDIENCE);
      assert.equal(out.claims!.type, 'access');
    });

    it('another audience or issuer expected: InvalidClaimError', async () => {
      await signUp(s, `claims${alg.toLowerCase()}`);
      const t = await token(`claims${alg.toLowerCase()}`);
      assert.deepEqual(await authlib(['verify', jwks(), t, alg], { ...expected, AUDIENCE: 'billing-api' }), { ok: false, error: 'InvalidClaimError', oauth_error: 'invalid_claim' });
      assert.deepEqual(await authlib(['verify', jwks(), t, alg], { ...expected, ISSUER: 'https://elsewhere.example.com' }), { ok: false, error: 'InvalidClaimError', oauth_error: 'invalid_claim' });
    });

    it('a token past its exp: ExpiredTokenError', async () => {
      await signUp(s, `expired${alg.toLowerCase()}`);
      // Issued 16 minutes ago by Warden's clock: its 15 minutes are over by the real one Authlib reads.
      const t = await clock.during(-16 * 60_000, () => token(`expired${alg.toLowerCase()}`));
      assert.deepEqual(await authlib(['verify', jwks(), t, alg], expected), { ok: false, error: 'ExpiredTokenError', oauth_error: 'expired_token' });
    });

    it('claims changed after signing: BadSignatureError', async () => {
      await signUp(s, `forged${alg.toLowerCase()}`);
      const [h, p, sig] = (await token(`forged${alg.toLowerCase()}`)).split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString());
      claims.roles = ['admin'];
      const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
      assert.deepEqual(await authlib(['verify', jwks(), forged, alg], expected), { ok: false, error: 'BadSignatureError', oauth_error: 'bad_signature' });
    });
  });
}
