// jwtRequired's options (seed 003's table plus Warden's roles and revocation), on a bare Fastify app.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import formbody from '@fastify/formbody';
import { wardenGuard } from '../toolkit/src/guard/plugin.js';
import { RevocationIndex } from '../src/revocation/index.js';
import { wardenErrorHandler } from '../toolkit/src/guard/errors.js';
import { createTokenIssuer } from '../toolkit/src/tokens/issue.js';
import { signCompact } from '../toolkit/src/tokens/jws.js';
import { keyRingFromSecret } from '../toolkit/src/tokens/index.js';
import { createTokenVerifier } from '../toolkit/src/tokens/verify.js';
import { testClock } from './helpers/clock.js';

const keys = keyRingFromSecret('guard-test-secret-of-at-least-32-bytes', 'HS256');
const clock = testClock(Date.UTC(2026, 0, 1));
const issuer = createTokenIssuer({ keys, accessExpiresIn: 900, refreshExpiresIn: 86400, clock });
const index = new RevocationIndex();
const USER = '11111111-1111-4111-8111-111111111111';

describe('jwtRequired', () => {
  let app: FastifyInstance;
  before(async () => {
    app = Fastify();
    app.setErrorHandler(wardenErrorHandler);
    await app.register(formbody);
    await app.register(wardenGuard, { verify: createTokenVerifier({ keys, clock }), revocations: index, clock });
    const echo = async (req: { jwt: unknown }) => ({ jwt: req.jwt });
    app.get('/plain', { preHandler: app.jwtRequired() }, echo);
    app.get('/optional', { preHandler: app.jwtRequired({ optional: true }) }, echo);
    app.get('/fresh', { preHandler: app.jwtRequired({ fresh: true }) }, echo);
    app.get('/refresh', { preHandler: app.jwtRequired({ refresh: true }) }, echo);
    app.get('/any-type', { preHandler: app.jwtRequired({ verifyType: false }) }, echo);
    app.get('/query', { preHandler: app.jwtRequired({ locations: ['query_string'] }) }, echo);
    app.get('/query-named', { preHandler: app.jwtRequired({ locations: ['query_string'], queryStringName: 'refresh_token', refresh: true }) }, echo);
    app.post('/json', { preHandler: app.jwtRequired({ locations: ['json'] }) }, echo);
    app.post('/cookie', { preHandler: app.jwtRequired({ locations: ['cookies'] }) }, echo);
    app.get('/cookie', { preHandler: app.jwtRequired({ locations: ['cookies'] }) }, echo);
    app.post('/signout', { preHandler: app.jwtRequired({ skipRevocationCheck: true }) }, echo);
    app.get('/admin', { preHandler: app.jwtRequired({ roles: ['admin'] }) }, echo);
    app.get('/both', { preHandler: app.jwtRequired({ locations: ['headers', 'cookies'] }) }, echo);
    app.get('/everywhere', { preHandler: app.jwtRequired({ locations: ['headers', 'cookies', 'query_string', 'json'] }) }, echo);
  });
  after(() => app.close());

  const access = (o: Parameters<typeof issuer.issue>[2] = {}) => issuer.issue('access', USER, o);
  const get = (url: string, token?: string, headers: Record<string, string> = {}) =>
    app.inject({ url, headers: token ? { authorization: `Bearer ${token}`, ...headers } : headers });

  it('missing: 401 with flask-jwt-extended\'s texts', async () => {
    const r = await get('/plain');
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().detail, 'Missing Authorization Header');
    assert.equal(r.headers['www-authenticate'], 'Bearer');
    assert.equal((await get('/cookie')).json().detail, 'Missing cookie "access_token_cookie"');
    assert.equal((await get('/both')).json().detail, 'Missing JWT in headers or cookies (Missing Authorization Header; Missing cookie "access_token_cookie")');
    // flask-jwt-extended 4.4's text for JWT_TOKEN_LOCATION = all four, as its own NoAuthorizationError words it (its typo too).
    assert.equal((await get('/everywhere')).json().detail,
      'Missing JWT in headers, cookies, query_string or json (Missing Authorization Header; Missing cookie "access_token_cookie"; ' +
      'Missing \'jwt\' query paramater; Invalid content-type. Must be application/json.)');
    const json = await app.inject({ url: '/everywhere', headers: { 'content-type': 'application/json' } });
    assert.match(json.json().detail, /; Missing "access_token" key in json data\.\)$/);
  });

  it('an Authorization header of another scheme holds no token: the next location is read, as flask-jwt-extended reads it', async () => {
    const { token } = access();
    const basic = 'Basic Zm9vOmJhcg==';
    assert.equal((await get('/both', undefined, { authorization: basic, cookie: `access_token_cookie=${token}` })).statusCode, 200, 'a cookie behind HTTP Basic');
    assert.equal((await get('/plain', undefined, { authorization: `${basic}, Bearer ${token}` })).statusCode, 200, 'one of several credentials');
    assert.equal((await get('/plain', undefined, { authorization: `bearer ${token}` })).statusCode, 200, 'the scheme in any case');
    const other = await get('/plain', undefined, { authorization: basic });
    assert.equal(other.statusCode, 401);
    assert.equal(other.json().detail, "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'");
    for (const bad of ['Bearer', `Bearer ${token} extra`]) {
      const r = await get('/plain', undefined, { authorization: bad });
      assert.equal(r.statusCode, 401, bad);
      assert.equal(r.json().code, 'ERR_JWT_MALFORMED', bad);
      // flask-jwt-extended's text, the header named as configured.
      assert.equal(r.json().detail, "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'", bad);
    }
  });

  it('optional: absent passes with jwt null; present must still be valid', async () => {
    const r = await get('/optional');
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().jwt, null);
    assert.equal((await get('/optional', 'bad.token.here')).statusCode, 401);
    assert.equal((await get('/optional', access().token)).json().jwt.claims.sub, USER);
  });

  it('fresh: true, false, and fresh-for-a-duration', async () => {
    assert.equal((await get('/fresh', access({ fresh: true }).token)).statusCode, 200);
    const stale = await get('/fresh', access({ fresh: false }).token);
    assert.equal(stale.statusCode, 403);
    assert.equal(stale.json().detail, 'Fresh token required');
    const timed = access({ fresh: 300 }).token;
    assert.equal((await get('/fresh', timed)).statusCode, 200);
    assert.equal((await clock.during(301_000, () => get('/fresh', timed))).statusCode, 403);
  });

  it('refresh and verifyType', async () => {
    const refresh = issuer.issue('refresh', USER).token;
    assert.equal((await get('/refresh', refresh)).statusCode, 200);
    const wrong = await get('/refresh', access().token);
    assert.equal(wrong.statusCode, 401);
    assert.equal(wrong.json().detail, 'Only refresh tokens are allowed');
    assert.equal((await get('/plain', refresh)).json().detail, 'Only non-refresh tokens are allowed');
    assert.equal((await get('/any-type', refresh)).statusCode, 200);
  });

  it('query string and JSON body locations', async () => {
    const t = access().token;
    assert.equal((await app.inject({ url: `/query?jwt=${t}` })).statusCode, 200);
    // A route may name its own parameter (seed 004's ?refresh_token=).
    const r = issuer.issue('refresh', USER).token;
    assert.equal((await app.inject({ url: `/query-named?refresh_token=${r}` })).statusCode, 200);
    const named = await app.inject({ url: `/query-named?jwt=${r}` });
    assert.equal(named.statusCode, 401);
    assert.equal(named.json().detail, 'Missing \'refresh_token\' query paramater');
    assert.equal((await app.inject({ method: 'POST', url: '/json', payload: { access_token: t } })).statusCode, 200);
    const missing = await app.inject({ method: 'POST', url: '/json', payload: {} });
    assert.equal(missing.json().detail, 'Missing "access_token" key in json data.');
    const form = await app.inject({ method: 'POST', url: '/json', payload: 'a=b', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(form.json().detail, 'Invalid content-type. Must be application/json.');
  });

  it('cookies: CSRF double submit by header or by the csrf_token form field', async () => {
    const { token, claims } = access();
    const cookie = `access_token_cookie=${token}`;
    assert.equal((await app.inject({ url: '/cookie', headers: { cookie } })).statusCode, 200);
    // Refused 401, and like every 401 (RFC 9110 §11.6.1) naming the scheme.
    for (const [headers, code] of [[{ cookie }, 'ERR_CSRF_MISSING'], [{ cookie, 'x-csrf-token': 'nope' }, 'ERR_CSRF_MISMATCH']] as const) {
      const r = await app.inject({ method: 'POST', url: '/cookie', headers });
      assert.equal(r.statusCode, 401);
      assert.equal(r.json().code, code);
      assert.equal(r.headers['www-authenticate'], 'Bearer');
    }
    assert.equal((await app.inject({ method: 'POST', url: '/cookie', headers: { cookie, 'x-csrf-token': claims.csrf! } })).statusCode, 200);
    const form = await app.inject({ method: 'POST', url: '/cookie', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, payload: `csrf_token=${claims.csrf}` });
    assert.equal(form.statusCode, 200);
  });

  it('revocation: jti, session, and skipRevocationCheck', async () => {
    const a = access();
    index.apply({ kind: 'jti', key: a.claims.jti, value: '', expiresAt: clock() + 900_000 });
    const r = await get('/plain', a.token);
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().detail, 'Token has been revoked');
    assert.equal((await app.inject({ method: 'POST', url: '/signout', headers: { authorization: `Bearer ${a.token}` } })).statusCode, 200);
    const s = access({ additionalClaims: { sid: 'session-1' } });
    index.apply({ kind: 'sid', key: 'session-1', value: '', expiresAt: clock() + 900_000 });
    assert.equal((await get('/plain', s.token)).statusCode, 401);
    index.sweep(clock() + 900_001);
    assert.equal((await get('/plain', s.token)).statusCode, 200, 'a fact past its expiry is swept');
  });

  it('a user-level rule refuses that user\'s sessionless tokens, including one without iat', async () => {
    const OTHER = '22222222-2222-4222-8222-222222222222';
    const before = issuer.issue('access', OTHER).token;
    const withSession = issuer.issue('access', OTHER, { additionalClaims: { sid: 'live-session' } }).token;
    const noIat = signCompact({ alg: 'HS256', typ: 'JWT', kid: keys.signer.kid },
      JSON.stringify({ fresh: false, jti: 'j-no-iat', type: 'access', sub: OTHER, exp: Math.floor(clock() / 1000) + 600 }), keys.signer);
    assert.equal((await get('/plain', noIat)).statusCode, 200);
    index.apply({ kind: 'user', key: OTHER, value: String(Math.floor(clock() / 1000)), expiresAt: clock() + 86_400_000 });
    assert.equal((await get('/plain', before)).statusCode, 401);
    assert.equal((await get('/plain', noIat)).statusCode, 401);
    // Session-bound tokens are governed by their session, not by the user rule.
    assert.equal((await get('/plain', withSession)).statusCode, 200);
    const later = await clock.during(2000, () => get('/plain', issuer.issue('access', OTHER).token));
    assert.equal(later.statusCode, 200, 'a token issued after the rule passes');
  });

  it('roles: from the token, overridden by an administrator\'s later change', async () => {
    const admin = access({ additionalClaims: { roles: ['admin'] } }).token;
    assert.equal((await get('/admin', admin)).statusCode, 200);
    const denied = await get('/admin', access({ additionalClaims: { roles: ['user'] } }).token);
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json().code, 'ERR_ROLE_REQUIRED');
    assert.equal(denied.headers['www-authenticate'], 'Bearer error="insufficient_scope"', 'RFC 6750 §3.1');
    index.apply({ kind: 'roles', key: USER, value: '["user"]', expiresAt: clock() + 900_000 });
    assert.equal((await get('/admin', admin)).statusCode, 403);
  });

  it('expired and not-yet-valid tokens', async () => {
    const t = access().token;
    const r = await clock.during(901_000, () => get('/plain', t));
    assert.equal(r.statusCode, 401);
    assert.equal(r.json().detail, 'Token has expired');
    assert.match(r.headers['www-authenticate'] as string, /error="invalid_token"/);
    // Minted by an issuer whose clock runs two minutes ahead: nbf is in the guard's future.
    const ahead = createTokenIssuer({ keys, accessExpiresIn: 900, refreshExpiresIn: 86400, clock: () => clock() + 120_000 });
    const early = await get('/plain', ahead.createAccessToken(USER));
    assert.equal(early.statusCode, 401);
    assert.equal(early.json().code, 'ERR_JWT_NOT_YET_VALID');
  });
});

