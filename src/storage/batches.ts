// Deleting what a retention rule has made due, a bounded batch per statement, letting requests in
// between: no statement holds locks or grows a transaction for long, nor holds SQLite's only
// thread (one DELETE of an hour's worth of sessions kept every request waiting 1.7 s).

/** Calls `purge(batch)` until a call deletes fewer than `batch` rows. Returns how many went. */
export async function deleteInBatches(purge: (batch: number) => Promise<number>, batch: number): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await purge(batch);
    total += n;
    if (n < batch) return total;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
