// The verified-token cache behind createTokenVerifier's `cacheSize`. A hit skips the signature and
// the payload parse; what matters as much is that a miss costs next to nothing, because a gateway in
// front of many users sees mostly tokens it has never seen (or not for a long time). So:
//  - no string is sliced or hashed: entries are keyed by a number read from the signature's
//    characters (uniformly random for every alg), and a hit must still match the whole token text;
//  - once the cache is full, a token enters only on its second sighting, and only if it came back
//    sooner than entries now stay in the cache (a "doorkeeper": one typed array, no allocation);
//  - it adapts: every WINDOW requests it compares hits with admissions, and while admitted entries
//    earn fewer than 2 hits each, only tokens in 1 of 2, 4 ... 64 key classes are candidates (an
//    admitted entry costs an allocation that lives long enough to be promoted, about one verify;
//    the others skip the doorkeeper and its memory traffic too);
//  - it steps aside when it does not pay: measured on 100,000 tokens in rotation, a cache that
//    never hits made a verify 5–8% slower, and a full 10,000-entry one hitting 10% still 8%; so
//    while fewer than 15% of lookups hit, only 1 request in SAMPLE consults it, enough to see
//    traffic change (back at 25%), and the others go straight to a full verify;
//  - eviction is CLOCK (second chance), O(1) amortised: a Map's insertion order cannot serve as a
//    FIFO, because V8 leaves deleted slots in place and keys().next() walks past all of them.
// Written by hand because no caching library admits by reuse distance with a key that costs
// nothing to compute; the whole policy is this file.
import type { VerifiedToken } from './types.js';

export interface VerifyCacheStats {
  /** Tokens held now, and at most. */
  size: number;
  capacity: number;
  /** Lookups answered from the cache, and not. */
  hits: number;
  misses: number;
  /** Verified tokens that entered the cache. */
  admitted: number;
  /** 1 while admitted entries pay for themselves; n when only 1 token in n may be admitted. */
  admitEvery: number;
  /** Requests verified in full without a lookup, while the cache was not paying (counted in misses). */
  skipped: number;
  /** 1 while every request consults the cache; n while 1 in n does. */
  lookEvery: number;
}

interface Entry {
  readonly token: string;
  readonly verified: VerifiedToken;
  readonly key: number;
  /** When it entered (the lookup count): how long entries stay is the admission bar. */
  readonly since: number;
  /** Set on a hit; the clock hand spares it once. */
  used: boolean;
}

/**
 * 30 bits from characters 2..7 from the end (the last one carries padding bits), 5 bits of each
 * base64url character: a small integer, so a Map key V8 hashes without allocating. Not a security
 * boundary — a hit compares the whole token.
 */
function keyOf(token: string): number {
  const n = token.length;
  return (
    (token.charCodeAt(n - 2) & 31) |
    ((token.charCodeAt(n - 3) & 31) << 5) |
    ((token.charCodeAt(n - 4) & 31) << 10) |
    ((token.charCodeAt(n - 5) & 31) << 15) |
    ((token.charCodeAt(n - 6) & 31) << 20) |
    ((token.charCodeAt(n - 7) & 31) << 25)
  );
}

/** Another 25 bits (characters 8..12 from the end), never 0: the doorkeeper's tag. */
function tagOf(token: string): number {
  const n = token.length;
  return (
    ((token.charCodeAt(n - 8) & 31) |
      ((token.charCodeAt(n - 9) & 31) << 5) |
      ((token.charCodeAt(n - 10) & 31) << 10) |
      ((token.charCodeAt(n - 11) & 31) << 15) |
      ((token.charCodeAt(n - 12) & 31) << 20)) + 1
  );
}

/** Requests per judgement, and the most key classes one admissible class may stand for. */
const WINDOW = 4096;
const MAX_PERIOD = 64;
/** While the cache does not pay, 1 request in SAMPLE consults it; below OFF_BELOW of lookups hitting it steps aside, from ON_ABOVE it is back. */
const SAMPLE = 16;
const OFF_BELOW = 0.15;
const ON_ABOVE = 0.25;
/** Shorter strings are no JWS (they are refused by the verifier anyway). */
const MIN_LENGTH = 16;

export interface VerifyCache {
  /** Whether this request should go straight to a full verify (the cache is stepping aside); asked first, every request. */
  skip(): boolean;
  /** The cached result for exactly this token text, or undefined. */
  get(token: string): VerifiedToken | undefined;
  /**
   * Offers a token that has just passed full verification. Returns the result as the cache now
   * holds it (a new object: see `entry`), or undefined when it was not admitted.
   */
  offer(token: string, verified: VerifiedToken): VerifiedToken | undefined;
  stats(): VerifyCacheStats;
}

