// Housekeeping that runs on a timer in every instance (purges of what retention has made due).
// Each runs once soon after start as well as every period: an instance restarted more often than
// its period (frequent deploys, autoscaling) would otherwise never run it, and the tables it keeps
// would grow without bound. The first run waits a little, spread at random, so that instances
// started together do not all purge at once, and a run still going is not started again.

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
