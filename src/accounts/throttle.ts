// Failed sign-in throttle: after too many failures for one (client IP, login) pair, or from one IP
// across logins, further attempts are refused with 429 until the window passes, right password or
// not (else guessing would go on with a yes/no signal). Keyed on the pair rather than the login
// alone so that a stranger cannot lock a user out. A window starts at a key's first failure.
//
// Counters live in this instance's memory, bounded (WindowCounters below), and, when a shared
// store is given (Redis, with REDIS_URL), there too, so that N instances do not grant N times the
// attempts. The shared store is consulted with a short timeout and never blocks a sign-in: while it
// fails, the memory counters (always kept too) decide alone, and it is retried after a pause.
import { hashedKey } from '../limits/hashed-key.js';
import { WardenError } from '@warden/toolkit';
import { clientKey } from '../limits/client-key.js';
import { InsertionOrdered } from '../limits/insertion-ordered.js';
import { emailKey } from '../storage/rules.js';

export interface ThrottleOptions {
  maxPerLogin: number; // failures per (ip, login) per window
  maxPerIp: number; // failures per ip per window; Infinity: no per-IP limit
  windowMs: number;
  clock: () => number;
  /** Counters shared by every instance (Redis); memory alone when absent. */
  shared?: SharedCounters | undefined;
  /** Told when the shared store stops answering (with why) and when it answers again. */
  onSharedState?: ((up: boolean, err?: unknown) => void) | undefined;
  /** CLIENT_IPV6_PREFIX: the IPv6 network a client is counted by (clientKey); 64 when absent. */
  ipv6Prefix?: number | undefined;
  /** Memory bounds (tests make them small); defaults: COUNTING_CAP and BLOCKED_CAP. */
  caps?: { counting: number; blocked: number } | undefined;
}

/** A key's failures in its current window. */
export interface Count {
  count: number;
  /** Epoch ms when the window (and any block) ends. */
  resetAt: number;
}

/** Failure counters every instance shares. Each call may reject (store down, timeout): the throttle then uses memory. */
export interface SharedCounters {
  /** Counts one failure for each key, starting its window of `windowMs` at its first failure. */
  hit(keys: readonly string[], windowMs: number): Promise<void>;
  /** Each key's count and the milliseconds left in its window, null for a key with no live window. */
  peek(keys: readonly string[]): Promise<({ count: number; ttlMs: number } | null)[]>;
  clear(key: string): Promise<void>;
}

/**
 * A login as the throttle counts it: as the sign-in looks it up (trimmed, lower case, NFC, as
 * storage's emailKey), so every spelling that reaches one account (an accent typed precomposed or
 * combining) spends one budget rather than SIGNIN_MAX_FAILURES each; then hashed, as the mail
 * limit counts addresses (mail-limit.ts): the keys, in memory and in Redis (a snapshot, MONITOR, a
 * replica), never hold what users typed, often their address. Before 2026-11-25 they held it:
 * `warden:throttle:l:<client>:<login>`.
 */
export const loginKey = (login: string): string => hashedKey(emailKey(login));

/** The same shared store under another key space, for a second throttle (e.g. second-factor codes). */
export function namespacedCounters(shared: SharedCounters, prefix: string): SharedCounters {
  const at = (keys: readonly string[]) => keys.map((k) => prefix + k);
  return {
    hit: (keys, windowMs) => shared.hit(at(keys), windowMs),
    peek: (keys) => shared.peek(at(keys)),
    clear: (key) => shared.clear(prefix + key),
  };
}

// About 400 bytes per entry (measured with IPv6 addresses and e-mail logins): 40 MB at most.
/** Keys below their limit kept in memory; beyond it the oldest window is dropped (its count restarts). */
export const COUNTING_CAP = 50_000;
/** Blocked keys kept in memory: never dropped before their block ends (see WindowCounters). */
export const BLOCKED_CAP = 50_000;

/** How long the throttle leaves a failing shared store alone before trying it again. */
const SHARED_RETRY_MS = 5_000;

export class SignInThrottle {
  private readonly memory: WindowCounters;
  private sharedDownUntil = 0;
  private sharedUp = true;
  /** Attempts begun and not yet released, per key (begin). */
  private readonly inFlight = new Map<string, number>();
  /** Attempts waiting for one in flight on this key to be answered (begin). */
  private readonly waiting = new Map<string, Array<() => void>>();

  constructor(private readonly o: ThrottleOptions) {
    this.memory = new WindowCounters(o.caps ?? { counting: COUNTING_CAP, blocked: BLOCKED_CAP });
  }

  /** Throws ERR_RATE_LIMITED (with retryAfter seconds) when this attempt must not be tried. */
  async check(ip: string | null, login: string): Promise<void> {
    const keys = this.keys(ip, login);
    const shared = await this.viaShared((s) => s.peek(keys.map((k) => k.key)));
    this.refuseIfOver(keys, shared);
  }

