// Second factors under /api/v1 (seed 004's envelope): TOTP enrolment, recovery codes, passkeys,
// completing a sign-in with an MFA token, passwordless sign-in with a passkey, and an
// administrator's view and reset of a user's factors. The rules live in accounts/factors.
import type { FastifyInstance } from 'fastify';
import QRCode from 'qrcode';
import type { ErrorCode, JwtRequiredOptions } from '@warden/toolkit';
import { actorOf, DEPENDENCY_ERRORS, SETS_COOKIES } from './api.js';
import { setAuthCookies } from './cookies.js';
import type { RouteContext } from './context.js';
import { refuseCrossSite } from './cross-site.js';
import { routeSchemas } from './docs.js';
import { ENVELOPE, familyErrorHandler } from './error-families.js';
import {
  CODE_BODY, FACTOR_LIST, FACTOR_PARAMS, factorListView, MFA_TOKEN_BODY, PASSKEY_LOGIN, PASSKEY_REGISTRATION, passkeyView,
  RECOVERY_CODES, REGISTERED_PASSKEY, TOTP_ENROLMENT, VERIFY_BODY, WEBAUTHN_OPTIONS,
} from './mfa-views.js';
import { clientMeta, field, jsonOrFormBody, objectBody } from './request.js';
import { noStore } from './security-headers.js';
import { envelope, ID_PARAMS, PAIR } from './schemas.js';
import { pairView } from './views.js';

const ok = (message: string, data: unknown) => ({ message, data });

const OWNER_ERRORS: ErrorCode[] = ['ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', 'ERR_MFA_REQUIRED', ...DEPENDENCY_ERRORS];
const BODY_SHAPE: ErrorCode[] = ['ERR_BAD_REQUEST', 'ERR_MEDIA_TYPE'];

