// RFC 6749 token endpoint (password and refresh_token grants) and RFC 7009 revocation, so that
// standard OAuth2 clients can talk to Warden. Errors use RFC 6749 §5.2 bodies.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WardenError, type ErrorCode } from '../errors.js';
import type { RouteContext } from './context.js';
import { logUnexpected, toHttpError } from './errors.js';
import { clientMeta, field, objectBody } from './request.js';
import type { TokenPair } from '../accounts/service.js';
import { SCHEMAS } from './schemas.js';

type OAuthError = 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'server_error';

/** Raised by these routes; carries the RFC 6749 error name. */
class OAuthFailure extends WardenError {
  constructor(readonly oauthError: OAuthError, description: string) {
    super(oauthError === 'invalid_request' ? 'ERR_BAD_REQUEST' : 'ERR_BAD_CREDENTIALS', description);
  }
}

// Warden's codes as RFC 6749 errors: anything wrong with the grant itself is invalid_grant.
function oauthErrorOf(code: ErrorCode): OAuthError {
  if (code.startsWith('ERR_JWT_') || code.startsWith('ERR_REFRESH_') || code === 'ERR_BAD_CREDENTIALS' || code === 'ERR_USER_INACTIVE') {
    return 'invalid_grant';
  }
  if (code === 'ERR_INTERNAL' || code === 'ERR_UNAVAILABLE') return 'server_error';
  return 'invalid_request';
}

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

export async function oauthRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { accounts, config } = ctx;
  app.setErrorHandler((err, req, reply) => {
    const e = toHttpError(err);
    if (e.status >= 500) logUnexpected(ctx.log, req, err);
    // RFC 6749 §5.2: grant and request errors are 400 (401 is for client authentication, unused here).
    const status = e.status >= 500 || e.status === 413 || e.status === 415 || e.status === 429 ? e.status : 400;
    if (e.headers['retry-after']) void reply.header('retry-after', e.headers['retry-after']);
    void noStore(reply).code(status).send({
      error: err instanceof OAuthFailure ? err.oauthError : oauthErrorOf(e.code),
      error_description: e.message,
    });
  });

  function form(req: FastifyRequest): Record<string, unknown> {
    const ct = String(req.headers['content-type'] ?? '').toLowerCase();
    if (!ct.startsWith('application/x-www-form-urlencoded')) {
      throw new OAuthFailure('invalid_request', 'The request must be application/x-www-form-urlencoded (RFC 6749 §4.3.2)');
    }
    return objectBody(req);
  }

  function required(b: Record<string, unknown>, name: string): string {
    const v = field(b, name);
    if (typeof v !== 'string' || v === '') throw new OAuthFailure('invalid_request', `Missing or repeated parameter: ${name}`);
    return v;
  }

  const tokenResponse = (p: TokenPair) => ({
    access_token: p.access.token,
    token_type: 'Bearer',
    expires_in: config.accessTokenExpiresMinutes * 60,
    refresh_token: p.refresh.token,
    scope: p.user.roles.join(' '),
  });

  app.post('/token', {
    schema: { tags: ['oauth2'], summary: 'RFC 6749 token endpoint: grant_type=password | refresh_token', ...SCHEMAS.oauthToken },
  }, async (req, reply) => {
    const b = form(req);
    const grant = required(b, 'grant_type');
    let pair: TokenPair;
    if (grant === 'password') {
      pair = await accounts.signIn(required(b, 'username'), required(b, 'password'), clientMeta(req));
    } else if (grant === 'refresh_token') {
      const ctx = app.verifyToken(required(b, 'refresh_token'), 'refresh');
      pair = await accounts.refresh(ctx.claims);
    } else {
      throw new OAuthFailure('unsupported_grant_type', `grant_type "${grant.slice(0, 40)}" is not supported; use password or refresh_token`);
    }
    return noStore(reply).send(tokenResponse(pair));
  });

  app.post('/revoke', {
    schema: { tags: ['oauth2'], summary: 'RFC 7009 revocation: 200 even for an unknown token', ...SCHEMAS.oauthRevoke },
  }, async (req, reply) => {
    const token = required(form(req), 'token');
    let claims;
    try {
      // A revoked or expired token needs no further revoking; an invalid one is answered 200 too (§2.2).
      claims = app.verifyToken(token, null, { skipRevocationCheck: true }).claims;
    } catch {
      claims = undefined;
    }
    if (claims) await accounts.revokeToken(claims);
    return noStore(reply).code(200).send();
  });
}
