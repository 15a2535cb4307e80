// A rate limit over several keys at once (say, per address and per client IP): each request counts
// once against every key given, and is refused while any key is over its rule's maximum. Counting
// refused requests too is deliberate: a flood keeps its window full instead of probing its edge.
import type { WindowCounter } from './window-counter.js';

export interface LimitRule {
  /** Requests per window; Infinity for none. */
  max: number;
  windowMs: number;
}

export class RateLimit<K extends string> {
  constructor(private readonly counter: WindowCounter, private readonly rules: Record<K, LimitRule>) {}

  /**
   * Counts one request against each given key (keys that are null or whose rule has no maximum
   * are skipped). Returns null when allowed, else the seconds until it would be.
   */
  async hit(keys: Partial<Record<K, string | null>>): Promise<number | null> {
    let wait = 0;
    for (const [rule, key] of Object.entries(keys) as [K, string | null | undefined][]) {
      const r = this.rules[rule];
      if (key === null || key === undefined || !Number.isFinite(r.max)) continue;
      const { count, remainingMs } = await this.counter.hit(`${rule}:${key}`, r.windowMs);
      if (count > r.max) wait = Math.max(wait, Math.ceil(remainingMs / 1000));
    }
    return wait > 0 ? wait : null;
  }
}
