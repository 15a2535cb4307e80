// The one mapping from failures to HTTP, for Warden and for any Fastify service using the guard.
// Every API family shapes the body its own way, but the status, code, text and WWW-Authenticate
// header come from here.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { INVALID_TOKEN_CODES, WardenError, type ErrorCode } from '../errors.js';

export interface HttpError {
  status: number;
  code: ErrorCode;
  message: string;
  details: Record<string, unknown> | undefined;
  headers: Record<string, string>;
}

// Fastify's own request errors, mapped onto Warden's codes.
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'ERR_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'ERR_BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'ERR_BODY_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'ERR_BAD_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'ERR_BAD_JSON',
  FST_ERR_BAD_URL: 'ERR_BAD_REQUEST',
  FST_ERR_VALIDATION: 'ERR_VALIDATION',
};

/** Route config a family may set to change the status of token errors (seed 004: 403 on /auth/me). */
export interface ErrorRouteConfig {
  tokenErrorStatus?: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    tokenErrorStatus?: number;
  }
}

export function toHttpError(err: unknown, tokenErrorStatus?: number): HttpError {
  const e = normalise(err);
  const headers: Record<string, string> = {};
  let status = e.status;
  let message = e.message;
  // An error the application raised with a status of its own (http-errors, @fastify/sensible, a
  // route's `statusCode`) keeps it, as Fastify's own handler would: a 4xx with its text, a 5xx
  // with none (that text may hold anything).
  const own = err instanceof WardenError ? undefined : (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof own === 'number' && own >= 400 && own <= 599 && (e.code === 'ERR_BAD_REQUEST' || e.code === 'ERR_INTERNAL')) {
    status = own;
    const text = (err as { message?: unknown }).message;
    if (own < 500 && typeof text === 'string' && text !== '') message = text;
  }
  if (INVALID_TOKEN_CODES.has(e.code) || e.code === 'ERR_JWT_MISSING') {
    if (tokenErrorStatus !== undefined) status = tokenErrorStatus;
    if (status === 401) {
      headers['www-authenticate'] = e.code === 'ERR_JWT_MISSING' ? 'Bearer' : `Bearer error="invalid_token", error_description="${e.message.replace(/["\\]/g, '')}"`;
    }
  } else if (e.code === 'ERR_BAD_CREDENTIALS') {
    headers['www-authenticate'] = 'Bearer';
  } else if (e.code === 'ERR_ROLE_REQUIRED') {
    // A good token that does not grant the route (RFC 6750 §3.1); the roles are the token's scope.
    headers['www-authenticate'] = 'Bearer error="insufficient_scope"';
  } else if (typeof e.details?.retryAfter === 'number') {
    headers['retry-after'] = String(e.details.retryAfter);
  }
  // Every 401 names the scheme that would be accepted (RFC 9110 §11.6.1 requires it): a CSRF
  // refusal, a spent refresh token, a wrong MFA code are 401s too.
  if (status === 401 && headers['www-authenticate'] === undefined) headers['www-authenticate'] = 'Bearer';
  return { status, code: e.code, message, details: e.details, headers };
}

const BY_STATUS: Record<number, ErrorCode> = { 404: 'ERR_NOT_FOUND', 413: 'ERR_BODY_TOO_LARGE', 415: 'ERR_MEDIA_TYPE' };

function normalise(err: unknown): WardenError {
  if (err instanceof WardenError) return err;
  const fe = err as Partial<FastifyError>;
  if (fe && typeof fe === 'object') {
    // A dependency's outage reported by code that cannot depend on the toolkit (e.g. Warden's
    // storage layer): 503, with the Retry-After it suggests.
    if (fe.code === 'ERR_UNAVAILABLE') {
      const retryAfter = (err as { retryAfter?: unknown }).retryAfter;
      return new WardenError('ERR_UNAVAILABLE', undefined, typeof retryAfter === 'number' ? { retryAfter } : undefined);
    }
    // A failed route schema says which field, as Fastify's own answer does.
    if (fe.code === 'FST_ERR_VALIDATION' && typeof fe.message === 'string') return new WardenError('ERR_VALIDATION', fe.message);
    const mapped = fe.code !== undefined ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped !== undefined) return new WardenError(mapped);
    // JSON.parse's SyntaxError from the body parser, and secure-json-parse's prototype-poisoning refusal.
    if (err instanceof SyntaxError || (fe.statusCode === 400 && /JSON|__proto__|constructor/i.test(fe.message ?? ''))) {
      return new WardenError('ERR_BAD_JSON');
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return new WardenError(BY_STATUS[fe.statusCode] ?? 'ERR_BAD_REQUEST');
    }
  }
  return new WardenError('ERR_INTERNAL');
}

