// `warden audit`: the audit log from the database DATABASE_URL names (events/audit-export.ts), for
// an operator at the console: no server, no token. JSON lines by default (for jq and log shippers).
import type { Command } from 'commander';
import { userIdOf } from '../accounts/users.js';
import { exportAudit, parseAuditArgs } from '../events/audit-export.js';
import { cliConfig, withStorage } from './environment.js';
import { CliError } from './output.js';

interface AuditOptions {
  type?: string;
  user?: string;
  actor?: string;
  from?: string;
  to?: string;
  limit?: string;
  format?: string;
  json?: boolean;
}

export function registerAudit(program: Command): void {
  program
    .command('audit')
    .description('print the audit log (security events), newest first, as JSON lines or text')
    .option('--type <types>', 'event types, comma-separated, or families (e.g. signin.failed,user.deleted or signin.*)')
    .option('--user <user>', 'events about this user (id, username or email)')
    .option('--actor <user>', 'events this user did (id, username or email)')
    .option('--from <time>', 'from this time on (ISO 8601)')
    .option('--to <time>', 'before this time (ISO 8601)')
    .option('--limit <n>', 'at most this many events')
    .option('--format <format>', 'jsonl (default) or text')
    .option('--json', 'JSON lines, as every command that prints data takes it (the same as --format jsonl)')
    .action(async ({ json, ...opts }: AuditOptions) => {
      if (json === true && opts.format !== undefined && opts.format !== 'jsonl') {
        throw new CliError(`--json and --format ${opts.format} ask for two formats`, 2, 'ERR_USAGE');
      }
      const argv = Object.entries(opts).flatMap(([k, v]) => (v === undefined ? [] : [`--${k}`, String(v)]));
      let options;
      try {
        options = parseAuditArgs(argv);
      } catch (e) {
        throw new CliError((e as Error).message, 2, 'ERR_USAGE');
      }
      const config = cliConfig();
      await withStorage(config, { mustExist: true, readOnly: true }, async (storage) => {
        // --user and --actor take a username or an email too, as every other command naming a user
        // does; an id is taken as it is (a deleted user's events are still there under it).
        const idOf = async (who: string | undefined, flag: string): Promise<string | undefined> => {
          if (who === undefined) return undefined;
          const id = await userIdOf(storage.users, who);
          if (id === null) throw new CliError(`${flag}: no user "${who}" (give an id, a username or an email; a deleted user's events are under its id)`);
          return id;
        };
        const userId = await idOf(options.userId, '--user');
        const actorId = await idOf(options.actorId, '--actor');
        const query = { ...options, ...(userId !== undefined ? { userId } : {}), ...(actorId !== undefined ? { actorId } : {}) };
        await exportAudit(storage.events, query, (line) => process.stdout.write(`${line}\n`));
      });
    });
}
