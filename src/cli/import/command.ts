// `warden import FILE` and `warden import --from sqlite:PATH|postgres://…|mysql://… --table T`: bring the old
// application's users over. The rules (sign-up validation, matching, idempotence, --update) are the
// account layer's (accounts/importer.ts); this module reads the source, maps its columns, feeds
// batches, shows progress on a terminal and reports every rejected row with its reason.
// Exit 0 when every row was imported or already there, 1 when any was rejected (the others are in).
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ImportOutcome, ImportRow } from '../../accounts/importer.js';
import { cliConfig, withAccounts } from '../environment.js';
import { maskedUrl } from '../../storage/database-url.js';
import { CliError, count, emit } from '../output.js';
import type { RunState } from '../program.js';
import { positiveInt } from '../users.js';
import { Mapper, parseMapOption, type Target } from './mapping.js';
import { fileSource, mysqlSource, postgresSource, sqliteSource, type FileFormat, type Source } from './sources.js';

interface ImportOptions {
  from?: string;
  table?: string;
  map: [string, Target][];
  rolesQuery?: string;
  format?: FileFormat;
  delimiter?: string;
  dryRun?: boolean;
  update?: boolean;
  batchSize: number;
  legacyPrefix?: string;
  allowNoPassword?: boolean;
  fastDigests?: 'werkzeug' | 'django' | 'hex';
  flaskSecurity?: boolean;
  json?: boolean;
}

interface Report {
  source: string;
  dry_run: boolean;
  update: boolean;
  rows: number;
  created: number;
  updated: number;
  unchanged: number;
  rejected: number;
  columns_not_imported: string[];
  /** What the run suspects is wrong although every row passed (a Flask-Security table without --flask-security). */
  warnings: string[];
  rejects: { row: string; id?: string; legacy_id?: string; reason: string }[];
  seconds: number;
}

export function registerImport(program: Command, state: RunState): void {
  program
    .command('import')
    .description('import users from a CSV or JSON Lines file, or from the old application\'s users table')
    .argument('[file]', 'a CSV file (header row) or JSON Lines file with id, username, email, password_hash or password, full_name, roles, is_active (or disabled), email_verified, created_at')
    .option('--from <database>', 'read the users table of this database instead: sqlite:PATH, postgres://… or mysql://… (MySQL, MariaDB)')
    .option('--table <name>', 'the users table (with --from), e.g. user, users, auth_user, public."user"')
    .option('--map <column=field,…>', 'which column feeds which field; role:NAME grants NAME when the column is true; "column=" leaves it out (repeatable)', parseMapOption, [])
    .option('--roles-query <sql>', 'with --from: a query returning (user id, role name) rows, e.g. from a join table')
    .addOption(new Option('--format <format>', 'the file\'s format (default: from its extension)').choices(['csv', 'jsonl']))
    .option('--delimiter <char>', 'what separates a CSV file\'s cells: "," (the default), ";" (Excel where the decimal mark is a comma), "tab" or "|"', delimiter)
    .option('--dry-run', 'check and match every row, report what would happen, write nothing')
    .option('--update', 'overwrite users that already exist (default: leave them as they are)')
    .option('--batch-size <n>', 'rows per transaction', batchSize, 1000)
    .option('--legacy-prefix <name>', 'store a non-UUID id as NAME:ID (matched as such): for a second application whose ids overlap the first one\'s', legacyPrefix)
    .option('--allow-no-password', 'import a row without a password (none given, or Django\'s unusable-password mark) as a user without one, who signs in after a password reset (default: reject it)')
    .addOption(new Option('--fast-digests <library>', 'accept the single fast digests ("sha256$salt$hex", "sha1$salt$hex", "md5$…") this library wrote: werkzeug < 2.3 (method="sha256"; its "plain" passwords too) or Django (SHA1/MD5 and unsalted hashers), or, with "hex", bare unsalted hex digests (hashlib.sha256(pw).hexdigest(); MD5, SHA-1, SHA-256, SHA-512); each is replaced by argon2id at its user\'s next sign-in (default: reject them)').choices(['werkzeug', 'django', 'hex']))
    .option('--flask-security', 'the source is a Flask-Security application: its hashes (bcrypt by default) were made over an HMAC under its SECURITY_PASSWORD_SALT, which Warden\'s configuration must then hold too')
    .option('--json', 'print the report as JSON')
    .addHelpText('after', `
Rows are checked with the sign-up rules; a row that fails is reported with its reason and nothing
of it is written. A UUID id is kept; any other id is kept as the user's legacy id and the user gets
a new UUID. Running the same import again changes nothing (existing users are matched by id,
legacy id, or email) unless --update is given. Plain passwords are hashed with argon2id; stored
hashes (werkzeug, passlib, bcrypt, Django, argon2) are kept and upgraded at each user's next sign-in.
A second application whose integer ids overlap the first one's: import it with --legacy-prefix NAME
(the same on every rerun), and its id 42 is stored and matched as NAME:42.

Examples:
  warden import users.csv --dry-run
  warden import --from sqlite:instance/app.db --table user --roles-query "SELECT user_id, role.name FROM roles_users JOIN role ON role.id = role_id"
  warden import --from postgres://app@db/app --table '"user"' --map is_superuser=role:admin
  warden import --from mysql://app:secret@db/app --table user --dry-run
  warden import --from sqlite:instance/app.db --table user --fast-digests werkzeug   # method="sha256" hashes
  SECURITY_PASSWORD_SALT=… warden import --from postgres://app@db/app --table '"user"' --flask-security`)
    .action(async (file: string | undefined, opts: ImportOptions) => {
      const report = await runImport(file, opts);
      if (report.rejected > 0) state.exitCode = 1;
      emit(opts, report, human);
    });
}

