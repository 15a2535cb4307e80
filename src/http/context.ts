// What route modules receive: the rules (accounts) and the settings they answer with.
import type { Accounts } from '../accounts/service.js';
import type { Config } from '../config.js';
import type { KeyRing } from '../tokens/keys.js';
import type { Storage } from '../storage/types.js';
import type { ErrorLogger } from './errors.js';

export interface RouteContext {
  config: Config;
  accounts: Accounts;
  keys: KeyRing;
  storage: Storage;
  log: ErrorLogger;
}