export interface ErrorLogger {
  error(obj: object, msg: string): void;
}

// Query parameters that may carry a token, a password, a client secret or a code (a recovery code,
// which works until used; a TOTP code; an OAuth code or PKCE verifier); their values never reach a log line.
const SECRET_NAME = /token|jwt|password|secret|code/i;
// A JWS's first segment (base64url of `{"`): a value holding one is a token whatever its name.
const JWS_LIKE = /eyJ[A-Za-z0-9_-]{4,}/;

/**
 * A URL fit for a log line: the value of each query parameter whose name, decoded as the server
 * decodes it (`refresh_%74oken` is `refresh_token`), names a secret is replaced by `[redacted]`,
 * and so is a path segment holding a token (a client's mistake: `/me;jwt=eyJ…`, `/me/eyJ…`).
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  const path = q === -1 ? url : url.slice(0, q);
  const safePath = JWS_LIKE.test(decodedName(path))
    ? path.split('/').map((seg) => (JWS_LIKE.test(decodedName(seg)) ? '[redacted]' : seg)).join('/')
    : path;
  if (q === -1) return safePath;
  const query = redactQuery(url.slice(q + 1));
  return safePath === path && query === undefined ? url : `${safePath}?${query ?? url.slice(q + 1)}`;
}

/** The query with its secret values replaced, or undefined when it holds none. */
function redactQuery(query: string): string | undefined {
  const params = query.split('&');
  let redacted = false;
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    const eq = p.indexOf('=');
    const name = decodedName(eq === -1 ? p : p.slice(0, eq));
    if (eq === -1 || name.includes('=')) {
      // No name of its own (`?eyJ…`), or its `=` encoded (`?refresh_token%3DeyJ…`): judged whole.
      if (SECRET_NAME.test(name) || JWS_LIKE.test(name)) {
        params[i] = '[redacted]';
        redacted = true;
      }
    } else if (SECRET_NAME.test(name) || JWS_LIKE.test(decodedName(p.slice(eq + 1)))) {
      params[i] = `${p.slice(0, eq)}=[redacted]`;
      redacted = true;
    }
  }
  return redacted ? params.join('&') : undefined;
}

/**
 * A query name as decoded (`+` is a space), repeatedly in case something downstream decodes twice.
 * Byte by byte rather than decodeURIComponent, which throws on malformed or partial UTF-8; only
 * ASCII matters to the match.
 */
function decodedName(name: string): string {
  let s = name.replace(/\+/g, ' ');
  for (let round = 0; round < 3 && s.includes('%'); round++) {
    const next = s.replace(/%([0-9A-Fa-f]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    if (next === s) break;
    s = next;
  }
  return s;
}

/**
 * Whether a failure deserves a log line of its own: a 5xx, except an outage (ERR_UNAVAILABLE),
 * which whoever watches the dependency logs once per outage rather than once per request.
 */
export function isUnexpected(e: HttpError): boolean {
  // A 503 (a dependency out, logged where it is met) and a 501 (a feature the operator left off,
  // said once at start) are answers, not failures: any client could fill the log with them.
  return e.status >= 500 && e.code !== 'ERR_UNAVAILABLE' && e.code !== 'ERR_EMAIL_DISABLED';
}

/**
 * Logs an unexpected failure with its request id (never the body, the headers or a token-bearing
 * query) and names that id to the client in `X-Request-Id`, so that what a user reports finds the line.
 */
export function logUnexpected(log: ErrorLogger, req: FastifyRequest, err: unknown, reply?: FastifyReply): void {
  log.error({ err, reqId: req.id, method: req.method, url: redactUrl(req.url) }, 'unhandled error');
  void reply?.header('x-request-id', String(req.id));
}

/**
 * Builds a Fastify error handler for one family. Unexpected errors are logged (to `log`, else the
 * request's logger) and answered 500 with no detail.
 */
export function errorHandler(body: (e: HttpError) => unknown, log?: ErrorLogger) {
  return function handle(err: unknown, req: FastifyRequest, reply: FastifyReply): void {
    const cfg = (req.routeOptions?.config ?? {}) as ErrorRouteConfig;
    const e = toHttpError(err, cfg.tokenErrorStatus);
    if (isUnexpected(e)) logUnexpected(log ?? req.log, req, err, reply);
    void reply.code(e.status).headers(e.headers).send(body(e));
  };
}

export const detailBody = (e: HttpError) => ({ detail: e.message, code: e.code, ...e.details });
export const envelopeBody = (e: HttpError) => ({ message: e.message, data: null, code: e.code, ...e.details });

/** For services using the guard on their own: {"detail", "code"} bodies and WWW-Authenticate. */
export const wardenErrorHandler = errorHandler(detailBody);
