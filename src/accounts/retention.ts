// How long revocation records live: long enough to outlive every token they could still match,
// no longer (the index holds them in every instance's memory). One policy for every service.
import type { JwtClaims } from '@warden/toolkit';

/** JWT_LEEWAY_SECONDS' ceiling: a token may pass this long after its exp. */
export const MAX_LEEWAY_SECONDS = 300;

/** The last moment a JavaScript Date holds (ECMA-262 §21.4.1.1): later than any token outlives. */
const LATEST_MS = 8.64e15;

export interface Lifetimes {
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
}

export interface Retention {
  /** A single revoked token: until it could no longer pass anyway. */
  token(claims: Pick<JwtClaims, 'exp'>): number;
  /**
   * An ended session: until the last access token issued in it could expire. Refresh tokens need
   * no entry: the ended session refuses them at rotation.
   */
  session(now: number): number;
  /** A role override: until every access token carrying the old roles has expired. */
  roleOverride(now: number): number;
  /**
   * Every token a user held at a moment (sessionless ones, and those of every session opened up to
   * it): for a refresh token's lifetime, the longest a token is issued for.
   */
  userTokens(now: number): number;
}

/**
 * How far past `now + lifetime` a token stamped by another instance may still pass: that instance's
 * clock ahead of this one's (up to the leeway, which the README asks to cover the instances' skew),
 * then the verifier's leeway on its exp.
 */
const SKEWED_MS = 2 * MAX_LEEWAY_SECONDS * 1000;

export function retention(l: Lifetimes): Retention {
  // A deadline from this instance's `now` for tokens other instances issued: their exp is by their clocks.
  const accessOutlived = (now: number) => now + l.accessTtlSeconds * 1000 + SKEWED_MS;
  return {
    // Whole milliseconds, rounded up, and no later than the last moment a Date holds: a token another
    // holder of the key minted may carry a fractional exp (RFC 7519 allows it) or one ages away,
    // and storage keeps times as integers.
    token: (claims) => Math.min(Math.ceil((claims.exp + MAX_LEEWAY_SECONDS) * 1000), LATEST_MS),
    session: accessOutlived,
    roleOverride: accessOutlived,
    userTokens: (now) => now + l.refreshTtlSeconds * 1000 + SKEWED_MS,
  };
}
