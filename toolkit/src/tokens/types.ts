// Shared types of the framework-free token core.

export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;
export const ALGORITHMS = [...HMAC_ALGORITHMS, ...ASYMMETRIC_ALGORITHMS] as const;
export type Algorithm = (typeof ALGORITHMS)[number];
export type HmacAlgorithm = (typeof HMAC_ALGORITHMS)[number];
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

export function isAlgorithm(v: unknown): v is Algorithm {
  return typeof v === 'string' && (ALGORITHMS as readonly string[]).includes(v);
}
export function isHmac(alg: Algorithm): alg is HmacAlgorithm {
  return alg.startsWith('HS');
}

/**
 * 'mfa' is Warden's single-purpose token between a correct password and a second factor: a
 * verifier refuses it unless created with `types` naming it, so no guard accepts one by accident.
 */
export type TokenType = 'access' | 'refresh' | 'mfa';

/** Claims as flask-jwt-extended writes them, plus Warden's `roles`, `sid` and `email_verified`. */
export interface JwtClaims {
  sub: string;
  jti: string;
  type: TokenType;
  /** true, false, or (flask-jwt-extended's timedelta form) the epoch second until which it is fresh */
  fresh: boolean | number;
  iat: number;
  nbf: number;
  exp: number;
  csrf?: string;
  roles?: string[];
  sid?: string;
  /** Warden's access tokens: the user had verified their email address when the token was issued. */
  email_verified?: boolean;
  iss?: string;
  aud?: string | string[];
  [claim: string]: unknown;
}

export interface JwtHeader {
  alg: Algorithm;
  typ?: string;
  kid?: string;
  [param: string]: unknown;
}

/** A verified token: its header and claims. */
export interface VerifiedToken {
  header: JwtHeader;
  claims: JwtClaims;
}
