// Second factors over HTTP, on a server with a movable clock: enrolment read back by Debian's pyotp
// from the otpauth:// URI; every password sign-in route answering with an MFA token instead of
// tokens once a factor is active; the MFA token refused by every other route, in every place a
// token may travel; completing a sign-in (codes once, recovery codes once); jwtRequired({ mfa }),
// MFA_REQUIRED_ROLES, removing a factor, an administrator's reset. Codes come from the tests' own
// TOTP (test/helpers/totp.ts) or pyotp, never from Warden's.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { testClock, type TestClock } from './helpers/clock.js';
import { call, cookiesFrom, startServer, type Running } from './helpers/server.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { codeAt, secretOf } from './helpers/totp.js';

const PASSWORD = 'password-123';
const PYOTP_SKIP = pythonMissing('import pyotp', 'python3-pyotp', 'the pyotp cross-check is skipped');

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

/** Test routes, hidden from the OpenAPI document like any route a service adds for itself. */
function testRoutes(app: Running['warden']['app']): void {
  app.get('/test/mfa-only', { schema: { hide: true }, preHandler: app.jwtRequired({ mfa: true }) }, async (req) => ({ amr: req.jwt!.claims.amr }));
  app.get('/test/any-type', { schema: { hide: true }, preHandler: app.jwtRequired({ verifyType: false }) }, async (req) => ({ type: req.jwt!.claims.type }));
}

interface World {
  s: Running;
  clock: TestClock;
  url: string;
  signup(username: string, roles?: string[]): Promise<string>;
  /** A password sign-in at /api/auth/signin: its JSON. */
  signin(username: string): Promise<any>;
  /** Enrols and confirms TOTP for the bearer of `access`: the secret and the recovery codes. */
  enrol(access: string): Promise<{ secret: Buffer; uri: string; recoveryCodes: string[] }>;
  /** The current code, `steps` steps from now by the server's clock. */
  code(secret: Buffer, steps?: number): string;
  /** Completes a sign-in with the next step's code (the clock moves a step first, so no code repeats). */
  complete(mfaToken: string, secret: Buffer): Promise<any>;
}