// No ':' in the prefix, so that NAME:ID splits one way only; short, as it is repeated on every user.
const LEGACY_PREFIX = /^[A-Za-z0-9_.-]{1,32}$/;

function legacyPrefix(v: string): string {
  if (!LEGACY_PREFIX.test(v)) throw new InvalidArgumentError('must be 1 to 32 letters, digits, "_", "." or "-".');
  return v;
}

const DELIMITERS: Record<string, string> = { ',': ',', ';': ';', tab: '\t', '\t': '\t', '|': '|' };

function delimiter(v: string): string {
  const d = DELIMITERS[v];
  if (d === undefined) throw new InvalidArgumentError('must be ",", ";", "tab" or "|".');
  return d;
}

/**
 * The separator a header line read as one cell would have split at, for the hint: an Excel export
 * with ";" otherwise gets "no column holds the email". Only the separator is shown, never the line.
 */
function otherDelimiter(mapper: Mapper, columns: readonly string[]): string | undefined {
  if (columns.length !== 1) return undefined;
  return [';', '\t', '|'].find((d) => mapper.columnOf(columns[0]!.split(d).map((c) => c.trim()), 'email') !== undefined);
}

function batchSize(v: string): number {
  const n = positiveInt(v);
  if (n < 1 || n > 100_000) throw new InvalidArgumentError('must be from 1 to 100000.');
  return n;
}

async function openSource(file: string | undefined, o: ImportOptions): Promise<Source> {
  if ((file === undefined) === (o.from === undefined)) throw new CliError('give a FILE or --from DATABASE (one of them)', 2);
  if (o.from === undefined) {
    if (o.table !== undefined || o.rolesQuery !== undefined) throw new CliError('--table and --roles-query go with --from', 2);
    const source = await fileSource(file!, o.format, o.delimiter);
    if (o.delimiter !== undefined && !source.sharedColumns) throw new CliError('--delimiter is for CSV files', 2);
    return source;
  }
  if (o.table === undefined) throw new CliError('--from needs --table (the old application\'s users table)', 2);
  if (o.format !== undefined || o.delimiter !== undefined) throw new CliError(`--${o.format !== undefined ? 'format' : 'delimiter'} is for files`, 2);
  // MySQL and MariaDB are sources only (Warden itself stores in SQLite or PostgreSQL).
  if (/^(mysql|mariadb):\/\//i.test(o.from.trim())) {
    const url = o.from.trim().replace(/^mariadb:/i, 'mysql:');
    return mysqlSource(url, maskedUrl(url), o.table, o.rolesQuery);
  }
  const { parseDatabaseUrl } = await import('../../storage/database-url.js');
  let target;
  try {
    target = parseDatabaseUrl(o.from);
  } catch {
    throw new CliError(`--from must be sqlite:PATH, postgres://… or mysql://… (got "${maskedUrl(o.from)}")`, 2);
  }
  if (target.kind === 'memory') throw new CliError('--from memory: holds no users to import', 2);
  return target.kind === 'sqlite'
    ? sqliteSource(target.path, o.table, o.rolesQuery)
    : postgresSource(target.url, maskedUrl(target.url), o.table, o.rolesQuery);
}