export async function mfaRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { config } = ctx;
  const { factors } = ctx.accounts;
  app.setErrorHandler(familyErrorHandler(ENVELOPE, ctx.log));
  const doc = routeSchemas(config);
  const tags = { tags: ['v1 second factors'], family: ENVELOPE };
  // Adding a factor needs a fresh token, and is reachable before a role's required factor exists.
  const enrol: JwtRequiredOptions = { fresh: true, mfaExempt: true };
  const own: JwtRequiredOptions = { mfaExempt: true };
  // Removing a factor or replacing the recovery codes needs a fresh token that carries a second factor.
  const strong: JwtRequiredOptions = { fresh: true, mfa: true };
  const adminOpts: JwtRequiredOptions = { roles: config.accounts.adminRoles };
  // The routes that set auth cookies refuse a browser's cross-site request (login CSRF).
  const sameSite = refuseCrossSite(config.cors.origins);

  app.get('/auth/mfa/factors', {
    preHandler: app.jwtRequired(own),
    schema: doc({
      ...tags, method: 'GET', summary: 'Your second factors and how many recovery codes are left', auth: own,
      ok: { status: 200, description: '"Factors retrieved"', schema: envelope(FACTOR_LIST) }, errors: ['ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => ok('Factors retrieved', factorListView(await factors.list(req.jwt!.claims.sub))));

  app.post('/auth/mfa/totp', {
    preHandler: app.jwtRequired(enrol),
    schema: doc({
      ...tags, method: 'POST', summary: 'Start enrolling an authenticator app (fresh token): its secret, otpauth:// URI and QR code',
      description: 'The factor stays inactive until POST /auth/mfa/totp/confirm receives one valid code.', auth: enrol,
      ok: { status: 201, description: '"Scan the QR code, then confirm with a code"', schema: envelope(TOTP_ENROLMENT) },
      errors: ['ERR_CONFLICT', ...OWNER_ERRORS],
    }),
  }, async (req, reply) => {
    const e = await factors.enrolTotp(req.jwt!.claims);
    const svg = await QRCode.toString(e.uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    noStore(reply);
    return reply.code(201).send(ok('Scan the QR code, then confirm with a code', { id: e.id, secret: e.secret, otpauth_uri: e.uri, qr_svg: svg }));
  });

  app.post('/auth/mfa/totp/confirm', {
    preHandler: app.jwtRequired(enrol),
    schema: doc({
      ...tags, method: 'POST', summary: 'Activate the authenticator app with one valid code; the first factor comes with 10 recovery codes',
      auth: enrol, body: { schema: CODE_BODY, media: ['json', 'form'] },
      ok: { status: 200, description: '"Authenticator app enrolled"', schema: envelope(RECOVERY_CODES) },
      errors: [...BODY_SHAPE, 'ERR_VALIDATION', 'ERR_RATE_LIMITED', 'ERR_FACTOR_NOT_FOUND', 'ERR_MFA_CODE_INVALID', 'ERR_CONFLICT', ...OWNER_ERRORS],
    }),
  }, async (req, reply) => {
    const r = await factors.confirmTotp(req.jwt!.claims, field(jsonOrFormBody(req), 'code'), clientMeta(req));
    noStore(reply);
    return ok('Authenticator app enrolled', { recovery_codes: r.recoveryCodes });
  });

  app.post('/auth/mfa/passkeys/options', {
    preHandler: app.jwtRequired(enrol),
    schema: doc({
      ...tags, method: 'POST', summary: 'Options for registering a passkey (fresh token), for navigator.credentials.create()', auth: enrol,
      ok: { status: 200, description: '"Passkey registration options" (the challenge works once, for 5 minutes)', schema: envelope(WEBAUTHN_OPTIONS) },
      errors: OWNER_ERRORS,
    }),
  }, async (req) => ok('Passkey registration options', await factors.passkeyRegistrationOptions(req.jwt!.claims)));

  app.post('/auth/mfa/passkeys', {
    preHandler: app.jwtRequired(enrol),
    schema: doc({
      ...tags, method: 'POST', summary: 'Register a passkey from the browser\'s answer; the first factor comes with 10 recovery codes',
      auth: enrol, body: { schema: PASSKEY_REGISTRATION, media: ['json'] },
      ok: { status: 201, description: '"Passkey registered"', schema: envelope(REGISTERED_PASSKEY) },
      errors: [...BODY_SHAPE, 'ERR_VALIDATION', 'ERR_CONFLICT', ...OWNER_ERRORS],
    }),
  }, async (req, reply) => {
    const body = objectBody(req);
    const r = await factors.registerPasskey(req.jwt!.claims, body.response, body.name, clientMeta(req));
    noStore(reply);
    return reply.code(201).send(ok('Passkey registered', { passkey: passkeyView(r.passkey), recovery_codes: r.recoveryCodes }));
  });

  app.delete('/auth/mfa/factors/:id', {
    preHandler: app.jwtRequired(strong),
    schema: doc({
      ...tags, method: 'DELETE', summary: 'Remove one of your factors (a fresh token that carries a second factor)', auth: strong,
      params: FACTOR_PARAMS,
      ok: { status: 200, description: '"Factor removed"; with the last one, the recovery codes go too', schema: envelope(null) },
      errors: ['ERR_FACTOR_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    await factors.remove(req.jwt!.claims, (req.params as { id: string }).id, clientMeta(req));
    return ok('Factor removed', null);
  });

  app.post('/auth/mfa/recovery-codes', {
    preHandler: app.jwtRequired(strong),
    schema: doc({
      ...tags, method: 'POST', summary: 'Replace your recovery codes with 10 new ones (a fresh token that carries a second factor)', auth: strong,
      ok: { status: 200, description: '"Recovery codes regenerated"; the old ones no longer work', schema: envelope(RECOVERY_CODES) },
      errors: ['ERR_USER_NOT_FOUND', 'ERR_FACTOR_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req, reply) => {
    const codes = await factors.regenerateRecoveryCodes(req.jwt!.claims, clientMeta(req));
    noStore(reply);
    return ok('Recovery codes regenerated', { recovery_codes: codes });
  });

  // ---- completing a sign-in, and passwordless sign-in --------------------------------------------

  app.post('/auth/mfa/verify', {
    onRequest: sameSite,
    schema: doc({
      ...tags, method: 'POST', summary: 'Complete a sign-in: the MFA token and one of code, recovery_code or webauthn',
      description: 'A wrong factor leaves the MFA token usable (and counts towards MFA_MAX_FAILURES); success uses it up.',
      body: { schema: VERIFY_BODY, media: ['json', 'form'] },
      ok: { status: 200, description: '"Login successful"; the token cookies are set too', schema: envelope(PAIR), headers: SETS_COOKIES },
      errors: [
        ...BODY_SHAPE, 'ERR_VALIDATION', 'ERR_MFA_TOKEN_INVALID', 'ERR_USER_INACTIVE', 'ERR_RATE_LIMITED', 'ERR_MFA_CODE_INVALID',
        'ERR_PASSKEY_INVALID', 'ERR_CROSS_SITE', ...DEPENDENCY_ERRORS,
      ],
    }),
  }, async (req, reply) => {
    const body = jsonOrFormBody(req);
    const pair = await factors.complete(field(body, 'mfa_token'), {
      code: field(body, 'code'), recovery_code: field(body, 'recovery_code'), webauthn: body.webauthn,
    }, clientMeta(req));
    setAuthCookies(reply, ctx, pair.access, pair.refresh);
    noStore(reply);
    return ok('Login successful', pairView(pair));
  });

  app.post('/auth/mfa/webauthn/options', {
    schema: doc({
      ...tags, method: 'POST', summary: 'Options for completing a sign-in with a passkey, for the holder of an MFA token',
      body: { schema: MFA_TOKEN_BODY, media: ['json', 'form'] },
      ok: { status: 200, description: '"Passkey options" (the challenge works once, for 5 minutes)', schema: envelope(WEBAUTHN_OPTIONS) },
      errors: [...BODY_SHAPE, 'ERR_VALIDATION', 'ERR_MFA_TOKEN_INVALID', 'ERR_USER_INACTIVE', 'ERR_FACTOR_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => ok('Passkey options', await factors.passkeyOptionsFor(field(jsonOrFormBody(req), 'mfa_token'))));

  app.post('/auth/passkey/options', {
    schema: doc({
      ...tags, method: 'POST', summary: 'Passwordless sign-in, step 1: options asking for a discoverable passkey',
      ok: { status: 200, description: '"Passkey options" (the challenge works once, for 5 minutes)', schema: envelope(WEBAUTHN_OPTIONS) },
      errors: ['ERR_RATE_LIMITED', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => ok('Passkey options', await factors.passkeyLoginOptions(clientMeta(req))));

  app.post('/auth/passkey/login', {
    onRequest: sameSite,
    schema: doc({
      ...tags, method: 'POST', summary: 'Passwordless sign-in, step 2: the browser\'s answer opens a session (two factors: the passkey and its PIN or biometric)',
      body: { schema: PASSKEY_LOGIN, media: ['json'] },
      ok: { status: 200, description: '"Login successful"; the token cookies are set too', schema: envelope(PAIR), headers: SETS_COOKIES },
      errors: [...BODY_SHAPE, 'ERR_PASSKEY_INVALID', 'ERR_USER_INACTIVE', 'ERR_EMAIL_NOT_VERIFIED', 'ERR_CROSS_SITE', ...DEPENDENCY_ERRORS],
    }),
  }, async (req, reply) => {
    const pair = await factors.passkeyLogin(objectBody(req).response, clientMeta(req));
    setAuthCookies(reply, ctx, pair.access, pair.refresh);
    noStore(reply);
    return ok('Login successful', pairView(pair));
  });

  // ---- administration ----------------------------------------------------------------------

  app.get('/users/:id/factors', {
    preHandler: app.jwtRequired(adminOpts),
    schema: doc({
      tags: ['v1 admin'], family: ENVELOPE, auth: adminOpts, method: 'GET', summary: 'A user\'s second factors', params: ID_PARAMS,
      ok: { status: 200, description: '"Factors retrieved"', schema: envelope(FACTOR_LIST) }, errors: ['ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => ok('Factors retrieved', factorListView(await factors.listFor((req.params as { id: string }).id))));

  app.delete('/users/:id/factors', {
    preHandler: app.jwtRequired(adminOpts),
    schema: doc({
      tags: ['v1 admin'], family: ENVELOPE, auth: adminOpts, method: 'DELETE', params: ID_PARAMS,
      summary: 'Reset a user\'s second factors (a lost device): factors and recovery codes deleted, every session of theirs ended',
      ok: { status: 200, description: '"Factors reset"', schema: envelope({ type: 'object', properties: { sessions_ended: { type: 'integer' } }, required: ['sessions_ended'] }) },
      errors: ['ERR_USER_NOT_FOUND', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const { sessionsEnded } = await factors.reset((req.params as { id: string }).id, actorOf(req)!, clientMeta(req));
    return ok('Factors reset', { sessions_ended: sessionsEnded });
  });
}
