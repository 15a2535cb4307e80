// Issuing tokens as flask-jwt-extended 4.x writes them:
//   header {alg, typ: "JWT", kid}, claims {fresh, iat, jti, type, sub, nbf, csrf, [aud], [iss], exp, ...additional claims}
// signed by the JWS layer's signer with the ring's KeyObjects as they are (no PEM round trip).
import { randomUUID } from 'node:crypto';
import { encodeBase64url } from './base64url.js';
import { createJwsSigner, FORBIDDEN_HEADER_PARAMS, type JwsSigner } from './jws.js';
import type { KeyRing } from './key-ring.js';
import type { JwtClaims, TokenType } from './types.js';

export interface TokenIssuerOptions {
  keys: KeyRing;
  /** Access token lifetime in seconds. */
  accessExpiresIn: number;
  /** Refresh token lifetime in seconds. */
  refreshExpiresIn: number;
  issuer?: string | undefined;
  audience?: string | readonly string[] | undefined;
  /** Epoch milliseconds (default Date.now). */
  clock?: (() => number) | undefined;
}

export interface IssueOptions {
  /** Seconds from now; false for no `exp` (flask-jwt-extended's expires_delta=False). Default: the issuer's lifetime. */
  expiresIn?: number | false | undefined;
  /** true/false, or seconds: fresh until now + n (flask-jwt-extended's timedelta, written as epoch seconds). Access tokens only. */
  fresh?: boolean | number | undefined;
  /**
   * The token's `jti` (default: a new random UUID). For a token that stands in for one already
   * issued: Warden answers a refresh retried within its grace with the session's current refresh
   * token, re-minted under the same jti.
   */
  jti?: string | undefined;
  /** Extra claims (e.g. roles, sid); they may not replace a reserved claim. */
  additionalClaims?: Record<string, unknown> | undefined;
  /**
   * Extra header parameters. `kid` picks which of the ring's keys signs (its alg is used; default:
   * the ring's signer). Never alg, never jku/x5u/x5c/jwk/crit/b64.
   */
  headers?: Record<string, unknown> | undefined;
}

export interface IssuedToken {
  token: string;
  claims: JwtClaims;
}

export interface TokenIssuer {
  issue(type: TokenType, identity: string, opts?: IssueOptions): IssuedToken;
  /** flask-jwt-extended's create_access_token(identity, fresh, expires_delta, additional_claims, additional_headers). */
  createAccessToken(identity: string, opts?: IssueOptions): string;
  /** flask-jwt-extended's create_refresh_token(identity, expires_delta, additional_claims, additional_headers). */
  createRefreshToken(identity: string, opts?: Omit<IssueOptions, 'fresh'>): string;
}

/** Claims the issuer writes itself; additionalClaims may not set them. */
export const RESERVED_CLAIMS: ReadonlySet<string> = new Set(['fresh', 'iat', 'jti', 'type', 'sub', 'nbf', 'csrf', 'exp', 'iss', 'aud', '__proto__']);
/** Header parameters a caller may not set: the alg is always the signing key's own. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set(['alg', ...FORBIDDEN_HEADER_PARAMS, '__proto__']);

interface SigningKey {
  readonly signer: JwsSigner;
  /** {alg, typ: "JWT", kid} as it is written without extra headers. */
  readonly headerSegment: string;
}

