// POST /api/login as seed 003's Flask-RESTX LoginController answers it: a marshmallow LoginSchema
// (email, password) and 200 {"user", "token"}, with an access token of LOGIN_TOKEN_EXPIRES_HOURS
// (the seed's expires_delta=timedelta(hours=8)). An unknown email answers exactly like a wrong
// password (the seed's 404 "Usuario no encontrado" would tell which emails have accounts).
import type { FastifyInstance } from 'fastify';
import { RESERVED_CLAIMS, WardenError } from '@warden/toolkit';
import type { RouteContext } from './context.js';
import { SIGNIN_ERRORS } from './api.js';
import { routeSchemas } from './docs.js';
import { familyErrorHandler, MARSHMALLOW } from './error-families.js';
import { marshmallowLoad } from './field-errors.js';
import { clientMeta } from './request.js';
import { mfaRequiredView, MFA_REQUIRED } from './mfa-views.js';
import { noStore } from './security-headers.js';
import { EMAIL_LOGIN, USER_AND_TOKEN } from './schemas.js';
import { userView } from './views.js';

export async function apiLoginRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { accounts, config, issuer } = ctx;
  app.setErrorHandler(familyErrorHandler(MARSHMALLOW, ctx.log));
  const doc = routeSchemas(config);
  const expiresIn = config.tokens.loginTtlSeconds;

  app.post('/api/login', {
    schema: doc({
      method: 'POST', tags: ['login'], family: MARSHMALLOW,
      summary: 'Log in with {email, password}: the user and an access token of LOGIN_TOKEN_EXPIRES_HOURS',
      body: { schema: EMAIL_LOGIN, media: ['json'] },
      ok: {
        status: 200, description: 'The user (never the hash) and the token; or, for a user with a second factor, an MFA token',
        schema: { oneOf: [USER_AND_TOKEN, MFA_REQUIRED] },
      },
      errors: ['ERR_VALIDATION', ...SIGNIN_ERRORS.filter((c) => c !== 'ERR_MISSING_CREDENTIALS' && c !== 'ERR_BAD_REQUEST')],
    }),
  }, async (req, reply) => {
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    if (req.body !== undefined && !ct.startsWith('application/json')) {
      throw new WardenError('ERR_MEDIA_TYPE', 'Unsupported Media Type. Use application/json.');
    }
    const login = marshmallowLoad(req.body, { email: 'email', password: 'string' });
    if (login.password === '') throw new WardenError('ERR_BAD_CREDENTIALS');
    const result = await accounts.credentials.signIn(login.email, login.password, clientMeta(req));
    noStore(reply);
    if (result.kind === 'mfa_required') return mfaRequiredView(result);
    const { pair } = result;
    // The session's access token, re-issued with this route's lifetime: same session, roles and freshness.
    const claims = Object.fromEntries(Object.entries(pair.access.claims).filter(([k]) => !RESERVED_CLAIMS.has(k)));
    const token = issuer.createAccessToken(pair.user.id, { fresh: pair.access.claims.fresh, expiresIn, additionalClaims: claims });
    return { user: userView(pair.user), token };
  });
}