async function runImport(file: string | undefined, o: ImportOptions): Promise<Report> {
  // Checked before the source is read: without the salt, every such user's sign-in would fail.
  if (o.flaskSecurity === true && cliConfig().accounts.flaskSecuritySalt === undefined) {
    throw new CliError('--flask-security needs SECURITY_PASSWORD_SALT, the Flask application\'s, in Warden\'s environment (the servers\' too): without it none of these users could sign in', 2);
  }
  const source = await openSource(file, o);
  let started = Date.now();
  try {
    const mapper = new Mapper(o.map, source.kind);
    const progress = new Progress(source.total, !o.json && process.stdout.isTTY === true);
    const report: Report = {
      source: source.name, dry_run: o.dryRun === true, update: o.update === true,
      rows: 0, created: 0, updated: 0, unchanged: 0, rejected: 0, columns_not_imported: [], warnings: [], rejects: [], seconds: 0,
    };
    const tally = (outcomes: readonly ImportOutcome[]) => {
      for (const r of outcomes) {
        report.rows++;
        report[r.action]++;
        if (r.action === 'rejected') {
          report.rejects.push({ row: r.ref, ...(r.id ? { id: r.id } : {}), ...(r.legacyId ? { legacy_id: r.legacyId } : {}), reason: r.reason ?? 'rejected' });
        }
      }
      progress.show(report);
    };
    // A dry run writes nothing, not even a new database or a message to Redis.
    await withAccounts(o.dryRun ? { readOnly: true, emptyIfMissing: true } : {}, async ({ accounts }) => {
      // Timed from here, the database open and the code loaded: the rows' reading, checking and writing.
      started = Date.now();
      const run = accounts.startImport({
        update: o.update === true, dryRun: o.dryRun === true, allowNoPassword: o.allowNoPassword === true,
        ...(o.fastDigests !== undefined ? { fastDigests: o.fastDigests } : {}),
        ...(o.flaskSecurity === true ? { flaskSecurity: true } : {}),
        ...(o.legacyPrefix !== undefined ? { legacyPrefix: o.legacyPrefix } : {}),
      });
      // Batches are read and checked while earlier ones are written: two handed over to the
      // storage (PostgreSQL writes them side by side, SQLite's worker one after the other). A third
      // waits here until the first is done.
      const writing: Promise<void>[] = [];
      const flush = async (rows: ImportRow[]) => {
        const prepared = await run.prepare(rows);
        await breather();
        if (writing.length >= 2) await writing.shift();
        const written = run.write(prepared).then(tally);
        written.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
        writing.push(written);
      };
      let batch: ImportRow[] = [];
      let checked: readonly string[] | undefined; // the columns last checked for an email
      let idColumn: { columns: readonly string[]; at: number } | undefined; // where the id is, for --roles-query
      for await (const items of source.items()) {
        for (const item of items) {
          if ('unreadable' in item) {
            tally([{ ref: item.ref, action: 'rejected', reason: item.unreadable }]);
            continue;
          }
          // A CSV file or a table whose columns name no email can import nothing: usually a file
          // without a header line, whose first row (a password, a hash) must not be printed as names.
          // A CSV header is checked as it is read, so a file of one line is refused too.
          const columns = 'header' in item ? item.header : item.columns;
          if (source.sharedColumns) {
            if (checked !== columns && mapper.columnOf(columns, 'email') === undefined) {
              const other = source.kind === 'file' ? otherDelimiter(mapper, columns) : undefined;
              if (other !== undefined) {
                const name = other === '\t' ? 'tab' : other;
                throw new CliError(`${source.name}: no column holds the email: the first line's columns are separated by "${name}", not by commas; say so with --delimiter '${name}'`, 2);
              }
              throw new CliError(`${source.name}: no column holds the email; the first line must name the columns (email, username, password or password_hash, …), or --map one to email`, 2);
            }
            checked = columns;
          }
          if ('header' in item) continue;
          // Bytes that were not UTF-8 were read as U+FFFD: stored, they would be another address and a password nobody types.
          if (source.kind === 'file' && item.values.some((v) => typeof v === 'string' && v.includes('\uFFFD'))) {
            tally([{ ref: item.ref, action: 'rejected', reason: 'not UTF-8 text (U+FFFD in a value): convert the file, e.g. iconv -f latin1 -t utf-8' }]);
            continue;
          }
          let extraRoles: string[] | undefined;
          if (source.roles) {
            if (idColumn?.columns !== item.columns) {
              const at = mapper.columnOf(item.columns, 'id');
              if (at === undefined) throw new CliError('--roles-query matches users by id, but no column is mapped to id', 2);
              idColumn = { columns: item.columns, at };
            }
            const id = item.values[idColumn.at];
            extraRoles = id === null || id === undefined ? [] : source.roles.get(String(id)) ?? [];
          }
          batch.push(mapper.row(item.ref, item.columns, item.values, extraRoles));
          if (batch.length % BREATHE_EVERY === 0) await breather();
          if (batch.length >= o.batchSize) {
            await flush(batch);
            batch = [];
          }
        }
      }
      if (batch.length > 0) await flush(batch);
      for (const w of writing) await w;
    });
    progress.done();
    // In source order (an unreadable line is reported at once, ahead of the batch it sits in).
    const place = (ref: string) => Number(/\d+/.exec(ref)?.[0] ?? 0);
    report.rejects.sort((a, b) => place(a.row) - place(b.row));
    report.columns_not_imported = [...mapper.unmapped];
    // Flask-Security (4.0 on) gives every user an fs_uniquifier; its hashes parse as plain bcrypt or
    // argon2, so nothing else would tell that no password can match them without the HMAC.
    if (o.flaskSecurity !== true && report.columns_not_imported.includes('fs_uniquifier')) {
      report.warnings.push('the source looks like a Flask-Security users table (fs_uniquifier): unless it set SECURITY_PASSWORD_SINGLE_HASH, its passwords were hashed over an HMAC under SECURITY_PASSWORD_SALT, and no imported user can sign in until the import is run with --flask-security and that salt');
    }
    // Warden's own users table (moving SQLite to PostgreSQL): the accounts move, and a user who had
    // a second factor would sign in with the password alone without anything having said so.
    if (report.columns_not_imported.includes('username_lower')) {
      report.warnings.push('the source looks like a Warden database\'s users table (username_lower): only the accounts move; sessions (everyone signs in again), second factors and passkeys (their users sign in with the password alone until they enrol again), the audit log and webhook deliveries do not (README: "Moving from SQLite to PostgreSQL")');
    }
    report.seconds = (Date.now() - started) / 1000;
    return report;
  } finally {
    await source.close();
  }
}

