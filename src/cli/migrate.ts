// `warden migrate`: apply pending schema migrations to DATABASE_URL and stop (the server also
// migrates at start; this is for deploys that migrate first, and to create a new database).
import type { Command } from 'commander';
import { MIGRATIONS } from '../storage/migrations.js';
import type { AppliedMigration } from '../storage/types.js';
import { cliConfig, maskedUrl, withStorage } from './environment.js';
import { emit } from './output.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending schema migrations to DATABASE_URL (created if it is a new SQLite file)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = cliConfig();
      let applied: AppliedMigration[] = [];
      await withStorage(config, { migrated: (a) => (applied = a) }, async (storage) => {
        const version = Math.max(...MIGRATIONS.map((m) => m.version));
        emit(opts, { database: maskedUrl(config.storage.databaseUrl), kind: storage.kind, schema_version: version, applied },
          (r) => [
            `${r.database}: schema at version ${r.schema_version} (${r.applied.length === 0 ? 'up to date: nothing to apply' : `applied ${r.applied.length} migration${r.applied.length === 1 ? '' : 's'}`})`,
            ...r.applied.map((m) => `  ${m.version} ${m.name}`),
          ].join('\n'));
      });
    });
}
