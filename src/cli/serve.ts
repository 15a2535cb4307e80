// `warden serve` (the default command, what `npm start` runs): read the configuration, open
// storage, listen. A bad configuration prints every problem and exits 1 before anything else happens.
import type { Command } from 'commander';
import { isHmac } from '@warden/toolkit';
import { unreadVariables } from '../config/unread.js';
import type { Config } from '../config/table.js';
import { describeDatabase, describeKeys, describeMail } from './config-check.js';
import { cliConfig } from './environment.js';
import { maskedUrl } from '../storage/database-url.js';
import { WARDEN_VERSION } from '../config/version.js';
import type { RunState } from './program.js';

export function registerServe(program: Command, state: RunState): void {
  program
    .command('serve')
    .description('run the HTTP server (the default when no command is given)')
    .action(async () => {
      const config = cliConfig();
      const { createWarden, tuneHeapForServing } = await import('../server.js');
      const warden = await createWarden(config);
      tuneHeapForServing();
      const log = warden.log;
      if (warden.generatedKeyFile) {
        // An asymmetric algorithm's key comes from PRIVATE_KEY_FILE: SECRET_KEY is not read for it.
        const variable = isHmac(config.keys.algorithm) ? 'SECRET_KEY' : 'PRIVATE_KEY_FILE';
        log.warn(`No signing key configured: using the development key in ${warden.generatedKeyFile}. Set ${variable} (or JWKS_FILE) before production.`);
      }
      if (!isHmac(config.keys.algorithm) && config.keys.secretKey !== undefined) {
        // Often a Flask app's key carried over with a new ALGORITHM: tokens it signed no longer verify.
        log.warn(`SECRET_KEY is set but not used: ALGORITHM=${config.keys.algorithm} signs and verifies with ${config.keys.jwksFile ? 'JWKS_FILE' : config.keys.privateKeyFile ? 'PRIVATE_KEY_FILE' : 'a generated development key'}, so tokens signed with the secret are refused; to keep verifying them, keep the secret in a JWKS_FILE beside the new key (README, "Rotating keys")`);
      }
      for (const notice of unreadVariables()) log.warn(notice);
      if (!config.cookies.secure) log.warn('COOKIE_SECURE=false: cookies are sent over plain http. Use only for local development.');

      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) return;
        closing = true;
        log.info({ signal }, 'shutting down');
        // The bound holds whatever still waits: a mail server gone silent mid-message, a database
        // partitioned under the outbox's last write. (Unref'd: a close that ends sooner exits sooner.)
        const graceMs = config.connections.shutdownGraceMs;
        setTimeout(() => {
          log.error({ graceSeconds: graceMs / 1000 }, 'shutdown did not finish within SHUTDOWN_GRACE_SECONDS; exiting');
          process.exit(1);
        }, graceMs).unref();
        warden.close().then(() => process.exit(0), () => process.exit(1));
      };
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));

      const address = await warden.app.listen({ port: config.server.port, host: config.server.host });
      log.info({ version: WARDEN_VERSION, node: process.version, address, storage: warden.storage.kind, ...startSettings(config) }, 'warden listening');
      state.keepAlive = true;
    });
}

/**
 * What the start line says besides the address: what an operator asks first of a running instance
 * (which database, Redis, key, proxy trust, mail), as `warden config check` shows it: passwords masked,
 * never a secret's value.
 */
function startSettings(config: Config) {
  const { trustProxy } = config.server;
  return {
    database: describeDatabase(config.storage.databaseUrl),
    redis: config.storage.redisUrl === undefined ? null : maskedUrl(config.storage.redisUrl),
    production: config.server.production,
    logLevel: config.log.level,
    signing: describeKeys(config),
    trustProxy: Array.isArray(trustProxy) ? trustProxy.join(',') : trustProxy,
    metrics: !config.metrics.enabled ? 'off' : config.metrics.port === undefined ? 'on the public port' : `on port ${config.metrics.port}`,
    webhooks: config.webhooks.endpoints?.length ?? 0,
    mail: describeMail(config),
  };
}
