// The account services that work through mail, composed: password recovery, email verification,
// email change, invitations and security notices, sharing one mail queue, one limit on mail requests, one set
// of link builders and one clock. createAccounts builds this only when mail is configured.
import type { EventLog } from '../events/log.js';
import type { MailQueue } from '../mail/index.js';
import { deleteInBatches } from '../storage/batches.js';
import type { Storage, UserRecord } from '../storage/types.js';
import { EmailChange } from './email-change.js';
import { Invitations } from './invitation.js';
import type { AccountHooks } from './hooks.js';
import type { MailLimit } from './mail-limit.js';
import { SecurityNotices } from './notices.js';
import type { PasswordHasher } from './password-hasher.js';
import { PasswordRecovery } from './recovery.js';
import type { Sessions } from './sessions.js';
import { EmailVerification } from './verification.js';
import type { PasswordPolicyDeps } from './validate.js';

/** Where the links in mails point; the HTTP layer owns its paths. */
export interface EmailLinks {
  reset(token: string): string;
  verify(token: string): string;
  emailChange(token: string): string;
  invite(token: string): string;
}

export interface AccountEmailOptions {
  queue: MailQueue;
  limit: MailLimit;
  links: EmailLinks;
  resetTtlMs: number;
  verifyTtlMs: number;
  /** INVITE_LINK_DAYS: how long an invitation's link works. */
  inviteTtlMs: number;
  requireVerified: boolean;
  notifyNewSignIn: boolean;
  /** CLIENT_IPV6_PREFIX: the IPv6 network a client is counted by (clientKey): the new-sign-in notice's device, the reset's hash queue; 64 when absent. */
  ipv6Prefix?: number | undefined;
  /** A notice that could not be queued after the change it tells of (the change stands; the server logs this). */
  report(err: unknown, what: string): void;
}

export interface AccountEmailDeps extends AccountEmailOptions, PasswordPolicyDeps {
  storage: Pick<Storage, 'users' | 'emailTokens' | 'devices' | 'sessions' | 'factors' | 'challenges'>;
  hasher: PasswordHasher;
  sessions: Sessions;
  clock: () => number;
  events: EventLog;
}

export interface AccountEmail {
  recovery: PasswordRecovery;
  verification: EmailVerification;
  emailChange: EmailChange;
  invitations: Invitations;
  notices: SecurityNotices;
  hooks: AccountHooks;
  /** Drops expired tokens and devices not seen for a year. */
  purge(): Promise<void>;
}

/** The values every account mail gets. */
export function userValues(u: UserRecord): Record<string, string> {
  return { name: u.fullName ?? u.username, username: u.username, email: u.email };
}

const YEAR = 365 * 86_400_000;
/** Rows per purge statement at most, as the session and mail purges. */
const PURGE_BATCH = 500;

export function createAccountEmail(d: AccountEmailDeps): AccountEmail {
  const notices = new SecurityNotices(d);
  const recovery = new PasswordRecovery(d, notices);
  const verification = new EmailVerification(d);
  const emailChange = new EmailChange(d, notices);
  const invitations = new Invitations(d, recovery);
  return {
    recovery, verification, emailChange, invitations, notices,
    hooks: {
      signedUp: (user, actor) => verification.signedUp(user, actor),
      passwordChecked: (user) => notices.gate(user),
      signedIn: (user, meta) => notices.signedIn(user, meta),
      passwordChanged: (user) => notices.passwordChanged(user),
      deletedOwnAccount: (user) => notices.accountDeleted(user),
    },
    async purge() {
      // A batch per statement, paced (src/storage/batches.ts): this runs at start too, so its first
      // run may meet a backlog (one DELETE of 300,000 expired tokens held SQLite's thread 1.4 s).
      const now = d.clock();
      await deleteInBatches((batch) => d.storage.emailTokens.purge(now - 86_400_000, batch), PURGE_BATCH);
      await deleteInBatches((batch) => d.storage.devices.purge(now - YEAR, batch), PURGE_BATCH);
    },
  };
}
