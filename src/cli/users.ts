// `warden users …`: create, invite, resend-invite, list, show, stats, set-roles, set-password,
// disable, enable, password-reset, delete.
// Each goes through the account services, so the rules are the API's (validation, conflicts) and
// so are the consequences: a role change overrides the roles of live tokens, a deactivation, a new
// password or a deletion refuses every token of the user, on every instance (REDIS_URL).
import { InvalidArgumentError, type Command } from 'commander';
import { queueInvitation, queuePasswordChanged, requestPasswordReset, type Accounts, type SystemActor } from '../accounts/index.js';
import { isUuid } from '../accounts/users.js';
import { mailIsOff, storeOnlyQueue } from '../mail/index.js';
import type { UserRecord } from '../storage/types.js';
import type { AccountsContext } from './context.js';
import { withAccounts } from './environment.js';
import { CliError, count, emit, iso, table, type JsonOption } from './output.js';
import { readPassword } from './password-input.js';

const LIST_PAGE = 1000;

/** The user a command line names: an id, a username or an email. */
export async function resolveUser(accounts: Accounts, storage: AccountsContext['storage'], who: string): Promise<UserRecord> {
  const user = isUuid(who) ? await storage.users.findById(who.toLowerCase()) : await storage.users.findByLogin(who.trim());
  if (!user) throw new CliError(`no user "${who}" (give an id, a username or an email)`);
  return accounts.admin.get(user.id);
}

async function userView(u: UserRecord) {
  const { describeStoredHash } = await import('../accounts/stored-hash.js');
  const hash = describeStoredHash(u.passwordHash);
  return {
    id: u.id, username: u.username, email: u.email, email_verified: u.emailVerified, full_name: u.fullName, roles: u.roles, is_active: u.isActive,
    created_at: iso(u.createdAt), updated_at: iso(u.updatedAt), legacy_id: u.legacyId,
    password_hash: { format: hash.format, current: hash.current, usable: hash.usable, ...(hash.problem ? { problem: hash.problem } : {}) },
  };
}
type UserView = Awaited<ReturnType<typeof userView>>;

const hashLabel = (h: UserView['password_hash']) => (h.current ? 'argon2id' : h.usable ? `${h.format} (legacy)` : `${h.format} (unusable)`);

function showUser(v: UserView): string {
  return [
    `id:            ${v.id}`, `username:      ${v.username}`, `email:         ${v.email}${v.email_verified ? ' (verified)' : ''}`, `full name:     ${v.full_name ?? ''}`,
    `roles:         ${v.roles.join(', ')}`, `active:        ${v.is_active ? 'yes' : 'no'}`, `created:       ${v.created_at}`,
    `updated:       ${v.updated_at}`, ...(v.legacy_id !== null ? [`legacy id:     ${v.legacy_id}`] : []),
    `password hash: ${hashLabel(v.password_hash)}${v.password_hash.problem ? `: ${v.password_hash.problem}` : ''}`,
  ].join('\n');
}

/** Role names from arguments written "a,b c". */
function roleList(args: readonly string[]): string[] {
  return args.flatMap((a) => a.split(',')).map((r) => r.trim()).filter(Boolean);
}

/** The operator at the console: events with no acting user, as every CLI change writes them. */
const actor = (task: string): SystemActor => ({ kind: 'system', task: `${task} (warden CLI)`, operator: true });

/** An invitation is a mail: where the servers send none (production without SMTP_URL) it would wait forever. */
function mailMustBeOn(config: AccountsContext['config']): void {
  if (mailIsOff({ production: config.server.production, smtpUrl: config.mail.smtpUrl })) {
    throw new CliError('email is off (NODE_ENV=production and no SMTP_URL): an invitation could not be sent; create the user with a password instead');
  }
}

