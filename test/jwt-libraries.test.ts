// JWT libraries of other languages, nobody here wrote, trusting Warden's tokens as a Ruby or Perl
// service behind Warden would: ruby-jwt (Debian's ruby-jwt, ruby-rbnacl for EdDSA) and Crypt::JWT
// (Debian's libcrypt-jwt-perl). Each verifies Warden's access tokens of every ALGORITHM (HS* with
// the shared SECRET_KEY, the others through /.well-known/jwks.json) with iss and aud; follows a key
// rotation through JWKS_FILE; judges exp and nbf with and without leeway; and signs the tokens
// the toolkit's verifier accepts (the README's "interchangeable with a shared SECRET_KEY"). The
// oauth2 gem (ruby-oauth2) takes a password grant and refreshes at /oauth/token.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { WardenError } from '../toolkit/src/errors.js';
import { createTokenVerifier, keyRingFromJwks, keyRingFromSecret } from '../toolkit/src/tokens/index.js';
import { createMemoryStorage } from '../src/storage/memory.js';
import { commandMissing, lineProcess, PERL, RUBY, type LineProcess } from './helpers/foreign.js';
import { call, startServer, type Running } from './helpers/server.js';

const run = promisify(execFile);
const interop = (file: string) => new URL(`./interop/${file}`, import.meta.url).pathname;

const ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
type Alg = (typeof ALGORITHMS)[number];
const ISSUER = 'https://warden.example.com';
const AUDIENCE = 'orders-api';
/** 64 bytes: enough for HS512 too. */
const SECRET = randomBytes(48).toString('base64url');

interface Verified {
  ok: boolean;
  error?: string;
  alg?: string;
  kid?: string | null;
  sub?: string;
  claims?: Record<string, unknown>;
}

interface Library {
  name: string;
  skip: string | undefined;
  start(): LineProcess;
  /** The library's own error for each way a token is refused (its exception class, or its message). */
  refuses: Record<'expired' | 'notYet' | 'issuedInFuture' | 'audience' | 'issuer' | 'signature' | 'alg' | 'unknownKid', RegExp>;
  /** Whether its iat check (off by default in both) allows the leeway it is given. */
  iatTakesLeeway: boolean;
}

const LIBRARIES: Library[] = [
  {
    name: 'ruby-jwt',
    skip: commandMissing(RUBY, ['-e', 'require "jwt"; require "rbnacl"; require "net/http"'], 'ruby-jwt and RbNaCl', 'ruby-jwt ruby-rbnacl', 'ruby-jwt\'s verification of Warden\'s tokens not checked'),
    start: () => lineProcess(RUBY, [interop('ruby_jwt.rb')]),
    refuses: {
      expired: /^JWT::ExpiredSignature: Signature has expired$/,
      notYet: /^JWT::ImmatureSignature: Signature nbf has not been reached$/,
      issuedInFuture: /^JWT::InvalidIatError: Invalid iat$/,
      audience: /^JWT::InvalidAudError: Invalid audience/,
      issuer: /^JWT::InvalidIssuerError: Invalid issuer/,
      signature: /^JWT::VerificationError: Signature verification failed$/,
      alg: /^JWT::IncorrectAlgorithm: Expected a different algorithm$/,
      unknownKid: /^JWT::DecodeError: Could not find public key for kid /,
    },
    // ruby-jwt 2.5's verify_iat compares iat with Time.now alone: any iat in the future fails.
    iatTakesLeeway: false,
  },
  {
    name: 'Crypt::JWT',
    skip: commandMissing(PERL, ['-MCrypt::JWT', '-MCrypt::PK::Ed25519', '-MHTTP::Tiny', '-e', '1'], 'Crypt::JWT', 'libcrypt-jwt-perl', 'Crypt::JWT\'s verification of Warden\'s tokens not checked'),
    start: () => lineProcess(PERL, [interop('perl_crypt_jwt.pl')]),
    refuses: {
      expired: /^JWT: exp claim check failed/,
      notYet: /^JWT: nbf claim check failed/,
      issuedInFuture: /^JWT: iat claim check failed/,
      audience: /^JWT: aud claim scalar check failed$/,
      issuer: /^JWT: iss claim scalar check failed$/,
      signature: /^JWS: invalid signature$/,
      alg: /^JWS: alg '[A-Za-z0-9]+' not in accepted_alg$/,
      unknownKid: /^JWS: kid_keys lookup failed$/,
    },
    iatTakesLeeway: true,
  },
];
const allMissing = LIBRARIES.every((l) => l.skip !== undefined) ? LIBRARIES.map((l) => l.skip).join('; ') : undefined;