async function world(env: Record<string, string> = {}): Promise<World> {
  const clock = testClock(Date.UTC(2031, 4, 6, 7, 8, 0));
  const s = await startServer(env, { clock, routes: testRoutes });
  const url = s.url;
  const w: World = {
    s, clock, url,
    async signup(username, roles) {
      const r = await call(`${url}/api/auth/signup`, { json: { username, email: `${username}@example.com`, password: PASSWORD, ...(roles ? { roles } : {}) } });
      assert.equal(r.status, 201, r.text);
      return r.json.id;
    },
    async signin(username) {
      const r = await call(`${url}/api/auth/signin`, { json: { username, password: PASSWORD } });
      assert.equal(r.status, 200, r.text);
      return r.json;
    },
    async enrol(access) {
      const e = await call(`${url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer(access) });
      assert.equal(e.status, 201, e.text);
      const secret = secretOf(e.json.data.otpauth_uri);
      const c = await call(`${url}/api/v1/auth/mfa/totp/confirm`, { json: { code: w.code(secret) }, headers: bearer(access) });
      assert.equal(c.status, 200, c.text);
      return { secret, uri: e.json.data.otpauth_uri, recoveryCodes: c.json.data.recovery_codes };
    },
    code: (secret, steps = 0) => codeAt(secret, Math.floor(clock() / 1000) + steps * 30),
    async complete(mfaToken, secret) {
      clock.advance(30_000);
      const r = await call(`${url}/api/v1/auth/mfa/verify`, { json: { mfa_token: mfaToken, code: w.code(secret) } });
      assert.equal(r.status, 200, r.text);
      return r.json.data;
    },
  };
  return w;
}

describe('second factors over HTTP', () => {
  let w: World;
  beforeEach(async () => {
    w = await world();
    await w.signup('root', ['admin']);
  });
  afterEach(() => w.s.close());

  it('enrolment: a secret, an otpauth:// URI and its QR code (SVG); pyotp reads the URI and its code activates the factor', async (t) => {
    await w.signup('alice');
    const { access_token: access } = await w.signin('alice');
    const e = await call(`${w.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer(access) });
    assert.equal(e.status, 201);
    assert.equal(e.headers.get('cache-control'), 'no-store');
    const { secret, otpauth_uri: uri, qr_svg: svg } = e.json.data;
    assert.match(uri, /^otpauth:\/\/totp\/Warden:alice%40example\.com\?secret=/);
    assert.equal(secretOf(uri).toString('hex'), secretOf(`otpauth://totp/x?secret=${secret}`).toString('hex'));
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]*viewBox/);
    assert.equal((await call(`${w.url}/api/v1/auth/mfa/factors`, { headers: bearer(access) })).json.data.factors.length, 0, 'inactive until confirmed');

    let code = w.code(secretOf(uri));
    if (PYOTP_SKIP) {
      t.diagnostic(PYOTP_SKIP);
    } else {
      const script = 'import pyotp, sys; print(pyotp.parse_uri(sys.argv[1]).at(int(sys.argv[2])))';
      code = execFileSync(PYTHON, ['-c', script, uri, String(Math.floor(w.clock() / 1000))], { encoding: 'utf8' }).trim();
      assert.equal(code, w.code(secretOf(uri)), 'pyotp and the tests\' own TOTP agree');
    }
    const wrong = await call(`${w.url}/api/v1/auth/mfa/totp/confirm`, { json: { code: w.code(secretOf(uri), 3) }, headers: bearer(access) });
    assert.deepEqual([wrong.status, wrong.json.code], [401, 'ERR_MFA_CODE_INVALID']);
    const ok = await call(`${w.url}/api/v1/auth/mfa/totp/confirm`, { json: { code }, headers: bearer(access) });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.data.recovery_codes.length, 10);
    const list = (await call(`${w.url}/api/v1/auth/mfa/factors`, { headers: bearer(access) })).json.data;
    assert.deepEqual([list.factors.map((f: { type: string }) => f.type), list.recovery_codes_remaining], [['totp'], 10]);
    assert.ok(!JSON.stringify(list).includes(secret), 'the secret is never shown again');
  });

  it('every password sign-in route answers an MFA token, never tokens, once a factor is active', async () => {
    await w.signup('alice');
    const { secret } = await w.enrol((await w.signin('alice')).access_token);
    const email = 'alice@example.com';
    const routes: [string, () => Promise<Awaited<ReturnType<typeof call>>>, number, (j: any) => any][] = [
      ['POST /api/auth/signin', () => call(`${w.url}/api/auth/signin`, { json: { username: 'alice', password: PASSWORD } }), 200, (j) => j],
      ['POST /api/v1/auth/login', () => call(`${w.url}/api/v1/auth/login`, { form: { username: email, password: PASSWORD } }), 200, (j) => j.data],
      ['POST /token', () => call(`${w.url}/token`, { form: { username: 'alice', password: PASSWORD } }), 200, (j) => j],
      ['POST /login', () => call(`${w.url}/login`, { json: { email, password: PASSWORD } }), 200, (j) => j],
      ['POST /api/login', () => call(`${w.url}/api/login`, { json: { email, password: PASSWORD } }), 200, (j) => j],
      ['POST /oauth/token', () => call(`${w.url}/oauth/token`, { form: { grant_type: 'password', username: 'alice', password: PASSWORD } }), 400, (j) => j],
    ];
    for (const [name, send, status, mfaPart] of routes) {
      const r = await send();
      assert.equal(r.status, status, `${name}: ${r.text}`);
      assert.ok(!/access_token"|"token"|refresh_token"/.test(r.text), `${name} hands out no token: ${r.text}`);
      assert.deepEqual(r.headers.getSetCookie(), [], `${name} sets no cookie`);
      const part = mfaPart(r.json);
      assert.equal(typeof part.mfa_token, 'string', name);
      assert.deepEqual(part.methods, ['totp', 'recovery_code'], name);
      assert.equal(claims(part.mfa_token).type, 'mfa');
      if (name === 'POST /oauth/token') {
        assert.equal(r.json.error, 'invalid_grant');
        assert.match(r.json.error_description, /^mfa_required: /);
        assert.equal(r.headers.get('cache-control'), 'no-store');
      } else {
        assert.deepEqual([part.mfa_required, part.expires_in], [true, 300], name);
      }
      if (name === 'POST /api/v1/auth/login') assert.equal(r.json.message, 'Second factor required');
      // Each route's MFA token completes the sign-in at /api/v1/auth/mfa/verify.
      const done = await w.complete(part.mfa_token, secret);
      assert.deepEqual(claims(done.access_token).amr, ['pwd', 'otp', 'mfa'], name);
      assert.equal(claims(done.access_token).acr, 'aal2');
    }
    // A wrong password is still a wrong password: no MFA token for it.
    const wrong = await call(`${w.url}/api/auth/signin`, { json: { username: 'alice', password: 'wrong-password' } });
    assert.deepEqual([wrong.status, wrong.json.code], [401, 'ERR_BAD_CREDENTIALS']);
  });

  it('the MFA token is refused by every other route, wherever it is put', async () => {
    await w.signup('alice');
    const { secret } = await w.enrol((await w.signin('alice')).access_token);
    const mfa = (await w.signin('alice')).mfa_token as string;
    const doc = (await call(`${w.url}/openapi.json`)).json as { paths: Record<string, Record<string, { security?: unknown[] }>> };
    let tried = 0;
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (!op.security || op.security.length === 0) continue; // public routes take no token at all
        const url = `${w.url}${path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000001')}`;
        const m = method.toUpperCase();
        const attempts = [
          { headers: bearer(mfa) },
          { headers: { cookie: `access_token_cookie=${mfa}; refresh_token_cookie=${mfa}`, 'x-csrf-token': String(claims(mfa).csrf) } },
          { query: `?jwt=${mfa}&refresh_token=${mfa}` },
          ...(m === 'GET' ? [] : [{ json: { access_token: mfa, refresh_token: mfa } }]),
        ];
        for (const a of attempts) {
          const r = await call(`${url}${a.query ?? ''}`, { method: m, headers: a.headers, ...(a.json ? { json: a.json } : {}) });
          tried++;
          const where = `${m} ${path} with the MFA token in ${JSON.stringify(Object.keys(a))}: ${r.status} ${r.text}`;
          assert.ok(r.status < 200 || r.status >= 300, where);
          // Bearer and cookies are read by every guarded route: there the token itself is refused.
          if (a.headers !== undefined) {
            assert.ok(r.status === 401 || r.status === 403, where);
            if (r.text) assert.match(r.json.code ?? r.json.data?.code, /^ERR_JWT_/, where);
          }
        }
      }
    }
    assert.ok(tried > 60, `${tried} attempts`);
    // Nor where the type is not checked, nor as a refresh grant, nor at forward auth.
    assert.equal((await call(`${w.url}/test/any-type`, { headers: bearer(mfa) })).status, 401);
    const grant = await call(`${w.url}/oauth/token`, { form: { grant_type: 'refresh_token', refresh_token: mfa } });
    assert.deepEqual([grant.status, grant.json.error], [400, 'invalid_grant']);
    assert.equal((await call(`${w.url}/api/v1/auth/verify`, { headers: bearer(mfa) })).status, 401);
    // ...and it still completes the sign-in it was made for.
    assert.ok((await w.complete(mfa, secret)).access_token);
  });

  it('completing: a wrong code keeps the MFA token, the right one gives tokens and cookies once; codes and recovery codes work once', async () => {
    await w.signup('alice');
    const { secret, recoveryCodes } = await w.enrol((await w.signin('alice')).access_token);
    const mfa = (await w.signin('alice')).mfa_token as string;
    w.clock.advance(30_000);
    const verify = (body: Record<string, unknown>) => call(`${w.url}/api/v1/auth/mfa/verify`, { json: body });
    const wrong = await verify({ mfa_token: mfa, code: w.code(secret, 5) });
    assert.deepEqual([wrong.status, wrong.json.code, wrong.json.data], [401, 'ERR_MFA_CODE_INVALID', null]);
    const code = w.code(secret);
    const ok = await verify({ mfa_token: mfa, code });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.message, 'Login successful');
    assert.deepEqual(Object.keys(cookiesFrom(ok.headers)).sort(), ['access_token_cookie', 'csrf_access_token', 'csrf_refresh_token', 'refresh_token_cookie']);
    assert.equal((await call(`${w.url}/api/v1/auth/me`, { headers: bearer(ok.json.data.access_token) })).status, 200);
    const again = await verify({ mfa_token: mfa, code: w.code(secret, 1) });
    assert.deepEqual([again.status, again.json.code], [401, 'ERR_MFA_TOKEN_INVALID']);
    const replay = await verify({ mfa_token: (await w.signin('alice')).mfa_token, code });
    assert.deepEqual([replay.status, replay.json.code], [401, 'ERR_MFA_CODE_INVALID'], 'the same code, a new MFA token');

    const rc = recoveryCodes[3]!;
    const first = await verify({ mfa_token: (await w.signin('alice')).mfa_token, recovery_code: rc.toUpperCase() });
    assert.equal(first.status, 200);
    const second = await verify({ mfa_token: (await w.signin('alice')).mfa_token, recovery_code: rc });
    assert.deepEqual([second.status, second.json.code], [401, 'ERR_MFA_CODE_INVALID']);
    const list = (await call(`${w.url}/api/v1/auth/mfa/factors`, { headers: bearer(first.json.data.access_token) })).json.data;
    assert.equal(list.recovery_codes_remaining, 9);

    for (const [body, status] of [[{}, 422], [{ mfa_token: 'x.y.z', code }, 401], [{ mfa_token: mfa }, 422], [{ mfa_token: mfa, code: 'abc' }, 422]] as const) {
      assert.equal((await verify(body)).status, status, JSON.stringify(body));
    }
    assert.equal((await call(`${w.url}/api/v1/auth/mfa/verify`, { method: 'POST', body: 'nope', headers: { 'content-type': 'text/plain' } })).status, 415);
  });

  it('an MFA token is earned with a password: a new password (changed, set by an administrator) voids the ones already handed out', async () => {
    const aliceId = await w.signup('alice');
    const { secret } = await w.enrol((await w.signin('alice')).access_token);
    const verify = (mfaToken: string) => {
      w.clock.advance(30_000);
      return call(`${w.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: mfaToken, code: w.code(secret) } });
    };
    // Whoever phished the password holds an MFA token; the user changes the password meanwhile.
    const thief = (await w.signin('alice')).mfa_token as string;
    const own = await w.complete((await w.signin('alice')).mfa_token, secret);
    const changed = await call(`${w.url}/api/v1/auth/password`, { json: { current_password: PASSWORD, new_password: 'another-password-1' }, headers: bearer(own.access_token) });
    assert.equal(changed.status, 200, changed.text);
    const late = await verify(thief);
    assert.deepEqual([late.status, late.json.code], [401, 'ERR_MFA_TOKEN_INVALID'], 'the old password\'s MFA token opens no session');
    // An administrator's new password does the same.
    const before = (await call(`${w.url}/api/auth/signin`, { json: { username: 'alice', password: 'another-password-1' } })).json.mfa_token as string;
    const admin = (await w.signin('root')).access_token;
    assert.equal((await call(`${w.url}/api/v1/users/${aliceId}`, { method: 'PATCH', json: { password: 'admin-set-password-1' }, headers: bearer(admin) })).status, 200);
    assert.deepEqual((await verify(before)).json.code, 'ERR_MFA_TOKEN_INVALID');
    // The new password's MFA token works, and nothing of the password is readable in it.
    const fresh = (await call(`${w.url}/api/auth/signin`, { json: { username: 'alice', password: 'admin-set-password-1' } })).json.mfa_token as string;
    assert.ok(!JSON.stringify(claims(fresh)).includes('argon2'));
    assert.equal((await verify(fresh)).status, 200);
  });

  it('the routes that complete a sign-in refuse a browser\'s cross-site request (login CSRF); answers with tokens say no-store', async () => {
    await w.signup('alice');
    const { secret } = await w.enrol((await w.signin('alice')).access_token);
    const signin = await call(`${w.url}/api/auth/signin`, { json: { username: 'alice', password: PASSWORD } });
    assert.equal(signin.headers.get('cache-control'), 'no-store', 'the MFA answer carries a credential');
    const mfa = signin.json.mfa_token as string;
    w.clock.advance(30_000);
    const crossSite = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' };
    for (const [path, body] of [
      ['/api/v1/auth/mfa/verify', { mfa_token: mfa, code: w.code(secret) }],
      ['/api/v1/auth/passkey/login', { response: {} }],
    ] as const) {
      const r = await call(`${w.url}${path}`, { json: body, headers: crossSite });
      assert.deepEqual([r.status, r.json.code], [403, 'ERR_CROSS_SITE'], path);
      assert.deepEqual(r.headers.getSetCookie(), [], path);
    }
    // The refused request used nothing: the same MFA token and code complete the sign-in same-origin.
    const ok = await call(`${w.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: mfa, code: w.code(secret) }, headers: { origin: new URL(w.url).origin } });
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.headers.get('cache-control'), 'no-store');
    assert.equal(ok.headers.get('pragma'), 'no-cache');
  });

  it('jwtRequired({ mfa: true }) refuses a token without a second factor with 403 ERR_MFA_REQUIRED', async () => {
    await w.signup('alice');
    await w.signup('bob');
    const { secret } = await w.enrol((await w.signin('alice')).access_token);
    const passwordOnly = (await w.signin('bob')).access_token;
    const r = await call(`${w.url}/test/mfa-only`, { headers: bearer(passwordOnly) });
    assert.deepEqual([r.status, r.json.code], [403, 'ERR_MFA_REQUIRED']);
    const strong = await w.complete((await w.signin('alice')).mfa_token, secret);
    const ok = await call(`${w.url}/test/mfa-only`, { headers: bearer(strong.access_token) });
    assert.deepEqual([ok.status, ok.json.amr], [200, ['pwd', 'otp', 'mfa']]);
  });

  it('removing a factor needs a fresh token that carries a second factor; the last one gone, a password signs in again', async () => {
    await w.signup('alice');
    const { secret } = await w.enrol((await w.signin('alice')).access_token);
    const strong = await w.complete((await w.signin('alice')).mfa_token, secret);
    const id = (await call(`${w.url}/api/v1/auth/mfa/factors`, { headers: bearer(strong.access_token) })).json.data.factors[0].id;
    const refreshed = await call(`${w.url}/api/v1/auth/refresh`, { json: { refresh_token: strong.refresh_token } });
    assert.deepEqual(claims(refreshed.json.data.access_token).amr, ['pwd', 'otp', 'mfa'], 'a refresh keeps the amr');
    const stale = await call(`${w.url}/api/v1/auth/mfa/factors/${id}`, { method: 'DELETE', headers: bearer(refreshed.json.data.access_token) });
    assert.deepEqual([stale.status, stale.json.code], [403, 'ERR_FRESH_REQUIRED']);
    const regen = await call(`${w.url}/api/v1/auth/mfa/recovery-codes`, { method: 'POST', headers: bearer(strong.access_token) });
    assert.equal(regen.json.data.recovery_codes.length, 10);
    const missing = await call(`${w.url}/api/v1/auth/mfa/factors/00000000-0000-4000-8000-000000000009`, { method: 'DELETE', headers: bearer(strong.access_token) });
    assert.deepEqual([missing.status, missing.json.code], [404, 'ERR_FACTOR_NOT_FOUND']);
    const gone = await call(`${w.url}/api/v1/auth/mfa/factors/${id}`, { method: 'DELETE', headers: bearer(strong.access_token) });
    assert.equal(gone.status, 200);
    const plain = await w.signin('alice');
    assert.deepEqual(claims(plain.access_token).amr, ['pwd']);
  });

  it('an administrator lists and resets a user\'s factors: every session of theirs ends', async () => {
    const aliceId = await w.signup('alice');
    const { secret } = await w.enrol((await w.signin('alice')).access_token);
    const strong = await w.complete((await w.signin('alice')).mfa_token, secret);
    const admin = (await w.signin('root')).access_token;
    const listed = await call(`${w.url}/api/v1/users/${aliceId}/factors`, { headers: bearer(admin) });
    assert.deepEqual([listed.status, listed.json.data.factors.length, listed.json.data.recovery_codes_remaining], [200, 1, 10]);
    assert.equal((await call(`${w.url}/api/v1/users/${aliceId}/factors`, { method: 'DELETE', headers: bearer(strong.access_token) })).status, 403);
    const reset = await call(`${w.url}/api/v1/users/${aliceId}/factors`, { method: 'DELETE', headers: bearer(admin) });
    assert.equal(reset.status, 200);
    assert.ok(reset.json.data.sessions_ended >= 2);
    assert.equal((await call(`${w.url}/api/v1/auth/me`, { headers: bearer(strong.access_token) })).status, 403, 'her session ended (seed 004 answers 403)');
    assert.deepEqual(claims((await w.signin('alice')).access_token).amr, ['pwd']);
    const nobody = await call(`${w.url}/api/v1/users/00000000-0000-4000-8000-000000000009/factors`, { method: 'DELETE', headers: bearer(admin) });
    assert.equal(nobody.status, 404);
  });
});

