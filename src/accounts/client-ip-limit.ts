// Limits per client IP on what anyone may ask before proving anything, each a rule counted in the
// shared limit counter (Redis when configured, else each instance's memory):
//  - sign-ups (SIGNUP_LIMIT_PER_IP): one client cannot create accounts in bulk, nor probe which
//    names and addresses are taken (a taken one is answered before any password hash, so it is
//    cheap). Every attempt that passes validation counts, refused ones included; an
//    administrator's or the system's creations are never counted;
//  - passwordless sign-in options (PASSKEY_OPTIONS_LIMIT_PER_IP): each stores a challenge for
//    CEREMONY_TTL_MS, counted over that lifetime, so the limit is also the most live challenges
//    one client holds; without it one client could fill the table as fast as it sends.
import { WardenError } from '@warden/toolkit';
import { clientKey } from '../limits/client-key.js';
import { RateLimit, type LimitRule } from '../limits/rate-limit.js';
import type { WindowCounter } from '../limits/window-counter.js';

export class ClientIpLimit {
  private readonly limit: RateLimit<string>;

  /**
   * `name` keys the counts (`name:ip`); `rule.max` Infinity for no limit; `refusal` is the 429's
   * message; `ipv6Prefix` (CLIENT_IPV6_PREFIX) the IPv6 network a client is counted by, 64 when absent.
   */
  constructor(counter: WindowCounter, private readonly name: string, rule: LimitRule, private readonly refusal: string,
    private readonly ipv6Prefix?: number) {
    this.limit = new RateLimit(counter, { [name]: rule });
  }

  /** Counts one request from `ip` (none when unknown; an IPv6 client by its network); ERR_RATE_LIMITED (429, Retry-After) over the limit. */
  async hit(ip: string | null): Promise<void> {
    const wait = await this.limit.hit({ [this.name]: clientKey(ip, this.ipv6Prefix) });
    if (wait !== null) throw new WardenError('ERR_RATE_LIMITED', this.refusal, { retryAfter: wait });
  }
}
