// Issuing tokens as flask-jwt-extended 4.x writes them:
//   {fresh, iat, jti, type, sub, nbf, csrf, [aud], [iss], exp, ...additional claims}
// signed with fast-jwt's createSigner (one cached signer per key and header set). fast-jwt takes
// the ring's KeyObject as its PKCS#8 PEM export (or the secret's bytes for HS*): it re-detects the
// key type from that PEM, which agrees with the alg the ring already bound and checked.
import { randomUUID } from 'node:crypto';
import { createSigner } from 'fast-jwt';
import { FORBIDDEN_HEADER_PARAMS } from './jws.js';
import { assertKeyFitsAlg, type KeyEntry, type KeyRing } from './keys.js';
import { isHmac, type JwtClaims, type TokenType } from './types.js';

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
  /** Extra claims (e.g. roles, sid); they may not replace a reserved claim. */
  additionalClaims?: Record<string, unknown> | undefined;
  /** Extra header parameters; never alg or kid, never jku/x5u/x5c/jwk/crit/b64. */
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
const RESERVED_HEADERS: ReadonlySet<string> = new Set(['alg', 'kid', ...FORBIDDEN_HEADER_PARAMS, '__proto__']);
const SIGNER_CACHE_SIZE = 64;

type Signer = (payload: Record<string, unknown>) => string;

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
  const entry: KeyEntry = o.keys.signer;
  const { alg, kid, privateKey } = entry;
  if (privateKey === undefined) throw new Error(`The key ring cannot sign: key "${kid}" has no private key material (a verify-only ring)`);
  assertKeyFitsAlg(alg, privateKey, 'sign');
  const accessExpiresIn = positiveSeconds(o.accessExpiresIn, 'accessExpiresIn');
  const refreshExpiresIn = positiveSeconds(o.refreshExpiresIn, 'refreshExpiresIn');
  const clock = o.clock ?? Date.now;
  const issuer = o.issuer;
  const audience = typeof o.audience === 'string' || o.audience === undefined ? o.audience : [...o.audience];
  // fast-jwt takes a string or Buffer: the secret's bytes, or the private key as PKCS#8 PEM.
  const keyMaterial: string | Buffer = isHmac(alg) ? privateKey.export() : (privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);

  const signers = new Map<string, Signer>();
  function signerFor(headers: Record<string, unknown> | undefined): Signer {
    const extra = headers !== undefined && Object.keys(headers).length > 0 ? headers : undefined;
    if (extra !== undefined) {
      for (const k of Object.keys(extra)) if (RESERVED_HEADERS.has(k)) throw new Error(`Header parameter "${k}" cannot be set by the caller`);
    }
    const cacheKey = extra === undefined ? '' : JSON.stringify(extra);
    let s = signers.get(cacheKey);
    if (s === undefined) {
      s = createSigner({ key: keyMaterial, algorithm: alg, kid, header: extra ? { ...extra, alg } : undefined }) as Signer;
      if (signers.size >= SIGNER_CACHE_SIZE) signers.delete(signers.keys().next().value!);
      signers.set(cacheKey, s);
    }
    return s;
  }
  signerFor(undefined);

  function issue(type: TokenType, identity: string, opts: IssueOptions = {}): IssuedToken {
    if (type !== 'access' && type !== 'refresh') throw new Error(`Unknown token type: ${String(type)}`);
    if (typeof identity !== 'string' || identity.length === 0) throw new TypeError('identity must be a non-empty string');
    const now = Math.floor(clock() / 1000);

    let fresh: boolean | number = false;
    if (opts.fresh !== undefined && opts.fresh !== false) {
      if (type === 'refresh') throw new Error('Refresh tokens are never fresh');
      fresh = opts.fresh === true ? true : now + positiveSeconds(opts.fresh, 'fresh');
    }
    const expiresIn = opts.expiresIn === undefined ? (type === 'access' ? accessExpiresIn : refreshExpiresIn) : opts.expiresIn;
    if (expiresIn !== false) positiveSeconds(expiresIn, 'expiresIn');

    const claims: Record<string, unknown> = {
      fresh,
      iat: now,
      jti: randomUUID(),
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
    const token = signerFor(opts.headers)(claims);
    return { token, claims: claims as JwtClaims };
  }

  return {
    issue,
    createAccessToken: (identity, opts) => issue('access', identity, opts).token,
    createRefreshToken: (identity, opts) => issue('refresh', identity, opts).token,
  };
}
