// `warden sessions list|revoke USER`: a user's live sessions, and ending them. Revoking refuses
// the tokens at once on every instance, as the API's sign-out does (REDIS_URL).
import { WardenError } from '@warden/toolkit';
import type { Command } from 'commander';
import type { Accounts } from '../accounts/index.js';
import type { SessionRecord } from '../storage/types.js';
import { withAccounts } from './environment.js';
import { CliError, emit, iso, table, type JsonOption } from './output.js';
import { resolveUser } from './users.js';

const sessionView = (s: SessionRecord) => ({
  id: s.id, created_at: iso(s.createdAt), last_used_at: iso(s.lastUsedAt),
  expires_at: iso(Math.min(s.expiresAt, s.idleExpiresAt)), ip: s.ip, user_agent: s.userAgent,
});

export function registerSessions(program: Command): void {
  const sessions = program.command('sessions').description('list and revoke a user\'s sessions');

  sessions
    .command('list')
    .description('a user\'s live sessions, newest first')
    .argument('<user>', 'id, username or email')
    .option('--json', 'print a JSON array of sessions')
    .action(async (who: string, opts: JsonOption) => {
      await withAccounts({ mustExist: true, readOnly: true }, async ({ accounts, storage }) => {
        const user = await resolveUser(accounts, storage, who);
        const live = (await allSessions(accounts, user.id)).map(sessionView);
        emit(opts, live, (l) => l.length === 0 ? `${user.username} has no live session` : table(
          ['id', 'created', 'last used', 'expires', 'ip', 'user agent'],
          l.map((s) => [s.id, s.created_at, s.last_used_at, s.expires_at, s.ip ?? '', (s.user_agent ?? '').slice(0, 40)]),
        ));
      });
    });

  sessions
    .command('revoke')
    .description('end a user\'s sessions and refuse their tokens at once (all of them, or one with --session)')
    .argument('<user>', 'id, username or email')
    .option('--session <id>', 'only this session')
    .option('--json', 'print the ended sessions as JSON')
    .action(async (who: string, opts: { session?: string } & JsonOption) => {
      await withAccounts({ mustExist: true }, async ({ accounts, storage }) => {
        const user = await resolveUser(accounts, storage, who);
        // As an administrator's DELETE /users/{id}/sessions/{sid}: one session.ended per session,
        // written with the ending, with no acting user (the operator at the console).
        let ended: string[];
        if (opts.session !== undefined) {
          try {
            await accounts.admin.endSession(user.id, opts.session);
          } catch (e) {
            if (!(e instanceof WardenError && e.code === 'ERR_SESSION_NOT_FOUND')) throw e;
            throw new CliError(`${user.username} has no live session ${opts.session}`);
          }
          ended = [opts.session];
        } else {
          // Also refuses tokens issued outside a session (by the toolkit directly).
          ended = await accounts.admin.endAllSessions(user.id);
        }
        emit(opts, { user: user.id, ended }, (r) => `${user.username}: ${r.ended.length} session${r.ended.length === 1 ? '' : 's'} ended; their tokens are refused`);
      });
    });
}

/** Every live session of a user, page by page (the list is paged for the API). */
async function allSessions(accounts: Accounts, userId: string): Promise<SessionRecord[]> {
  const out: SessionRecord[] = [];
  for (;;) {
    const { sessions, total } = await accounts.sessions.list(userId, { limit: 100, offset: out.length });
    out.push(...sessions);
    if (sessions.length === 0 || out.length >= total) return out;
  }
}
