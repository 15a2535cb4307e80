// Bulk inserts into a SQLite file from a worker thread with its own connection. better-sqlite3 is
// synchronous: on the main thread each batch's COMMIT (an fsync, synchronous = FULL) would stop
// everything else, so an import could not read and check its next batch meanwhile. In the worker
// it does not. Same pragmas as the adapter's connection (WAL lets both connections work at once).
// The worker's code is a string with no import of ours, so it runs the same from source (tsx) and
// built; it is handed the driver's resolved path.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The pragmas of every connection to a Warden SQLite file (sqlite.ts's and the worker's). */
export const SQLITE_PRAGMAS = [
  'journal_mode = WAL', // readers don't block the writer
  'busy_timeout = 5000', // wait for another connection's write lock instead of failing at once
  'foreign_keys = ON', // per connection; needed for ON DELETE CASCADE
  'synchronous = FULL', // a resolved write (a revocation especially) survives power loss
  // What a statement deletes or overwrites is zeroed in the file, not left in a free page or a
  // free block of its page: a deleted account's address, name and password hashes, an old hash
  // after a password change, a spent recovery code's hash (test/erasure.sqlite.test.ts).
  'secure_delete = ON',
  // The file read through a memory map, not a read() call per page, up to the most SQLite maps
  // unless built otherwise (just under 2 GiB): at a million users, where a random user's pages are
  // rarely in SQLite's own cache, /me took 1.9–2.4× its time at 1,000 users with it, 5.3× without.
  'mmap_size = 2147418112',
] as const;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
// As sqlite-driver.ts does on the main thread, no driver object is left to the garbage collector
// (on Node 24 its finalization can abort the process): no pragma() (a statement thrown away), and
// every statement stays referenced, its text with it. That is bounded: a bulk write's statements come
// in few texts (insertSlices in sql.ts: inserts of 1,000 rows and of powers of two, at most 33 texts
// for users, events and deliveries whatever the batch sizes; one of a 1,000-row insert holds more
// than a megabyte in SQLite).
const db = new Database(workerData.path);
for (const p of workerData.pragmas) db.exec('PRAGMA ' + p);
const statements = new Map(); // by text
const MISMATCH = new Error('mismatch');
// One write-locked transaction per message. A step with an expected count that changed another
// number of rows (a row skipped by ON CONFLICT DO NOTHING) undoes the whole transaction.
const write = db.transaction((steps) => {
  for (const { text, values, expect } of steps) {
    let stmt = statements.get(text);
    if (!stmt) statements.set(text, (stmt = db.prepare(text)));
    const changes = stmt.run(values).changes;
    if (expect !== undefined && changes !== expect) throw MISMATCH;
  }
});
parentPort.on('message', (steps) => {
  try {
    write.immediate(steps);
    parentPort.postMessage({ done: true });
  } catch (e) {
    if (e === MISMATCH) parentPort.postMessage({ done: false });
    else parentPort.postMessage({ error: { message: String(e && e.message), code: e && e.code } });
  }
});
`;

/** A statement of a bulk write; with `expect`, the number of rows it must change. */
export interface BulkStep {
  text: string;
  values: unknown[];
  expect?: number;
}

export interface BulkWriter {
  /**
   * Runs the steps in one transaction, after those sent before: true when it committed; false
   * when a step changed another number of rows than it expected, and the transaction was undone.
   */
  run(steps: BulkStep[]): Promise<boolean>;
  close(): Promise<void>;
}

export function sqliteBulkWriter(path: string): BulkWriter {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { path, driver, pragmas: SQLITE_PRAGMAS } });
  worker.unref(); // idle, it never holds the process open
  let failure: Error | undefined;
  // The worker takes messages in order, one transaction each, and answers each in that order: a
  // write sent while another runs starts the moment it ends.
  const pending: { resolve(v: boolean): void; reject(e: unknown): void }[] = [];
  const fail = (e: Error) => {
    failure = e;
    for (const p of pending.splice(0)) p.reject(e);
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`SQLite bulk writer stopped (exit ${code})`)));
  worker.on('message', (m: { done?: boolean; error?: { message: string; code?: string } }) => {
    const p = pending.shift();
    if (pending.length === 0) worker.unref();
    if (m.error) p?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    else p?.resolve(m.done === true);
  });
  return {
    run(steps) {
      return new Promise<boolean>((resolve, reject) => {
        if (failure) return reject(failure);
        pending.push({ resolve, reject });
        worker.ref();
        worker.postMessage(steps);
      });
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
