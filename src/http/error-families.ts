// Each API family words its errors its own way; status, code, text and headers come from the one
// mapping (toolkit's toHttpError over ERROR_CODES). A family is the body shape plus the few ways it
// departs from that mapping. The same `render` feeds the error handler and the OpenAPI document
// (docs.ts), so what /docs shows is what the routes send.
import type { FastifyReply, FastifyRequest } from 'fastify';
import {
  detailBody, envelopeBody, isUnexpected, logUnexpected, toHttpError, type ErrorCode, type ErrorLogger, type ErrorRouteConfig,
  type HttpError,
} from '@warden/toolkit';
import { MARSHMALLOW_ERRORS_SCHEMA, PYDANTIC_ERRORS_SCHEMA } from './field-errors.js';

export interface ErrorFamily {
  /** The response body for an error. */
  body(e: HttpError): unknown;
  /** The status the family answers with, when it departs from the mapping's. */
  status?(e: HttpError): number;
  /** Texts this family words its own way (the seeds' own sentences). */
  messages?: Partial<Record<ErrorCode, string>>;
  /** Response headers, when the family departs from the mapping's. */
  headers?(e: HttpError): Record<string, string>;
  /** Details an error of this family carries, for the documented examples (docs.ts). */
  samples?: Partial<Record<ErrorCode, Record<string, unknown>>>;
  /** The JSON schema of a body one sample cannot describe (docs.ts; it is derived from the sample otherwise). */
  schemas?: Partial<Record<ErrorCode, Record<string, unknown>>>;
}

/** The error as this family answers it. */
export function render(f: ErrorFamily, err: unknown, tokenErrorStatus?: number): HttpError {
  const e = toHttpError(err, tokenErrorStatus);
  const message = f.messages?.[e.code] ?? e.message;
  const worded = message === e.message ? e : { ...e, message };
  return { ...worded, status: f.status?.(worded) ?? worded.status, headers: f.headers?.(worded) ?? worded.headers };
}

export function familyErrorHandler(f: ErrorFamily, log: ErrorLogger) {
  return function handle(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
    const cfg = (req.routeOptions?.config ?? {}) as ErrorRouteConfig;
    const e = render(f, err, cfg.tokenErrorStatus);
    if (isUnexpected(e)) logUnexpected(log, req, err, reply);
    void reply.code(e.status).headers(e.headers).send(f.body(e));
  };
}

/** Seed 000's /api (FastAPI's HTTPException): {"detail", "code"}. */
export const DETAIL: ErrorFamily = { body: detailBody };

/** Seed 004's /api/v1: {"message", "data": null, "code"}. */
export const ENVELOPE: ErrorFamily = { body: envelopeBody };

/**
 * FastAPI as its tutorials answer (/token, /login): {"detail": text, "code"}, and 422 as FastAPI's
 * request validation writes it, {"detail": [{type, loc, msg, input}]} — exactly, with no code, so
 * a FastAPI client's parsing of it holds. The list travels in the error's `errors` detail.
 */
export const FASTAPI: ErrorFamily = {
  body: (e) => (e.code === 'ERR_VALIDATION' && Array.isArray(e.details?.errors) ? { detail: e.details.errors } : detailBody(e)),
  messages: { ERR_BAD_CREDENTIALS: 'Incorrect username or password' },
  samples: { ERR_VALIDATION: { errors: [{ type: 'missing', loc: ['body', 'username'], msg: 'Field required', input: null }] } },
  schemas: { ERR_VALIDATION: PYDANTIC_ERRORS_SCHEMA },
};

/**
 * Flask-RESTX with marshmallow (/api/login): {"message", "code"}, and 422 as marshmallow's
 * ValidationError.messages_dict, {"email": ["Not a valid email address."]} — exactly, as a field
 * named "code" could otherwise collide with Warden's member. The dict travels in `messages`.
 */
export const MARSHMALLOW: ErrorFamily = {
  body: (e) => (e.code === 'ERR_VALIDATION' && isRecord(e.details?.messages)
    ? e.details.messages
    : { message: e.message, code: e.code, ...e.details }),
  messages: { ERR_BAD_CREDENTIALS: 'Credenciales inválidas', ERR_UNAVAILABLE: 'Error en el servidor' },
  samples: { ERR_VALIDATION: { messages: { email: ['Not a valid email address.'] } } },
  schemas: { ERR_VALIDATION: MARSHMALLOW_ERRORS_SCHEMA },
};

/** What /oauth answers to a body that is not a form (RFC 6749 §4.3.2, §2.1 of RFC 7009). */
const OAUTH_FORM_ONLY = 'The request must be application/x-www-form-urlencoded (RFC 6749 section 4.3.2)';

type OAuthError = 'invalid_request' | 'invalid_grant' | 'unsupported_grant_type' | 'server_error';

// Warden's codes as RFC 6749 errors: anything wrong with the grant itself is invalid_grant.
function oauthErrorOf(code: ErrorCode): OAuthError {
  if (code.startsWith('ERR_JWT_') || code.startsWith('ERR_REFRESH_') || code === 'ERR_BAD_CREDENTIALS' || code === 'ERR_USER_INACTIVE' || code === 'ERR_EMAIL_NOT_VERIFIED') {
    return 'invalid_grant';
  }
  if (code === 'ERR_INTERNAL' || code === 'ERR_UNAVAILABLE') return 'server_error';
  return 'invalid_request';
}

/**
 * RFC 6749 §5.2 (/oauth): {"error", "error_description"}; grant and request errors are 400 (401 is
 * for client authentication, unused here); never cached. A route may name the error in `oauthError`.
 */
export const OAUTH: ErrorFamily = {
  body: (e) => ({
    error: typeof e.details?.oauthError === 'string' ? e.details.oauthError : oauthErrorOf(e.code),
    error_description: oauthText(e.message),
    // A password grant for a user with a second factor: what completes it (POST /api/v1/auth/mfa/verify).
    ...(e.code === 'ERR_MFA_REQUIRED' && typeof e.details?.mfa_token === 'string' ? { mfa_token: e.details.mfa_token, methods: e.details.methods } : {}),
  }),
  // A media type other than a form is a malformed request here (§5.2: 400), as the route's own check says.
  status: (e) => (e.status >= 500 || [404, 405, 408, 413, 429, 431].includes(e.status) ? e.status : 400),
  messages: { ERR_MEDIA_TYPE: OAUTH_FORM_ONLY },
  headers: (e) => ({
    'cache-control': 'no-store',
    pragma: 'no-cache',
    ...(e.headers['retry-after'] ? { 'retry-after': e.headers['retry-after'] } : {}),
  }),
  samples: { ERR_MFA_REQUIRED: { oauthError: 'invalid_grant', mfa_token: '<an MFA token>', methods: ['totp', 'recovery_code'] } },
};

/** A text as §5.2 allows in error_description: printable ASCII without `"` and `\\`. */
function oauthText(text: string): string {
  return text.replace(/§/g, 'section ').replace(/"/g, "'").replace(/[^\x20\x21\x23-\x5B\x5D-\x7E]/g, '');
}

/**
 * The family answering for a URL when no route does: a wrong path or method, a malformed URL.
 * Each prefix is one family's (as the routes register them), so the client gets its API's shape.
 */
export function familyOfUrl(url: string): ErrorFamily {
  const path = url.split('?', 1)[0]!;
  if (path.startsWith('/oauth/')) return OAUTH;
  if (path.startsWith('/api/v1/')) return ENVELOPE;
  if (path === '/token' || path === '/login') return FASTAPI;
  if (path === '/api/login') return MARSHMALLOW;
  return DETAIL;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
