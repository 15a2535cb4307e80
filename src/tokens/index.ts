// The framework-free token core: key rings, the JWS layer, verification and issuance.
export * from './types.js';
export {
  keyRingFromSecret, keyRingFromPem, keyRingFromJwks, publicJwks, generateKeyPem, generateSecret,
  jwkThumbprint, MIN_HMAC_SECRET_BYTES, MIN_RSA_MODULUS_BITS,
  type KeyEntry, type KeyRing,
} from './keys.js';
export {
  createJwsVerifier, signCompact, DEFAULT_MAX_TOKEN_LENGTH, FORBIDDEN_HEADER_PARAMS,
  type JwsVerifier, type JwsVerifierOptions, type VerifiedJws,
} from './jws.js';
export { createTokenVerifier, decodeUnverified, type TokenVerifier, type TokenVerifierOptions } from './verify.js';
export {
  createTokenIssuer, isFresh, RESERVED_CLAIMS,
  type TokenIssuer, type TokenIssuerOptions, type IssueOptions, type IssuedToken,
} from './issue.js';
