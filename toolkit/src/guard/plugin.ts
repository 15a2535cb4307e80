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
  DEFAULT_LOCATION_SETTINGS, DEFAULT_TOKEN_LOCATIONS, fromCookie, fromHeader, fromJson, fromQuery, headerOfOtherScheme, isJsonRequest, missingMessage,
  type GuardedRequest, type LocationSettings, type TokenLocation,
} from './locations.js';

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
  /** The token's `email_verified` claim must be true (403 ERR_EMAIL_NOT_VERIFIED otherwise). */
  verified?: boolean;
  /** The query parameter for the query_string location on this route (default: the plugin's, `jwt`). */
  queryStringName?: string;
  /** Require a second factor: the token's `amr` (RFC 8176) must hold "mfa" (403 ERR_MFA_REQUIRED). */
  mfa?: boolean;
  /** Reachable without a second factor even for the plugin's `mfaRequiredRoles` (enrolling one, signing out). */
  mfaExempt?: boolean;
  /**
   * The methods this request stands for in the CSRF check (default: its own). Forward auth passes
   * the proxied request's too, so a cookie-borne POST authorised through it needs the CSRF value;
   * the check applies when any of them is one of the CSRF methods.
   */
  requestMethods?: (req: GuardedRequest) => readonly string[];
}

/** What the guard asks of a revocation index (the server's lives in its revocation module). */
export interface RevocationCheck {
  /** Why these claims are refused, or null when they are not revoked. */
  check(claims: JwtClaims): string | null;
  /** The roles in force for these claims (an administrator's later change overrides the token's). */
  rolesOf(claims: JwtClaims): readonly string[];
}

/** CSRF double submit as flask-jwt-extended does it: the header (or form field) must repeat the token's csrf claim. */
export const DEFAULT_CSRF = {
  headerName: 'X-CSRF-TOKEN',
  fieldName: 'csrf_token',
  methods: ['POST', 'PUT', 'PATCH', 'DELETE'],
} as const satisfies { headerName: string; fieldName: string; methods: readonly string[] };

export interface GuardOptions {
  /** Verifies signature and registered claims; throws WardenError. */
  verify: (token: string) => VerifiedToken;
  revocations?: RevocationCheck;
  locations?: readonly TokenLocation[];
  settings?: Partial<LocationSettings>;
  /** CSRF double submit for cookie-borne tokens (default true). */
  csrfProtect?: boolean;
  csrfMethods?: readonly string[];
  csrfHeaderName?: string;
  csrfFieldName?: string;
  clock?: () => number;
  /**
   * Roles that must use a second factor: an access token holding one of them without "mfa" in its
   * `amr` reaches only `mfaExempt` routes (403 ERR_MFA_ENROLMENT_REQUIRED elsewhere).
   */
  mfaRequiredRoles?: readonly string[];
}

/** The token records a second factor (RFC 8176 `amr` holds "mfa"). */
export function hasSecondFactor(claims: Readonly<Record<string, unknown>>): boolean {
  return Array.isArray(claims.amr) && claims.amr.includes('mfa');
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
    /**
     * The checks of jwtRequired(options), compiled once, for a request read outside Fastify's
     * lifecycle (a route a node server answers before routing): returns the verified token and
     * sets `req.jwt`, or null (optional and absent); throws WardenError.
     */
    jwtRequirement(options?: JwtRequiredOptions): (req: GuardedRequest & { jwt?: JwtContext | null }) => JwtContext | null;
    /**
     * flask-jwt-extended's verify_jwt_in_request() inside a handler: the same checks as
     * jwtRequired(options), run now. Sets and returns req.jwt (null when optional and absent); throws WardenError.
     */
    verifyJwtInRequest(req: FastifyRequest, options?: JwtRequiredOptions): JwtContext | null;
    /** Verifies a token outside a route (e.g. one from a body field) with the guard's rules. */
    verifyToken(token: string, want: TokenType | null, options?: CheckOptions): JwtContext;
  }
}

type CheckOptions = Pick<JwtRequiredOptions, 'fresh' | 'skipRevocationCheck' | 'roles' | 'verified' | 'mfa' | 'mfaExempt'>;

