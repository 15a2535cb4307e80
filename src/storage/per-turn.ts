// Calls gathered per turn of the event loop. Requests that arrive together (each in its own I/O
// callback of one poll phase) are handed over together, once those callbacks have run: setImmediate
// fires after the poll phase, where a microtask would fire after each callback, one at a time.
// The adapters send refresh rotations to the database so (sqlite.ts, postgres.ts).

export interface PerTurn<Q> {
  /** Queues `q`; the turn's queue is handed over after this turn's I/O callbacks. */
  add(q: Q): void;
  /** Hands over what is queued now (before a close). */
  flush(): void;
}

export function perTurn<Q>(handle: (batch: Q[]) => void): PerTurn<Q> {
  let queued: Q[] = [];
  const flush = (): void => {
    const batch = queued;
    queued = [];
    if (batch.length > 0) handle(batch);
  };
  return {
    add(q) {
      if (queued.length === 0) setImmediate(flush);
      queued.push(q);
    },
    flush,
  };
}
