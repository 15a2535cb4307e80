// The configuration as the CLI reads it (the environment and ./.env, like the server), and URLs
// made fit to print, and the way into context.ts. Light: loaded at start by every command module,
// so `--help` and a typo load no database driver.
import { ConfigError, loadConfig, readEnv } from '../config/load.js';
import type { Config } from '../config/table.js';
import { unreadVariables } from '../config/unread.js';
import type { Storage } from '../storage/types.js';
import type { AccountsContext, StorageOptions } from './context.js';
import { CliError } from './output.js';

/**
 * The configuration from the environment and ./.env, or a CliError listing every problem and the
 * variables that look meant for Warden but are not read (a JWT_SECRET_KEY is why no key was found).
 */
export function cliConfig(): Config {
  try {
    return loadConfig(readEnv());
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    const unread = unreadVariables();
    throw new CliError(e.message + (unread.length ? `\nNot read:\n${unread.map((n) => `  - ${n}`).join('\n')}` : ''));
  }
}

/** context.ts's withAccounts, loaded when a command runs (it brings the database drivers and argon2). */
export async function withAccounts<T>(o: StorageOptions, fn: (c: AccountsContext) => Promise<T>): Promise<T> {
  return (await import('./context.js')).withAccounts(o, fn);
}

/** context.ts's withStorage, loaded when a command runs. */
export async function withStorage<T>(config: Config, o: StorageOptions, fn: (storage: Storage) => Promise<T>): Promise<T> {
  return (await import('./context.js')).withStorage(config, o, fn);
}
