// Deleting what a retention rule has made due, a bounded batch per statement, letting requests in
// between: no statement holds locks or grows a transaction for long, nor holds SQLite's only
// thread (one DELETE of an hour's worth of sessions kept every request waiting 1.7 s).
//
// A bound in rows is not a bound in time: a row's cost depends on how scattered its index entries
// are and whether their pages are in memory. Deleting a year's events from a cold 2.9 GB SQLite file
// took 190 ms per batch of 1,000 (924 ms the longest), each event's entries in the user and actor
// indexes on pages of their own, against 5 ms for the same batch on a warm small one. So the batch
// follows the time its statements take, and the purge rests between them as long as the last one
// ran: a backlog is worked off at most half the thread's time, never in stalls longer than the target.

export interface BatchPacing {
  /** Longest a statement should take, in ms (default 50). */
  targetMs?: number;
  /** Rows in the first statement (default 16, or `batch` if smaller): grown while statements are quick. */
  firstBatch?: number;
  /** The clock statements are timed with (default performance.now). */
  now?: () => number;
  /** Waits between statements (default a timer). */
  pause?: (ms: number) => Promise<void>;
}

const rest = (ms: number) => new Promise<void>((resolve) => (ms < 1 ? setImmediate(resolve) : setTimeout(resolve, ms)));

/**
 * Calls `purge(n)` with up to `batch` rows at a time until a call deletes fewer than it was asked
 * for. Returns how many went.
 */
export async function deleteInBatches(purge: (batch: number) => Promise<number>, batch: number, pacing: BatchPacing = {}): Promise<number> {
  const targetMs = pacing.targetMs ?? 50;
  const now = pacing.now ?? (() => performance.now());
  const pause = pacing.pause ?? rest;
  let size = Math.max(1, Math.min(batch, pacing.firstBatch ?? 16));
  let total = 0;
  for (;;) {
    const started = now();
    const n = await purge(size);
    const took = now() - started;
    total += n;
    if (n < size) return total;
    // Halve after a slow statement, double after a quick one, within [1, batch].
    if (took > targetMs) size = Math.max(1, Math.floor(size / 2));
    else if (took < targetMs / 2) size = Math.min(batch, size * 2);
    await pause(took);
  }
}

// Each purge also runs on a timer in every instance, once soon after start as well as every
// period: an instance restarted more often than its period (frequent deploys, autoscaling) would
// otherwise never run it, and the tables it keeps would grow without bound. The first run waits a
// little, spread at random, so that instances started together do not all purge at once, and a run
// still going is not started again.

/** Runs `task` after `firstMs` (plus up to as much again, at random), then every `everyMs`; returns a stop function. */
export function periodically(task: () => Promise<unknown>, everyMs: number, firstMs: number): () => void {
  let busy = false;
  const run = () => {
    if (busy) return;
    busy = true;
    void task().catch(() => undefined).finally(() => (busy = false));
  };
  const first = setTimeout(run, firstMs + Math.floor(Math.random() * firstMs));
  const timer = setInterval(run, everyMs);
  first.unref();
  timer.unref();
  return () => {
    clearTimeout(first);
    clearInterval(timer);
  };
}