export function registerUsers(program: Command): void {
  const users = program.command('users').description('create, list, inspect and change users');

  users
    .command('create')
    .description('create a user (any roles; the CLI acts as the system)')
    .requiredOption('--username <name>', '3 to 64 letters A–Z or a–z, digits, "_", "." or "-"')
    .requiredOption('--email <email>', 'the email address')
    .option('--full-name <name>', 'the full name')
    .option('--roles <roles>', 'comma-separated roles (default: DEFAULT_ROLES)')
    .option('--inactive', 'create the account deactivated')
    .option('--password-stdin', 'read the password from standard input (else it is asked for at the terminal)')
    .option('--json', 'print the user as JSON')
    .action(async (opts: { username: string; email: string; fullName?: string; roles?: string; inactive?: boolean; passwordStdin?: boolean } & JsonOption) => {
      const password = await readPassword(opts);
      await withAccounts({}, async ({ accounts }) => {
        const user = await accounts.credentials.signUp({
          username: opts.username, email: opts.email, password, full_name: opts.fullName,
          roles: opts.roles === undefined ? undefined : roleList([opts.roles]), is_active: !opts.inactive,
        }, actor('warden users create'));
        emit(opts, await userView(user), (v) => `created user ${v.username} (${v.id})`);
      });
    });

  users
    .command('list')
    .description('list users, oldest first')
    .option('--role <role>', 'only users holding this role')
    .option('--email <text>', 'only emails containing this text')
    .option('--active', 'only active users')
    .option('--inactive', 'only deactivated users')
    .option('--legacy-hash', 'only users whose password hash is not yet today\'s argon2id (upgraded at their next sign-in)')
    .option('--limit <n>', 'at most this many', atLeastOne, 100)
    .option('--offset <n>', 'skip this many', positiveInt, 0)
    .option('--all', 'every matching user (no limit)')
    .option('--json', 'print a JSON array of users')
    .action(async (opts: { role?: string; email?: string; active?: boolean; inactive?: boolean; legacyHash?: boolean; limit: number; offset: number; all?: boolean } & JsonOption) => {
      if (opts.active && opts.inactive) throw new CliError('--active and --inactive exclude each other', 2);
      const limit = opts.all ? Number.POSITIVE_INFINITY : opts.limit;
      await withAccounts({ mustExist: true, readOnly: true }, async ({ accounts }) => {
        // The same filters as the API's user list (the legacy hash: needsRehash's notion, in storage).
        const filter = {
          ...(opts.role !== undefined ? { role: opts.role } : {}), ...(opts.email !== undefined ? { email: opts.email } : {}),
          ...(opts.active ? { active: true } : opts.inactive ? { active: false } : {}), ...(opts.legacyHash ? { legacyHash: true } : {}),
        };
        const found: UserRecord[] = [];
        for (let offset = opts.offset; found.length < limit;) {
          const want = Math.min(LIST_PAGE, limit - found.length);
          const page = await accounts.admin.list({ ...filter, limit: want, offset });
          found.push(...page.users);
          offset += page.users.length;
          if (page.users.length < want) break;
        }
        const views = await Promise.all(found.map(userView));
        emit(opts, views, (vs) => vs.length === 0 ? 'no users' : table(
          ['id', 'username', 'email', 'roles', 'active', 'password hash'],
          vs.map((v) => [v.id, v.username, v.email, v.roles.join(','), v.is_active ? 'yes' : 'no', hashLabel(v.password_hash)]),
        ));
      });
    });

  users
    .command('stats')
    .description('count users, and password hashes by format (how many are still on legacy hashes)')
    .option('--json', 'print the counts as JSON')
    .action(async (opts: JsonOption) => {
      await withAccounts({ mustExist: true, readOnly: true }, async ({ accounts }) => {
        const { describeStoredHash } = await import('../accounts/stored-hash.js');
        const stats = { users: 0, active: 0, inactive: 0, current_hash: 0, legacy_hash: 0, unusable_hash: 0, by_format: {} as Record<string, number> };
        for (let offset = 0; ; offset += LIST_PAGE) {
          const page = await accounts.admin.list({ limit: LIST_PAGE, offset });
          for (const u of page.users) {
            stats.users++;
            stats[u.isActive ? 'active' : 'inactive']++;
            const h = describeStoredHash(u.passwordHash);
            const key = h.current ? 'argon2id (current)' : h.usable ? h.format : `${h.format} (unusable)`;
            stats.by_format[key] = (stats.by_format[key] ?? 0) + 1;
            stats[h.current ? 'current_hash' : h.usable ? 'legacy_hash' : 'unusable_hash']++;
          }
          if (page.users.length < LIST_PAGE) break;
        }
        emit(opts, stats, (s) => [
          `users: ${count(s.users)} (${count(s.active)} active, ${count(s.inactive)} deactivated)`,
          `password hashes: ${count(s.current_hash)} argon2id, ${count(s.legacy_hash)} legacy (upgraded at the next sign-in), ${count(s.unusable_hash)} unusable (a password reset is needed)`,
          ...Object.entries(s.by_format).sort((a, b) => b[1] - a[1]).map(([f, n]) => `  ${f.padEnd(32)} ${count(n).padStart(9)}`),
        ].join('\n'));
      });
    });

  users
    .command('show')
    .description('show one user (by id, username or email)')
    .argument('<user>', 'id, username or email')
    .option('--json', 'print the user as JSON')
    .action(async (who: string, opts: JsonOption) => {
      await withAccounts({ mustExist: true, readOnly: true }, async ({ accounts, storage }) => {
        emit(opts, await userView(await resolveUser(accounts, storage, who)), showUser);
      });
    });

  users
    .command('set-roles')
    .description('replace a user\'s roles; their live tokens carry the new roles from the next request')
    .argument('<user>', 'id, username or email')
    .argument('<roles...>', 'role names (space- or comma-separated); "" for none')
    .option('--json', 'print the user as JSON')
    .action(async (who: string, roles: string[], opts: JsonOption) => {
      await updated(who, opts, { roles: roleList(roles) }, (v) => `${v.username}: roles ${v.roles.join(', ') || '(none)'}`);
    });

  users
    .command('set-password')
    .description('set a user\'s password; every token of theirs is refused')
    .argument('<user>', 'id, username or email')
    .option('--password-stdin', 'read the password from standard input (else it is asked for at the terminal)')
    .option('--json', 'print the user as JSON')
    .action(async (who: string, opts: { passwordStdin?: boolean } & JsonOption) => {
      const password = await readPassword(opts);
      await withAccounts({ mustExist: true }, async ({ accounts, storage, config }) => {
        const user = await resolveUser(accounts, storage, who);
        const changed = await accounts.admin.update(user.id, { password });
        // The owner hears of it, as of an administrator's change through the API (which a stolen
        // console session could make too): a running server's mail worker sends it. Not where the
        // servers have no mail (production without SMTP_URL), where it would wait forever.
        const mails = !mailIsOff({ production: config.server.production, smtpUrl: config.mail.smtpUrl });
        if (mails) await queuePasswordChanged(storeOnlyQueue(storage.outbox), changed, Date.now());
        emit(opts, await userView(changed), (v) => `${v.username}: password changed; their sessions are ended${mails ? `; a notice is queued for ${v.email}` : ''}`);
      });
    });

  users
    .command('disable')
    .description('deactivate a user: sign-in refused, every token of theirs refused at once')
    .argument('<user>', 'id, username or email')
    .option('--json', 'print the user as JSON')
    .action(async (who: string, opts: JsonOption) => {
      await updated(who, opts, { is_active: false }, (v) => `${v.username}: deactivated; their tokens are refused`);
    });

  users
    .command('enable')
    .description('reactivate a user')
    .argument('<user>', 'id, username or email')
    .option('--json', 'print the user as JSON')
    .action(async (who: string, opts: JsonOption) => {
      await updated(who, opts, { is_active: true }, (v) => `${v.username}: active`);
    });

  users
    .command('invite')
    .description('create a user without a password and mail them a link to choose one (INVITE_LINK_DAYS; queued in the database: a running server sends it)')
    .requiredOption('--email <email>', 'the email address')
    .option('--username <name>', '3 to 64 letters A–Z or a–z, digits, "_", "." or "-" (default: made from the address)')
    .option('--full-name <name>', 'the full name')
    .option('--roles <roles>', 'comma-separated roles (default: DEFAULT_ROLES)')
    .option('--json', 'print the user as JSON')
    .action(async (opts: { email: string; username?: string; fullName?: string; roles?: string } & JsonOption) => {
      await withAccounts({}, async ({ accounts, storage, config }) => {
        mailMustBeOn(config);
        const user = await accounts.credentials.invite({
          username: opts.username, email: opts.email, full_name: opts.fullName, roles: opts.roles === undefined ? undefined : roleList([opts.roles]),
        }, actor('warden users invite'));
        await queueInvitation(storeOnlyQueue(storage.outbox), user);
        emit(opts, await userView(user), (v) => `invited ${v.username} (${v.id}): invitation mail queued for ${v.email}`);
      });
    });

  users
    .command('resend-invite')
    .description('mail an invited user (no password yet) a new invitation link, which voids the one before')
    .argument('<user>', 'id, username or email')
    .option('--json', 'print the user as JSON')
    .action(async (who: string, opts: JsonOption) => {
      await withAccounts({ mustExist: true }, async ({ accounts, storage, config }) => {
        mailMustBeOn(config);
        const user = await accounts.credentials.reinvite(who, actor('warden users resend-invite'), storeOnlyQueue(storage.outbox)).catch((e: unknown) => {
          throw new CliError(`${who}: ${(e as Error).message}`);
        });
        emit(opts, { id: user.id, username: user.username, email: user.email }, (u) => `${u.username}: invitation mail queued for ${u.email}`);
      });
    });

  users
    .command('password-reset')
    .description('mail the user a password-reset link (queued in the database; a running server sends it)')
    .argument('<user>', 'id, username or email')
    .option('--json', 'print the user as JSON')
    .action(async (who: string, opts: JsonOption) => {
      await withAccounts({ mustExist: true }, async ({ storage }) => {
        // The outbox row is all the CLI writes: the server's mail worker makes the token and sends it.
        const user = await requestPasswordReset(storage.users, storeOnlyQueue(storage.outbox), who).catch((e: unknown) => {
          throw new CliError(`${who}: ${(e as Error).message}`);
        });
        emit(opts, { id: user.id, username: user.username, email: user.email }, (u) => `${u.username}: password-reset mail queued for ${u.email}`);
      });
    });

  const factors = users.command('factors').description("a user's second factors (TOTP, passkeys, recovery codes)");
  factors
    .command('list')
    .description("list a user's confirmed second factors")
    .argument('<user>', 'id, username or email')
    .option('--json', 'print the factors as JSON')
    .action(async (who: string, opts: JsonOption) => {
      await withAccounts({ mustExist: true, readOnly: true }, async ({ accounts }) => {
        const user = await accounts.factors.userFor(who).catch((e: unknown) => {
          throw new CliError(`${who}: ${(e as Error).message}`);
        });
        const f = await accounts.factors.list(user.id);
        const view = {
          user: user.username,
          totp: f.totp.map((t) => ({ id: t.id, created_at: iso(t.createdAt), confirmed_at: t.confirmedAt === null ? null : iso(t.confirmedAt) })),
          passkeys: f.passkeys.map((p) => ({ id: p.id, name: p.name, created_at: iso(p.createdAt), last_used_at: p.lastUsedAt === null ? null : iso(p.lastUsedAt) })),
          recovery_codes_remaining: f.recoveryCodesRemaining,
        };
        emit(opts, view, (v) => `${v.user}: ${v.totp.length} TOTP, ${v.passkeys.length} passkey(s), ${v.recovery_codes_remaining} recovery code(s) left`);
      });
    });
  factors
    .command('reset')
    .description("remove every second factor of a user and end all their sessions (they sign in with a password and enrol again)")
    .argument('<user>', 'id, username or email')
    .option('--json', 'print the result as JSON')
    .action(async (who: string, opts: JsonOption) => {
      await withAccounts({ mustExist: true }, async ({ accounts }) => {
        const user = await accounts.factors.userFor(who).catch((e: unknown) => {
          throw new CliError(`${who}: ${(e as Error).message}`);
        });
        const { sessionsEnded } = await accounts.factors.reset(user.id, actor('warden users factors reset'));
        emit(opts, { user: user.username, sessions_ended: sessionsEnded }, (r) => `${r.user}: second factors removed, ${r.sessions_ended} session(s) ended`);
      });
    });

  users
    .command('delete')
    .description('delete a user; their sessions end and every token of theirs is refused')
    .argument('<user>', 'id, username or email')
    .option('--yes', 'do it (required: deleting cannot be undone)')
    .option('--json', 'print the deleted user as JSON')
    .action(async (who: string, opts: { yes?: boolean } & JsonOption) => {
      if (!opts.yes) throw new CliError('deleting a user cannot be undone: add --yes', 2);
      await withAccounts({ mustExist: true }, async ({ accounts, storage }) => {
        const user = await resolveUser(accounts, storage, who);
        await accounts.admin.delete(user.id);
        emit(opts, await userView(user), (v) => `deleted user ${v.username} (${v.id})`);
      });
    });
}

/** Applies an administrator's change (the API's PATCH) and prints the user. */
async function updated(who: string, opts: JsonOption, change: Record<string, unknown>, human: (v: UserView) => string): Promise<void> {
  await withAccounts({ mustExist: true }, async ({ accounts, storage }) => {
    const user = await resolveUser(accounts, storage, who);
    emit(opts, await userView(await accounts.admin.update(user.id, change)), human);
  });
}

/** Option parser for counts; commander reports a bad one as a usage error (exit 2). */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new InvalidArgumentError('not a whole number.');
  return n;
}

/** A limit: 0 would list nothing and read as "no users" (`warden audit --limit` refuses it too). */
function atLeastOne(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('not a whole number from 1.');
  return n;
}
