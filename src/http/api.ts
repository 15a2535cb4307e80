// Seed 000's API under /api: flat JSON bodies, errors as FastAPI writes them ({"detail": ...}).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { UserActor } from '../accounts/index.js';
import { WardenError, type ErrorCode, type JwtRequiredOptions } from '@warden/toolkit';
import { clearAuthCookies, setAuthCookies } from './cookies.js';
import type { RouteContext } from './context.js';
import { routeSchemas, type Success } from './docs.js';
import { DETAIL, familyErrorHandler } from './error-families.js';
import { clientMeta, field, jsonOrFormBody, newUserBody, onceIn } from './request.js';
import { mfaRequiredView, MFA_REQUIRED } from './mfa-views.js';
import { refuseCrossSite } from './cross-site.js';
import { noStore } from './security-headers.js';
import { pairView, userView } from './views.js';
import { CREDENTIALS, DETAIL_MESSAGE, newUser, PAGING_QUERY, passwordPolicy, PAIR, REFRESH_BODY, SIGNIN, USER } from './schemas.js';

/** The database or the password hasher: down or saturated (503), or failing unexpectedly (500, logged with the request id). */
export const DEPENDENCY_ERRORS: ErrorCode[] = ['ERR_UNAVAILABLE', 'ERR_INTERNAL'];
/** An administrator's creation of a user: its answers beyond the guard's and the body parser's. */
export const CREATE_USER_ERRORS: ErrorCode[] = ['ERR_BAD_REQUEST', 'ERR_VALIDATION', 'ERR_CONFLICT', 'ERR_ROLES_FORBIDDEN', ...DEPENDENCY_ERRORS];
/** A sign-up's: an administrator's, the limit per client IP (SIGNUP_LIMIT_PER_IP), and sign-up closed (SIGNUP_ENABLED=false). */
export const SIGNUP_CLOSED = 'sign-up is closed (SIGNUP_ENABLED=false): an administrator\'s token only';
export const SIGNUP_ERRORS: ErrorCode[] = [...CREATE_USER_ERRORS, 'ERR_RATE_LIMITED', 'ERR_SIGNUP_DISABLED'];
/** A password sign-in's answers. */
export const SIGNIN_ERRORS: ErrorCode[] = [
  'ERR_BAD_REQUEST', 'ERR_MISSING_CREDENTIALS', 'ERR_BAD_CREDENTIALS', 'ERR_USER_INACTIVE', 'ERR_RATE_LIMITED', ...DEPENDENCY_ERRORS,
];
/** A refresh's answers. */
export const REFRESH_ERRORS: ErrorCode[] = ['ERR_REFRESH_INVALID', 'ERR_REFRESH_REUSED', 'ERR_USER_INACTIVE', ...DEPENDENCY_ERRORS];

/** The Set-Cookie header of the routes that sign in or refresh. */
export const SETS_COOKIES: Success['headers'] = {
  'set-cookie': { type: 'string', description: 'the httpOnly token cookies and the page-readable CSRF cookies' },
};

/** The Set-Cookie header of the routes that sign out: the token and CSRF cookies, expired. */
export const CLEARS_COOKIES: Success['headers'] = {
  'set-cookie': { type: 'string', description: 'the token and CSRF cookies, cleared (expired)' },
};

export function actorOf(req: FastifyRequest): UserActor | null {
  return req.jwt ? { kind: 'user', userId: req.jwt.claims.sub, roles: req.jwt.roles } : null;
}

/** Both families page the same way: ?limit (1..100, default 50) and ?offset. */
export function paging(query: Record<string, unknown>, defaultLimit = 50): { limit: number; offset: number } {
  const num = (v: unknown, name: string, min: number, max: number, fallback: number): number => {
    if (v === undefined || v === '') return fallback;
    // Digits only: Number() would also read 0x10, 1e1 and 5.0.
    const n = typeof v === 'string' && /^\d{1,10}$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new WardenError('ERR_VALIDATION', `${name}: must be a whole number from ${min} to ${max}`, { field: name });
    }
    return n;
  };
  return { limit: num(onceIn(query, 'limit'), 'limit', 1, 100, defaultLimit), offset: num(onceIn(query, 'offset'), 'offset', 0, 1e9, 0) };
}

