// Warden's public toolkit: framework-free token functions, the Fastify guard, and the server.
export * from './tokens/index.js';
export { WardenError, ERROR_CODES, isWardenError, type ErrorCode } from './errors.js';
export { wardenGuard, type GuardOptions, type JwtRequiredOptions, type JwtContext } from './guard/plugin.js';
export type { TokenLocation, LocationSettings } from './guard/locations.js';
export { RevocationIndex, Revoker, type RevocationBus } from './guard/revocation.js';
export { createJwksVerifier, type RemoteJwksOptions, type RemoteJwksVerifier } from './remote-jwks.js';
export { wardenErrorHandler, errorHandler, detailBody, envelopeBody, toHttpError, type HttpError } from './http/errors.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { createWarden, type Warden, type WardenOptions } from './server.js';
export { openStorage } from './storage/index.js';
export { createRedisBus } from './storage/redis-bus.js';
export type * from './storage/types.js';
