// `warden migrate`: apply pending schema migrations to DATABASE_URL and stop (the server also
// migrates at start; this is for deploys that migrate first, and to create a new database).
import type { Command } from 'commander';
import { MIGRATIONS } from '../storage/migrations.js';
import { cliConfig, maskedUrl, withStorage } from './environment.js';
import { emit } from './output.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending schema migrations to DATABASE_URL (created if it is a new SQLite file)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = cliConfig();
      await withStorage(config, {}, async (storage) => {
        const version = Math.max(...MIGRATIONS.map((m) => m.version));
        emit(opts, { database: maskedUrl(config.storage.databaseUrl), kind: storage.kind, schema_version: version },
          (r) => `${r.database}: schema at version ${r.schema_version} (up to date)`);
      });
    });
}
