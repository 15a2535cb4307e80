// Email change: the signed-in user (with a fresh token) names a new address; it gets a
// confirmation link and the old address a notice. The address changes only when the link is
// used, and then counts as verified; the old address is told again.
import { WardenError, type JwtClaims } from '@warden/toolkit';
import type { EmailTokenRecord, UserRecord } from '../storage/types.js';
import { userValues, type AccountEmailDeps } from './account-email.js';
import { changedMeanwhile, checkToken, consumeToken, newEmailToken, tokenHash, tokenOwner } from './email-tokens.js';
import type { SecurityNotices } from './notices.js';
import { NO_META, type ClientMeta } from './types.js';
import { conflict, findUser } from './users.js';
import { invalid, normaliseEmail } from './validate.js';

const taken = () => new WardenError('ERR_CONFLICT', 'Email already registered', { field: 'new_email' });

export class EmailChange {
  constructor(private readonly d: AccountEmailDeps, private readonly notices: SecurityNotices) {
    d.queue.prepareWith('email-change-confirm', async ({ recipient, data }) => {
      const user = typeof data.user_id === 'string' ? await d.storage.users.findById(data.user_id) : null;
      if (!user || !user.isActive || user.email === recipient) return null;
      const sessionId = typeof data.session_id === 'string' ? data.session_id : null;
      if (sessionId !== null && !(await this.sessionLive(sessionId))) return null;
      const { token, hash } = newEmailToken();
      const now = d.clock();
      const expiresAt = now + d.verifyTtlMs;
      await d.storage.emailTokens.issue({ hash, userId: user.id, purpose: 'email', email: recipient, createdAt: now, expiresAt, sessionId });
      return {
        to: recipient,
        data: { ...userValues(user), new_email: recipient, link: d.links.emailChange(token), token, days: Math.round(d.verifyTtlMs / 86_400_000) },
        deadline: expiresAt,
      };
    });
  }

  async request(claims: JwtClaims, newEmail: unknown, ip: string | null): Promise<void> {
    const user = await findUser(this.d.storage.users, claims.sub);
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    const address = normaliseEmail(newEmail, 'new_email');
    if (address === user.email) throw invalid('new_email', 'is already the address of this account');
    // Counted before "taken" is told: that answer says an account has the address, and must cost
    // what any mail request costs (past the limit, taken and free addresses are both 429).
    await this.d.limit.hit(address, ip);
    const holder = await this.d.storage.users.findByLogin(address);
    if (holder && holder.id !== user.id && holder.email === address) throw taken();
    // Tied to the asking session: its end (sign-out everywhere, an administrator, reuse detected)
    // voids the link, which may be in the mailbox of whoever stole that session.
    const data = { user_id: user.id, ...(typeof claims.sid === 'string' ? { session_id: claims.sid } : {}) };
    await this.d.queue.enqueue({ template: 'email-change-confirm', to: address, data, needsPreparing: true });
    await this.notices.emailChangeRequested(user, address);
  }

  /** Not ended by anyone; an idle or expired one still counts, as the link has its own deadline. */
  private async sessionLive(id: string): Promise<boolean> {
    const s = await this.d.storage.sessions.get(id);
    return s !== null && s.endedAt === null;
  }

  /**
   * For a link tied to no session: links mailed before migration 15 (and by an instance not yet
   * upgraded) carry none, and whichever session asked may be a thief's. Such a link lives while
   * one of the user's sessions opened before it is live, so signing out everywhere (or a
   * deactivation) voids it as it does a bound link; else it outlived every sign-out for days.
   */
  private async someSessionFrom(userId: string, linkCreatedAt: number): Promise<boolean> {
    const now = this.d.clock();
    for (let offset = 0; ; offset += 100) {
      const { sessions } = await this.d.storage.sessions.listActive(userId, now, { limit: 100, offset });
      if (sessions.some((s) => s.createdAt <= linkCreatedAt)) return true;
      if (sessions.length < 100) return false;
    }
  }

  /** The link's page: the new address it would confirm, or throws why it cannot be used (nothing is used up). */
  async check(token: unknown): Promise<string> {
    return (await this.usable(tokenHash(token))).t.email;
  }

  /** The link's token and its account, if the link can be used now. */
  private async usable(hash: string): Promise<{ t: EmailTokenRecord; user: UserRecord }> {
    const t = await checkToken(this.d.storage.emailTokens, hash, 'email', this.d.clock());
    // The new address is the link's own: the account is not expected to be there yet.
    const user = await tokenOwner(this.d.storage.users, t, { sameAddress: false });
    if (!(await (t.sessionId !== null ? this.sessionLive(t.sessionId) : this.someSessionFrom(t.userId, t.createdAt)))) {
      throw new WardenError('ERR_EMAIL_TOKEN_SUPERSEDED');
    }
    return { t, user };
  }

  async confirm(token: unknown, meta: ClientMeta = NO_META): Promise<UserRecord> {
    const hash = tokenHash(token);
    const { t, user } = await this.usable(hash);
    const holder = await this.d.storage.users.findByLogin(t.email);
    if (holder && holder.id !== user.id && holder.email === t.email) throw taken();
    await consumeToken(this.d.storage.emailTokens, hash, 'email', this.d.clock());
    let updated: UserRecord | null;
    try {
      const changed = (r: UserRecord | null) => (r && r.email !== user.email
        ? [this.d.events.make('email.changed', { actorId: user.id, userId: user.id, ip: meta.ip, userAgent: meta.userAgent }, {})]
        : []);
      // Only while the password is the one it was: a reset or a change landing meanwhile would have
      // superseded this link (whoever asked for it may be who the new password shuts out). And only
      // while the session it hangs on is open: a sign-out answered meanwhile voided it.
      const sessionOpen = t.sessionId !== null ? { id: t.sessionId } : { openedBy: t.createdAt, now: this.d.clock() };
      updated = await this.d.events.write<UserRecord | null>(changed, (emit) =>
        this.d.storage.users.update(user.id, { email: t.email, emailVerified: true }, emit, { passwordHashWas: user.passwordHash, sessionOpen }));
    } catch (e) {
      const c = conflict(e);
      throw c instanceof WardenError ? taken() : c;
    }
    if (!updated) throw await changedMeanwhile(this.d.storage.users, user.id);
    if (user.email !== t.email) await this.notices.emailChanged(updated, user.email);
    return updated;
  }
}