function guard(fastify: FastifyInstance, opts: GuardOptions, done: (err?: Error) => void): void {
  const settings: LocationSettings = { ...DEFAULT_LOCATION_SETTINGS, ...opts.settings };
  settings.headerKey = settings.headerName.toLowerCase();
  const defaultLocations = opts.locations ?? DEFAULT_TOKEN_LOCATIONS;
  const csrfProtect = opts.csrfProtect ?? true;
  const csrfMethods = new Set<string>(opts.csrfMethods ?? DEFAULT_CSRF.methods);
  const csrfHeader = (opts.csrfHeaderName ?? DEFAULT_CSRF.headerName).toLowerCase();
  const csrfField = opts.csrfFieldName ?? DEFAULT_CSRF.fieldName;
  const clock = opts.clock ?? Date.now;
  const index = opts.revocations;
  const mfaRoles = opts.mfaRequiredRoles ?? [];

  fastify.decorateRequest('jwt', null);

  function check(
    token: string,
    location: TokenLocation,
    want: TokenType | null,
    o: CheckOptions,
  ): JwtContext {
    const { claims } = opts.verify(token);
    if (want !== null && claims.type !== want) {
      throw new WardenError('ERR_JWT_WRONG_TYPE', want === 'refresh' ? 'Only refresh tokens are allowed' : 'Only non-refresh tokens are allowed');
    }
    // verifyType: false still means an access or a refresh token, never a single-purpose one (an MFA token).
    if (want === null && claims.type !== 'access' && claims.type !== 'refresh') {
      throw new WardenError('ERR_JWT_WRONG_TYPE', 'Only access or refresh tokens are allowed');
    }
    if (index !== undefined && o.skipRevocationCheck !== true && index.check(claims) !== null) {
      throw new WardenError('ERR_JWT_REVOKED');
    }
    if (o.fresh === true && !isFresh(claims, clock())) throw new WardenError('ERR_FRESH_REQUIRED');
    const roles = index !== undefined ? index.rolesOf(claims) : Array.isArray(claims.roles) ? claims.roles : NO_ROLES;
    if (o.roles !== undefined && o.roles.length > 0 && !o.roles.some((r) => roles.includes(r))) {
      throw new WardenError('ERR_ROLE_REQUIRED');
    }
    if (o.verified === true && claims.email_verified !== true) throw new WardenError('ERR_EMAIL_NOT_VERIFIED');
    if (o.mfa === true && !hasSecondFactor(claims)) throw new WardenError('ERR_MFA_REQUIRED');
    if (mfaRoles.length > 0 && o.mfaExempt !== true && claims.type === 'access' && !hasSecondFactor(claims) && roles.some((r) => mfaRoles.includes(r))) {
      throw new WardenError('ERR_MFA_ENROLMENT_REQUIRED');
    }
    return { claims, token, location, roles };
  }

  function csrfCheck(req: GuardedRequest, claims: JwtClaims): void {
    let sent = req.headers[csrfHeader];
    if (Array.isArray(sent)) sent = sent[0];
    if (sent === undefined && req.body !== null && typeof req.body === 'object') {
      const field = (req.body as Record<string, unknown>)[csrfField];
      if (typeof field === 'string') sent = field;
    }
    if (sent === undefined || sent === '') throw new WardenError('ERR_CSRF_MISSING');
    if (typeof claims.csrf !== 'string' || !sameSecret(sent, claims.csrf)) throw new WardenError('ERR_CSRF_MISMATCH');
  }

  // Where find() found the token it returned (read right after the call): no tuple per request.
  let foundAt: TokenLocation = 'headers';

  function find(req: GuardedRequest, s: LocationSettings, locations: readonly TokenLocation[], type: TokenType): string | undefined {
    for (const l of locations) {
      const t =
        l === 'headers' ? fromHeader(req, s)
        : l === 'cookies' ? fromCookie(req, s, type)
        : l === 'query_string' ? fromQuery(req, s)
        : fromJson(req, s, type);
      if (t !== undefined) {
        foundAt = l;
        return t;
      }
    }
    return undefined;
  }

  fastify.decorate('verifyToken', (token: string, want: TokenType | null, o = {}) => check(token, 'json', want, o));

  /** The checks of one set of options, resolved once: sets req.jwt or throws. */
  function requirement(o: JwtRequiredOptions): (req: GuardedRequest & { jwt?: JwtContext | null }) => JwtContext | null {
    const locations = o.locations ?? defaultLocations;
    const type: TokenType = o.refresh === true ? 'refresh' : 'access';
    const want = o.verifyType === false ? null : type;
    const s = o.queryStringName === undefined ? settings : { ...settings, queryStringName: o.queryStringName };
    const missing = missingMessage(locations, s, type);
    const missingNotJson = locations.includes('json') ? missingMessage(locations, s, type, { jsonRequest: false }) : missing;
    const fromHeaders = locations.includes('headers');
    const methodsOf = o.requestMethods;
    const unsafe = methodsOf === undefined
      ? (req: GuardedRequest) => csrfMethods.has(req.method)
      : (req: GuardedRequest) => methodsOf(req).some((m) => csrfMethods.has(m));
    return (req) => {
      const token = find(req, s, locations, type);
      if (token === undefined) {
        if (o.optional === true) return null;
        // A header of another scheme (HTTP Basic) is named as flask-jwt-extended names it.
        if (fromHeaders && headerOfOtherScheme(req, s)) {
          throw new WardenError('ERR_JWT_MISSING', missingMessage(locations, s, type, { jsonRequest: isJsonRequest(req), otherScheme: true }));
        }
        throw new WardenError('ERR_JWT_MISSING', isJsonRequest(req) ? missing : missingNotJson);
      }
      const location = foundAt;
      const ctx = check(token, location, want, o);
      if (location === 'cookies' && csrfProtect && unsafe(req)) csrfCheck(req, ctx.claims);
      req.jwt = ctx;
      return ctx;
    };
  }

  fastify.decorate('verifyJwtInRequest', (req: FastifyRequest, o: JwtRequiredOptions = {}) => requirement(o)(req));
  fastify.decorate('jwtRequirement', (o: JwtRequiredOptions = {}) => requirement(o));

  fastify.decorate('jwtRequired', (o: JwtRequiredOptions = {}): preHandlerHookHandler => {
    const run = requirement(o);
    return function jwtRequired(req: FastifyRequest, _reply: FastifyReply, next: (err?: Error) => void): void {
      try {
        run(req);
        next();
      } catch (err) {
        next(err as Error);
      }
    };
  });
  done();
}

/** One shared empty role list, rather than a new array for every token that carries none. */
const NO_ROLES: readonly string[] = Object.freeze([]);

/** Constant-time comparison, so response timing says nothing about how much of a guess was right. */
function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export const wardenGuard = fp(guard, { name: 'warden-guard', fastify: '5.x' });
