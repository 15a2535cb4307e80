// Delivers the webhook outbox. Every instance runs a worker; each pass claims due deliveries
// atomically (src/storage: SKIP LOCKED on PostgreSQL, the write lock on SQLite), so with several
// instances each delivery is attempted by one of them at a time. A claim holds a row for longer
// than an attempt can take, so a crashed instance's rows come back after their lease, and a row is
// marked delivered only by the claim that delivered it. A receiver's 2xx ends a delivery, and so
// does a 410 Gone, as a failure (the receiver says the endpoint is retired: Standard Webhooks'
// signal to stop); anything else (another status, no answer, a timeout) is retried with exponential
// backoff for up to a day.
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { ClaimedDelivery, DeliveryStore, EventRecord } from '../records.js';
import { eventView } from '../view.js';
import { endpointKey, requestTarget, shownEndpoint, shownFailure } from './endpoints.js';
import { signWebhook } from './signature.js';

export interface WorkerLog {
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface WebhookWorkerOptions {
  store: DeliveryStore;
  /**
   * The endpoints configured now. Deliveries to others are left to the instances that have them
   * (a rolling deploy adding one), and given up once past the delivery window.
   */
  endpoints: readonly string[];
  key: Buffer;
  clock: () => number;
  log: WorkerLog;
  /** How often the outbox is looked at when nothing nudged the worker, in ms. */
  pollMs: number;
  /** The longest an attempt may take, in ms. */
  timeoutMs: number;
  /** The wait before the first retry, in ms; it doubles with every failed attempt (with ±25% jitter). */
  backoffMs: number;
  /** The longest wait between two attempts, in ms (default one hour). */
  maxBackoffMs?: number;
  /** How long after the event a delivery is still tried, in ms (default 24 hours). */
  maxAgeMs?: number;
  /** Attempts in flight at once (default 16), each claimed as a slot frees; of several endpoints, one holds at most half of them. */
  batch?: number;
  /** Failures logged elsewhere (a database outage, logged once by the server): not logged again here. */
  loggedElsewhere?: (err: unknown) => boolean;
}

/** Longer than any attempt can take, so no other instance claims a row while it is in flight. */
const LEASE_MARGIN_MS = 60_000;
/** What is kept of a failure's description. */
const MAX_ERROR_LENGTH = 200;

/** The body sent for an event: the Standard Webhooks payload shape ({type, timestamp, data}). */
export function webhookBody(e: EventRecord): string {
  return JSON.stringify({ type: e.type, timestamp: new Date(e.time).toISOString(), data: eventView(e) });
}

/**
 * The names a configured endpoint's rows may carry: its key, and, from a Warden before 2026-11-25
 * (whose rows held the credentials), the URL as configured.
 */
function named(url: string): string[] {
  const key = endpointKey(url);
  return key === url ? [key] : [key, url];
}

export class WebhookWorker {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = true;
  private outboxDown = false;
  /** Aborts the attempts in flight when a shutdown cannot wait for them. */
  private readonly stopping = new AbortController();
  /** The configured endpoints by their key (endpointKey), each with its credentials. */
  private readonly configured: ReadonlyMap<string, string>;
  private readonly maxBackoffMs: number;
  private readonly maxAgeMs: number;
  private readonly batch: number;
  /** The most attempts in flight to one endpoint: a slow receiver may hold only this share of the slots. */
  private readonly perEndpoint: number;
  /** Attempts in flight, by endpoint; each settles on its own and frees its slot. */
  private readonly inFlight = new Map<string, number>();
  private readonly attempts = new Set<Promise<void>>();
  /** The last pass stopped for want of a free slot: a settling attempt looks at the outbox again. */
  private full = false;

  constructor(private readonly o: WebhookWorkerOptions) {
    this.configured = new Map(o.endpoints.map((url) => [endpointKey(url), url]));
    this.maxBackoffMs = o.maxBackoffMs ?? 3_600_000;
    this.maxAgeMs = o.maxAgeMs ?? 86_400_000;
    this.batch = o.batch ?? 16;
    // A lone endpoint keeps every slot: the share exists to leave room for the others.
    this.perEndpoint = o.endpoints.length <= 1 ? this.batch : Math.max(1, Math.ceil(this.batch / 2));
    // Each attempt of a batch listens for the shutdown (and removes its listener when done): as
    // many listeners as the batch, which is no leak, though Node warns past 10.
    setMaxListeners(this.batch + 1, this.stopping.signal);
  }