describe('MFA_REQUIRED_ROLES', () => {
  let w: World;
  beforeEach(async () => {
    w = await world({ MFA_REQUIRED_ROLES: 'admin', MFA_MAX_FAILURES: '2' });
    await w.signup('root', ['admin']);
    await w.signup('bob');
  });
  afterEach(() => w.s.close());

  it('an administrator without a factor reaches only enrolment and sign-out, until signing in with one', async () => {
    const { access_token: access } = await w.signin('root');
    for (const path of ['/api/users', '/api/v1/auth/me', '/api/v1/auth/verify', '/api/v1/users']) {
      const r = await call(`${w.url}${path}`, { headers: bearer(access) });
      assert.equal(r.status, 403, path);
      if (r.text) assert.equal(r.json.code, 'ERR_MFA_ENROLMENT_REQUIRED', path);
    }
    const bob = (await w.signin('bob')).access_token;
    assert.equal((await call(`${w.url}/api/v1/auth/me`, { headers: bearer(bob) })).status, 200, 'other roles are not concerned');
    assert.equal((await call(`${w.url}/api/v1/auth/mfa/factors`, { headers: bearer(access) })).status, 200);
    const { secret } = await w.enrol(access);
    const other = (await w.signin('root')).mfa_token;
    assert.ok(other, 'the next sign-in asks for the factor');
    assert.equal((await call(`${w.url}/api/auth/signout`, { method: 'POST', headers: bearer(access) })).status, 200, 'sign-out stays open');

    // Wrong codes are throttled per user (MFA_MAX_FAILURES=2), the right one included once over the limit.
    w.clock.advance(30_000);
    for (let i = 0; i < 2; i++) {
      const r = await call(`${w.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: other, code: w.code(secret, 7) } });
      assert.equal(r.status, 401);
    }
    const limited = await call(`${w.url}/api/v1/auth/mfa/verify`, { json: { mfa_token: other, code: w.code(secret) } });
    assert.deepEqual([limited.status, limited.json.code], [429, 'ERR_RATE_LIMITED']);
    assert.ok(Number(limited.headers.get('retry-after')) > 0);
    w.clock.advance(15 * 60_000);

    const strong = await w.complete((await w.signin('root')).mfa_token, secret);
    assert.equal((await call(`${w.url}/api/users`, { headers: bearer(strong.access_token) })).status, 200);
  });

  it('a role granted later binds the holder\'s live tokens at once', async () => {
    const { secret } = await w.enrol((await w.signin('root')).access_token);
    const root = await w.complete((await w.signin('root')).mfa_token, secret);
    const bobToken = (await w.signin('bob')).access_token;
    assert.equal((await call(`${w.url}/api/v1/auth/verify`, { headers: bearer(bobToken) })).status, 200);
    const patched = await call(`${w.url}/api/v1/users/${claims(bobToken).sub}`, { method: 'PATCH', json: { roles: ['user', 'admin'] }, headers: bearer(root.access_token) });
    assert.equal(patched.status, 200);
    assert.equal((await call(`${w.url}/api/v1/auth/verify`, { headers: bearer(bobToken) })).status, 403);
  });
});
