// @warden/toolkit: what a service needs to issue or trust Warden's tokens — the framework-free
// token core (keys, JWS on node:crypto, issue, verify), remote JWKS, and the Fastify guard.
// No native dependency: a service that only verifies installs it in seconds. Without the guard:
// '@warden/toolkit/core'.
export * from './core.js';
export {
  wardenGuard, DEFAULT_CSRF, hasSecondFactor, type GuardOptions, type JwtRequiredOptions, type JwtContext, type RevocationCheck,
} from './guard/plugin.js';
export {
  DEFAULT_LOCATION_SETTINGS, DEFAULT_TOKEN_LOCATIONS, TOKEN_LOCATIONS, type TokenLocation, type LocationSettings, type GuardedRequest,
} from './guard/locations.js';
export {
  wardenErrorHandler, errorHandler, detailBody, envelopeBody, toHttpError, redactUrl, logUnexpected, isUnexpected,
  type HttpError, type ErrorLogger, type ErrorRouteConfig,
} from './guard/errors.js';
