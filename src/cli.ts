#!/usr/bin/env node
// `npm start`: read the configuration, open storage, listen. A bad configuration prints every
// problem and exits 1 before anything else happens.
import { ConfigError, loadConfig } from './config.js';
import { keygen } from './keygen.js';
import { createWarden } from './server.js';

async function main(): Promise<void> {
  if (process.argv[2] === 'keygen') {
    try {
      process.stdout.write(`${keygen(process.argv.slice(3))}\n`);
      return;
    } catch (e) {
      process.stderr.write(`warden keygen: ${(e as Error).message}\n`);
      process.exit(1);
    }
  }
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`warden: ${e.message}\n`);
      process.exit(1);
    }
    throw e;
  }
  const warden = await createWarden(config);
  const log = warden.log;
  if (warden.generatedKeyFile) {
    log.warn(`No signing key configured: using the development key in ${warden.generatedKeyFile}. Set SECRET_KEY (or key files) before production.`);
  }
  if (!config.cookieSecure) log.warn('COOKIE_SECURE=false: cookies are sent over plain http. Use only for local development.');

  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    log.info({ signal }, 'shutting down');
    warden.close().then(() => process.exit(0), () => process.exit(1));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));

  const address = await warden.app.listen({ port: config.port, host: config.host });
  log.info({ address, storage: warden.storage.kind }, 'warden listening');
}

main().catch((e: unknown) => {
  process.stderr.write(`warden: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
