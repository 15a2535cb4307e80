// Forgot / reset password. Asking for a reset does the same work whether or not an account has
// the address — check the address, count it against the mail limits, queue one unprepared mail —
// so neither the answer nor its time tells a stranger anything. The worker prepares the mail: it
// finds the account (or drops the mail) and creates the token. A reset sets the password, ends
// every session of the user on every instance, marks the address verified (the mail reached it)
// and tells the user. On an account whose address was never proven before, it also removes the
// second factors: whoever enrolled them may not be the address's owner (see reset).
import { WardenError } from '@warden/toolkit';
import { clientKey } from '../limits/client-key.js';
import type { MailQueue } from '../mail/index.js';
import type { EmailTokenRecord, UserRecord, UserStore } from '../storage/types.js';
import { userValues, type AccountEmailDeps } from './account-email.js';
import { NO_PASSWORD } from './importer.js';
import { changedMeanwhile, checkToken, consumeToken, newEmailToken, tokenHash, tokenOwner } from './email-tokens.js';
import type { SecurityNotices } from './notices.js';
import { NO_META, type ClientMeta } from './types.js';
import { findUser, isUuid } from './users.js';
import { normaliseEmail, passwordRules, validatePassword } from './validate.js';

/** Queues the reset mail for the user with this id, username or email (the CLI calls this); ERR_USER_NOT_FOUND, ERR_USER_INACTIVE. */
export async function requestPasswordReset(users: UserStore, queue: MailQueue, idOrLogin: string): Promise<UserRecord> {
  const user = isUuid(idOrLogin) ? await findUser(users, idOrLogin) : await users.findByLogin(idOrLogin);
  if (!user) throw new WardenError('ERR_USER_NOT_FOUND');
  if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
  await queue.enqueue({ template: 'password-reset', to: user.email, data: {}, needsPreparing: true });
  return user;
}

export class PasswordRecovery {
  constructor(private readonly d: AccountEmailDeps, private readonly notices: SecurityNotices) {
    d.queue.prepareWith('password-reset', async ({ recipient }) => {
      const user = await d.storage.users.findByLogin(recipient);
      if (!user || user.email !== recipient || !user.isActive) return null;
      const { token, hash } = newEmailToken();
      const now = d.clock();
      const expiresAt = now + d.resetTtlMs;
      await d.storage.emailTokens.issue({ hash, userId: user.id, purpose: 'reset', email: user.email, createdAt: now, expiresAt });
      return {
        to: user.email,
        data: { ...userValues(user), link: d.links.reset(token), token, minutes: Math.round(d.resetTtlMs / 60_000) },
        deadline: expiresAt,
      };
    });
  }

  /** POST forgot: the same answer and the same work for any well-formed address. */
  async forgot(email: unknown, ip: string | null): Promise<void> {
    const address = normaliseEmail(email);
    await this.d.limit.hit(address, ip);
    await this.d.queue.enqueue({ template: 'password-reset', to: address, data: {}, needsPreparing: true });
  }

  /** An administrator sends the reset mail to a user (no mail limit: administrators are trusted). */
  async sendTo(userId: string): Promise<UserRecord> {
    if (!isUuid(userId)) throw new WardenError('ERR_USER_NOT_FOUND');
    return requestPasswordReset(this.d.storage.users, this.d.queue, userId);
  }

  /** The reset page: throws why the token cannot be used, if it cannot (nothing is used up). */
  async check(token: unknown): Promise<void> {
    await checkToken(this.d.storage.emailTokens, tokenHash(token), 'reset', this.d.clock());
  }

  /** POST reset: a usable token and a valid password, or a 400/422 and nothing changed. */
  async reset(token: unknown, newPassword: unknown, meta: ClientMeta = NO_META): Promise<UserRecord> {
    return this.setByLink('reset', token, newPassword, meta);
  }