// The database's answer to a batch being written is read by this thread: it is let in between
// slices of a few hundred rows' work, so that the next batch goes in without waiting for a whole one.
const BREATHE_EVERY = 200;
const breather = () => new Promise<void>((resolve) => setImmediate(resolve));

/** One line, rewritten in place, on a terminal only. */
class Progress {
  private last = 0;
  private shown = false;
  constructor(private readonly total: number | undefined, private readonly enabled: boolean) {}

  show(r: Report): void {
    const now = Date.now();
    if (!this.enabled || now - this.last < 200) return;
    this.last = now;
    this.shown = true;
    const of = this.total === undefined ? '' : ` of ${count(this.total)}`;
    process.stdout.write(`\r\u001b[K${count(r.rows)}${of} rows: ${count(r.created)} created, ${count(r.updated)} updated, ${count(r.unchanged)} unchanged, ${count(r.rejected)} rejected`);
  }

  done(): void {
    if (this.shown) process.stdout.write('\r\u001b[K');
  }
}

function human(r: Report): string {
  const would = r.dry_run ? ' (dry run: nothing written)' : '';
  const line = (label: string, n: number, note = '') => `  ${label.padEnd(13)}${count(n).padStart(9)}${note}`;
  const lines = [
    `import from ${r.source}${would}: ${count(r.rows)} ${r.rows === 1 ? 'row' : 'rows'} in ${r.seconds.toFixed(1)} s`,
    line(r.dry_run ? 'would create' : 'created', r.created),
    line(r.dry_run ? 'would update' : 'updated', r.updated),
    line('unchanged', r.unchanged, r.unchanged > 0 && !r.update ? ' (already there; --update overwrites)' : ''),
    line('rejected', r.rejected),
  ];
  if (r.columns_not_imported.length > 0) lines.push(`columns not imported: ${r.columns_not_imported.join(', ')} (--map column=field to use one)`);
  for (const w of r.warnings) lines.push(`warning: ${w}`);
  if (r.rejects.length > 0) {
    lines.push('rejected rows:');
    for (const x of r.rejects) lines.push(`  ${x.row}: ${x.reason}`);
  }
  return lines.join('\n');
}