async function signUp(s: Running, name: string): Promise<string> {
  const r = await call(`${s.url}/api/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: 'password-123' } });
  assert.equal(r.status, 201, r.text);
  return r.json.id as string;
}

async function accessToken(s: Running, name: string): Promise<string> {
  const r = await call(`${s.url}/token`, { form: { username: name, password: 'password-123' } });
  assert.equal(r.status, 200, r.text);
  return r.json.access_token as string;
}

const headerOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()) as { alg: string; kid: string; typ?: string };

/** The same token with claims changed and the signature kept. */
function tampered(token: string, change: Record<string, unknown>): string {
  const [h, p, sig] = token.split('.');
  const claims = { ...JSON.parse(Buffer.from(p!, 'base64url').toString()), ...change };
  return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${sig}`;
}

/** How a service verifies this ALGORITHM's tokens: HS* with the shared secret, the others through the JWKS. */
const keyFor = (alg: Alg, s: Running) => (alg.startsWith('HS') ? { secret: SECRET } : { jwks_url: `${s.url}/.well-known/jwks.json` });

for (const alg of ALGORITHMS) {
  describe(`Warden's ${alg} access tokens (JWT_ISSUER, JWT_AUDIENCE set) in other languages' JWT libraries`, { skip: allMissing }, () => {
    let s: Running;
    let id: string;
    let token: string;
    before(async () => {
      s = await startServer({ ALGORITHM: alg, SECRET_KEY: SECRET, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });
      id = await signUp(s, `lib${alg.toLowerCase()}`);
      token = await accessToken(s, `lib${alg.toLowerCase()}`);
    });
    after(() => s.close());

    for (const lib of LIBRARIES) {
      it(`${lib.name} verifies them (key by kid), checks iss and aud, and refuses a changed claim, another alg, another iss/aud`, { skip: lib.skip }, async () => {
        const p = lib.start();
        try {
          const base = { op: 'verify', algorithms: [alg], iss: ISSUER, aud: AUDIENCE, ...keyFor(alg, s) };
          const out = await p.ask<Verified>({ ...base, token });
          assert.equal(out.ok, true, JSON.stringify(out));
          assert.equal(out.alg, alg);
          assert.equal(out.sub, id);
          assert.equal(out.claims!.type, 'access');
          assert.equal(out.claims!.iss, ISSUER);
          assert.equal(out.claims!.aud, AUDIENCE);
          assert.deepEqual(out.claims!.roles, ['user']);
          if (!alg.startsWith('HS')) {
            const jwks = (await call(`${s.url}/.well-known/jwks.json`)).json;
            assert.equal(out.kid, jwks.keys[0].kid);
          }

          const refused = async (request: Record<string, unknown>, why: RegExp) => {
            const r = await p.ask<Verified>({ ...base, ...request });
            assert.equal(r.ok, false, `${JSON.stringify(request).slice(0, 80)} was accepted`);
            assert.match(r.error!, why);
          };
          await refused({ token: tampered(token, { roles: ['admin'] }) }, lib.refuses.signature);
          await refused({ token, aud: 'billing-api' }, lib.refuses.audience);
          await refused({ token, iss: 'https://elsewhere.example.com' }, lib.refuses.issuer);
          await refused({ token, algorithms: [alg === 'HS256' ? 'HS512' : 'HS256'] }, lib.refuses.alg);
          if (alg.startsWith('HS')) await refused({ token, secret: randomBytes(48).toString('base64url') }, lib.refuses.signature);
        } finally {
          await p.close();
        }
      });
    }
  });
}

function privateJwk(alg: 'ES256' | 'EdDSA', kid: string) {
  const { privateKey } = alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), kid, alg, use: 'sig' };
}

/**
 * The JWKS URL a service is given, in front of whichever Warden instance is current (as a load
 * balancer is in front of a deployment being restarted).
 */
