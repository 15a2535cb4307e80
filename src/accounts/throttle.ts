// Failed sign-in throttle: after too many failures for one (client IP, login) pair, or from one IP
// across logins, further attempts are refused with 429 until the window passes, right password or
// not (else guessing would go on with a yes/no signal). Keyed on the pair rather than the login
// alone so that a stranger cannot lock a user out. Per instance and in memory: a restart forgets.
import { WardenError } from '../errors.js';

export interface ThrottleOptions {
  maxPerLogin: number; // failures per (ip, login) per window
  maxPerIp: number; // failures per ip per window
  windowMs: number;
  clock: () => number;
}

interface Counter {
  count: number;
  resetAt: number;
}

const MAX_TRACKED = 100_000; // bounds memory under a spray of distinct keys

export class SignInThrottle {
  private readonly counters = new Map<string, Counter>();

  constructor(private readonly o: ThrottleOptions) {}

  /** Throws ERR_RATE_LIMITED (with retryAfter seconds) when this attempt must not be tried. */
  check(ip: string | null, login: string): void {
    const now = this.o.clock();
    for (const [key, max] of this.keys(ip, login)) {
      const c = this.counters.get(key);
      if (c !== undefined && c.resetAt > now && c.count >= max) {
        throw new WardenError('ERR_RATE_LIMITED', 'Too many failed sign-in attempts; try again later', {
          retryAfter: Math.ceil((c.resetAt - now) / 1000),
        });
      }
    }
  }

  fail(ip: string | null, login: string): void {
    const now = this.o.clock();
    if (this.counters.size >= MAX_TRACKED) this.sweep(now);
    for (const [key] of this.keys(ip, login)) {
      const c = this.counters.get(key);
      if (c === undefined || c.resetAt <= now) this.counters.set(key, { count: 1, resetAt: now + this.o.windowMs });
      else c.count++;
    }
  }

  /** A success clears the pair's count (not the IP's: one right guess must not reset a spray). */
  succeed(ip: string | null, login: string): void {
    this.counters.delete(`l:${ip ?? ''}:${login.toLowerCase()}`);
  }

  private keys(ip: string | null, login: string): [string, number][] {
    const pair: [string, number] = [`l:${ip ?? ''}:${login.toLowerCase()}`, this.o.maxPerLogin];
    return ip === null ? [pair] : [pair, [`i:${ip}`, this.o.maxPerIp]];
  }

  private sweep(now: number): void {
    for (const [k, c] of this.counters) if (c.resetAt <= now) this.counters.delete(k);
    // Still full of live counters: drop the oldest rather than grow without bound.
    while (this.counters.size >= MAX_TRACKED) this.counters.delete(this.counters.keys().next().value!);
  }
}
