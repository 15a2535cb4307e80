// JWT verification (RFC 7519 §7.2) on top of the JWS layer: the payload must be a JSON object and
// the registered claims well-typed and in date. It does not decide which token type a route wants,
// freshness or revocation: the guard does.
import { isAscii, isUtf8 } from 'node:buffer';
import { WardenError } from '../errors.js';
import { decodeBase64url } from './base64url.js';
import { createJwsVerifier, DEFAULT_MAX_TOKEN_LENGTH, parseHeaderSegment } from './jws.js';
import type { KeyRing } from './key-ring.js';
import type { Algorithm, JwtClaims, JwtHeader, TokenType, VerifiedToken } from './types.js';
import { createVerifyCache, type VerifyCacheStats } from './verify-cache.js';

export type { VerifyCacheStats } from './verify-cache.js';

export interface TokenVerifierOptions {
  keys: KeyRing;
  algorithms?: readonly Algorithm[] | undefined;
  /** Accepted `iss` value(s); when set, the claim is required. */
  issuer?: string | readonly string[] | undefined;
  /** Accepted `aud` value(s); when set, the claim must name one of them. */
  audience?: string | readonly string[] | undefined;
  /**
   * Require `exp` (default true). false accepts tokens minted with expiresIn: false, as
   * flask-jwt-extended does with JWT_ACCESS_TOKEN_EXPIRES = False; only revocation ends those.
   */
  requireExp?: boolean | undefined;
  /** Clock skew allowed on exp and nbf, in seconds (default 0). */
  leeway?: number | undefined;
  maxLength?: number | undefined;
  /** Epoch milliseconds (default Date.now). */
  clock?: (() => number) | undefined;
  /** The `type` claims accepted (default access and refresh; Warden's 'mfa' tokens only where a verifier names them). */
  types?: readonly TokenType[] | undefined;
  /**
   * Remember up to this many verified tokens (default 0: off). A client sends the same access token
   * on every request for its whole life, and a hit skips the signature and the parse: exp/nbf are
   * still checked on every call, and revocation is the guard's, per request. A hit must match the
   * exact token text; only fully verified tokens enter, and once the cache is full only those that
   * come back soon enough to pay (see verify-cache.ts). A cached result is frozen and shared.
   */
  cacheSize?: number | undefined;
  /**
   * Also accept a refresh token without `sid` whose `sub` is a whole number (default false), its
   * `sub` then read as the number's decimal string: older flask-jwt-extended releases (Debian
   * 12's 4.4.4 among them) keep `create_refresh_token(identity=42)`'s integer as it is, and a
   * server exchanging the refresh tokens of such an application's clients (Warden's
   * LEGACY_REFRESH_TOKENS) must read them. Access tokens, and tokens bound to a session, still need a string.
   */
  numericLegacySubject?: boolean | undefined;
}

export interface TokenVerifier {
  (token: string): VerifiedToken;
  /** Hit and admission counts of the cache (all zero when it is off). */
  cacheStats(): VerifyCacheStats;
}

const invalid = (): never => {
  throw new WardenError('ERR_JWT_CLAIM_INVALID');
};
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const asSet = (v: string | readonly string[] | undefined): ReadonlySet<string> | undefined =>
  v === undefined ? undefined : new Set(typeof v === 'string' ? [v] : v);

/**
 * A verifier of Warden (flask-jwt-extended style) tokens. Throws WardenError: the JWS layer's
 * codes; ERR_JWT_MALFORMED when the payload is not a JSON object; ERR_JWT_EXPIRED ("Token has
 * expired") when now > exp + leeway; ERR_JWT_NOT_YET_VALID when nbf > now (rounded up to the second) + leeway;
 * ERR_JWT_CLAIM_INVALID for a missing (unless requireExp: false) or non-numeric exp, a non-numeric iat/nbf, a wrong iss/aud,
 * or sub/jti not strings (or a jti holding NUL or half a surrogate pair), type not one of `types` (default access|refresh) (and fresh/csrf/sid/roles of the wrong type).
 * A token without `fresh` reads as fresh: false, as flask-jwt-extended decodes it.
 */