async function jwksFront(): Promise<{ url: string; to(s: Running): void; close(): Promise<void> }> {
  let target: Running | undefined;
  const server: Server = createServer((req, res) => {
    void (async () => {
      const r = await fetch(`${target!.url}/.well-known/jwks.json`);
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
      res.end(await r.text());
    })().catch(() => {
      res.writeHead(502).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    to: (s) => {
      target = s;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('a key rotation through JWKS_FILE (ES256 to EdDSA), followed by one long-running service', { skip: allMissing }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-libs-rotation-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const lib of LIBRARIES) {
    it(`${lib.name}: the old key's tokens verify while the JWKS holds it; a new kid is fetched; once the key is gone (and the cache has expired) they are refused`, { skip: lib.skip }, async () => {
      const oldKey = privateJwk('ES256', `old-${randomUUID()}`);
      const newKey = privateJwk('EdDSA', `new-${randomUUID()}`);
      const file = (name: string, keys: object[]) => {
        const f = join(dir, `${name}-${lib.name.replace(/\W/g, '')}.json`);
        writeFileSync(f, JSON.stringify({ keys }), { mode: 0o600 });
        return f;
      };
      const storage = createMemoryStorage();
      const front = await jwksFront();
      const p = lib.start();
      const verify = (token: string) => p.ask<Verified>({ op: 'verify', token, algorithms: ['ES256', 'EdDSA'], jwks_url: front.url });
      let s: Running | undefined;
      try {
        // 1. Only the old key.
        s = await startServer({ ALGORITHM: 'ES256', JWKS_FILE: file('1', [oldKey]) }, { storage });
        front.to(s);
        const name = `rot${lib.name.replace(/\W/g, '').toLowerCase()}`;
        await signUp(s, name);
        const old = await accessToken(s, name);
        assert.equal(headerOf(old).kid, oldKey.kid);
        assert.equal((await verify(old)).ok, true);
        await s.close();

        // 2. Both keys, the new one signing: the service meets a kid it has not seen and fetches the set again.
        s = await startServer({ ALGORITHM: 'EdDSA', JWKS_FILE: file('2', [oldKey, newKey]), JWKS_SIGNING_KID: newKey.kid }, { storage });
        front.to(s);
        const fresh = await accessToken(s, name);
        assert.deepEqual(headerOf(fresh), { alg: 'EdDSA', typ: 'JWT', kid: newKey.kid });
        const outNew = await verify(fresh);
        assert.equal(outNew.ok, true, JSON.stringify(outNew));
        assert.equal(outNew.kid, newKey.kid);
        const outOld = await verify(old);
        assert.equal(outOld.ok, true, JSON.stringify(outOld));
        await s.close();

        // 3. The old key removed. A service that caches the set keeps it until the cache expires
        // (Warden allows 5 minutes): why the README removes a key only after every verifier refetched.
        s = await startServer({ ALGORITHM: 'EdDSA', JWKS_FILE: file('3', [newKey]) }, { storage });
        front.to(s);
        assert.equal((await verify(old)).ok, true, 'still in the cached set');
        await p.ask({ op: 'expire' });
        const gone = await verify(old);
        assert.equal(gone.ok, false, JSON.stringify(gone));
        assert.match(gone.error!, lib.refuses.unknownKid);
        assert.equal((await verify(fresh)).ok, true);
      } finally {
        await s?.close();
        await p.close();
        await front.close();
      }
    });
  }
});

describe('exp, nbf and iat with and without leeway, Warden\'s clock a minute off', { skip: allMissing }, () => {
  const lifetime = 15 * 60;
  for (const lib of LIBRARIES) {
    it(`${lib.name}: a token expired a minute ago, or valid from a minute ahead, is refused without leeway and accepted with 2 minutes`, { skip: lib.skip }, async () => {
      const p = lib.start();
      const servers: Running[] = [];
      try {
        const tokenAt = async (offsetMs: number, name: string) => {
          const s = await startServer({ SECRET_KEY: SECRET }, { clock: () => Date.now() + offsetMs });
          servers.push(s);
          await signUp(s, name);
          return accessToken(s, name);
        };
        const tag = lib.name.replace(/\W/g, '').toLowerCase();
        const expired = await tokenAt(-(lifetime + 60) * 1000, `late${tag}`);
        const early = await tokenAt(60_000, `early${tag}`);
        const v = (token: string, more: Record<string, unknown> = {}) => p.ask<Verified>({ op: 'verify', token, algorithms: ['HS256'], secret: SECRET, ...more });

        const e0 = await v(expired);
        assert.equal(e0.ok, false);
        assert.match(e0.error!, lib.refuses.expired);
        assert.equal((await v(expired, { leeway: 120 })).ok, true);

        const n0 = await v(early);
        assert.equal(n0.ok, false);
        assert.match(n0.error!, lib.refuses.notYet);
        assert.equal((await v(early, { leeway: 120 })).ok, true);

        // Warden writes iat = nbf, the second it issued the token. An iat check (off by default)
        // with leeway accepts it in Crypt::JWT; ruby-jwt's ignores leeway (README).
        const i = await v(early, { leeway: 120, verify_iat: true });
        if (lib.iatTakesLeeway) assert.equal(i.ok, true, JSON.stringify(i));
        else assert.match(i.error!, lib.refuses.issuedInFuture);
        const i0 = await v(early, { verify_iat: true });
        assert.equal(i0.ok, false);
      } finally {
        for (const s of servers) await s.close();
        await p.close();
      }
    });
  }
});

describe('the other way: tokens these libraries sign, with flask-jwt-extended\'s claims, verified by the toolkit', { skip: allMissing }, () => {
  const claims = () => {
    const now = Math.floor(Date.now() / 1000);
    return { fresh: false, iat: now, jti: randomUUID(), type: 'access', sub: randomUUID(), nbf: now, csrf: randomUUID(), exp: now + 300, roles: ['user'] };
  };
  for (const lib of LIBRARIES) {
    it(`${lib.name}: HS256 with the shared secret (no kid), and RS256, ES256 and EdDSA with the public JWK it exports`, { skip: lib.skip }, async () => {
      const p = lib.start();
      try {
        const c = claims();
        const hs = await p.ask<{ ok: boolean; token: string; error?: string }>({ op: 'sign', alg: 'HS256', claims: c, secret: SECRET });
        assert.equal(hs.ok, true, JSON.stringify(hs));
        const v = createTokenVerifier({ keys: keyRingFromSecret(SECRET, 'HS256') });
        assert.deepEqual(v(hs.token).claims, c);

        for (const alg of ['RS256', 'ES256', 'EdDSA'] as const) {
          const { privateKey } = alg === 'RS256' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
          const kid = `${alg}-${randomUUID()}`;
          const c2 = claims();
          const out = await p.ask<{ ok: boolean; token: string; jwk: Record<string, unknown>; error?: string }>({ op: 'sign', alg, claims: c2, kid, private_jwk: privateKey.export({ format: 'jwk' }) });
          assert.equal(out.ok, true, JSON.stringify(out));
          assert.equal(headerOf(out.token).kid, kid);
          assert.equal(out.jwk.d, undefined, 'a public JWK');
          // Neither library writes "alg" into the JWK it exports (RFC 7517 §4.4: optional). The
          // toolkit binds each key to one algorithm (RFC 8725 §3.1): an EC or OKP key's follows from
          // its curve; an RSA key's does not (RS256 or PS256), so the set must name it.
          assert.equal(out.jwk.alg, undefined);
          const jwk = alg === 'RS256' ? { ...out.jwk, alg } : out.jwk;
          if (alg === 'RS256') assert.throws(() => keyRingFromJwks({ keys: [out.jwk] }), /an RSA key needs "alg"/);
          const verifier = createTokenVerifier({ keys: keyRingFromJwks({ keys: [jwk] }) });
          assert.deepEqual(verifier(out.token).claims, c2);
          // A token that lacks flask-jwt-extended's type and jti is not one of Warden's.
          const { type: _type, jti: _jti, ...bare } = claims();
          const plain = await p.ask<{ token: string }>({ op: 'sign', alg, claims: bare, kid, private_jwk: privateKey.export({ format: 'jwk' }) });
          assert.throws(() => verifier(plain.token), (e) => e instanceof WardenError && e.code === 'ERR_JWT_CLAIM_INVALID');
        }
      } finally {
        await p.close();
      }
    });
  }
});

const oauth2Skip = commandMissing(RUBY, ['-e', 'require "oauth2"'], 'the oauth2 gem', 'ruby-oauth2', 'the oauth2 gem against /oauth/token not checked');

describe('the oauth2 gem (ruby-oauth2): password grant, a protected call, refresh! at /oauth/token', { skip: oauth2Skip }, () => {
  let s: Running;
  before(async () => {
    // No grace: the retired refresh token presented again is a replay at once.
    s = await startServer({ REFRESH_REUSE_GRACE_SECONDS: '0' });
  });
  after(() => s.close());

  const oauth2 = async (args: string[], env: Record<string, string> = {}) => {
    const { stdout } = await run(RUBY, [interop('ruby_oauth2.rb'), ...args], { env: { ...process.env, ...env }, timeout: 30_000 });
    return JSON.parse(stdout);
  };

  for (const [how, env] of [['a public client (client_id in the body)', {}], ['a confidential client (HTTP Basic: ignored, README)', { CLIENT_SECRET: 'not-checked' }]] as const) {
    it(`as ${how}: the token opens a protected call, refresh! rotates both tokens, the retired refresh token is then invalid_grant`, async () => {
      const name = `gem${Object.keys(env).length}`;
      const id = await signUp(s, name);
      const out = await oauth2(['password', s.url, name, 'password-123'], env);
      assert.equal(out.ok, true, JSON.stringify(out));
      assert.equal(out.token.params.scope, 'user');
      assert.equal(out.token.params.token_type, 'Bearer');
      assert.equal(typeof out.token.expires_at, 'number', 'the gem computed expires_at from expires_in');
      assert.deepEqual(out.before, { status: 200, user_id: id });
      assert.deepEqual(out.refreshed, { changed_access: true, changed_refresh: true, status: 200, user_id: id });
      assert.deepEqual(out.replay, { error: 'invalid_grant', status: 400 });
    });
  }

  it('a wrong password is OAuth2::Error with code "invalid_grant"', async () => {
    await signUp(s, 'gemwrong');
    const out = await oauth2(['password', s.url, 'gemwrong', 'not-the-password']);
    assert.equal(out.ok, false);
    assert.equal(out.error, 'OAuth2::Error');
    assert.equal(out.oauth_error, 'invalid_grant');
  });
});
