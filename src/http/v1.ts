// Seed 004's API under /api/v1: bodies in the envelope {"message", "data"}, statuses as the
// seed's tables say (403 for an invalid or expired token on /auth/me).
import type { FastifyInstance } from 'fastify';
import type { LogoutScope } from '../accounts/index.js';
import { WardenError, type ErrorRouteConfig, type JwtRequiredOptions } from '@warden/toolkit';
import { optionalFilter } from '../accounts/validate.js';
import { actorOf, CLEARS_COOKIES, CREATE_USER_ERRORS, paging, REFRESH_ERRORS, SETS_COOKIES, SIGNIN_ERRORS, SIGNUP_CLOSED, SIGNUP_ERRORS, DEPENDENCY_ERRORS } from './api.js';
import { clearAuthCookies, setAuthCookies } from './cookies.js';
import type { RouteContext } from './context.js';
import { routeSchemas } from './docs.js';
import { ENVELOPE, familyErrorHandler } from './error-families.js';
import { clientMeta, field, fieldsBody, jsonOrFormBody, newUserBody, onceIn } from './request.js';
import { mfaRequiredView, MFA_REQUIRED } from './mfa-views.js';
import { readMultipartForms } from './multipart-form.js';
import { refuseCrossSite } from './cross-site.js';
import { FORWARD_AUTH_OPTIONS, forwardAuthHeaders } from './forward-auth.js';
import { noStore } from './security-headers.js';
import { overviewView, pairView, personalDataBody, profileView, sessionView, userView } from './views.js';
import { eventView, ownEventView } from '../events/view.js';
import {
  ACCOUNT_DELETE, CREDENTIALS, envelope, ID_PARAMS, LOGOUT_QUERY, newUser, OVERVIEW, PAGING, PAGING_QUERY, PAIR, passwordChange, passwordPolicy, PERSONAL_DATA, PROFILE, PROFILE_PATCH, REFRESH_BODY, SESSION,
  USER, USER_FILTER_QUERY, userPatch, USER_SESSION_PARAMS,
} from './schemas.js';

const ok = (message: string, data: unknown) => ({ message, data });
// The profile route answers token errors with 403 (the contract of the service /api/v1 replaces).
const TOKEN_ERRORS_AS_403: ErrorRouteConfig = { tokenErrorStatus: 403 };