export async function apiRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { config } = ctx;
  const { credentials, sessions, admin: userAdmin } = ctx.accounts;
  app.setErrorHandler(familyErrorHandler(DETAIL, ctx.log));
  const doc = routeSchemas(config);
  const optional: JwtRequiredOptions = { optional: true };
  const refreshToken: JwtRequiredOptions = { refresh: true, locations: ['headers', 'cookies', 'json'] };
  // Signing out stays open to a role that must enrol a second factor first (MFA_REQUIRED_ROLES).
  const user: JwtRequiredOptions = { mfaExempt: true };
  const admin: JwtRequiredOptions = { roles: config.accounts.adminRoles };
  const sameSite = refuseCrossSite(config.cors.origins);

  app.post('/auth/signup', {
    preHandler: app.jwtRequired(optional),
    schema: doc({
      method: 'POST', tags: ['api'], summary: config.signup.enabled
        ? 'Create a user; roles beyond the defaults need an admin token (or an empty database)'
        : `Create a user; ${SIGNUP_CLOSED}`,
      family: DETAIL, auth: optional, body: { schema: newUser(passwordPolicy(config)), media: ['json', 'form'] },
      ok: { status: 201, description: 'The user', schema: USER }, errors: SIGNUP_ERRORS,
    }),
  }, async (req, reply) => {
    const user = await credentials.signUp(newUserBody(req), actorOf(req), clientMeta(req));
    return reply.code(201).send(userView(user));
  });

  app.post('/auth/signin', {
    onRequest: sameSite,
    schema: doc({
      method: 'POST', tags: ['api'], summary: 'Sign in with JSON or a form; username may be the email',
      family: DETAIL, body: { schema: CREDENTIALS, media: ['json', 'form'] },
      ok: {
        status: 200, description: 'Tokens and the user, the token cookies set too; or, for a user with a second factor, an MFA token',
        schema: { oneOf: [SIGNIN, MFA_REQUIRED] }, headers: SETS_COOKIES,
      },
      errors: [...SIGNIN_ERRORS, 'ERR_CROSS_SITE'],
    }),
  }, async (req, reply) => {
    const body = jsonOrFormBody(req);
    const result = await credentials.signIn(field(body, 'username'), field(body, 'password'), clientMeta(req));
    noStore(reply);
    if (result.kind === 'mfa_required') return mfaRequiredView(result);
    const { pair } = result;
    setAuthCookies(reply, ctx, pair.access, pair.refresh);
    return {
      ...pairView(pair),
      id: pair.user.id,
      username: pair.user.username,
      email: pair.user.email,
      roles: pair.user.roles,
    };
  });

  app.post('/auth/refresh', {
    onRequest: sameSite,
    preHandler: app.jwtRequired(refreshToken),
    schema: doc({
      method: 'POST', tags: ['api'], summary: 'Rotate a refresh token (cookie, JSON body or Bearer) for a new pair',
      family: DETAIL, auth: refreshToken, body: { schema: REFRESH_BODY, media: ['json'], optional: true },
      ok: { status: 200, description: 'A new pair; the token cookies are set too', schema: PAIR, headers: SETS_COOKIES },
      errors: [...REFRESH_ERRORS, 'ERR_CROSS_SITE'],
    }),
  }, async (req, reply) => {
    const pair = await sessions.refresh(req.jwt!.claims, clientMeta(req));
    setAuthCookies(reply, ctx, pair.access, pair.refresh);
    noStore(reply);
    return pairView(pair);
  });

  app.post('/auth/signout', {
    preHandler: app.jwtRequired(user),
    schema: doc({
      method: 'POST', tags: ['api'], summary: 'Revoke this access token and end its session; clears the cookies',
      family: DETAIL, auth: user, ok: { status: 200, description: 'Signed out', schema: DETAIL_MESSAGE, headers: CLEARS_COOKIES }, errors: DEPENDENCY_ERRORS,
    }),
  }, async (req, reply) => {
    await sessions.signOut(req.jwt!.claims, 'local', clientMeta(req));
    clearAuthCookies(reply, ctx);
    return { detail: 'Successfully signed out' };
  });

  app.get('/users', {
    preHandler: app.jwtRequired(admin),
    schema: doc({
      method: 'GET', tags: ['api'], summary: 'List users (admin)', family: DETAIL, auth: admin, querystring: PAGING_QUERY,
      ok: { status: 200, description: 'The users', schema: { type: 'array', items: USER } }, errors: ['ERR_VALIDATION', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const { users } = await userAdmin.list(paging(req.query as Record<string, unknown>));
    return users.map(userView);
  });
}
