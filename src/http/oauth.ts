// RFC 6749 token endpoint (password and refresh_token grants) and RFC 7009 revocation, so that
// standard OAuth2 clients can talk to Warden. Errors use RFC 6749 §5.2 bodies (error-families.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { INVALID_TOKEN_CODES, WardenError } from '@warden/toolkit';
import type { RouteContext } from './context.js';
import { clientMeta, objectBody } from './request.js';
import type { TokenPair } from '../accounts/index.js';
import { DEPENDENCY_ERRORS, REFRESH_ERRORS, SIGNIN_ERRORS } from './api.js';
import { routeSchemas } from './docs.js';
import { familyErrorHandler, OAUTH } from './error-families.js';
import { OAUTH_REVOKE, OAUTH_TOKEN, OAUTH_TOKEN_RESPONSE } from './schemas.js';
import { noStore } from './security-headers.js';

type OAuthError = 'invalid_request' | 'unsupported_grant_type';

/** Raised by these routes; carries the RFC 6749 error name. */
class OAuthFailure extends WardenError {
  constructor(oauthError: OAuthError, description: string) {
    super('ERR_BAD_REQUEST', description, { oauthError });
  }
}

export async function oauthRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { config } = ctx;
  const { credentials, sessions } = ctx.accounts;
  app.setErrorHandler(familyErrorHandler(OAUTH, ctx.log));
  const doc = routeSchemas(config);

  function form(req: FastifyRequest): Record<string, unknown> {
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    // As any other media type refused: the OAUTH family words it and answers 400 invalid_request.
    if (!ct.startsWith('application/x-www-form-urlencoded')) throw new WardenError('ERR_MEDIA_TYPE');
    return objectBody(req);
  }

  /** A parameter's one value; sent empty it counts as omitted, and it may not be repeated (RFC 6749 §3.2). */
  function required(b: Record<string, unknown>, name: string): string {
    const given = (Array.isArray(b[name]) ? b[name] as unknown[] : [b[name]]).filter((v) => v !== undefined && v !== '');
    if (given.length > 1) throw new OAuthFailure('invalid_request', `Repeated parameter: ${name}`);
    if (typeof given[0] !== 'string') throw new OAuthFailure('invalid_request', `Missing parameter: ${name}`);
    return given[0];
  }

  const tokenResponse = (p: TokenPair) => ({
    access_token: p.access.token,
    token_type: 'Bearer',
    expires_in: config.tokens.accessTtlSeconds,
    refresh_token: p.refresh.token,
    // The roles as scope; none is no scope at all (§3.3's grammar has no empty scope).
    ...(p.user.roles.length > 0 ? { scope: p.user.roles.join(' ') } : {}),
  });

  app.post('/token', {
    schema: doc({
      method: 'POST', tags: ['oauth2'], summary: 'RFC 6749 token endpoint: grant_type=password | refresh_token', family: OAUTH,
      body: { schema: OAUTH_TOKEN, media: ['form'] },
      ok: { status: 200, description: 'RFC 6749 §5.1 (Cache-Control: no-store)', schema: OAUTH_TOKEN_RESPONSE },
      errors: [...SIGNIN_ERRORS, ...REFRESH_ERRORS, ...INVALID_TOKEN_CODES, 'ERR_MFA_REQUIRED'],
    }),
  }, async (req, reply) => {
    const b = form(req);
    const grant = required(b, 'grant_type');
    let pair: TokenPair;
    if (grant === 'password') {
      const result = await credentials.signIn(required(b, 'username'), required(b, 'password'), clientMeta(req));
      if (result.kind === 'mfa_required') {
        // RFC 6749 has no second factor: the grant is refused, with what completes it (POST /api/v1/auth/mfa/verify).
        throw new WardenError('ERR_MFA_REQUIRED', 'mfa_required: a second factor is required; complete the sign-in at POST /api/v1/auth/mfa/verify with mfa_token', {
          oauthError: 'invalid_grant', mfa_token: result.mfaToken, methods: result.methods,
        });
      }
      pair = result.pair;
    } else if (grant === 'refresh_token') {
      const ctx = app.verifyToken(required(b, 'refresh_token'), 'refresh');
      pair = await sessions.refresh(ctx.claims, clientMeta(req));
    } else {
      throw new OAuthFailure('unsupported_grant_type', 'This grant_type is not supported; use password or refresh_token');
    }
    return noStore(reply).send(tokenResponse(pair));
  });

  app.post('/revoke', {
    schema: doc({
      method: 'POST', tags: ['oauth2'], summary: 'RFC 7009 revocation: 200 even for an unknown token', family: OAUTH,
      body: { schema: OAUTH_REVOKE, media: ['form'] },
      ok: { status: 200, description: 'Revoked, or nothing to revoke (empty body)' }, errors: ['ERR_BAD_REQUEST', ...DEPENDENCY_ERRORS],
    }),
  }, async (req, reply) => {
    const token = required(form(req), 'token');
    let claims;
    try {
      // A revoked or expired token needs no further revoking; an invalid one is answered 200 too (§2.2).
      claims = app.verifyToken(token, null, { skipRevocationCheck: true }).claims;
    } catch {
      claims = undefined;
    }
    if (claims) await sessions.revokeToken(claims, clientMeta(req));
    return noStore(reply).code(200).send();
  });
}
