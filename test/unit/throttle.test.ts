// The failed sign-in throttle, through Credentials.signIn: per (client IP, login) and per IP,
// for a window; a 429 says when to come back; a success clears the pair (not the IP).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError } from '@warden/toolkit';
import { loginKey, SignInThrottle, WindowCounters, type SharedCounters, type ThrottleOptions } from '../../src/accounts/throttle.js';
import { PASSWORD, accountsFixture, codeOf } from '../helpers/accounts.js';
import { testClock } from '../helpers/clock.js';

const WINDOW_MS = 10 * 60_000;

async function throttled() {
  const f = accountsFixture({ throttle: { maxPerLogin: 3, maxPerIp: 6, windowMs: WINDOW_MS } });
  for (const u of ['victim', 'other', 'third']) await f.addUser(u);
  const attempt = (login: string, password: string, ip = '192.0.2.1') =>
    f.accounts.credentials.signIn(login, password, { userAgent: null, ip });
  return { f, attempt };
}

describe('sign-in throttle', () => {
  it('locks the (ip, login) pair after the limit, even for the right password, and says for how long', async () => {
    const { f, attempt } = await throttled();
    for (let i = 0; i < 3; i++) assert.equal(await codeOf(attempt('victim', 'wrong-password')), 'ERR_BAD_CREDENTIALS');
    const checksBefore = f.hasher.verified.length;
    f.clock.advance(60_000);
    const locked = await attempt('victim', PASSWORD).catch((e: unknown) => e);
    assert.ok(locked instanceof WardenError);
    assert.equal(locked.code, 'ERR_RATE_LIMITED');
    assert.equal(locked.status, 429);
    assert.deepEqual(locked.details, { retryAfter: 540 }, 'the window counts from the first failure');
    assert.equal(f.hasher.verified.length, checksBefore, 'a locked attempt costs no hash');
    // The login in any case and with spaces is the same pair.
    assert.equal(await codeOf(attempt(' VICTIM ', PASSWORD)), 'ERR_RATE_LIMITED');
    // Another login from the same IP, and the same login from another IP, are free.
    assert.ok(await attempt('other', PASSWORD));
    assert.ok(await attempt('victim', PASSWORD, '198.51.100.7'));
  });

  it('the lock lifts when the window passes', async () => {
    const { f, attempt } = await throttled();
    for (let i = 0; i < 3; i++) await codeOf(attempt('victim', 'wrong-password'));
    f.clock.advance(WINDOW_MS - 1000);
    assert.equal(await codeOf(attempt('victim', PASSWORD)), 'ERR_RATE_LIMITED');
    f.clock.advance(1000);
    assert.ok(await attempt('victim', PASSWORD));
  });

  it('a success clears the pair\'s count', async () => {
    const { attempt } = await throttled();
    for (let i = 0; i < 2; i++) await codeOf(attempt('other', 'wrong-password'));
    assert.ok(await attempt('other', PASSWORD));
    for (let i = 0; i < 2; i++) await codeOf(attempt('other', 'wrong-password'));
    assert.ok(await attempt('other', PASSWORD), 'the earlier failures were forgotten');
  });

  it('the per-IP limit catches a spray across logins; a success does not clear it', async () => {
    const { attempt } = await throttled();
    for (const u of ['victim', 'other', 'third', 'nobody', 'nobody2']) await codeOf(attempt(u, 'wrong-password'));
    assert.ok(await attempt('victim', PASSWORD), '5 failures from the IP: still under its limit');
    assert.equal(await codeOf(attempt('nobody3', 'wrong-password')), 'ERR_BAD_CREDENTIALS');
    assert.equal(await codeOf(attempt('third', PASSWORD)), 'ERR_RATE_LIMITED');
    assert.ok(await attempt('third', PASSWORD, '198.51.100.7'), 'another IP is free');
  });

  it('without a throttle, failures are never refused', async () => {
    const f = accountsFixture();
    await f.addUser('victim');
    for (let i = 0; i < 20; i++) await codeOf(f.accounts.credentials.signIn('victim', 'wrong-password', f.meta));
    assert.ok(await f.signIn('victim'));
  });
});

