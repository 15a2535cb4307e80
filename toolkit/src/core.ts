// @warden/toolkit/core: the token core without the Fastify guard — keys, JWS on node:crypto, issue,
// verify, remote JWKS and the error codes. Its type declarations import nothing from fastify, so a
// service that only verifies (any framework, or none) type-checks without fastify installed.
export * from './tokens/index.js';
export { WardenError, ERROR_CODES, INVALID_TOKEN_CODES, isWardenError, type ErrorCode } from './errors.js';
export { createJwksVerifier, type RemoteJwksOptions, type RemoteJwksVerifier } from './remote-jwks.js';
