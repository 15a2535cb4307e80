// Invitations: an administrator (or the operator, with `warden users invite`) names an address,
// and perhaps a username, a full name and roles; the account exists at once, active, with no
// usable password (NO_PASSWORD, which no password matches: nobody signs in with it, as an imported
// user without one), and a mail goes to the address with a link that lives INVITE_LINK_DAYS. The
// link's page sets the first password as a reset link's does (recovery.ts setByLink: used once,
// the address verified, PASSWORD_MIN_LENGTH held), and signs nothing in. A newer invitation
// supersedes it; a password set by any way (the person's own reset, an administrator's) voids it,
// as does the account's deletion, deactivation or change of address.
//
// Active, not inactive until accepted: "inactive" keeps one meaning (an administrator shut the
// account), so deactivating an invited account revokes its invitation and accepting it never
// reopens an account someone closed; and the person who lost the mail can use "Forgot password",
// which proves the same address.
import { WardenError } from '@warden/toolkit';
import type { EventLog } from '../events/log.js';
import type { MailQueue } from '../mail/index.js';
import type { UserRecord, UserStore } from '../storage/types.js';
import { userValues, type AccountEmailDeps } from './account-email.js';
import { checkToken, newEmailToken, tokenHash } from './email-tokens.js';
import { NO_PASSWORD } from './importer.js';
import type { PasswordRecovery } from './recovery.js';
import { NO_META, type Actor, type ClientMeta } from './types.js';
import { findUser, isUuid } from './users.js';

/** Queues the invitation mail for a user (the mail worker makes the token when it sends it). */
export function queueInvitation(queue: MailQueue, user: UserRecord): Promise<string> {
  return queue.enqueue({ template: 'invite', to: user.email, data: { user_id: user.id }, needsPreparing: true });
}

/**
 * Sends an invitation again (a newer link supersedes the one mailed before) and records
 * user.invited (resent). ERR_USER_NOT_FOUND; ERR_USER_INACTIVE; ERR_CONFLICT once the account has
 * a password (a password reset mail is then the way).
 */
export async function resendInvitation(
  d: { users: UserStore; events: EventLog; queue: MailQueue }, idOrLogin: string, actor: Actor, meta: ClientMeta = NO_META,
): Promise<UserRecord> {
  const user = isUuid(idOrLogin) ? await findUser(d.users, idOrLogin.toLowerCase()) : await d.users.findByLogin(idOrLogin.trim());
  if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
  if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
  if (user.passwordHash !== NO_PASSWORD) throw new WardenError('ERR_CONFLICT', 'The user has a password already: send a password reset mail instead');
  const actorId = actor.kind === 'user' ? actor.userId : null;
  await d.events.append(d.events.make('user.invited', { actorId, userId: user.id, ip: meta.ip, userAgent: meta.userAgent }, { resent: true }));
  await queueInvitation(d.queue, user);
  return user;
}

export class Invitations {
  constructor(private readonly d: AccountEmailDeps, private readonly recovery: PasswordRecovery) {
    // Made when sent: an account deleted, deactivated or given a password meanwhile gets no mail.
    d.queue.prepareWith('invite', async ({ data }) => {
      const user = typeof data.user_id === 'string' ? await d.storage.users.findById(data.user_id) : null;
      if (!user || !user.isActive || user.passwordHash !== NO_PASSWORD) return null;
      const { token, hash } = newEmailToken();
      const now = d.clock();
      const expiresAt = now + d.inviteTtlMs;
      await d.storage.emailTokens.issue({ hash, userId: user.id, purpose: 'invite', email: user.email, createdAt: now, expiresAt });
      return {
        to: user.email,
        data: { ...userValues(user), link: d.links.invite(token), token, days: Math.round(d.inviteTtlMs / 86_400_000) },
        deadline: expiresAt,
      };
    });
  }

  /** The queue invitations go through (an invitation's creation and resending queue their mail on it). */
  get queue(): MailQueue {
    return this.d.queue;
  }

  /** The link's page: throws why the token cannot be used, if it cannot (nothing is used up). */
  async check(token: unknown): Promise<UserRecord> {
    return this.recovery.linkOwner('invite', await checkToken(this.d.storage.emailTokens, tokenHash(token), 'invite', this.d.clock()));
  }

  /** Sets the first password with the link's token: the address is verified; nothing is signed in. */
  accept(token: unknown, newPassword: unknown, meta: ClientMeta = NO_META): Promise<UserRecord> {
    return this.recovery.setByLink('invite', token, newPassword, meta);
  }
}