export function createTokenVerifier(o: TokenVerifierOptions): TokenVerifier {
  const jws = createJwsVerifier({ keys: o.keys, algorithms: o.algorithms, maxLength: o.maxLength });
  const leeway = o.leeway ?? 0;
  if (!isNum(leeway) || leeway < 0) throw new Error('leeway must be a non-negative number of seconds');
  const clock = o.clock ?? Date.now;
  const requireExp = o.requireExp ?? true;
  const issuers = asSet(o.issuer);
  const audiences = asSet(o.audience);
  const types: ReadonlySet<unknown> = new Set<TokenType>(o.types ?? ['access', 'refresh']);
  const numericLegacySubject = o.numericLegacySubject ?? false;
  if (issuers?.size === 0 || audiences?.size === 0) throw new Error('issuer/audience lists must not be empty');

  const cacheSize = o.cacheSize ?? 0;
  if (!Number.isInteger(cacheSize) || cacheSize < 0) throw new Error('cacheSize must be a whole number ≥ 0');
  const cache = cacheSize > 0 ? createVerifyCache(cacheSize) : undefined;

  function checkTimes(c: Record<string, unknown>): void {
    const now = clock() / 1000;
    if (c.exp !== undefined && now > (c.exp as number) + leeway) throw new WardenError('ERR_JWT_EXPIRED', 'Token has expired');
    // nbf is whole seconds, the issue time rounded down: against the second now is in (rounded up),
    // so that an instance whose clock is a few milliseconds behind the issuer's does not refuse a
    // token used at once (else about one in 1000/ms-of-skew would be, with leeway 0).
    if (c.nbf !== undefined && (c.nbf as number) > Math.ceil(now) + leeway) throw new WardenError('ERR_JWT_NOT_YET_VALID');
  }

  if (cache === undefined) {
    const stats = { size: 0, capacity: 0, hits: 0, misses: 0, admitted: 0, admitEvery: 1, skipped: 0, lookEvery: 1 };
    return Object.assign(verifyToken, { cacheStats: () => ({ ...stats }) });
  }
  const cachedVerifyToken = (token: string): VerifiedToken => {
    if (cache.skip()) return verifyToken(token);
    const hit = typeof token === 'string' ? cache.get(token) : undefined;
    if (hit !== undefined) {
      checkTimes(hit.claims);
      return hit;
    }
    const verified = verifyToken(token);
    const kept = cache.offer(token, verified);
    if (kept === undefined) return verified;
    // The same object is now handed to many requests: it must not drift.
    if (Array.isArray(kept.claims.roles)) Object.freeze(kept.claims.roles);
    Object.freeze(kept.claims);
    return Object.freeze(kept);
  };
  return Object.assign(cachedVerifyToken, { cacheStats: () => cache.stats() });

  function verifyToken(token: string): VerifiedToken {
    const { header, payload } = jws(token);
    // Claims are nearly always ASCII, which reads the same as latin1 without UTF-8 decoding.
    let text: string;
    if (isAscii(payload)) text = payload.toString('latin1');
    else if (isUtf8(payload)) text = payload.toString('utf8');
    else throw new WardenError('ERR_JWT_MALFORMED');
    let c: Record<string, unknown>;
    try {
      c = JSON.parse(text) as Record<string, unknown>;
    } catch {
      throw new WardenError('ERR_JWT_MALFORMED');
    }
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw new WardenError('ERR_JWT_MALFORMED');

    const { exp, nbf, iat } = c;
    if (exp === undefined ? requireExp : !isNum(exp)) invalid();
    if (nbf !== undefined && !isNum(nbf)) invalid();
    if (iat !== undefined && !isNum(iat)) invalid();
    checkTimes(c);

    if (numericLegacySubject && Number.isSafeInteger(c.sub) && c.type === 'refresh' && c.sid === undefined) c.sub = String(c.sub);
    if (typeof c.sub !== 'string' || typeof c.jti !== 'string' || !isStorableKey(c.jti)) invalid();
    if (!types.has(c.type)) invalid();
    if (c.fresh === undefined) c.fresh = false;
    else if (typeof c.fresh !== 'boolean' && !isNum(c.fresh)) invalid();
    if (c.csrf !== undefined && typeof c.csrf !== 'string') invalid();
    if (c.sid !== undefined && typeof c.sid !== 'string') invalid();
    if (c.roles !== undefined && !(Array.isArray(c.roles) && c.roles.every((r) => typeof r === 'string'))) invalid();

    const { iss, aud } = c;
    if (iss !== undefined && typeof iss !== 'string') invalid();
    if (aud !== undefined && typeof aud !== 'string' && !(Array.isArray(aud) && aud.every((a) => typeof a === 'string'))) invalid();
    if (issuers !== undefined && !(typeof iss === 'string' && issuers.has(iss))) invalid();
    if (audiences !== undefined) {
      const list = typeof aud === 'string' ? [aud] : ((aud as string[] | undefined) ?? []);
      if (!list.some((a) => audiences.has(a))) invalid();
    }
    return { header, claims: c as JwtClaims };
  }
}

/**
 * The header and claims of a compact JWT without any verification, for logs and debugging only:
 * nothing in it may be trusted. Null when it is not three strict-base64url segments with JSON
 * object header and payload (or is longer than the default length cap).
 */
export function decodeUnverified(token: string): { header: Partial<JwtHeader> & Record<string, unknown>; claims: Record<string, unknown> } | null {
  if (typeof token !== 'string' || token.length > DEFAULT_MAX_TOKEN_LENGTH) return null;
  const parts = token.split('.');
  if (parts.length !== 3) return null;
  const header = parseHeaderSegment(parts[0]!);
  const bytes = decodeBase64url(parts[1]!);
  if (header === null || bytes === null || !isUtf8(bytes) || decodeBase64url(parts[2]!) === null) return null;
  try {
    const claims: unknown = JSON.parse(bytes.toString('utf8'));
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) return null;
    return { header, claims: claims as Record<string, unknown> };
  } catch {
    return null;
  }
}

// A jti is what revoking a sessionless token stores, and looks up: NUL, which PostgreSQL's text
// cannot hold, or half a surrogate pair, which UTF-8 turns into U+FFFD (another instance would
// then load a key that names no token), would leave a token that cannot be signed out. Warden's
// own are UUIDs; only another holder of the key can mint such a one, and it is refused instead.
// (With the u flag a pair is one code point, so \p{Cs} matches only a lone half.)
const UNSTORABLE = /[\0\p{Cs}]/u;
const isStorableKey = (s: string): boolean => !UNSTORABLE.test(s);
