// `warden migrate`: apply pending schema migrations to DATABASE_URL and stop (the server also
// migrates at start; this is for deploys that migrate first, and to create a new database).
import type { Command } from 'commander';
import { latestVersion } from '../storage/migrations.js';
import type { AppliedMigration } from '../storage/types.js';
import { cliConfig, withStorage } from './environment.js';
import { maskedUrl } from '../storage/database-url.js';
import { CliError, emit } from './output.js';

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .description('apply pending schema migrations to DATABASE_URL (created if it is a new SQLite file)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { json?: boolean }) => {
      const config = cliConfig();
      let applied: AppliedMigration[] = [];
      await withStorage(config, { migrated: (a) => (applied = a) }, async (storage) => {
        const version = latestVersion();
        // A newer Warden migrated this database: "schema at version <ours>, up to date" would be
        // false, and a deploy of this version should stop here rather than believe it.
        const newer = await storage.newerMigrations();
        if (newer.length > 0) {
          throw new CliError(`${maskedUrl(config.storage.databaseUrl)}: schema at version ${newer.at(-1)!.version}, newer than this Warden knows (${version}): `
            + `a newer Warden applied ${newer.map((m) => `${m.version} ${m.name}`).join('; ')}. Nothing applied; run the newer version's "warden migrate". `
            + `This version's server still starts on it (logging a warning), as an instance not yet upgraded does during a rolling upgrade.`);
        }
        emit(opts, { database: maskedUrl(config.storage.databaseUrl), kind: storage.kind, schema_version: version, applied },
          (r) => [
            `${r.database}: schema at version ${r.schema_version} (${r.applied.length === 0 ? 'up to date: nothing to apply' : `applied ${r.applied.length} migration${r.applied.length === 1 ? '' : 's'}`})`,
            ...r.applied.map((m) => `  ${m.version} ${m.name}`),
          ].join('\n'));
      });
    });
}