function positiveSeconds(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a positive number of seconds`);
  return v;
}

/** flask-jwt-extended's freshness: fresh is true, or a number of epoch seconds still in the future. */
export function isFresh(claims: Pick<JwtClaims, 'fresh'>, nowMs: number): boolean {
  const f = claims.fresh;
  return f === true || (typeof f === 'number' && Number.isFinite(f) && nowMs / 1000 < f);
}

export function createTokenIssuer(o: TokenIssuerOptions): TokenIssuer {
  const ring = o.keys;
  if (ring.signer.privateKey === undefined) {
    throw new Error(`The key ring cannot sign: key "${ring.signer.kid}" has no private key material (a verify-only ring)`);
  }
  const accessExpiresIn = positiveSeconds(o.accessExpiresIn, 'accessExpiresIn');
  const refreshExpiresIn = positiveSeconds(o.refreshExpiresIn, 'refreshExpiresIn');
  const clock = o.clock ?? Date.now;
  const issuer = o.issuer;
  const audience = typeof o.audience === 'string' || o.audience === undefined ? o.audience : [...o.audience];

  // One signer per key, made on first use (the ring is frozen, so this holds at most its keys).
  const signingKeys = new Map<string, SigningKey>();
  function signingKey(kid: string): SigningKey {
    let k = signingKeys.get(kid);
    if (k === undefined) {
      const entry = ring.byKid(kid);
      if (entry === undefined) throw new RangeError(`headers.kid "${kid}" names no key in the key ring`);
      if (entry.privateKey === undefined) throw new RangeError(`headers.kid "${kid}" names a key with no private key material, so it cannot sign`);
      const signer = createJwsSigner(entry);
      k = { signer, headerSegment: encodeBase64url(JSON.stringify({ alg: entry.alg, typ: 'JWT', kid })) };
      signingKeys.set(kid, k);
    }
    return k;
  }
  const defaultKey = signingKey(ring.signer.kid);

  /** The header segment and signer for a caller's extra headers (none: the ring's signer, precomputed). */
  function headerFor(headers: Record<string, unknown> | undefined): [string, JwsSigner] {
    if (headers === undefined) return [defaultKey.headerSegment, defaultKey.signer];
    if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw new TypeError('headers must be an object');
    let key = defaultKey;
    const extra: Record<string, unknown> = {};
    let hasExtra = false;
    for (const [name, value] of Object.entries(headers)) {
      if (RESERVED_HEADERS.has(name)) throw new Error(`Header parameter "${name}" cannot be set by the caller`);
      if (value === undefined) continue;
      if (name === 'kid') {
        if (typeof value !== 'string' || value.length === 0) throw new TypeError('headers.kid must be a non-empty string');
        key = signingKey(value);
        continue;
      }
      extra[name] = value;
      hasExtra = true;
    }
    if (!hasExtra) return [key.headerSegment, key.signer];
    const { alg, kid } = key.signer.entry;
    // typ may be replaced (e.g. "at+jwt", RFC 9068); it keeps its place after alg.
    return [encodeBase64url(JSON.stringify({ alg, typ: 'JWT', kid, ...extra })), key.signer];
  }

  function issue(type: TokenType, identity: string, opts: IssueOptions = {}): IssuedToken {
    if (type !== 'access' && type !== 'refresh' && type !== 'mfa') throw new Error(`Unknown token type: ${String(type)}`);
    if (typeof identity !== 'string' || identity.length === 0) throw new TypeError('identity must be a non-empty string');
    const now = Math.floor(clock() / 1000);

    let fresh: boolean | number = false;
    if (opts.fresh !== undefined && opts.fresh !== false) {
      if (type !== 'access') throw new Error(`${type === 'refresh' ? 'Refresh' : 'MFA'} tokens are never fresh`);
      fresh = opts.fresh === true ? true : now + positiveSeconds(opts.fresh, 'fresh');
    }
    if (type === 'mfa' && (opts.expiresIn === undefined || opts.expiresIn === false)) throw new Error('An MFA token needs its own short expiresIn');
    const expiresIn = opts.expiresIn === undefined ? (type === 'access' ? accessExpiresIn : refreshExpiresIn) : opts.expiresIn;
    if (expiresIn !== false) positiveSeconds(expiresIn, 'expiresIn');

    if (opts.jti !== undefined && (typeof opts.jti !== 'string' || opts.jti.length === 0)) throw new TypeError('jti must be a non-empty string');
    const claims: Record<string, unknown> = {
      fresh,
      iat: now,
      jti: opts.jti ?? randomUUID(),
      type,
      sub: identity,
      nbf: now,
      csrf: randomUUID(),
    };
    if (audience !== undefined) claims.aud = audience;
    if (issuer !== undefined) claims.iss = issuer;
    if (expiresIn !== false) claims.exp = Math.floor(now + expiresIn);
    if (opts.additionalClaims !== undefined) {
      for (const [k, v] of Object.entries(opts.additionalClaims)) {
        if (RESERVED_CLAIMS.has(k)) throw new Error(`additionalClaims cannot set the reserved claim "${k}"`);
        if (v !== undefined) claims[k] = v;
      }
    }
    const [headerSegment, signer] = headerFor(opts.headers);
    const token = signer.sign(headerSegment, encodeBase64url(JSON.stringify(claims)));
    return { token, claims: claims as JwtClaims };
  }

  return {
    issue,
    createAccessToken: (identity, opts) => issue('access', identity, opts).token,
    createRefreshToken: (identity, opts) => issue('refresh', identity, opts).token,
  };
}
