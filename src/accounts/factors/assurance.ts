// How a session was authenticated, as its tokens state it: `amr` (RFC 8176 method values) and
// `acr` ("aal1": one factor; "aal2": two, NIST SP 800-63B's authenticator assurance levels).
// Written at sign-in, carried by the session's refresh tokens and copied into every token a
// refresh issues, so a session never gains (or loses) a factor by refreshing.

export type AcrValue = 'aal1' | 'aal2';

export interface Assurance {
  readonly amr: readonly string[];
  readonly acr: AcrValue;
}

/** A password alone. */
export const PASSWORD_ONLY: Assurance = { amr: ['pwd'], acr: 'aal1' };

/**
 * What a second factor adds. `otp`: a TOTP or recovery code (a look-up secret; RFC 8176 has no
 * closer value). `hwk`/`swk`: a passkey bound to one authenticator, or a synced one.
 */
export type SecondFactorMethod = 'otp' | 'hwk' | 'swk';

export function withSecondFactor(first: Assurance, method: SecondFactorMethod): Assurance {
  return { amr: [...first.amr.filter((m) => m !== 'mfa'), method, 'mfa'], acr: 'aal2' };
}

/**
 * A passkey with user verification (a PIN or biometric unlocks the key on the device) is two
 * factors in one: possession and knowledge or inherence.
 */
export function passkeySignIn(method: 'hwk' | 'swk'): Assurance {
  return { amr: [method, 'mfa'], acr: 'aal2' };
}

/** The claims a token carries for this assurance. */
export function assuranceClaims(a: Assurance): { amr: string[]; acr: AcrValue } {
  return { amr: [...a.amr], acr: a.acr };
}

/** The assurance a verified token states; a token from before amr existed reads as a password alone. */
export function assuranceOf(claims: Readonly<Record<string, unknown>>): Assurance {
  const { amr, acr } = claims;
  if (!Array.isArray(amr) || amr.length === 0 || amr.length > 8 || !amr.every((m) => typeof m === 'string' && m.length <= 16)) return PASSWORD_ONLY;
  return { amr: [...(amr as string[])], acr: acr === 'aal2' && amr.includes('mfa') ? 'aal2' : 'aal1' };
}
