// For services that trust Warden's tokens through its JWKS endpoint. The keys are fetched once,
// then refreshed on a timer and (rate-limited) when a token names an unknown kid, so verifying
// stays a synchronous in-process check. jose's createRemoteJWKSet is not used because it feeds
// jose's WebCrypto verify path (~100 µs a verify on Node 20); we need a KeyRing for our verifier.
import { WardenError } from './errors.js';
import { usableKeyRingFromJwks } from './tokens/jwk.js';
import type { KeyRing } from './tokens/key-ring.js';
import type { Algorithm, VerifiedToken } from './tokens/types.js';
import { createTokenVerifier } from './tokens/verify.js';

export interface RemoteJwksOptions {
  /** e.g. https://auth.example.com/.well-known/jwks.json */
  url: string;
  algorithms?: readonly Algorithm[];
  issuer?: string | string[];
  audience?: string | string[];
  leeway?: number;
  /** Periodic refresh (default 5 minutes). */
  refreshIntervalMs?: number;
  /** Least time from the last fetch (failed ones too) to one caused by an unknown kid (default 30 s). */
  cooldownMs?: number;
  fetch?: typeof fetch;
  /** The longest a fetch may take, answer included (default 5 s): a JWKS host that never answers must not hold up a start or every later refresh. */
  timeoutMs?: number;
  /** Told of a background refresh that failed (the keys fetched before stay in use). */
  onRefreshError?: (err: unknown) => void;
  /** Epoch milliseconds (default Date.now): judges exp/nbf and the cooldown, as the issuer's clock does. */
  clock?: () => number;
}

export interface RemoteJwksVerifier {
  /** Synchronous verify against the keys fetched so far; an unknown kid triggers a background refresh. */
  verify(token: string): VerifiedToken;
  refresh(): Promise<void>;
  readonly keys: KeyRing;
  close(): void;
}

export async function createJwksVerifier(o: RemoteJwksOptions): Promise<RemoteJwksVerifier> {
  const doFetch = o.fetch ?? fetch;
  const clock = o.clock ?? Date.now;
  let keys: KeyRing;
  let verifier: (token: string) => VerifiedToken;
  let lastRefresh = 0;
  let inflight: Promise<void> | undefined;

  async function load(): Promise<void> {
    // Its own controller and timer (not AbortSignal.timeout): on Node 20, fetch may stop following
    // a timeout signal combined with others once a garbage collection has run (nodejs/node#55428).
    const ac = new AbortController();
    const ms = o.timeoutMs ?? 5_000;
    const timer = setTimeout(() => ac.abort(new Error(`JWKS fetch from ${o.url} took longer than ${ms} ms`)), ms);
    // fetch's own failures ("fetch failed", JSON's SyntaxError) name no URL: a service that cannot
    // start must say which host it could not read, and why (the timeout's error already does).
    const unreadable = (e: unknown): never => {
      if (ac.signal.aborted) throw ac.signal.reason;
      const why = e instanceof Error && e.cause instanceof Error ? e.cause.message : e instanceof Error ? e.message : String(e);
      throw new Error(`JWKS ${e instanceof SyntaxError ? `from ${o.url} is not JSON` : `fetch from ${o.url} failed`}: ${why}`, { cause: e });
    };
    let body: { keys?: unknown } | null;
    try {
      const res = await doFetch(o.url, { headers: { accept: 'application/jwk-set+json, application/json' }, signal: ac.signal }).catch(unreadable);
      if (!res.ok) throw new Error(`JWKS fetch from ${o.url} answered ${res.status}`);
      body = (await res.json().catch(unreadable)) as { keys?: unknown } | null;
    } finally {
      clearTimeout(timer);
    }
    if (typeof body !== 'object' || body === null || !Array.isArray(body.keys)) throw new Error(`JWKS from ${o.url} has no "keys" array`);
    // Warden signing with HMAC (HS256, its default) publishes no key: the secret is never public.
    if (body.keys.length === 0) throw new Error(`JWKS from ${o.url} holds no key: a server signing with an HMAC algorithm publishes none; share its SECRET_KEY and use createTokenVerifier instead`);
    // Both are replaced only together: a set that cannot be used (on a refresh, too) leaves the last one in force.
    let next: { keys: KeyRing; verifier: (token: string) => VerifiedToken };
    try {
      // Keys it cannot use are left out (RFC 7517 §5), so a key the issuer adds later for another purpose or alg does not freeze the set.
      const ring = usableKeyRingFromJwks({ keys: body.keys });
      next = { keys: ring, verifier: createTokenVerifier({ keys: ring, algorithms: o.algorithms, issuer: o.issuer, audience: o.audience, leeway: o.leeway, clock }) };
    } catch (e) {
      throw new Error(`JWKS from ${o.url}: ${(e as Error).message}`, { cause: e });
    }
    keys = next.keys;
    verifier = next.verifier;
  }

  function refresh(): Promise<void> {
    // The cooldown counts attempts, failed ones too: else, while the host fails, every token naming
    // an unknown kid (anyone can write one) would fetch again and tell onRefreshError again.
    if (inflight === undefined) lastRefresh = clock();
    inflight ??= load().finally(() => {
      inflight = undefined;
    });
    return inflight;
  }

  await refresh();
  const failed = (err: unknown) => o.onRefreshError?.(err);
  const timer = setInterval(() => void refresh().catch(failed), o.refreshIntervalMs ?? 300_000);
  timer.unref();
  const cooldown = o.cooldownMs ?? 30_000;

  return {
    verify(token) {
      try {
        return verifier(token);
      } catch (e) {
        if (e instanceof WardenError && e.code === 'ERR_JWT_KEY_UNKNOWN' && clock() - lastRefresh > cooldown) {
          void refresh().catch(failed);
        }
        throw e;
      }
    },
    refresh,
    get keys() {
      return keys;
    },
    close() {
      clearInterval(timer);
    },
  };
}