  /**
   * check(), and the attempt counted in flight until the returned release is called (after its
   * fail() or succeed(), or when it ends otherwise). A key never has more attempts in flight than
   * failures left: one more waits until one in flight is answered, then is checked again, so a
   * burst of guesses is tried no more often than the limit allows, and a burst of right passwords
   * (one office behind one address) is delayed by a hash, not refused. Without this, a burst all
   * passed the check before the first of them (a password hash later) was counted: 40 wrong
   * passwords at once against SIGNIN_MAX_FAILURES=5 were all tried. Per instance: the shared
   * store sees failures, not attempts in flight.
   */
  async begin(ip: string | null, login: string): Promise<() => void> {
    const keys = this.keys(ip, login);
    // The key this attempt last waited on: woken there, it takes that key's turn or hands it on.
    let wokenOn: string | undefined;
    for (;;) {
      const shared = await this.viaShared((s) => s.peek(keys.map((k) => k.key)));
      let full: string | undefined;
      try {
        // The check and the count in one synchronous stretch: no other attempt runs between them.
        full = this.refuseIfOver(keys, shared);
      } catch (e) {
        // Refused: the next waiter is refused too, or finds the room this one does not take.
        if (wokenOn !== undefined) this.wakeOne(wokenOn);
        throw e;
      }
      if (full === undefined) break;
      // Full again on the same key (a newcomer took the slot): back to the head of its line, an
      // answer there wakes it. Full on another key: the turn it was given is the next waiter's.
      if (wokenOn !== undefined && full !== wokenOn) this.wakeOne(wokenOn);
      const atHead = full === wokenOn;
      wokenOn = full;
      await new Promise<void>((wake) => this.enqueue(full, wake, atHead));
    }
    for (const { key } of keys) this.inFlight.set(key, (this.inFlight.get(key) ?? 0) + 1);
    // A success may have freed more than the one slot an answer frees: the next waiter checks too.
    if (wokenOn !== undefined) this.wakeOne(wokenOn);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      for (const { key } of keys) {
        const left = (this.inFlight.get(key) ?? 1) - 1;
        if (left > 0) this.inFlight.set(key, left);
        else this.inFlight.delete(key);
        // One waiter checks again (the answer may have counted a failure, or freed the key), and
        // hands on to the next while they can go on or are refused. Waking every waiter made each
        // answer cost a store read per waiter: 2,000 waiting on one login, 16,000 Redis calls a second.
        this.wakeOne(key);
      }
    };
  }

  private enqueue(key: string, wake: () => void, atHead: boolean): void {
    const line = this.waiting.get(key);
    if (line === undefined) this.waiting.set(key, [wake]);
    else if (atHead) line.unshift(wake);
    else line.push(wake);
  }

  private wakeOne(key: string): void {
    const line = this.waiting.get(key);
    const next = line?.shift();
    if (line !== undefined && line.length === 0) this.waiting.delete(key);
    next?.();
  }

  /** Throws when a key's failures reach its limit; else the first key whose attempts in flight fill what is left of it, if one does. */
  private refuseIfOver(keys: { key: string; max: number }[], shared: ({ count: number; ttlMs: number } | null)[] | null): string | undefined {
    let full: string | undefined;
    const now = this.o.clock();
    for (const [i, { key, max }] of keys.entries()) {
      const local = this.memory.get(key, now);
      const theirs = shared?.[i];
      const pending = this.inFlight.get(key) ?? 0;
      // The larger view wins: the shared count includes the other instances, ours survives a Redis restart.
      const seen = [local, theirs ? { count: theirs.count, resetAt: now + theirs.ttlMs } : null].filter((c): c is Count => c !== null);
      const over = seen.filter((c) => c.count >= max);
      // Attempts in flight would reach the limit if they all failed: this one waits for them.
      if (over.length === 0 && pending > 0 && Math.max(0, ...seen.map((c) => c.count)) + pending >= max) full ??= key;
      // Saturated memory cannot record new blocks, so a key already failing is refused meanwhile.
      if (over.length === 0 && !(local !== null && this.memory.saturated(now))) continue;
      const until = Math.max(...(over.length > 0 ? over : [local!]).map((c) => c.resetAt));
      throw new WardenError('ERR_RATE_LIMITED', 'Too many failed sign-in attempts; try again later', {
        retryAfter: Math.max(1, Math.ceil((until - now) / 1000)),
      });
    }
    return full;
  }

  /**
   * Counts a failure of (ip, login), and of (ip, alias) for each of the account's other names
   * (its username and email, when the login named an account): the account's budget is one,
   * whichever name is typed. The IP's count goes up once. Aliases are given only after the
   * password check, so the check before it costs the same whether the account exists or not.
   */
  async fail(ip: string | null, login: string, aliases: readonly string[] = []): Promise<void> {
    const keys = [...this.keys(ip, login), ...this.aliasKeys(ip, login, aliases)];
    const now = this.o.clock();
    for (const { key, max } of keys) this.memory.hit(key, max, now, this.o.windowMs);
    await this.viaShared((s) => s.hit(keys.map((k) => k.key), this.o.windowMs));
  }

  /** A success clears the pairs' counts, aliases included (not the IP's: one right guess must not reset a spray). */
  async succeed(ip: string | null, login: string, aliases: readonly string[] = []): Promise<void> {
    const pairs = [this.keys(ip, login)[0]!, ...this.aliasKeys(ip, login, aliases)].map((k) => k.key);
    for (const pair of pairs) this.memory.delete(pair);
    await this.viaShared((s) => Promise.all(pairs.map((pair) => s.clear(pair))));
  }

  private aliasKeys(ip: string | null, login: string, aliases: readonly string[]): { key: string; max: number }[] {
    const own = loginKey(login);
    const client = clientKey(ip, this.o.ipv6Prefix);
    const others = new Set(aliases.map(loginKey).filter((a) => a !== own));
    return [...others].map((a) => ({ key: `l:${client ?? ''}:${a}`, max: this.o.maxPerLogin }));
  }

  /** The (client, login) pair and the client alone; an IPv6 client is its network (clientKey, CLIENT_IPV6_PREFIX). */
  private keys(ip: string | null, login: string): { key: string; max: number }[] {
    const client = clientKey(ip, this.o.ipv6Prefix);
    const pair = { key: `l:${client ?? ''}:${loginKey(login)}`, max: this.o.maxPerLogin };
    return client === null || this.o.maxPerIp === Number.POSITIVE_INFINITY ? [pair] : [pair, { key: `i:${client}`, max: this.o.maxPerIp }];
  }

  /** Runs `fn` on the shared store unless it is resting after a failure; null when absent, resting or failing. */
  private async viaShared<T>(fn: (s: SharedCounters) => Promise<T>): Promise<T | null> {
    const shared = this.o.shared;
    if (shared === undefined || Date.now() < this.sharedDownUntil) return null;
    try {
      const out = await fn(shared);
      if (!this.sharedUp) (this.sharedUp = true, this.o.onSharedState?.(true));
      return out;
    } catch (err) {
      // Real time, not the injected clock: this paces calls to a server, it is no rule of the throttle.
      this.sharedDownUntil = Date.now() + SHARED_RETRY_MS;
      if (this.sharedUp) (this.sharedUp = false, this.o.onSharedState?.(false, err));
      return null;
    }
  }
}

