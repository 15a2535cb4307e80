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

  private async poll(): Promise<void> {
    // One read at a time: with the database slow too, reads must not pile up.
    if (this.polling) return;
    this.polling = true;
    const startedAt = this.clock();
    try {
      for (const r of await this.store.listRecordedSince(this.since)) this.index.apply(r);
      this.since = startedAt - this.overlapMs;
    } catch {
      // The database is unreachable as well: nothing to learn; the next tick tries again from the same point.
    } finally {
      this.polling = false;
    }
  }
}