  /**
   * The account a password link may set a password for: the token's, while it has the address the
   * link went to; for an invitation, also only while the account has no password (one set since,
   * by anyone, voids it). What the link's page checks, and the password's setting twice.
   */
  async linkOwner(purpose: 'reset' | 'invite', t: EmailTokenRecord): Promise<UserRecord> {
    const u = await tokenOwner(this.d.storage.users, t, { sameAddress: true });
    if (purpose === 'invite' && u.passwordHash !== NO_PASSWORD) throw new WardenError('ERR_EMAIL_TOKEN_SUPERSEDED');
    return u;
  }

  /**
   * A password set with a mailed link: a reset's, or an invitation's (invitation.ts), which the
   * same rules hold (the token used once and only while the account has the address it went to,
   * the password it had and is active; every session ended; the address verified), and which
   * records user.invitation_accepted instead of password.reset and mails no "password changed"
   * notice: the invited person set their first one a moment ago.
   */
  async setByLink(purpose: 'reset' | 'invite', token: unknown, newPassword: unknown, meta: ClientMeta = NO_META): Promise<UserRecord> {
    const hash = tokenHash(token);
    const owner = (t: EmailTokenRecord) => this.linkOwner(purpose, t);
    // A cheap look first, so a forged token costs no password hash, and a refusal uses nothing up.
    const checked = await owner(await checkToken(this.d.storage.emailTokens, hash, purpose, this.d.clock()));
    const password = validatePassword(newPassword, passwordRules(this.d), 'new_password', checked);
    const passwordHash = await this.d.hasher.hash(password, { client: clientKey(meta.ip, this.d.ipv6Prefix) });
    const used = await consumeToken(this.d.storage.emailTokens, hash, purpose, this.d.clock());
    const user = await owner(used); // again: it may have changed meanwhile
    const who = { actorId: user.id, userId: user.id, ip: meta.ip, userAgent: meta.userAgent };
    // Whoever knew the old password is out: every session ends, every token is refused, everywhere.
    const refusal = this.d.sessions.refusal(user.id, 'password-reset', { all: true });
    // The link is the first proof that this person holds the address. Until now whoever held the
    // password held the account: someone who signed up first with another's address could have
    // enrolled a second factor, which would lock the owner out after this reset. So an account
    // whose address was never proven loses its factors (and recovery codes, and pending sign-ins).
    let factorsRemoved = 0;
    const factors = user.emailVerified ? undefined : { removed: (n: number) => void (factorsRemoved = n) };
    // Most accounts have none: no event for nothing removed.
    const recorded = (r: UserRecord | null) => (r
      ? [purpose === 'invite' ? this.d.events.make('user.invitation_accepted', who, {}) : this.d.events.make('password.reset', who, {}), ...(factorsRemoved > 0 ? [this.d.events.make('mfa.removed', who, { method: 'all' })] : [])]
      : []);
    // Only while the account still has the address the link went to and the password it had: an
    // address change or a password change landing meanwhile would have superseded this link. And
    // only while it is active: a deactivation answered meanwhile refuses it, as it would after.
    // The sessions' end and the factors' removal are in the same transaction as the new password
    // (committed apart, a crash between left the new password with the old holder's sessions and
    // factors, and the link used up).
    const updated = await this.d.events.write<UserRecord | null>(recorded, (emit) =>
      this.d.storage.users.update(user.id, { passwordHash, emailVerified: true }, emit, { emailWas: used.email, passwordHashWas: user.passwordHash, isActiveWas: true },
        undefined, { sessions: refusal.sessions, ...(factors ? { factors } : {}) }));
    if (!updated) throw await changedMeanwhile(this.d.storage.users, user.id);
    refusal.publish();
    // The owner is told their factors went, or they would go on believing a code guards the account.
    if (purpose === 'reset' || factorsRemoved > 0) await this.notices.passwordChanged(updated, { factorsRemoved: factorsRemoved > 0 });
    return updated;
  }
}