  start(): void {
    this.stopped = false;
    this.nudge();
  }

  /** Look at the outbox now (new events were just written), or as soon as the current pass ends. */
  nudge(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.nudge();
      } else {
        this.timer = setTimeout(() => this.nudge(), this.o.pollMs);
        this.timer.unref();
      }
    });
  }

  /**
   * Stops claiming and waits for the attempts in flight to be recorded; those still unanswered after
   * `abortAfterMs` are cut and put back, due at once (another instance, or the next start, sends
   * them again: at least once, and receivers deduplicate on webhook-id).
   */
  async stop(abortAfterMs = this.o.timeoutMs): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const cut = setTimeout(() => this.stopping.abort(), abortAfterMs);
    try {
      await this.running;
      await Promise.all(this.attempts);
    } finally {
      clearTimeout(cut);
    }
  }

  /**
   * Claims due deliveries into free slots until none is due, no slot is free, or the worker stops.
   * Attempts are not awaited together: each frees its slot when it settles, so one slow or silent
   * receiver holds up only its own slots (at most `perEndpoint`), never the other endpoints' deliveries
   * (waiting for a whole batch let one 3 s receiver cap every endpoint at 16 deliveries per 3 s).
   */
  private async pass(): Promise<void> {
    this.full = false;
    try {
      // One claim per endpoint, for no more rows than it has room for: an endpoint with a retry
      // backlog or a slow receiver never takes another's slots. The first also takes rows of
      // endpoints no longer configured, past their window, to give them up.
      let endpoints: readonly (string | undefined)[] = this.o.endpoints.length > 0 ? this.o.endpoints : [undefined];
      let givenUp = true;
      while (!this.stopped) {
        const now = this.o.clock();
        const again: string[] = [];
        for (const e of endpoints) {
          const free = this.batch - this.attempts.size;
          const room = e === undefined ? free : Math.min(free, this.perEndpoint - (this.inFlight.get(endpointKey(e)) ?? 0));
          if (room <= 0) {
            this.full = true;
            continue;
          }
          const claim = randomUUID();
          const claimed = await this.o.store.claim(now, room, this.o.timeoutMs + LEASE_MARGIN_MS, claim,
            { endpoints: e === undefined ? [] : named(e), orCreatedBefore: givenUp ? now - this.maxAgeMs : 0 });
          givenUp = false;
          this.outboxDown = false;
          for (const c of claimed) this.track(c, claim);
          if (e !== undefined && claimed.length === room) again.push(e);
        }
        if (again.length === 0) return;
        endpoints = again;
      }
    } catch (err) {
      // The database is down or refused: the rows stay in the outbox; the next pass tries again.
      // Said once per outage, and not at all for a database outage (the server logs that itself).
      if (!this.outboxDown && this.o.loggedElsewhere?.(err) !== true) this.o.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'webhook outbox unavailable; retrying');
      this.outboxDown = true;
    }
  }

  /** Runs one attempt in its slot; when it settles, the slot is free for the next due delivery. */
  private track(c: ClaimedDelivery, claim: string): void {
    const endpoint = endpointKey(c.delivery.endpoint);
    this.inFlight.set(endpoint, (this.inFlight.get(endpoint) ?? 0) + 1);
    const p: Promise<void> = this.attempt(c, claim).catch(() => undefined).finally(() => {
      const n = (this.inFlight.get(endpoint) ?? 1) - 1;
      if (n > 0) this.inFlight.set(endpoint, n);
      else this.inFlight.delete(endpoint);
      this.attempts.delete(p);
      if (this.full) this.nudge();
    });
    this.attempts.add(p);
  }

  /** Attempts in flight (at most `batch`), for tests and the curious. */
  get inFlightCount(): number {
    return this.attempts.size;
  }

  private async attempt({ delivery, event }: ClaimedDelivery, claim: string): Promise<void> {
    const shown = shownEndpoint(delivery.endpoint);
    const url = this.configured.get(endpointKey(delivery.endpoint));
    if (url === undefined) {
      await this.o.store.finish(delivery.id, claim, { state: 'failed', at: this.o.clock(), status: null, error: 'endpoint no longer configured' });
      return;
    }
    let status: number | null = null;
    let retryAfter: string | null = null;
    let error = '';
    // The attempt's own controller and timer, both held here until it settles: on Node 20, fetch
    // stops following AbortSignal.any(AbortSignal.timeout(…)) once a garbage collection has run
    // (nodejs/node#55428), and a receiver that never answered held the worker for good.
    const attempt = new AbortController();
    const timer = setTimeout(() => attempt.abort(new DOMException('timed out', 'TimeoutError')), this.o.timeoutMs);
    const onStop = () => attempt.abort(new Error('cut short by a shutdown'));
    this.stopping.signal.addEventListener('abort', onStop, { once: true });
    try {
      const body = webhookBody(event);
      const timestamp = Math.floor(this.o.clock() / 1000);
      const target = requestTarget(url); // the credentials configured now, not those of when it was queued
      const res = await fetch(target.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: attempt.signal,
        headers: {
          ...(target.authorization !== undefined ? { authorization: target.authorization } : {}),
          'content-type': 'application/json',
          'user-agent': 'Warden-Webhooks/1',
          'webhook-id': event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(this.o.key, event.id, timestamp, body),
        },
      });
      status = res.status;
      retryAfter = res.headers.get('retry-after');
      await res.body?.cancel().catch(() => undefined); // the answer's body is not read; free the connection
      if (status < 200 || status >= 300) error = `HTTP ${status}`;
    } catch (e) {
      error = describe(e);
    } finally {
      clearTimeout(timer);
      this.stopping.signal.removeEventListener('abort', onStop);
    }
    if (error === '') {
      // Should the database be unreachable now, the claim lapses and the row is sent again after its
      // lease: at least once (receivers deduplicate by webhook-id), never lost.
      await this.o.store.finish(delivery.id, claim, { state: 'delivered', at: this.o.clock(), status: status! }).catch(() => false);
      return;
    }
    const now = this.o.clock();
    if (this.stopping.signal.aborted) {
      await this.o.store.finish(delivery.id, claim, { state: 'pending', at: now, retryAt: now, status, error: 'cut short by a shutdown' }).catch(() => false);
      return;
    }
    // Given up: past the delivery's day, or at once when the receiver says it is retired.
    if (status === 410 || now - delivery.createdAt >= this.maxAgeMs) {
      this.o.log.warn({ endpoint: shown, eventId: event.id, attempts: delivery.attempts, error },
        status === 410 ? 'webhook endpoint answered 410 Gone: delivery given up (remove it from WEBHOOK_URLS)' : 'webhook delivery given up');
      await this.o.store.finish(delivery.id, claim, { state: 'failed', at: now, status, error }).catch(() => false);
      return;
    }
    const exp = Math.min(this.maxBackoffMs, this.o.backoffMs * 2 ** Math.min(delivery.attempts - 1, 30));
    // A receiver's Retry-After (a 429 or a 503) is waited out, as Standard Webhooks asks, up to the
    // longest wait between attempts: the backoff alone would come back sooner than it asked.
    const asked = Math.min(this.maxBackoffMs, retryAfterMs(retryAfter, now));
    const retryAt = Math.min(delivery.createdAt + this.maxAgeMs, now + Math.max(asked, Math.round(exp * (0.75 + Math.random() * 0.5))));
    this.o.log.debug({ endpoint: shown, eventId: event.id, attempts: delivery.attempts, error, retryAt }, 'webhook delivery failed; will retry');
    // If the database is down now, the claim lapses and the row is tried again after its lease.
    await this.o.store.finish(delivery.id, claim, { state: 'pending', at: now, retryAt, status, error }).catch(() => false);
  }
}

/** A Retry-After header's wait in ms (delay-seconds or an HTTP-date, RFC 9110 §10.2.3); 0 when absent or unreadable. */
export function retryAfterMs(value: string | null, now: number): number {
  if (value === null) return 0;
  const text = value.trim();
  if (/^\d{1,10}$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) && /[a-z]/i.test(text) ? Math.max(0, at - now) : 0;
}

/** A failure as the deliveries API and the logs show it: every URL in it as endpoints are shown (no credentials, no query). */
function describe(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  const text = err?.name === 'TimeoutError' ? 'timed out'
    : err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
  return shownFailure(text).slice(0, MAX_ERROR_LENGTH);
}
