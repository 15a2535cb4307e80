// Fixed windows and a limit over several keys: allowed up to the maximum, refused past it with the
// seconds left in the window, and allowed again once the window has passed.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { RateLimit } from '../../src/limits/rate-limit.js';
import { memoryCounter } from '../../src/limits/window-counter.js';
import { testClock } from '../helpers/clock.js';

it('counts each key against its rule and reports the longest wait', async () => {
  const clock = testClock(0);
  const limit = new RateLimit(memoryCounter(clock), { address: { max: 2, windowMs: 60_000 }, ip: { max: 3, windowMs: 120_000 } });
  assert.equal(await limit.hit({ address: 'a', ip: 'x' }), null);
  assert.equal(await limit.hit({ address: 'a', ip: 'x' }), null);
  clock.advance(10_000);
  assert.equal(await limit.hit({ address: 'a', ip: 'x' }), 50, 'the address is over; its window ends in 50 s');
  assert.equal(await limit.hit({ address: 'b', ip: 'x' }), 110, 'the IP is over (3 before this one)');
  assert.equal(await limit.hit({ address: 'c', ip: null }), null, 'a null key is not counted');
  clock.advance(50_000);
  assert.equal(await limit.hit({ address: 'a', ip: 'z' }), null, 'a new window');
});

it('a rule without a maximum counts nothing', async () => {
  const limit = new RateLimit(memoryCounter(testClock(0)), { address: { max: Infinity, windowMs: 1000 } });
  for (let i = 0; i < 100; i++) assert.equal(await limit.hit({ address: 'a' }), null);
});
