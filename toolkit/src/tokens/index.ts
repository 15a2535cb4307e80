// The framework-free token core: key rings, the JWS layer, verification and issuance.
export * from './types.js';
export { keyRingFromSecret, keyRingFromPem, type KeyEntry, type KeyRing } from './key-ring.js';
export { keyRingFromJwks, publicJwks } from './jwk.js';
export { jwkThumbprint } from './thumbprint.js';
export { MIN_HMAC_SECRET_BYTES, MIN_RSA_MODULUS_BITS } from './key-policy.js';
export { generateKeyPem, generateSecret } from './keygen.js';
export {
  createJwsVerifier, createJwsSigner, signCompact, DEFAULT_MAX_TOKEN_LENGTH, FORBIDDEN_HEADER_PARAMS,
  type JwsVerifier, type JwsVerifierOptions, type VerifiedJws, type JwsSigner,
} from './jws.js';
export { createTokenVerifier, decodeUnverified, type TokenVerifier, type TokenVerifierOptions, type VerifyCacheStats } from './verify.js';
export {
  createTokenIssuer, isFresh, RESERVED_CLAIMS,
  type TokenIssuer, type TokenIssuerOptions, type IssueOptions, type IssuedToken,
} from './issue.js';
