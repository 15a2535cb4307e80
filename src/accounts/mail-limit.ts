// Abuse limits on asking for mails (reset, verification, address change): per address, so Warden
// cannot be used to flood an inbox, and per client IP, so one client cannot spray many. Counted in
// Redis when the server has it (every instance shares the numbers), else in memory. Addresses are
// counted by hash: the counter store never holds them.
import { hashedKey } from '../limits/hashed-key.js';
import { WardenError } from '@warden/toolkit';
import { clientKey } from '../limits/client-key.js';
import { RateLimit } from '../limits/rate-limit.js';
import type { WindowCounter } from '../limits/window-counter.js';

export interface MailLimitOptions {
  counter: WindowCounter;
  maxPerAddress: number;
  maxPerIp: number;
  windowMs: number;
  /** CLIENT_IPV6_PREFIX: the IPv6 network a client is counted by (clientKey); 64 when absent. */
  ipv6Prefix?: number | undefined;
}

export class MailLimit {
  private readonly limit: RateLimit<'mail-address' | 'mail-ip' | 'notice-address' | 'change-notice-address'>;

  private readonly ipv6Prefix: number | undefined;

  constructor(o: MailLimitOptions) {
    this.ipv6Prefix = o.ipv6Prefix;
    this.limit = new RateLimit(o.counter, {
      'mail-address': { max: o.maxPerAddress, windowMs: o.windowMs },
      'mail-ip': { max: o.maxPerIp, windowMs: o.windowMs },
      'notice-address': { max: o.maxPerAddress, windowMs: o.windowMs },
      'change-notice-address': { max: o.maxPerAddress, windowMs: o.windowMs },
    });
  }

  /**
   * Whether a security notice may go to `address`: as many per window as mails asked for, counted
   * apart (an account's own sign-ins must not use up its address's reset budget). Someone who
   * signed up with another's address, never verified, could otherwise mail it a "new sign-in"
   * with a user agent of their choosing at every sign-in. True when the counter store fails: a
   * notice is worth more than its count.
   *
   * New-sign-in notices and the notices of a change (password, address, deletion) count apart: a
   * thief holding the password could otherwise sign in past the cap (as 'devices' looking like the
   * owner's) and then change the password and the address with nothing told to the owner.
   */
  async noticeAllowed(address: string, kind: 'sign-in' | 'change'): Promise<boolean> {
    try {
      return (await this.limit.hit({ [kind === 'sign-in' ? 'notice-address' : 'change-notice-address']: addressKey(address) })) === null;
    } catch {
      return true;
    }
  }

  /** Counts a mail asked for `address` from `ip`; ERR_RATE_LIMITED (429, Retry-After) over a limit, ERR_UNAVAILABLE when the counter store fails. */
  async hit(address: string, ip: string | null): Promise<void> {
    let wait: number | null;
    try {
      wait = await this.limit.hit({ 'mail-address': addressKey(address), 'mail-ip': clientKey(ip, this.ipv6Prefix) });
    } catch {
      throw new WardenError('ERR_UNAVAILABLE', 'Service unavailable: the rate limit store does not answer', { retryAfter: 5 });
    }
    if (wait !== null) throw new WardenError('ERR_RATE_LIMITED', 'Too many mails asked for; try again later', { retryAfter: wait });
  }
}

/** Addresses are counted by hash: the counter store never holds them. */
const addressKey = hashedKey;
