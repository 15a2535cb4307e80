// The limit on sign-ups per client IP: one client cannot create accounts in bulk, nor probe which
// names and addresses are taken (a taken one is answered before any password hash, so it is cheap)
// faster than the limit. Every attempt that passes validation counts, refused ones included.
// An administrator's or the system's creations are never counted.
import { WardenError } from '@warden/toolkit';
import { RateLimit } from '../limits/rate-limit.js';
import type { WindowCounter } from '../limits/window-counter.js';

export interface SignUpLimitOptions {
  counter: WindowCounter;
  /** Infinity: no limit. */
  maxPerIp: number;
  windowMs: number;
}

export class SignUpLimit {
  private readonly limit: RateLimit<'signup-ip'>;

  constructor(o: SignUpLimitOptions) {
    this.limit = new RateLimit(o.counter, { 'signup-ip': { max: o.maxPerIp, windowMs: o.windowMs } });
  }

  /** Counts a sign-up from `ip` (none when unknown); ERR_RATE_LIMITED (429, Retry-After) over the limit. */
  async hit(ip: string | null): Promise<void> {
    const wait = await this.limit.hit({ 'signup-ip': ip });
    if (wait !== null) throw new WardenError('ERR_RATE_LIMITED', 'Too many sign-ups from this address; try again later', { retryAfter: wait });
  }
}