export function createVerifyCache(capacity: number): VerifyCache {
  const entries = new Map<number, Entry>();
  // The clock: entries in the order they entered; the hand points at the next one to consider.
  const ring: Entry[] = [];
  let hand = 0;
  // Doorkeeper: per slot, the tag of the last token seen there and when (the lookup count, as
  // int32: differences stay right across wrap-around), side by side so one check touches one
  // cache line. Two slots per entry: 256 KB for the default 10,000 entries, 16 MB at most.
  const slots = Math.min(2 ** 21, Math.max(1024, 2 ** Math.ceil(Math.log2(2 * capacity))));
  const seen = new Int32Array(2 * slots);
  // Presence filter: how many entries' keys fall in each bucket, so that most misses never touch
  // the Map (whose table, at 10,000 entries, is a cache miss of its own): 8 buckets per entry.
  const buckets = Math.min(2 ** 24, Math.max(1024, 2 ** Math.ceil(Math.log2(8 * capacity))));
  const present = new Uint8Array(buckets);
  let lookups = 0;
  let hits = 0;
  let admitted = 0;
  // The last key computed and whether the Map held it, so offer() right after a missed get()
  // does not look again.
  let lastToken = '';
  let lastKey = 0;
  let lastHeld = false;
  // Admission throttle: only tokens whose key's top bits are 0 mod `period` are candidates.
  let period = 1;
  let windowHits = 0;
  let windowAdmitted = 0;
  // Stepping aside: requests per window, the lookups among them, and the countdown of requests
  // to send past the cache before the next one consults it (gap: SAMPLE - 1 while stepping aside).
  let requests = 0;
  let windowLookups = 0;
  let gap = 0;
  let countdown = 0;
  let skipped = 0;

  function rejudge(): void {
    if (windowHits < 2 * windowAdmitted) period = Math.min(MAX_PERIOD, period * 2);
    // Widen again when entries earn plenty, or when nothing got in at all: the tokens worth
    // keeping may be in the key classes that were shut out.
    else if (period > 1 && (windowAdmitted === 0 || windowHits > 8 * windowAdmitted)) period /= 2;
    // The sampled lookups hit as often as all would: the same traffic, thinned evenly.
    const rate = windowLookups === 0 ? 0 : windowHits / windowLookups;
    if (gap === 0 && rate < OFF_BELOW) gap = SAMPLE - 1;
    else if (gap > 0 && rate >= ON_ABOVE) gap = countdown = 0;
    requests = 0;
    windowLookups = 0;
    windowHits = 0;
    windowAdmitted = 0;
  }

  /** The entry under this token's key (any token's), remembering key and answer for offer(). */
  function lookup(token: string): Entry | undefined {
    lastToken = token;
    const key = (lastKey = keyOf(token));
    // Counts saturate at 255 (never reached in practice: 8 buckets per entry); a saturated bucket stays "maybe".
    const e = present[key & (buckets - 1)] === 0 ? undefined : entries.get(key);
    lastHeld = e !== undefined;
    return e;
  }

  /**
   * Seen before, and sooner than the entry the hand would evict next has stayed (what a newcomer
   * can count on)? Records this sighting either way.
   */
  function seenAgain(token: string, key: number): boolean {
    const tag = tagOf(token);
    const i = 2 * (key & (slots - 1));
    const again = seen[i] === tag && ((lookups - seen[i + 1]!) | 0) <= lookups - ring[hand]!.since;
    seen[i] = tag;
    seen[i + 1] = lookups | 0;
    return again;
  }

  /**
   * A new entry, holding a copy of the result object rather than the verifier's own: V8 decides
   * per allocation site whether to allocate straight into the old generation, and while the
   * cache fills, every result the verifier's site makes would survive, so from then on every
   * result, kept or not, would be born old and cost a full collection to reclaim.
   */
  function entry(token: string, v: VerifiedToken, key: number): Entry {
    admitted++;
    windowAdmitted++;
    const e: Entry = { token, verified: { header: v.header, claims: v.claims }, key, since: lookups, used: false };
    entries.set(key, e);
    const b = key & (buckets - 1);
    if (present[b]! < 255) present[b]!++;
    return e;
  }

  function evictOne(): void {
    // Second chance: a used entry loses its mark and stays; the first unused one goes.
    for (;;) {
      const e = ring[hand]!;
      if (!e.used) {
        entries.delete(e.key);
        const b = e.key & (buckets - 1);
        if (present[b]! < 255) present[b]!--;
        return;
      }
      e.used = false;
      hand = (hand + 1) % capacity;
    }
  }

  return {
    skip() {
      if (++requests >= WINDOW) rejudge();
      if (countdown > 0) {
        countdown--;
        skipped++;
        return true;
      }
      countdown = gap;
      return false;
    },

    get(token) {
      lookups++;
      windowLookups++;
      if (token.length < MIN_LENGTH) return undefined;
      const e = lookup(token);
      if (e === undefined || e.token !== token) return undefined;
      hits++;
      windowHits++;
      e.used = true;
      return e.verified;
    },

    offer(token, verified) {
      if (token.length < MIN_LENGTH) return undefined;
      if (token !== lastToken) lookup(token);
      const key = lastKey;
      if (lastHeld) return undefined; // this token, raced in meanwhile, or another with its key
      if (ring.length < capacity) {
        const e = entry(token, verified, key);
        ring.push(e);
        return e.verified;
      }
      // Full: only candidates (all tokens, unless throttled), and only on a timely second sighting.
      if (period > 1 && (key >>> 24) % period !== 0) return undefined;
      if (!seenAgain(token, key)) return undefined;
      evictOne();
      const e = entry(token, verified, key);
      ring[hand] = e;
      hand = (hand + 1) % capacity;
      return e.verified;
    },

    stats: () => ({ size: entries.size, capacity, hits, misses: lookups - hits + skipped, admitted, admitEvery: period, skipped, lookEvery: gap + 1 }),
  };
}
