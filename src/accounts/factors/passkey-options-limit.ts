// The limit on passwordless sign-in options per client IP. Each POST /auth/passkey/options stores a
// challenge (live for CEREMONY_TTL_MS, 5 minutes) before anyone has proved anything: without a
// limit, one client could fill the challenges table as fast as it can send requests. Counted over
// the challenge's own lifetime, so the limit is also the most live challenges one client holds.
import { WardenError } from '@warden/toolkit';
import { RateLimit } from '../../limits/rate-limit.js';
import type { WindowCounter } from '../../limits/window-counter.js';
import { CEREMONY_TTL_MS } from './passkeys.js';

export class PasskeyOptionsLimit {
  private readonly limit: RateLimit<'passkey-options-ip'>;

  /** `maxPerIp`: Infinity for no limit. */
  constructor(counter: WindowCounter, maxPerIp: number) {
    this.limit = new RateLimit(counter, { 'passkey-options-ip': { max: maxPerIp, windowMs: CEREMONY_TTL_MS } });
  }

  /** Counts one request from `ip` (none when unknown); ERR_RATE_LIMITED (429, Retry-After) over the limit. */
  async hit(ip: string | null): Promise<void> {
    const wait = await this.limit.hit({ 'passkey-options-ip': ip });
    if (wait !== null) throw new WardenError('ERR_RATE_LIMITED', 'Too many passkey sign-in attempts from this address; try again later', { retryAfter: wait });
  }
}