/**
 * Windowed failure counters in bounded memory, every operation O(1) (amortised). Two tables:
 *  - `counting`, keys below their limit. Every window has the same length and an entry is added
 *    anew when its key's window restarts, so insertion order is window order: expired entries are
 *    dropped from the front, and when the table is full the oldest live one goes too (its partial
 *    count restarts; that is the price of the bound, and it never unblocks anyone);
 *  - `blocked`, keys that reached their limit, kept until their window ends whatever else happens
 *    (dropped from the front once expired). It has a hard cap. Filling it takes BLOCKED_CAP keys
 *    each failing its limit within one window — at least ten times BLOCKED_CAP password hashes,
 *    hours of CPU at argon2's cost — and while it is full ("saturated") no new block can be
 *    recorded, so any key with a failure counted is refused instead (the conservative side: an
 *    attacker gets one guess per key, a user who has not failed is not affected).
 */
export class WindowCounters {
  private readonly counting = new InsertionOrdered<Count>();
  private readonly blocked = new InsertionOrdered<Count>();

  constructor(private readonly caps: { counting: number; blocked: number }) {}

  get size(): number {
    return this.counting.size + this.blocked.size;
  }

  /** The key's live count, or null. */
  get(key: string, now: number): Count | null {
    const c = this.blocked.get(key) ?? this.counting.get(key);
    return c !== undefined && c.resetAt > now ? c : null;
  }

  /** True when no further block can be recorded. */
  saturated(now: number): boolean {
    this.blocked.dropExpired(now);
    return this.blocked.size >= this.caps.blocked;
  }

  /** Counts one failure of `key`, whose limit is `max`. */
  hit(key: string, max: number, now: number, windowMs: number): void {
    const b = this.blocked.get(key);
    if (b !== undefined && b.resetAt > now) {
      b.count++;
      return;
    }
    if (b !== undefined) this.blocked.delete(key);
    let c = this.counting.get(key);
    if (c === undefined || c.resetAt <= now) {
      this.counting.dropExpired(now);
      this.blocked.dropExpired(now);
      if (this.counting.size >= this.caps.counting) this.counting.dropOldest();
      c = { count: 0, resetAt: now + windowMs };
      this.counting.add(key, c);
    }
    c.count++;
    if (c.count >= max && !this.saturated(now)) {
      this.counting.delete(key);
      this.blocked.add(key, c);
    }
  }

  delete(key: string): void {
    this.counting.delete(key);
    this.blocked.delete(key);
  }
}
