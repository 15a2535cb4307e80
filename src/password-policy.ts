// PASSWORD_BLOCKLIST_FILE read at start, as the key files are (keyring.ts): a file that cannot be
// used is a ConfigError naming the variable and the line, raised before the server listens or a
// command runs, never an error at the first sign-up.
import { ConfigError, type Config } from './config.js';
import { BlocklistError, loadPasswordBlocklist, type PasswordBlocklist } from './accounts/password-blocklist.js';

/** The blocklist PASSWORD_BLOCKLIST_FILE names, or undefined when it is unset; ConfigError when it cannot be used. */
export function configuredBlocklist(config: Pick<Config, 'accounts'>): PasswordBlocklist | undefined {
  const file = config.accounts.passwordBlocklistFile;
  if (file === undefined) return undefined;
  try {
    return loadPasswordBlocklist(file);
  } catch (e) {
    if (e instanceof BlocklistError) throw new ConfigError([`PASSWORD_BLOCKLIST_FILE: ${file}: ${e.message}`]);
    throw e;
  }
}
