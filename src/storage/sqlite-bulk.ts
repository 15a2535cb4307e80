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
] as const;

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path);
for (const p of workerData.pragmas) db.pragma(p);
const statements = new Map();
const prepared = (text) => {
  let stmt = statements.get(text);
  if (!stmt) statements.set(text, (stmt = db.prepare(text)));
  return stmt;
};
// One write-locked transaction per batch; per row, whether it went in (ON CONFLICT DO NOTHING),
// and when it did, the statements that go with it (its events).
const insert = db.transaction((stmt, rows, after) => rows.map((r, i) => {
  const went = stmt.run(...r).changes > 0;
  if (went && after) for (const s of after[i]) prepared(s.text).run(...s.values);
  return went;
}));
parentPort.on('message', ({ text, rows, after }) => {
  try {
    parentPort.postMessage({ inserted: insert.immediate(prepared(text), rows, after) });
  } catch (e) {
    parentPort.postMessage({ error: { message: String(e && e.message), code: e && e.code } });
  }
});
`;

/** A statement as the driver takes it (sql.ts render). */
export interface Rendered {
  text: string;
  values: unknown[];
}

export interface BulkWriter {
  /**
   * Runs `text` once per row of values in one transaction, and after a row that inserted, the
   * statements `after` holds for it; per row, whether it inserted a row.
   */
  run(text: string, rows: unknown[][], after?: readonly (readonly Rendered[])[]): Promise<boolean[]>;
  close(): Promise<void>;
}

export function sqliteBulkWriter(path: string): BulkWriter {
  const driver = createRequire(import.meta.url).resolve('better-sqlite3');
  const worker = new Worker(WORKER, { eval: true, workerData: { path, driver, pragmas: SQLITE_PRAGMAS } });
  worker.unref(); // idle, it never holds the process open
  let failure: Error | undefined;
  let pending: { resolve(v: boolean[]): void; reject(e: unknown): void } | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const fail = (e: Error) => {
    failure = e;
    pending?.reject(e);
    pending = undefined;
  };
  worker.on('error', fail);
  worker.on('exit', (code) => fail(new Error(`SQLite bulk writer stopped (exit ${code})`)));
  worker.on('message', (m: { inserted?: boolean[]; error?: { message: string; code?: string } }) => {
    const p = pending;
    pending = undefined;
    worker.unref();
    if (m.error) p?.reject(Object.assign(new Error(m.error.message), { code: m.error.code }));
    else p?.resolve(m.inserted!);
  });
  return {
    run(text, rows, after) {
      // One batch at a time, in order.
      const result = queue.then(() => new Promise<boolean[]>((resolve, reject) => {
        if (failure) return reject(failure);
        pending = { resolve, reject };
        worker.ref();
        worker.postMessage({ text, rows, after });
      }));
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      worker.removeAllListeners('exit');
      await worker.terminate();
    },
  };
}
