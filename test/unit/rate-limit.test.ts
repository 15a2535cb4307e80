// Fixed windows and a limit over several keys: allowed up to the maximum, refused past it with the
// seconds left in the window, and allowed again once the window has passed.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { WardenError } from '@warden/toolkit';
import { MailLimit } from '../../src/accounts/mail-limit.js';
import { RateLimit } from '../../src/limits/rate-limit.js';
import { MAX_TRACKED, fallbackCounter, memoryCounter, type WindowCounter } from '../../src/limits/window-counter.js';
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

it('a shared counter that fails: counted in memory meanwhile, tried again after its rest, told once each way', async () => {
  const clock = testClock(0);
  let failing = false;
  const shared = memoryCounter(clock);
  // The shared store's contract as Redis keeps it, failing on demand (an outage).
  const flaky: WindowCounter = {
    hit: async (key, windowMs) => {
      if (failing) throw new Error('Command timed out');
      return shared.hit(key, windowMs);
    },
    close: async () => {},
  };
  const states: boolean[] = [];
  const counter = fallbackCounter(flaky, memoryCounter(clock), { clock, restMs: 5_000, onState: (up) => states.push(up) });
  assert.equal((await counter.hit('k', 60_000)).count, 1);
  failing = true;
  assert.equal((await counter.hit('k', 60_000)).count, 1, 'memory starts its own count');
  failing = false;
  clock.advance(4_999);
  assert.equal((await counter.hit('k', 60_000)).count, 2, 'still resting: memory');
  clock.advance(1);
  assert.equal((await counter.hit('k', 60_000)).count, 2, 'the shared count again, where it was');
  assert.deepEqual(states, [false, true]);
});

it('the mail limit, its counter store failing: 503 ERR_UNAVAILABLE that says when to retry', async () => {
  const failing: WindowCounter = { hit: async () => { throw new Error('Connection is closed.'); }, close: async () => {} };
  const limit = new MailLimit({ counter: failing, maxPerAddress: 5, maxPerIp: 20, windowMs: 60_000 });
  await assert.rejects(limit.hit('a@example.com', '10.0.0.1'), (e: unknown) =>
    e instanceof WardenError && e.code === 'ERR_UNAVAILABLE' && e.details?.retryAfter === 5);
});

it('memory: full of live windows, a new key drops the window that ends first; expired windows go before any live one; counts stay right', async () => {
  const clock = testClock(0);
  const counter = memoryCounter(clock);
  // An hour-long window first, then the table filled with five-minute ones.
  assert.equal((await counter.hit('mail-ip:a', 3_600_000)).count, 1);
  for (let i = 1; i < MAX_TRACKED; i++) await counter.hit(`sign-up:${i}`, 300_000);
  clock.advance(1000);
  assert.equal((await counter.hit('sign-up:new', 300_000)).count, 1);
  assert.equal((await counter.hit('mail-ip:a', 3_600_000)).count, 2, 'the hour-long window, added first, ends last: kept');
  assert.equal((await counter.hit('sign-up:1', 300_000)).count, 1, 'the five-minute window that ended first was dropped: a new count');
  assert.equal((await counter.hit(`sign-up:${MAX_TRACKED - 1}`, 300_000)).count, 2, 'a later one kept its count');
  // Past the five-minute windows: they are dropped, and nothing live with them.
  clock.advance(300_000);
  for (let i = 0; i < 10; i++) await counter.hit(`sign-up:after${i}`, 300_000);
  assert.equal((await counter.hit('mail-ip:a', 3_600_000)).count, 3);
  assert.deepEqual((await counter.hit('sign-up:after0', 300_000)), { count: 2, remainingMs: 300_000 });
});
