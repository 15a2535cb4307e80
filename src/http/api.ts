// Seed 000's API under /api: flat JSON bodies, errors as FastAPI writes them ({"detail": ...}).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Actor } from '../accounts/service.js';
import { WardenError } from '../errors.js';
import { clearAuthCookies, setAuthCookies } from './cookies.js';
import type { RouteContext } from './context.js';
import { detailBody, errorHandler } from './errors.js';
import { clientMeta, field, jsonOrFormBody } from './request.js';
import { pairView, userView } from './views.js';
import { SCHEMAS } from './schemas.js';

export function actorOf(req: FastifyRequest): Actor | null {
  return req.jwt ? { userId: req.jwt.claims.sub, roles: req.jwt.roles } : null;
}

/** Both families page the same way: ?limit (1..100, default 50) and ?offset. */
export function paging(query: Record<string, unknown>): { limit: number; offset: number } {
  const num = (v: unknown, name: string, min: number, max: number, fallback: number): number => {
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new WardenError('ERR_VALIDATION', `${name}: must be a whole number from ${min} to ${max}`, { field: name });
    }
    return n;
  };
  return { limit: num(query.limit, 'limit', 1, 100, 50), offset: num(query.offset, 'offset', 0, 1e9, 0) };
}

export async function apiRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { accounts, config } = ctx;
  app.setErrorHandler(errorHandler(detailBody, ctx.log));

  app.post('/auth/signup', {
    preHandler: app.jwtRequired({ optional: true }),
    schema: { tags: ['api'], summary: 'Create a user; roles beyond the defaults need an admin token (or an empty database)', ...SCHEMAS.newUser },
  }, async (req, reply) => {
    const user = await accounts.signUp(jsonOrFormBody(req), actorOf(req));
    return reply.code(201).send(userView(user));
  });

  app.post('/auth/signin', {
    schema: { tags: ['api'], summary: 'Sign in with JSON or a form; username may be the email', ...SCHEMAS.credentials },
  }, async (req, reply) => {
    const body = jsonOrFormBody(req);
    const pair = await accounts.signIn(field(body, 'username'), field(body, 'password'), clientMeta(req));
    setAuthCookies(reply, config, pair.access, pair.refresh);
    return {
      ...pairView(pair),
      id: pair.user.id,
      username: pair.user.username,
      email: pair.user.email,
      roles: pair.user.roles,
    };
  });

  app.post('/auth/refresh', {
    preHandler: app.jwtRequired({ refresh: true, locations: ['headers', 'cookies', 'json'] }),
    schema: { tags: ['api'], summary: 'Rotate a refresh token (cookie, JSON body or Bearer) for a new pair', ...SCHEMAS.refreshBody },
  }, async (req, reply) => {
    const pair = await accounts.refresh(req.jwt!.claims);
    setAuthCookies(reply, config, pair.access, pair.refresh);
    return pairView(pair);
  });

  app.post('/auth/signout', {
    preHandler: app.jwtRequired(),
    schema: { tags: ['api'], summary: 'Revoke this access token and end its session; clears the cookies' },
  }, async (req, reply) => {
    await accounts.signOut(req.jwt!.claims, 'local');
    clearAuthCookies(reply, config);
    return { detail: 'Successfully signed out' };
  });

  app.get('/users', {
    preHandler: app.jwtRequired({ roles: config.adminRoles }),
    schema: { tags: ['api'], summary: 'List users (admin)' },
  }, async (req) => {
    const { users } = await accounts.listUsers(paging(req.query as Record<string, unknown>));
    return users.map(userView);
  });
}
