// Email verification: a mail on sign-up (and on request), whose token marks the address verified.
// A token proves the address it was mailed to: if the account's address changed since, it is
// superseded.
import { WardenError } from '@warden/toolkit';
import type { UserRecord } from '../storage/types.js';
import { userValues, type AccountEmailDeps } from './account-email.js';
import { changedMeanwhile, checkToken, consumeToken, newEmailToken, tokenHash, tokenOwner } from './email-tokens.js';
import { NO_META, type Actor, type ClientMeta } from './types.js';
import { findUser } from './users.js';

export class EmailVerification {
  constructor(private readonly d: AccountEmailDeps) {
    d.queue.prepareWith('verify-email', async ({ data }) => {
      const user = typeof data.user_id === 'string' ? await d.storage.users.findById(data.user_id) : null;
      if (!user || !user.isActive || user.emailVerified) return null;
      const { token, hash } = newEmailToken();
      const now = d.clock();
      const expiresAt = now + d.verifyTtlMs;
      await d.storage.emailTokens.issue({ hash, userId: user.id, purpose: 'verify', email: user.email, createdAt: now, expiresAt });
      return {
        to: user.email,
        data: { ...userValues(user), link: d.links.verify(token), token, days: Math.round(d.verifyTtlMs / 86_400_000) },
        deadline: expiresAt,
      };
    });
  }

  /** After a sign-up or an administrator's create; not for the administrator the configuration creates. */
  async signedUp(user: UserRecord, actor: Actor | null): Promise<void> {
    if (actor?.kind === 'system' || user.emailVerified) return;
    try {
      await this.queue(user);
    } catch (err) {
      this.d.report(err, 'verification mail'); // the account exists; the user can ask again
    }
  }

  /** The signed-in user asks for a (new) verification mail; false when the address is verified already. */
  async request(userId: string, ip: string | null): Promise<boolean> {
    const user = await findUser(this.d.storage.users, userId);
    if (!user.isActive) throw new WardenError('ERR_USER_INACTIVE');
    if (user.emailVerified) return false;
    await this.d.limit.hit(user.email, ip);
    await this.queue(user);
    return true;
  }

  /** The link's page: the address it would verify, or throws why it cannot be used (nothing is used up). */
  async check(token: unknown): Promise<string> {
    const t = await checkToken(this.d.storage.emailTokens, tokenHash(token), 'verify', this.d.clock());
    await tokenOwner(this.d.storage.users, t, { sameAddress: true });
    return t.email;
  }

  async verify(token: unknown, meta: ClientMeta = NO_META): Promise<UserRecord> {
    const hash = tokenHash(token);
    const t = await checkToken(this.d.storage.emailTokens, hash, 'verify', this.d.clock());
    const user = await tokenOwner(this.d.storage.users, t, { sameAddress: true });
    await consumeToken(this.d.storage.emailTokens, hash, 'verify', this.d.clock());
    const verified = (r: UserRecord | null) => (r ? [this.d.events.make('email.verified', { actorId: user.id, userId: user.id, ip: meta.ip, userAgent: meta.userAgent }, {})] : []);
    // Only while the account still has the address the link went to: an administrator's change
    // landing meanwhile would otherwise be marked verified, unproven.
    const updated = await this.d.events.write<UserRecord | null>(verified, (emit) => this.d.storage.users.update(user.id, { emailVerified: true }, emit, { emailWas: t.email, isActiveWas: true }));
    if (!updated) throw await changedMeanwhile(this.d.storage.users, user.id);
    return updated;
  }

  private queue(user: UserRecord): Promise<string> {
    return this.d.queue.enqueue({ template: 'verify-email', to: user.email, data: { user_id: user.id }, needsPreparing: true });
  }
}