describe('wardenErrorHandler in an application of its own', () => {
  it('the application\'s own errors keep their status (a 4xx its text, a 5xx none); a failed schema names its field', async () => {
    const app = Fastify();
    app.setErrorHandler(wardenErrorHandler);
    const raise = (statusCode: number, message: string) => async () => {
      throw Object.assign(new Error(message), { statusCode });
    };
    app.get('/409', raise(409, 'That name is taken'));
    app.get('/429', raise(429, 'Slow down'));
    app.get('/503', raise(503, 'db password=hunter2 unreachable'));
    app.get('/plain', async () => {
      throw new Error('db password=hunter2');
    });
    app.post('/schema', { schema: { body: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } } } }, async () => 'ok');
    try {
      const get = async (url: string) => app.inject({ url });
      const conflict = await get('/409');
      assert.equal(conflict.statusCode, 409);
      assert.equal(conflict.json().detail, 'That name is taken');
      assert.equal((await get('/429')).statusCode, 429);
      const unavailable = await get('/503');
      assert.equal(unavailable.statusCode, 503);
      assert.doesNotMatch(unavailable.body, /hunter2/);
      const plain = await get('/plain');
      assert.deepEqual([plain.statusCode, plain.json().code], [500, 'ERR_INTERNAL']);
      assert.doesNotMatch(plain.body, /hunter2/);
      const schema = await app.inject({ method: 'POST', url: '/schema', payload: { other: 1 } });
      assert.equal(schema.statusCode, 422);
      assert.match(schema.json().detail, /name/);
    } finally {
      await app.close();
    }
  });
});
