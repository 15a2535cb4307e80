// The Warden server as a library: build and embed the server, its storage and its revocation
// machinery. The token toolkit (issue/verify, keys, the Fastify guard) is @warden/toolkit,
// re-exported here so existing imports of `warden` keep working.
export * from '@warden/toolkit';
export { RevocationIndex } from './revocation/index.js';
export { Revoker } from './revocation/revoker.js';
export type { RevocationBus } from './revocation/bus.js';
export { createRedisBus } from './revocation/redis-bus.js';
export type { Revocation, RevocationKind, RoleOverride } from './revocation/records.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { createWarden, type Warden, type WardenOptions } from './server.js';
export { openStorage } from './storage/index.js';
export type * from './storage/types.js';
