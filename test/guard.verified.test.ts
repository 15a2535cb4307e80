// jwtRequired({ verified: true }): a service demands, per route, that the token's `email_verified`
// claim is true (Warden writes it into every access token from the user's record).
import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { wardenErrorHandler } from '../toolkit/src/guard/errors.js';
import { wardenGuard } from '../toolkit/src/guard/plugin.js';
import { createTokenIssuer } from '../toolkit/src/tokens/issue.js';
import { keyRingFromSecret } from '../toolkit/src/tokens/index.js';
import { createTokenVerifier } from '../toolkit/src/tokens/verify.js';

const keys = keyRingFromSecret('guard-verified-secret-of-at-least-32-bytes', 'HS256');
const issuer = createTokenIssuer({ keys, accessExpiresIn: 900, refreshExpiresIn: 86400 });
let app: FastifyInstance;

before(async () => {
  app = Fastify();
  app.setErrorHandler(wardenErrorHandler);
  await app.register(wardenGuard, { verify: createTokenVerifier({ keys }) });
  app.get('/verified', { preHandler: app.jwtRequired({ verified: true }) }, async () => ({ ok: true }));
  app.get('/any', { preHandler: app.jwtRequired() }, async () => ({ ok: true }));
});
after(() => app.close());

const get = (url: string, claims: Record<string, unknown>) =>
  app.inject({ url, headers: { authorization: `Bearer ${issuer.issue('access', 'u1', { additionalClaims: claims }).token}` } });

it('lets a token through only when email_verified is exactly true', async () => {
  assert.equal((await get('/verified', { email_verified: true })).statusCode, 200);
  for (const claims of [{ email_verified: false }, {}, { email_verified: 'true' }, { email_verified: 1 }]) {
    const r = await get('/verified', claims);
    assert.equal(r.statusCode, 403, JSON.stringify(claims));
    assert.deepEqual(r.json(), { detail: 'Email address not verified', code: 'ERR_EMAIL_NOT_VERIFIED' });
  }
  assert.equal((await get('/any', { email_verified: false })).statusCode, 200, 'routes that do not ask are unaffected');
});
