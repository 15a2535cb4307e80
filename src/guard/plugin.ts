// The Fastify guard: flask-jwt-extended's @jwt_required(optional, fresh, refresh, locations,
// verify_type) as a preHandler, plus Warden's roles and revocation check. Handlers are sync
// callbacks: on the hot path a verify and a few Map lookups are all that run.
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { WardenError } from '../errors.js';
import { isFresh } from '../tokens/issue.js';
import type { JwtClaims, TokenType, VerifiedToken } from '../tokens/types.js';
import {
  DEFAULT_LOCATION_SETTINGS, fromCookie, fromHeader, fromJson, fromQuery, missingMessage,
  type LocationSettings, type TokenLocation,
} from './locations.js';
import type { RevocationIndex } from './revocation.js';

export interface JwtRequiredOptions {
  /** Let the request through without a token; a token that is present must still be valid. */
  optional?: boolean;
  /** Require a fresh token (issued from a password check). */
  fresh?: boolean;
  /** Require a refresh token instead of an access token. */
  refresh?: boolean;
  /** Where to look, in order; defaults to the plugin's `locations`. */
  locations?: readonly TokenLocation[];
  /** Check the `type` claim (default true). */
  verifyType?: boolean;
  /** Skip the revocation check (e.g. a sign-out that must work on a revoked token). */
  skipRevocationCheck?: boolean;
  /** The token must hold at least one of these roles. */
  roles?: readonly string[];
  /** The query parameter for the query_string location on this route (default: the plugin's, `jwt`). */
  queryStringName?: string;
}

export interface GuardOptions {
  /** Verifies signature and registered claims; throws WardenError. */
  verify: (token: string) => VerifiedToken;
  revocations?: RevocationIndex;
  locations?: readonly TokenLocation[];
  settings?: Partial<LocationSettings>;
  /** CSRF double submit for cookie-borne tokens (default true). */
  csrfProtect?: boolean;
  csrfMethods?: readonly string[];
  csrfHeaderName?: string;
  csrfFieldName?: string;
  clock?: () => number;
}

export interface JwtContext {
  claims: JwtClaims;
  token: string;
  location: TokenLocation;
  /** Roles in force: the token's, unless an administrator changed them since. */
  roles: readonly string[];
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by jwtRequired: the verified token, or null (optional and absent). */
    jwt: JwtContext | null;
  }
  interface FastifyInstance {
    jwtRequired(options?: JwtRequiredOptions): preHandlerHookHandler;
    /** Verifies a token outside a route (e.g. one from a body field) with the guard's rules. */
    verifyToken(token: string, want: TokenType | null, options?: Pick<JwtRequiredOptions, 'fresh' | 'skipRevocationCheck' | 'roles'>): JwtContext;
  }
}

function guard(fastify: FastifyInstance, opts: GuardOptions, done: (err?: Error) => void): void {
  const settings: LocationSettings = { ...DEFAULT_LOCATION_SETTINGS, ...opts.settings };
  settings.headerName = settings.headerName.toLowerCase();
  const defaultLocations = opts.locations ?? ['headers']; // flask-jwt-extended's default
  const csrfProtect = opts.csrfProtect ?? true;
  const csrfMethods = new Set(opts.csrfMethods ?? ['POST', 'PUT', 'PATCH', 'DELETE']);
  const csrfHeader = (opts.csrfHeaderName ?? 'X-CSRF-TOKEN').toLowerCase();
  const csrfField = opts.csrfFieldName ?? 'csrf_token';
  const clock = opts.clock ?? Date.now;
  const index = opts.revocations;

  fastify.decorateRequest('jwt', null);

  function check(
    token: string,
    location: TokenLocation,
    want: TokenType | null,
    o: Pick<JwtRequiredOptions, 'fresh' | 'skipRevocationCheck' | 'roles'>,
  ): JwtContext {
    const { claims } = opts.verify(token);
    if (want !== null && claims.type !== want) {
      throw new WardenError('ERR_JWT_WRONG_TYPE', want === 'refresh' ? 'Only refresh tokens are allowed' : 'Only non-refresh tokens are allowed');
    }
    if (index !== undefined && o.skipRevocationCheck !== true && index.check(claims) !== null) {
      throw new WardenError('ERR_JWT_REVOKED');
    }
    if (o.fresh === true && !isFresh(claims, clock())) throw new WardenError('ERR_FRESH_REQUIRED');
    const roles = index !== undefined ? index.rolesOf(claims) : Array.isArray(claims.roles) ? claims.roles : [];
    if (o.roles !== undefined && o.roles.length > 0 && !o.roles.some((r) => roles.includes(r))) {
      throw new WardenError('ERR_ROLE_REQUIRED');
    }
    return { claims, token, location, roles };
  }

  function csrfCheck(req: FastifyRequest, claims: JwtClaims): void {
    let sent = req.headers[csrfHeader];
    if (Array.isArray(sent)) sent = sent[0];
    if (sent === undefined && req.body !== null && typeof req.body === 'object') {
      const field = (req.body as Record<string, unknown>)[csrfField];
      if (typeof field === 'string') sent = field;
    }
    if (sent === undefined || sent === '') throw new WardenError('ERR_CSRF_MISSING');
    if (typeof claims.csrf !== 'string' || !sameSecret(sent, claims.csrf)) throw new WardenError('ERR_CSRF_MISMATCH');
  }

  function find(req: FastifyRequest, s: LocationSettings, locations: readonly TokenLocation[], type: TokenType): [string, TokenLocation] | undefined {
    for (const l of locations) {
      const t =
        l === 'headers' ? fromHeader(req, s)
        : l === 'cookies' ? fromCookie(req, s, type)
        : l === 'query_string' ? fromQuery(req, s)
        : fromJson(req, s, type);
      if (t !== undefined) return [t, l];
    }
    return undefined;
  }

  fastify.decorate('verifyToken', (token: string, want: TokenType | null, o = {}) => check(token, 'json', want, o));

  fastify.decorate('jwtRequired', (o: JwtRequiredOptions = {}): preHandlerHookHandler => {
    const locations = o.locations ?? defaultLocations;
    const type: TokenType = o.refresh === true ? 'refresh' : 'access';
    const want = o.verifyType === false ? null : type;
    const s = o.queryStringName === undefined ? settings : { ...settings, queryStringName: o.queryStringName };
    const missing = missingMessage(locations, s, type);
    return function jwtRequired(req: FastifyRequest, _reply: FastifyReply, next: (err?: Error) => void): void {
      try {
        const found = find(req, s, locations, type);
        if (found === undefined) {
          if (o.optional === true) return next();
          throw new WardenError('ERR_JWT_MISSING', missing);
        }
        const ctx = check(found[0], found[1], want, o);
        if (found[1] === 'cookies' && csrfProtect && csrfMethods.has(req.method)) csrfCheck(req, ctx.claims);
        req.jwt = ctx;
        next();
      } catch (err) {
        next(err as Error);
      }
    };
  });
  done();
}

/** Constant-time comparison, so response timing says nothing about how much of a guess was right. */
function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const wardenGuard = fp(guard, { name: 'warden-guard', fastify: '5.x' });
