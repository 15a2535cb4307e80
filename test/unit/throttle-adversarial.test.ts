// SignInThrottle.begin under adversarial concurrency: many attempts at once, right and wrong
// passwords, several logins and IPs, a shared store that answers late and sometimes fails,
// attempts that throw between begin and release. Every attempt must settle (begun or 429): a
// waiter left asleep is a request that never answers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WardenError } from '@warden/toolkit';
import { SignInThrottle, type SharedCounters } from '../../src/accounts/throttle.js';
import { testClock } from '../helpers/clock.js';
import { prng } from '../helpers/route-fuzz.js';

const WINDOW_MS = 10 * 60_000;

const turns = async (n: number) => { for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r)); };

/** A shared store in memory that answers a few event-loop turns later and fails now and then. */
function lateStore(random: () => number, failEvery: number): SharedCounters {
  const counts = new Map<string, number>();
  let calls = 0;
  const late = async () => {
    await turns(Math.floor(random() * 3));
    if (failEvery > 0 && ++calls % failEvery === 0) throw new Error('store down');
  };
  return {
    hit: async (keys) => { await late(); for (const k of keys) counts.set(k, (counts.get(k) ?? 0) + 1); },
    peek: async (keys) => { await late(); return keys.map((k) => (counts.has(k) ? { count: counts.get(k)!, ttlMs: WINDOW_MS } : null)); },
    clear: async (key) => { await late(); counts.delete(key); },
  };
}

async function flood(seed: number, o: { shared: boolean; failEvery: number; maxPerIp: number }): Promise<{ begun: number; refused: number }> {
  const random = prng(seed).next; // deterministic: the same run every time
  const clock = testClock(Date.UTC(2030, 0, 1));
  const t = new SignInThrottle({
    maxPerLogin: 3, maxPerIp: o.maxPerIp, windowMs: WINDOW_MS, clock,
    shared: o.shared ? lateStore(random, o.failEvery) : undefined,
  });
  const ips = ['192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2']; // the two IPv6 ones are one /64
  const logins = ['alice', 'bob', 'carol', 'ALICE ', 'nobody'];
  const outcomes: string[] = [];
  // One attempt as credentials.signIn runs it: begin, a hash's worth of turns, fail or succeed (or a throw), release in finally.
  const attempt = async (ip: string, login: string) => {
    let release: () => void;
    try {
      release = await t.begin(ip, login);
    } catch (e) {
      assert.ok(e instanceof WardenError && e.code === 'ERR_RATE_LIMITED', String(e));
      outcomes.push('429');
      return;
    }
    try {
      await turns(Math.floor(random() * 4));
      const r = random();
      if (r < 0.1) throw new Error('storage failed');
      if (r < 0.6) await t.fail(ip, login, [login.trim().toLowerCase()]);
      else await t.succeed(ip, login);
    } catch {
      // an attempt that failed otherwise: released all the same
    } finally {
      release();
    }
    outcomes.push('begun');
  };
  const all: Promise<void>[] = [];
  // Waves of attempts, some while earlier ones are still waiting.
  for (let wave = 0; wave < 8; wave++) {
    for (let i = 0; i < 60; i++) all.push(attempt(ips[Math.floor(random() * ips.length)]!, logins[Math.floor(random() * logins.length)]!));
    await turns(Math.floor(random() * 5));
    if (random() < 0.3) clock.advance(WINDOW_MS / 2); // windows end while attempts wait
  }
  let settled = false;
  const done = Promise.all(all).then(() => (settled = true));
  // Bounded in event-loop turns, not time: every attempt needs a few dozen at most.
  for (let i = 0; i < 20_000 && !settled; i++) await turns(1);
  assert.ok(settled, `${all.length - outcomes.length} of ${all.length} attempts never settled`);
  await done;
  return { begun: outcomes.filter((x) => x === 'begun').length, refused: outcomes.filter((x) => x === '429').length };
}

describe('sign-in throttle under adversarial concurrency: every attempt settles', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`memory only, per-IP limit, seed ${seed}`, async () => {
      const r = await flood(seed, { shared: false, failEvery: 0, maxPerIp: 6 });
      assert.equal(r.begun + r.refused, 480);
    });
    it(`late shared store failing now and then, seed ${seed}`, async () => {
      const r = await flood(seed, { shared: true, failEvery: 7, maxPerIp: 6 });
      assert.equal(r.begun + r.refused, 480);
    });
    it(`late shared store, no per-IP limit, seed ${seed}`, async () => {
      const r = await flood(seed, { shared: true, failEvery: 0, maxPerIp: Number.POSITIVE_INFINITY });
      assert.equal(r.begun + r.refused, 480);
    });
  }
});