describe('sign-in throttle memory: bounded, O(1), blocks kept', () => {
  const throttle = (o: Partial<ThrottleOptions> = {}) => {
    const clock = testClock(Date.UTC(2030, 0, 1));
    return { clock, t: new SignInThrottle({ maxPerLogin: 3, maxPerIp: 100, windowMs: WINDOW_MS, clock, ...o }) };
  };
  const refused = async (p: Promise<void>) => (await p.then(() => 'passed', (e: WardenError) => e.code));

  it('50,000 other failures do not unblock a blocked login', async () => {
    const { t } = throttle();
    for (let i = 0; i < 3; i++) await t.fail('192.0.2.1', 'victim');
    assert.equal(await refused(t.check('192.0.2.1', 'victim')), 'ERR_RATE_LIMITED');
    // 50,000 failures, each a new (ip, login) pair from a new IP: 100,000 new keys, twice the counting cap.
    for (let i = 0; i < 50_000; i++) await t.fail(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, `user${i}`);
    assert.equal(await refused(t.check('192.0.2.1', 'victim')), 'ERR_RATE_LIMITED');
  });

  it('the same with tiny caps: counting keys are evicted oldest first, blocked ones never before their block ends', async () => {
    const { t, clock } = throttle({ caps: { counting: 100, blocked: 100 } });
    for (let i = 0; i < 3; i++) await t.fail('192.0.2.1', 'victim');
    await t.fail('192.0.2.2', 'almost'); // one failure: a counting key
    for (let i = 0; i < 5_000; i++) await t.fail(`10.0.${i >> 8}.${i & 255}`, `user${i}`);
    assert.equal(await refused(t.check('192.0.2.1', 'victim')), 'ERR_RATE_LIMITED');
    // 'almost' was evicted (the price of the bound): its count restarted.
    for (let i = 0; i < 2; i++) await t.fail('192.0.2.2', 'almost');
    assert.equal(await refused(t.check('192.0.2.2', 'almost')), 'passed');
    clock.advance(WINDOW_MS);
    assert.equal(await refused(t.check('192.0.2.1', 'victim')), 'passed', 'the block ends with its window');
  });

  it('memory never holds more than its caps, and expired windows are dropped as new ones start', () => {
    const m = new WindowCounters({ counting: 1000, blocked: 500 });
    const now = Date.UTC(2030, 0, 1);
    for (let i = 0; i < 10_000; i++) m.hit(`k${i}`, i % 2 === 0 ? 1 : 5, now, WINDOW_MS); // every other key blocks at once
    assert.equal(m.size, 1000 + 500);
    // A window later every entry has expired: new hits drop them from the front.
    for (let i = 0; i < 10; i++) m.hit(`later${i}`, 5, now + WINDOW_MS, WINDOW_MS);
    assert.equal(m.size, 10);
  });

  it('when blocked keys fill their cap, any key already failing is refused (conservative); a clean key is not', async () => {
    const { t, clock } = throttle({ maxPerIp: Number.POSITIVE_INFINITY, caps: { counting: 1000, blocked: 2 } });
    for (const who of ['a', 'b']) for (let i = 0; i < 3; i++) await t.fail('192.0.2.1', who);
    await t.fail('192.0.2.1', 'c');
    assert.equal(await refused(t.check('192.0.2.1', 'c')), 'ERR_RATE_LIMITED', 'one failure is enough while saturated');
    assert.equal(await refused(t.check('192.0.2.1', 'clean')), 'passed');
    clock.advance(WINDOW_MS);
    assert.equal(await refused(t.check('192.0.2.1', 'c')), 'passed');
    assert.equal(await refused(t.check('192.0.2.1', 'a')), 'passed');
  });

  it('attempts begun and not yet answered count: no more in flight than failures left; the others wait, then are checked again', async () => {
    // A shared store that answers a peek a moment later (Redis): every concurrent attempt awaits it.
    const slow: SharedCounters = { hit: async () => {}, peek: async (keys) => { await new Promise((r) => setImmediate(r)); return keys.map(() => null); }, clear: async () => {} };
    const { t } = throttle({ shared: slow });
    const settled: Array<string> = [];
    const attempts = Array.from({ length: 10 }, () => t.begin('192.0.2.1', 'victim').then(
      (release) => (settled.push('begun'), release),
      (e: WardenError) => (settled.push(e.code), null),
    ));
    const turn = () => new Promise((r) => setImmediate(r));
    for (let i = 0; i < 5; i++) await turn();
    assert.deepEqual(settled, ['begun', 'begun', 'begun'], 'as many in flight as the limit; the rest wait');
    const first = (await Promise.all(attempts.slice(0, 3))) as Array<() => void>;
    // Answered wrong: the three failures count (the releases do not give them back), and every
    // waiter, checked again, is refused for the rest of the window.
    for (const release of first) await t.fail('192.0.2.1', 'victim'), release(), release();
    const rest = await Promise.all(attempts.slice(3));
    assert.deepEqual(rest, Array(7).fill(null));
    assert.deepEqual(settled.slice(3), Array(7).fill('ERR_RATE_LIMITED'));
    assert.equal(await refused(t.check('192.0.2.1', 'victim')), 'ERR_RATE_LIMITED');
  });

  it('a burst of right passwords is delayed, never refused: each waiter goes on as one in flight is answered', async () => {
    const { t } = throttle();
    await t.fail('192.0.2.1', 'victim'); // 1 of 3 counted: two may be in flight
    const attempts = Array.from({ length: 6 }, () => t.begin('192.0.2.1', 'victim'));
    let done = 0;
    // Each answered right (succeed clears the pair's count) and released, one after another.
    for (const attempt of attempts) {
      const release = await attempt;
      await t.succeed('192.0.2.1', 'victim');
      release();
      done++;
    }
    assert.equal(done, 6);
    assert.equal(await refused(t.check('192.0.2.1', 'victim')), 'passed');
  });

  it('an answer wakes the waiters that can go on, not all of them: a flood of one login costs a few store reads per answer', async () => {
    // One client held 2,000 right-password sign-ins of one account open at once: every answer woke
    // all the waiters, each read Redis again and queued itself anew (a copy of the whole queue),
    // 16,000 Redis commands a second and the event loop busy with the queue.
    let peeks = 0;
    const counting: SharedCounters = { hit: async () => {}, peek: async (keys) => (peeks++, keys.map(() => null)), clear: async () => {} };
    const { t } = throttle({ shared: counting });
    const attempts = Array.from({ length: 200 }, () => t.begin('192.0.2.1', 'victim'));
    const turn = () => new Promise((r) => setImmediate(r));
    for (let i = 0; i < 3; i++) await turn();
    peeks = 0;
    // Answered one at a time, right: each release lets one waiter go on.
    for (const attempt of attempts) {
      const release = await attempt;
      await t.succeed('192.0.2.1', 'victim');
      release();
    }
    assert.ok(peeks <= 3 * attempts.length, `${peeks} reads of the shared counts for ${attempts.length} answers`);
    // Waiters refused once the key is blocked are still woken, each once, and told 429.
    const more = Array.from({ length: 50 }, () => t.begin('192.0.2.1', 'victim').then(
      (release) => release, (e: WardenError) => e.code));
    for (let i = 0; i < 3; i++) await turn();
    const inFlight = (await Promise.all(more.slice(0, 3))) as Array<() => void>;
    for (const release of inFlight) await t.fail('192.0.2.1', 'victim'), release();
    assert.deepEqual(await Promise.all(more.slice(3)), Array(47).fill('ERR_RATE_LIMITED'));
  });

  // A waiter left asleep never settles: the test's timeout is what fails then.
  it('a waiter woken on its login that must wait on its IP instead hands its login\'s turn on: no waiter is left asleep', { timeout: 10_000 }, async () => {
    // Counts as the shared store reports them (other instances' failures), set by the test.
    const counts = new Map<string, number>();
    const store: SharedCounters = {
      hit: async () => {}, clear: async () => {},
      peek: async (keys) => keys.map((k) => (counts.has(k) ? { count: counts.get(k)!, ttlMs: WINDOW_MS } : null)),
    };
    const { t } = throttle({ shared: store, maxPerIp: 6 });
    const settle = (p: Promise<() => void>) => p.then((release) => release, (e: WardenError) => e.code);
    const turn = () => new Promise((r) => setImmediate(r));
    counts.set(`l:192.0.2.1:${loginKey('victim')}`, 2); // one more in flight fills the login's 3
    const a = await t.begin('192.0.2.1', 'victim');
    const b = await t.begin('192.0.2.1', 'other');
    const waiters = [settle(t.begin('192.0.2.1', 'victim')), settle(t.begin('192.0.2.1', 'victim'))];
    await turn();
    // The login's count is cleared (a success elsewhere), but the IP fills up meanwhile: the first
    // waiter, woken, must now wait on the IP.
    counts.delete(`l:192.0.2.1:${loginKey('victim')}`);
    counts.set('i:192.0.2.1', 5);
    a();
    await turn();
    // The IP is then blocked: every waiter is told 429, none waits forever.
    counts.set('i:192.0.2.1', 6);
    b();
    assert.deepEqual(await Promise.all(waiters), ['ERR_RATE_LIMITED', 'ERR_RATE_LIMITED']);
  });

  it('a shared store that fails is left alone: memory decides, the failure is reported once', async () => {
    const states: boolean[] = [];
    let calls = 0;
    const down: SharedCounters = {
      hit: async () => { calls++; throw new Error('redis is down'); },
      peek: async () => { calls++; throw new Error('redis is down'); },
      clear: async () => { calls++; throw new Error('redis is down'); },
    };
    const { t } = throttle({ shared: down, onSharedState: (up) => states.push(up) });
    for (let i = 0; i < 3; i++) await t.fail('192.0.2.1', 'victim');
    assert.equal(await refused(t.check('192.0.2.1', 'victim')), 'ERR_RATE_LIMITED');
    assert.deepEqual(states, [false]);
    assert.equal(calls, 1, 'after one failure the store rests (for seconds of real time)');
  });
});
