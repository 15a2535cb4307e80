// The retention purges (events, sessions, finished mails) delete a backlog in batches whose size
// follows the time each statement takes: on SQLite a statement holds the only thread, and a row's
// cost varies a hundredfold with how cold and scattered its index pages are (a year of events in a
// cold 2.9 GB file: 190 ms per 1,000, against 5 ms warm). A table of rows whose deletion costs a
// set time each, on a clock the test moves, stands for the database.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deleteInBatches } from '../../src/storage/batches.js';

/** `rows` due rows, each costing `msPerRow` of the clock to delete; records every statement. */
function backlog(rows: number, msPerRow: number) {
  let t = 0;
  let left = rows;
  const statements: { asked: number; ms: number }[] = [];
  const pauses: number[] = [];
  return {
    statements, pauses,
    now: () => t,
    pause: async (ms: number) => void pauses.push(ms),
    purge: async (batch: number) => {
      const n = Math.min(batch, left);
      left -= n;
      t += n * msPerRow;
      statements.push({ asked: batch, ms: n * msPerRow });
      return n;
    },
    get left() {
      return left;
    },
  };
}

describe('deleteInBatches', () => {
  it('deletes a slow backlog in statements no longer than the target, resting as long as each ran', async () => {
    const b = backlog(20_000, 0.9); // 900 ms per 1,000 rows: the cold file's worst batch
    const deleted = await deleteInBatches(b.purge, 1000, { now: b.now, pause: b.pause, targetMs: 50 });
    assert.equal(deleted, 20_000);
    assert.equal(b.left, 0);
    const longest = Math.max(...b.statements.map((s) => s.ms));
    assert.ok(longest <= 50, `longest statement ${longest} ms`);
    // The purge took at most half the thread: it rested after each statement as long as it ran.
    const ran = b.statements.reduce((sum, s) => sum + s.ms, 0);
    const rested = b.pauses.reduce((sum, ms) => sum + ms, 0);
    assert.ok(rested >= ran - b.statements.at(-1)!.ms, `ran ${ran} ms, rested ${rested} ms`);
  });

  it('shrinks the batch when statements slow down, and grows it back to the full batch when they are quick', async () => {
    const quick = backlog(50_000, 0.005); // 5 ms per 1,000 rows: a warm, small database
    assert.equal(await deleteInBatches(quick.purge, 1000, { now: quick.now, pause: quick.pause, targetMs: 50 }), 50_000);
    assert.equal(Math.max(...quick.statements.map((s) => s.asked)), 1000, 'reaches the full batch');
    assert.ok(quick.statements.length < 60, `${quick.statements.length} statements for 50,000 rows`);

    const slow = backlog(5_000, 5); // 5 ms a row: even 16 rows are over the target
    assert.equal(await deleteInBatches(slow.purge, 1000, { now: slow.now, pause: slow.pause, targetMs: 50 }), 5_000);
    assert.ok(slow.statements.slice(3).every((s) => s.ms <= 50), JSON.stringify(slow.statements.slice(0, 6)));
  });

  it('stops at the first statement that deletes fewer rows than it asked for', async () => {
    const b = backlog(3, 0.001);
    assert.equal(await deleteInBatches(b.purge, 1000, { now: b.now, pause: b.pause }), 3);
    assert.equal(b.statements.length, 1);
    const none = backlog(0, 0.001);
    assert.equal(await deleteInBatches(none.purge, 500, { now: none.now, pause: none.pause }), 0);
    assert.equal(none.statements.length, 1);
  });
});
