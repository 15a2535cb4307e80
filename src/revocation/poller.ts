// While the bus is down this instance cannot hear of the revocations other instances make, so it
// reads the new ones from the store instead, every `everyMs`. Each read goes back `overlapMs`
// before the previous one began: a record is stamped with its writer's clock before it commits,
// so a short overlap covers commit latency, clock skew between instances and the time it took to
// notice the bus was down. Applying a record twice changes nothing.
import type { RevocationIndex } from './index.js';
import type { RevocationStore } from './records.js';

export class RevocationPoller {
  private timer: NodeJS.Timeout | undefined;
  private since = 0;
  private polling = false;
  /** Stop after a read begun at or after this time succeeds (the bus is back; the store may not be yet); Infinity: keep polling. */
  private stopAfterReadFrom = Number.POSITIVE_INFINITY;

  constructor(
    private readonly store: RevocationStore,
    private readonly index: RevocationIndex,
    private readonly clock: () => number,
    private readonly everyMs: number,
    private readonly overlapMs = 5000,
  ) {}

  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Starts polling (at once, then every `everyMs`) for records written from a little before now. */
  start(): void {
    this.stopAfterReadFrom = Number.POSITIVE_INFINITY;
    if (this.timer) return;
    this.since = this.clock() - this.overlapMs;
    this.timer = setInterval(() => void this.poll(), this.everyMs);
    this.timer.unref();
    void this.poll();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /**
   * Stops once a read begun from now on has succeeded. For when the bus is back: what was written
   * while it was down is only known once the store has answered, and the store may be down too.
   */
  stopOnceCaughtUp(): void {
    if (!this.timer) return;
    this.stopAfterReadFrom = this.clock();
    void this.poll();
  }

  private async poll(): Promise<void> {
    // One read at a time: with the database slow too, reads must not pile up.
    if (this.polling) return;
    this.polling = true;
    const startedAt = this.clock();
    try {
      for (const r of await this.store.listRecordedSince(this.since)) this.index.apply(r);
      this.since = startedAt - this.overlapMs;
      if (startedAt >= this.stopAfterReadFrom) this.stop();
    } catch {
      // The database is unreachable as well: nothing to learn; the next tick tries again from the same point.
    } finally {
      this.polling = false;
    }
  }
}
