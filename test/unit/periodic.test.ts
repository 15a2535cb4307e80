// Housekeeping timers: a run soon after start (an instance restarted more often than the period
// still purges), then every period; never two runs of one task at once; stopped for good by stop().
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { periodically } from '../../src/storage/batches.js';

/** Moves the mocked clock, then lets the settled runs' callbacks (their `finally`) happen. */
async function tick(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

describe('periodically', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
  afterEach(() => mock.timers.reset());

  it('runs once within twice the first delay of start, then every period, and not after stop', async () => {
    let runs = 0;
    const stop = periodically(async () => void runs++, 3_600_000, 30_000);
    await tick(29_999);
    assert.equal(runs, 0);
    await tick(30_001);
    assert.equal(runs, 1, 'an instance restarted within the hour has purged once');
    await tick(3_600_000 - 60_000);
    assert.equal(runs, 2);
    await tick(3_600_000);
    assert.equal(runs, 3);
    stop();
    await tick(10 * 3_600_000);
    assert.equal(runs, 3);
  });

  it('a run still going is not started again, and a failed run does not stop the next', async () => {
    let started = 0;
    let finish: () => void = () => undefined;
    const stop = periodically(() => {
      started++;
      return started === 1 ? new Promise<void>((resolve) => (finish = resolve)) : Promise.reject(new Error('database away'));
    }, 1000, 100);
    await tick(200);
    await tick(1000);
    await tick(1000);
    assert.equal(started, 1, 'the first run is still going');
    finish();
    await tick(0); // its end is seen
    await tick(1000);
    assert.equal(started, 2);
    await tick(1000);
    assert.equal(started, 3, 'a failed run leaves the next to run');
    stop();
  });
});
