// Configuration: the table of variables lives in config/table.ts; this module is its public face.
export { loadConfig, readEnv, ConfigError, type Env } from './config/load.js';
export { CONFIG_TABLE, type Config, type SameSite } from './config/table.js';
