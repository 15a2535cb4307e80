// The window tables of the sign-in throttle (accounts/throttle.ts) and of the in-memory limit
// counter (window-counter.ts): where windows of one length are added as they begin, the order of
// addition is the order they end.

/**
 * A Map with its entries in the order they were added, and cheap removal of the oldest. Not a Map
 * iterated from the front: V8 leaves a hole for each deleted entry until the table is rebuilt, so
 * a Map used as a queue scans ever more holes to find its first entry (measured: a throttle built
 * that way spent 70 µs per failure once full). The queue here is an array with a moving head;
 * entries deleted or replaced stay in it as stale items, skipped at the head and swept out when
 * they outnumber the live ones (amortised O(1)).
 */
export class InsertionOrdered<C extends { resetAt: number }> {
  private readonly map = new Map<string, C>();
  private queue: { key: string; c: C }[] = [];
  private head = 0;

  get size(): number {
    return this.map.size;
  }

  get(key: string): C | undefined {
    return this.map.get(key);
  }

  /** Adds `key` as the newest entry (replacing any entry it had). */
  add(key: string, c: C): void {
    this.map.set(key, c);
    this.queue.push({ key, c });
    // Sweep when consumed or stale items outnumber the live entries: each sweep costs what the
    // pushes since the last one did, so O(1) per add over time.
    if (this.queue.length > 2 * this.map.size + 1024) {
      this.queue = this.queue.slice(this.head).filter((e) => this.map.get(e.key) === e.c);
      this.head = 0;
    }
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  dropOldest(): void {
    const e = this.oldest();
    if (e !== undefined) (this.map.delete(e.key), this.head++);
  }

  /** Drops entries from the front while they have expired at `now`. */
  dropExpired(now: number): void {
    for (let e = this.oldest(); e !== undefined && e.c.resetAt <= now; e = this.oldest()) {
      this.map.delete(e.key);
      this.head++;
    }
  }

  /** When the oldest live entry's window ends, or undefined when there is none. */
  oldestResetAt(): number | undefined {
    return this.oldest()?.c.resetAt;
  }

  /** The oldest live entry, skipping stale items at the head. */
  private oldest(): { key: string; c: C } | undefined {
    while (this.head < this.queue.length) {
      const e = this.queue[this.head]!;
      if (this.map.get(e.key) === e.c) return e;
      this.head++;
    }
    this.queue = [];
    this.head = 0;
    return undefined;
  }
}
