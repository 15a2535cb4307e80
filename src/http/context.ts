// What route modules receive: the rules (accounts) and the settings they answer with.
import type { Accounts } from '../accounts/index.js';
import type { Audit } from '../events/audit.js';
import type { Config } from '../config.js';
import type { KeyRing, TokenIssuer } from '@warden/toolkit';
import type { Storage } from '../storage/types.js';
import type { ErrorLogger } from '@warden/toolkit';

/** What GET /ready reports, decided within a bound (see server.ts). */
export interface Readiness {
  /** The database answered. */
  database: boolean;
  /** Dependencies Warden serves without, but worse (e.g. 'redis'); empty when none. */
  degraded: string[];
}

export interface RouteContext {
  config: Config;
  accounts: Accounts;
  keys: KeyRing;
  /** Signs tokens with the server's key and clock (for a route whose token lives longer than the default). */
  issuer: TokenIssuer;
  storage: Storage;
  log: ErrorLogger;
  /** The server's clock (epoch ms), for anything a route computes from "now" (e.g. cookie Max-Age). */
  clock: () => number;
  /** Readiness, answered within a second whatever the dependencies do. */
  readiness: () => Promise<Readiness>;
  /** The event stream, read: the audit log, a user's own events, webhook deliveries. */
  audit: Audit;
}
