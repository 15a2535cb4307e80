// Abuse limits on asking for mails (reset, verification, address change): per address, so Warden
// cannot be used to flood an inbox, and per client IP, so one client cannot spray many. Counted in
// Redis when the server has it (every instance shares the numbers), else in memory. Addresses are
// counted by hash: the counter store never holds them.
import { createHash } from 'node:crypto';
import { WardenError } from '@warden/toolkit';
import { clientKey } from '../limits/client-key.js';
import { RateLimit } from '../limits/rate-limit.js';
import type { WindowCounter } from '../limits/window-counter.js';

export interface MailLimitOptions {
  counter: WindowCounter;
  maxPerAddress: number;
  maxPerIp: number;
  windowMs: number;
}

export class MailLimit {
  private readonly limit: RateLimit<'mail-address' | 'mail-ip'>;

  constructor(o: MailLimitOptions) {
    this.limit = new RateLimit(o.counter, {
      'mail-address': { max: o.maxPerAddress, windowMs: o.windowMs },
      'mail-ip': { max: o.maxPerIp, windowMs: o.windowMs },
    });
  }

  /** Counts a mail asked for `address` from `ip`; ERR_RATE_LIMITED (429, Retry-After) over a limit, ERR_UNAVAILABLE when the counter store fails. */
  async hit(address: string, ip: string | null): Promise<void> {
    let wait: number | null;
    try {
      wait = await this.limit.hit({ 'mail-address': createHash('sha256').update(address).digest('hex').slice(0, 32), 'mail-ip': clientKey(ip) });
    } catch {
      throw new WardenError('ERR_UNAVAILABLE', 'Service unavailable: the rate limit store does not answer', { retryAfter: 5 });
    }
    if (wait !== null) throw new WardenError('ERR_RATE_LIMITED', 'Too many mails asked for; try again later', { retryAfter: wait });
  }
}
