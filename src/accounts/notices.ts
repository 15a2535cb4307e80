// Security notices by mail (password changed, email changed, a sign-in from a new device or
// browser, the account deleted by its user) and the sign-in gate of REQUIRE_EMAIL_VERIFICATION. A notice is queued after the change
// it tells of has been made: failing to queue it never undoes or refuses the change.
import { createHash } from 'node:crypto';
import { WardenError } from '@warden/toolkit';
import type { UserRecord } from '../storage/types.js';
import type { MailQueue } from '../mail/index.js';
import { userValues, type AccountEmailDeps } from './account-email.js';
import type { ClientMeta } from './types.js';
import { markUnseen } from '../events/records.js';
import { clientKey } from '../limits/client-key.js';

/** Characters of a client's user agent a new-sign-in notice shows. */
const MAILED_USER_AGENT = 200;

export class SecurityNotices {
  constructor(private readonly d: AccountEmailDeps) {}

  /** After the password check: an unverified user is refused when verification is required. */
  gate(user: UserRecord): void {
    if (this.d.requireVerified && !user.emailVerified) throw new WardenError('ERR_EMAIL_NOT_VERIFIED');
  }

  /** `factorsRemoved`: a reset also removed the second factors (the address was not verified before). */
  passwordChanged(user: UserRecord, o: { factorsRemoved?: boolean } = {}): Promise<void> {
    return this.send('password-changed', user.email, { ...userValues(user), time: this.when(), factors_removed: o.factorsRemoved === true });
  }

  emailChangeRequested(user: UserRecord, newEmail: string): Promise<void> {
    return this.send('email-change-requested', user.email, { ...userValues(user), new_email: newEmail });
  }

  emailChanged(user: UserRecord, oldEmail: string): Promise<void> {
    return this.send('email-changed', oldEmail, { ...userValues(user), new_email: user.email });
  }

  /**
   * Sent to the address the account had: whoever deleted it knew the password and held a fresh
   * sign-in, and the owner must hear of it if that was not them.
   */
  accountDeleted(user: UserRecord): Promise<void> {
    return this.send('account-deleted', user.email, { ...userValues(user), time: this.when() });
  }

  /**
   * Remembers the (user-agent, client) pair and tells the user of a new one — not on their very
   * first sign-in, which is new by definition. The client is the per-IP limits' (clientKey): an
   * IPv6 address by its network (a /64 unless CLIENT_IPV6_PREFIX says otherwise), since a browser's own address there changes at least daily (privacy
   * addresses) within its network. The pair is kept as a hash; the mail shows the whole address.
   */
  async signedIn(user: UserRecord, meta: ClientMeta): Promise<void> {
    if (!this.d.notifyNewSignIn) return;
    try {
      const device = createHash('sha256').update(`${meta.userAgent ?? ''}\u0000${clientKey(meta.ip, this.d.ipv6Prefix) ?? ''}`).digest('hex');
      const seen = await this.d.storage.devices.remember(user.id, device, this.d.clock());
      if (!seen.isNew || seen.before === 0) return;
    } catch (err) {
      this.d.report(err, 'new sign-in notice');
      return;
    }
    await this.send('new-sign-in', user.email, {
      // The user agent is the client's own text, mailed from the operator's domain: short, every unseen character shown.
      ...userValues(user), time: this.when(), ip: meta.ip ?? 'unknown', user_agent: meta.userAgent === null ? 'unknown' : markUnseen(meta.userAgent.slice(0, MAILED_USER_AGENT)),
    });
  }

  private when(): string {
    return new Date(this.d.clock()).toUTCString();
  }

  private async send(template: 'password-changed' | 'email-change-requested' | 'email-changed' | 'new-sign-in' | 'account-deleted', to: string, data: Record<string, unknown>): Promise<void> {
    try {
      // At most MAIL_LIMIT_PER_ADDRESS notices to one address per window, new sign-ins and changes
      // counted apart (mail-limit.ts); past it they are dropped.
      if (!(await this.d.limit.noticeAllowed(to, template === 'new-sign-in' ? 'sign-in' : 'change'))) return;
      await this.d.queue.enqueue({ template, to, data });
    } catch (err) {
      this.d.report(err, `${template} notice`);
    }
  }
}

/**
 * The "password changed" notice for a change made outside a server (`warden users set-password`):
 * queued in the outbox, which a running server's mail worker sends, as an administrator's change
 * through the API would be.
 */
export function queuePasswordChanged(queue: MailQueue, user: UserRecord, now: number): Promise<string> {
  return queue.enqueue({ template: 'password-changed', to: user.email, data: { ...userValues(user), time: new Date(now).toUTCString() } });
}
