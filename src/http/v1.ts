// Seed 004's API under /api/v1: bodies in the envelope {"message", "data"}, statuses as the
// seed's tables say (403 for an invalid or expired token on /auth/me).
import type { FastifyInstance } from 'fastify';
import type { LogoutScope } from '../accounts/service.js';
import { WardenError } from '../errors.js';
import { optionalFilter } from '../accounts/validate.js';
import { actorOf, paging } from './api.js';
import { clearAuthCookies, setAuthCookies } from './cookies.js';
import type { RouteContext } from './context.js';
import { envelopeBody, errorHandler, type ErrorRouteConfig } from './errors.js';
import { clientMeta, field, jsonOrFormBody, objectBody } from './request.js';
import { pairView, profileView, sessionView, userView } from './views.js';
import { SCHEMAS } from './schemas.js';

const ok = (message: string, data: unknown) => ({ message, data });
const SEED_TOKEN_ERRORS: ErrorRouteConfig = { tokenErrorStatus: 403 };

export async function v1Routes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { accounts, config } = ctx;
  app.setErrorHandler(errorHandler(envelopeBody, ctx.log));
  const user = app.jwtRequired();
  const fresh = app.jwtRequired({ fresh: true });
  const admin = app.jwtRequired({ roles: config.adminRoles });
  // Seed 004 sends the refresh token as ?refresh_token=; Bearer, cookie and JSON body work too.
  const refreshToken = app.jwtRequired({
    refresh: true, locations: ['query_string', 'headers', 'cookies', 'json'], queryStringName: 'refresh_token',
  });

  app.post('/auth/login', {
    schema: { tags: ['v1'], summary: 'Log in with a form (username = email) or JSON', ...SCHEMAS.credentials },
  }, async (req, reply) => {
    const body = jsonOrFormBody(req);
    const pair = await accounts.signIn(field(body, 'username') ?? field(body, 'email'), field(body, 'password'), clientMeta(req));
    setAuthCookies(reply, config, pair.access, pair.refresh);
    return ok('Login successful', pairView(pair));
  });

  app.post('/auth/refresh', {
    preHandler: refreshToken,
    schema: { tags: ['v1'], summary: 'Rotate a refresh token (?refresh_token=, body, cookie or Bearer); a retired one ends the session', ...SCHEMAS.refreshBody },
  }, async (req, reply) => {
    const pair = await accounts.refresh(req.jwt!.claims);
    setAuthCookies(reply, config, pair.access, pair.refresh);
    return ok('Token refreshed successfully', pairView(pair));
  });

  app.get('/auth/me', {
    preHandler: user,
    config: SEED_TOKEN_ERRORS,
    schema: { tags: ['v1'], summary: 'The current user' },
  }, async (req) => ok('User profile retrieved', profileView(await accounts.me(req.jwt!.claims.sub))));

  app.post('/auth/signup', {
    preHandler: app.jwtRequired({ optional: true }),
    schema: { tags: ['v1'], summary: 'Create a user', ...SCHEMAS.newUser },
  }, async (req, reply) => {
    const created = await accounts.signUp(jsonOrFormBody(req), actorOf(req));
    return reply.code(201).send(ok('User created', userView(created)));
  });

  app.post('/auth/logout', {
    preHandler: user,
    schema: { tags: ['v1'], summary: 'Log out: scope=local (this session), global (all), others (all but this)' },
  }, async (req, reply) => {
    const scope = (req.query as Record<string, unknown>).scope ?? 'local';
    if (scope !== 'local' && scope !== 'global' && scope !== 'others') {
      throw new WardenError('ERR_VALIDATION', 'scope: must be local, global or others', { field: 'scope' });
    }
    const ended = await accounts.signOut(req.jwt!.claims, scope as LogoutScope);
    if (scope !== 'others') clearAuthCookies(reply, config);
    return ok('Logout successful', { sessions_ended: ended.length });
  });

  app.get('/auth/sessions', {
    preHandler: user,
    schema: { tags: ['v1'], summary: 'Your live sessions' },
  }, async (req) => {
    const sessions = await accounts.listSessions(req.jwt!.claims.sub);
    return ok('Sessions retrieved', sessions.map((s) => sessionView(s, req.jwt!.claims.sid)));
  });

  app.delete('/auth/sessions/:id', {
    preHandler: user,
    schema: { tags: ['v1'], summary: 'End one of your sessions' },
  }, async (req) => {
    await accounts.endSession(req.jwt!.claims.sub, (req.params as { id: string }).id);
    return ok('Session ended', null);
  });

  app.post('/auth/password', {
    preHandler: fresh,
    schema: { tags: ['v1'], summary: 'Change your password (fresh token); ends your other sessions', ...SCHEMAS.password },
  }, async (req) => {
    const body = jsonOrFormBody(req);
    await accounts.changePassword(req.jwt!.claims, field(body, 'current_password'), field(body, 'new_password'));
    return ok('Password changed', null);
  });

  // Forward auth for nginx auth_request / Traefik forwardAuth: headers only, empty body.
  app.get('/auth/verify', {
    preHandler: user,
    schema: { tags: ['v1'], summary: 'Forward auth: 200 with X-Auth-User / X-Auth-Roles, or 401' },
  }, (req, reply) => {
    const jwt = req.jwt!;
    void reply
      .header('x-auth-user', jwt.claims.sub)
      .header('x-auth-roles', jwt.roles.join(','))
      .code(200)
      .send();
  });

  // ---- administration ----
  app.get('/users', { preHandler: admin, schema: { tags: ['v1 admin'], summary: 'List users (filter: email, role, active)' } }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const active = q.active === undefined ? undefined : q.active === 'true' ? true : q.active === 'false' ? false : badActive();
    const { limit, offset } = paging(q);
    const { users, total } = await accounts.listUsers({
      limit, offset,
      email: optionalFilter(q.email, 'email')?.toLowerCase(),
      role: optionalFilter(q.role, 'role'),
      active,
    });
    return ok('Users retrieved', { items: users.map(userView), total, limit, offset });
  });

  app.post('/users', { preHandler: admin, schema: { tags: ['v1 admin'], summary: 'Create a user', ...SCHEMAS.newUser } }, async (req, reply) => {
    const created = await accounts.createUser(jsonOrFormBody(req), actorOf(req)!);
    return reply.code(201).send(ok('User created', userView(created)));
  });

  app.get('/users/:id', { preHandler: admin, schema: { tags: ['v1 admin'], summary: 'One user' } }, async (req) =>
    ok('User retrieved', userView(await accounts.getUser((req.params as { id: string }).id))));

  app.patch('/users/:id', { preHandler: admin, schema: { tags: ['v1 admin'], summary: 'Change roles, is_active, full_name, email or password', ...SCHEMAS.userPatch } }, async (req) => {
    const updated = await accounts.updateUser((req.params as { id: string }).id, objectBody(req));
    return ok('User updated', userView(updated));
  });

  app.delete('/users/:id', { preHandler: admin, schema: { tags: ['v1 admin'], summary: 'Delete a user; their tokens stop working' } }, async (req) => {
    await accounts.deleteUser((req.params as { id: string }).id);
    return ok('User deleted', null);
  });
}

function badActive(): never {
  throw new WardenError('ERR_VALIDATION', 'active: must be true or false', { field: 'active' });
}