export async function v1Routes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { config } = ctx;
  const { credentials, sessions, admin: userAdmin } = ctx.accounts;
  app.setErrorHandler(familyErrorHandler(ENVELOPE, ctx.log));
  const doc = routeSchemas(config);
  const lengths = passwordPolicy(config);
  const userOpts: JwtRequiredOptions = {};
  const freshOpts: JwtRequiredOptions = { fresh: true };
  const adminOpts: JwtRequiredOptions = { roles: config.accounts.adminRoles };
  const optional: JwtRequiredOptions = { optional: true };
  const sameSite = refuseCrossSite(config.cors.origins);
  // Forward auth applies the CSRF check to the method the proxy forwarded, not to its own GET.
  const verifyOpts = FORWARD_AUTH_OPTIONS;
  // Seed 004 sends the refresh token as ?refresh_token=; Bearer, cookie and JSON body work too.
  const refreshOpts: JwtRequiredOptions = {
    refresh: true, locations: ['query_string', 'headers', 'cookies', 'json'], queryStringName: 'refresh_token',
  };
  const user = app.jwtRequired(userOpts);
  const admin = app.jwtRequired(adminOpts);
  const v1 = { tags: ['v1'], family: ENVELOPE };
  const adm = { tags: ['v1 admin'], family: ENVELOPE, auth: adminOpts };

  // In a context of its own: only login reads multipart forms (readMultipartForms).
  await app.register(async (form) => {
    await readMultipartForms(form);
    form.post('/auth/login', {
      onRequest: sameSite,
      schema: doc({
        ...v1, method: 'POST', summary: 'Log in with a form (username = email) or JSON',
        body: { schema: CREDENTIALS, media: ['form', 'json', 'multipart'] },
        ok: {
          status: 200, description: '"Login successful"; or "Second factor required" with an MFA token (POST /auth/mfa/verify completes it)',
          schema: { oneOf: [envelope(PAIR), envelope(MFA_REQUIRED)] }, headers: SETS_COOKIES,
        },
        errors: [...SIGNIN_ERRORS, 'ERR_CROSS_SITE'],
      }),
    }, async (req, reply) => {
      const body = jsonOrFormBody(req, { multipart: true });
      const result = await credentials.signIn(field(body, 'username') ?? field(body, 'email'), field(body, 'password'), clientMeta(req));
      noStore(reply);
      if (result.kind === 'mfa_required') return ok('Second factor required', mfaRequiredView(result));
      const { pair } = result;
      setAuthCookies(reply, ctx, pair.access, pair.refresh);
      return ok('Login successful', pairView(pair));
    });
  });

  app.post('/auth/refresh', {
    onRequest: sameSite,
    preHandler: app.jwtRequired(refreshOpts),
    schema: doc({
      ...v1, method: 'POST', summary: 'Rotate a refresh token (?refresh_token=, body, cookie or Bearer); a retired one ends the session',
      auth: refreshOpts, body: { schema: REFRESH_BODY, media: ['json'], optional: true },
      ok: { status: 200, description: '"Token refreshed successfully"', schema: envelope(PAIR), headers: SETS_COOKIES }, errors: [...REFRESH_ERRORS, 'ERR_CROSS_SITE'],
    }),
  }, async (req, reply) => {
    const pair = await sessions.refresh(req.jwt!.claims, clientMeta(req));
    setAuthCookies(reply, ctx, pair.access, pair.refresh);
    noStore(reply);
    return ok('Token refreshed successfully', pairView(pair));
  });

  app.get('/auth/me', {
    preHandler: user,
    config: TOKEN_ERRORS_AS_403,
    schema: doc({
      ...v1, method: 'GET', summary: 'The current user', auth: userOpts, tokenErrorStatus: TOKEN_ERRORS_AS_403.tokenErrorStatus,
      ok: { status: 200, description: '"User profile retrieved"', schema: envelope(PROFILE) },
      errors: ['ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => ok('User profile retrieved', profileView(await credentials.profile(req.jwt!.claims.sub))));

  app.patch('/auth/me', {
    preHandler: user,
    schema: doc({
      ...v1, method: 'PATCH', summary: 'Change your own full name (the address changes through POST /auth/email)', auth: userOpts,
      body: { schema: PROFILE_PATCH, media: ['json'] },
      ok: { status: 200, description: '"Profile updated"', schema: envelope(PROFILE) },
      errors: ['ERR_BAD_REQUEST', 'ERR_VALIDATION', 'ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => ok('Profile updated', profileView(await credentials.updateProfile(req.jwt!.claims.sub, fieldsBody(req)))));

  app.post('/auth/signup', {
    preHandler: app.jwtRequired(optional),
    schema: doc({
      ...v1, method: 'POST', summary: config.signup.enabled ? 'Create a user' : `Create a user; ${SIGNUP_CLOSED}`, auth: optional,
      body: { schema: newUser(lengths), media: ['json', 'form'] },
      ok: { status: 201, description: '"User created"', schema: envelope(USER) }, errors: SIGNUP_ERRORS,
    }),
  }, async (req, reply) => {
    const created = await credentials.signUp(newUserBody(req), actorOf(req), clientMeta(req));
    return reply.code(201).send(ok('User created', userView(created)));
  });

  // Logging out stays open to a role that must enrol a second factor first (MFA_REQUIRED_ROLES).
  const logoutOpts: JwtRequiredOptions = { mfaExempt: true };
  app.post('/auth/logout', {
    preHandler: app.jwtRequired(logoutOpts),
    schema: doc({
      ...v1, method: 'POST', summary: 'Log out: scope=local (this session), global (all), others (all but this)',
      auth: logoutOpts, querystring: LOGOUT_QUERY,
      ok: { status: 200, description: '"Logout successful"', schema: envelope({ type: 'object', properties: { sessions_ended: { type: 'integer' } }, required: ['sessions_ended'] }),
        headers: { 'set-cookie': { ...CLEARS_COOKIES!['set-cookie'], description: 'the token and CSRF cookies, cleared (expired); not with scope=others' } },
      },
      errors: ['ERR_VALIDATION', ...DEPENDENCY_ERRORS],
    }),
  }, async (req, reply) => {
    const scope = (req.query as Record<string, unknown>).scope ?? 'local';
    if (scope !== 'local' && scope !== 'global' && scope !== 'others') {
      throw new WardenError('ERR_VALIDATION', 'scope: must be local, global or others', { field: 'scope' });
    }
    const ended = await sessions.signOut(req.jwt!.claims, scope as LogoutScope, clientMeta(req));
    if (scope !== 'others') clearAuthCookies(reply, ctx);
    return ok('Logout successful', { sessions_ended: ended.length });
  });

  // The right of access (GDPR Art. 15, 20): everything Warden holds about the account, as JSON.
  // What an administrator did to it shows who, not from where (as GET /auth/events).
  app.get('/auth/me/export', {
    preHandler: user,
    schema: doc({
      ...v1, method: 'GET', summary: 'Everything Warden holds about you, as JSON: the account, sessions, second factors (no secrets), mailed links, events', auth: userOpts,
      ok: { status: 200, description: '"Account data exported"', schema: envelope(PERSONAL_DATA) },
      errors: ['ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req, reply) => {
    const self = req.jwt!.claims.sub;
    const data = await ctx.accounts.personalData(self);
    noStore(reply);
    void reply.header('content-disposition', 'attachment; filename="warden-account.json"').type('application/json; charset=utf-8');
    return reply.send(personalDataBody(data, ctx.clock(), (e) => ownEventView(e, self)));
  });

  app.get('/auth/sessions', {
    preHandler: user,
    schema: doc({
      ...v1, method: 'GET', summary: 'Your live sessions, newest first; `paging` says how many there are', auth: userOpts, querystring: PAGING_QUERY,
      ok: { status: 200, description: '"Sessions retrieved"', schema: envelope({ type: 'array', items: SESSION }, { paging: PAGING }) },
      errors: ['ERR_VALIDATION', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    // The default page holds MAX_SESSIONS_PER_USER's default, so an unpaged client still sees
    // every session; `data` stays the list it always was, and the paging sits beside it.
    const page = paging(req.query as Record<string, unknown>, 100);
    const { sessions: own, total } = await sessions.list(req.jwt!.claims.sub, page);
    return { ...ok('Sessions retrieved', own.map((s) => sessionView(s, req.jwt!.claims.sid))), paging: { ...page, total } };
  });

  app.delete('/auth/sessions/:id', {
    preHandler: user,
    schema: doc({
      ...v1, method: 'DELETE', summary: 'End one of your sessions', auth: userOpts, params: ID_PARAMS,
      ok: { status: 200, description: '"Session ended"', schema: envelope(null) }, errors: ['ERR_SESSION_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    await sessions.endOwn(req.jwt!.claims.sub, (req.params as { id: string }).id, 'logout', clientMeta(req));
    return ok('Session ended', null);
  });

  app.post('/auth/password', {
    preHandler: app.jwtRequired(freshOpts),
    schema: doc({
      ...v1, method: 'POST', summary: 'Change your password (fresh token); ends your other sessions', auth: freshOpts,
      body: { schema: passwordChange(lengths), media: ['json', 'form'] },
      ok: { status: 200, description: '"Password changed"', schema: envelope(null) },
      errors: ['ERR_BAD_REQUEST', 'ERR_VALIDATION', 'ERR_BAD_CREDENTIALS', 'ERR_RATE_LIMITED', 'ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const body = jsonOrFormBody(req);
    await credentials.changePassword(req.jwt!.claims, field(body, 'current_password'), field(body, 'new_password'), clientMeta(req));
    return ok('Password changed', null);
  });

  if (config.accounts.selfDelete) {
    app.delete('/auth/me', {
      preHandler: app.jwtRequired(freshOpts),
      schema: doc({
        ...v1, method: 'DELETE', summary: 'Delete your own account (fresh token and your password; ACCOUNT_SELF_DELETE): every token refused, the cookies cleared', auth: freshOpts,
        body: { schema: ACCOUNT_DELETE, media: ['json', 'form'] },
        ok: { status: 200, description: '"Account deleted"', schema: envelope(null), headers: CLEARS_COOKIES },
        errors: ['ERR_BAD_REQUEST', 'ERR_VALIDATION', 'ERR_BAD_CREDENTIALS', 'ERR_RATE_LIMITED', 'ERR_CONFLICT', 'ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', ...DEPENDENCY_ERRORS],
      }),
    }, async (req, reply) => {
      await credentials.deleteOwnAccount(req.jwt!.claims, field(jsonOrFormBody(req), 'current_password'), clientMeta(req));
      clearAuthCookies(reply, ctx);
      return ok('Account deleted', null);
    });
  }

  // Forward auth for nginx auth_request / Traefik forwardAuth: headers only, empty body. CSRF is
  // judged on the proxied request's method.
  app.get('/auth/verify', {
    preHandler: app.jwtRequired(verifyOpts),
    schema: doc({
      ...v1, method: 'GET', summary: 'Forward auth: 200 with X-Auth-User / X-Auth-Roles, or 401', auth: verifyOpts,
      ok: {
        status: 200, description: 'The token is good (empty body)',
        headers: { 'x-auth-user': { type: 'string', description: 'the user id (sub)' }, 'x-auth-roles': { type: 'string', description: 'roles, comma-separated' } },
      },
    }),
  }, (req, reply) => {
    void reply.headers(forwardAuthHeaders(req.jwt!)).code(200).send();
  });

  // ---- administration ----
  app.get('/overview', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'GET', summary: 'Figures at a glance: users (all, active), sign-ins over the last 24 hours, live sessions',
      ok: { status: 200, description: '"Overview retrieved"', schema: envelope(OVERVIEW) }, errors: DEPENDENCY_ERRORS,
    }),
  }, async () => ok('Overview retrieved', overviewView(await userAdmin.overview())));

  app.get('/users', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'GET', summary: 'List users (filter: email or username contains, role, active, verified, legacy hash)', querystring: USER_FILTER_QUERY,
      ok: {
        status: 200, description: '"Users retrieved"',
        schema: envelope({
          type: 'object', properties: { items: { type: 'array', items: USER }, total: { type: 'integer' }, limit: { type: 'integer' }, offset: { type: 'integer' } },
          required: ['items', 'total', 'limit', 'offset'],
        }),
      },
      errors: ['ERR_VALIDATION', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const active = yesNo(onceIn(q, 'active'), 'active');
    const verified = yesNo(onceIn(q, 'verified'), 'verified');
    const legacyHash = yesNo(onceIn(q, 'legacy'), 'legacy');
    const { limit, offset } = paging(q);
    const { users, total } = await userAdmin.list({
      limit, offset,
      email: optionalFilter(onceIn(q, 'email'), 'email')?.toLowerCase(),
      username: optionalFilter(onceIn(q, 'username'), 'username'),
      role: optionalFilter(onceIn(q, 'role'), 'role'),
      active,
      verified,
      legacyHash,
    });
    return ok('Users retrieved', { items: users.map(userView), total, limit, offset });
  });

  app.post('/users', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'POST', summary: 'Create a user', body: { schema: newUser(lengths), media: ['json', 'form'] },
      ok: { status: 201, description: '"User created"', schema: envelope(USER) }, errors: CREATE_USER_ERRORS,
    }),
  }, async (req, reply) => {
    const created = await credentials.signUp(newUserBody(req), actorOf(req), clientMeta(req));
    return reply.code(201).send(ok('User created', userView(created)));
  });

  app.get('/users/:id', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'GET', summary: 'One user', params: ID_PARAMS,
      ok: { status: 200, description: '"User retrieved"', schema: envelope(USER) }, errors: ['ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) =>
    ok('User retrieved', userView(await userAdmin.get((req.params as { id: string }).id))));

  app.get('/users/:id/export', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'GET', summary: 'Everything Warden holds about a user, as JSON (their access request)', params: ID_PARAMS,
      ok: { status: 200, description: '"Account data exported"', schema: envelope(PERSONAL_DATA) }, errors: ['ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req, reply) => {
    const data = await ctx.accounts.personalData((req.params as { id: string }).id);
    noStore(reply);
    return reply.type('application/json; charset=utf-8').send(personalDataBody(data, ctx.clock(), eventView));
  });

  app.patch('/users/:id', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'PATCH', summary: 'Change roles, is_active, full_name, email or password', params: ID_PARAMS,
      body: { schema: userPatch(lengths), media: ['json'] },
      ok: { status: 200, description: '"User updated"', schema: envelope(USER) },
      errors: ['ERR_BAD_REQUEST', 'ERR_VALIDATION', 'ERR_CONFLICT', 'ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const updated = await userAdmin.update((req.params as { id: string }).id, fieldsBody(req), actorOf(req), clientMeta(req));
    return ok('User updated', userView(updated));
  });

  app.get('/users/:id/sessions', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'GET', summary: 'A user\'s live sessions, newest first; `paging` says how many there are', params: ID_PARAMS, querystring: PAGING_QUERY,
      ok: { status: 200, description: '"Sessions retrieved"', schema: envelope({ type: 'array', items: SESSION }, { paging: PAGING }) },
      errors: ['ERR_VALIDATION', 'ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const page = paging(req.query as Record<string, unknown>, 100);
    const { sessions: list, total } = await userAdmin.sessionsOf((req.params as { id: string }).id, page);
    // `current` is always false here: none of them is the administrator's own.
    return { ...ok('Sessions retrieved', list.map((s) => sessionView(s, undefined))), paging: { ...page, total } };
  });

  app.delete('/users/:id/sessions/:sid', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'DELETE', summary: 'End one session of a user; its tokens stop working', params: USER_SESSION_PARAMS,
      ok: { status: 200, description: '"Session ended"', schema: envelope(null) }, errors: ['ERR_USER_NOT_FOUND', 'ERR_SESSION_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const { id, sid } = req.params as { id: string; sid: string };
    await userAdmin.endSession(id, sid, actorOf(req), clientMeta(req));
    return ok('Session ended', null);
  });

  app.delete('/users/:id', {
    preHandler: admin,
    schema: doc({
      ...adm, method: 'DELETE', summary: 'Delete a user; their tokens stop working', params: ID_PARAMS,
      ok: { status: 200, description: '"User deleted"', schema: envelope(null) }, errors: ['ERR_USER_NOT_FOUND', 'ERR_CONFLICT', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    await userAdmin.delete((req.params as { id: string }).id, actorOf(req), clientMeta(req));
    return ok('User deleted', null);
  });
}

/** A true/false filter of the query string; absent is no filter. */
function yesNo(value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new WardenError('ERR_VALIDATION', `${name}: must be true or false`, { field: name });
}
