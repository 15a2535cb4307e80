// Warden's Prometheus metrics (prom-client), one registry per server. What happens on a request
// path is kept as cheap as it can be: the request histogram keeps plain arrays per route, method
// and status (RouteHistogram below), found without building a label set; everything else is read
// from its owner when Prometheus scrapes (collect()), so it costs nothing in between; so are the
// process's own figures (process-metrics.ts).
import { Counter, Gauge, Histogram, Registry, type MetricType } from 'prom-client';
import { EVENT_TYPES, type EventType } from '../events/records.js';
import { registerProcessMetrics } from './process-metrics.js';
import { counterAtScrape, gaugeAtScrape } from './read-at-scrape.js';

/** What the metrics read at scrape time from the parts that own the numbers. */
export interface MetricSources {
  /** Entries in the in-memory revocation index. */
  revocationEntries(): number;
  /** The token verifier's cache counters, if it keeps any. */
  verifyCache(): { hits: number; misses: number } | undefined;
  /** Password hashes running now and waiting for a slot. */
  passwordHashing(): { running: number; waiting: number };
  /** Whether the database answered last. */
  databaseUp(): boolean;
  /** Statements the database refused for want of a resource (disk, write access, a lock), since start. */
  databaseRefusals(): number;
  /** The connection pool's connections, where there is a pool (PostgreSQL). */
  pool?: (() => { total: number; idle: number; waiting: number }) | undefined;
  /** The Redis bus's state, when one is configured. */
  redis?: (() => 'up' | 'down') | undefined;
  /** Webhook deliveries still pending, when webhooks are configured (undefined when unknown now). */
  webhookBacklog?: (() => Promise<number | undefined>) | undefined;
}

/** Records one response of a route: its method, status and time taken in seconds. */
export type RouteRecorder = (method: string, status: number, seconds: number) => void;

export interface WardenMetrics {
  readonly registry: Registry;
  readonly contentType: string;
  /** A recorder for one route (its URL pattern, e.g. `/api/v1/users/:id`). */
  route(url: string): RouteRecorder;
  /** Counts written events (sign-ins by outcome, refreshes, reuse detections, and every type). */
  events(events: readonly { type: EventType }[]): void;
  /** How long a password hash waited for a slot, in seconds. */
  hashWaited(seconds: number): void;
  /** The text exposition of every metric. */
  text(): Promise<string>;
}

/** Request latency buckets, in seconds: forward auth answers in well under a millisecond, sign-in in tens. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const WAIT_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** One (route, method, status) series of the request histogram: its bucket counts (not cumulative), sum and count. */
interface Series {
  labels: { route: string; method: string; status: string };
  counts: Float64Array;
  sum: number;
  count: number;
}

/**
 * The request histogram. prom-client's own Histogram validates and hashes its labels on every
 * observation (≈ 0.75 µs, 3 % of a forward-auth request); this one is found by the route's recorder
 * through two small maps and observed with a bucket search and three additions (≈ 10 ns).
 * prom-client renders it like any histogram: only what it renders is replaced.
 */
type RouteLabel = 'route' | 'method' | 'status';
// prom-client's types declare MetricType as an enum its JavaScript does not export: the value, typed.
const HISTOGRAM = 'histogram' as unknown as MetricType;
type Rendered = Awaited<ReturnType<Histogram<RouteLabel>['get']>>;

class RouteHistogram extends Histogram<RouteLabel> {
  private readonly all: Series[] = [];

  constructor(private readonly metricName: string, private readonly metricHelp: string, private readonly bounds: readonly number[], registers: Registry[]) {
    super({ name: metricName, help: metricHelp, labelNames: ['route', 'method', 'status'], buckets: [...bounds], registers });
  }

  series(route: string, method: string, status: number): Series {
    const s: Series = { labels: { route, method, status: String(status) }, counts: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
    this.all.push(s);
    return s;
  }

  observeIn(s: Series, value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  override async get(): Promise<Rendered> {
    return this.getForPromString();
  }

  // What the registry renders (prom-client calls this one, and get() calls it too).
  async getForPromString(): Promise<Rendered> {
    const name = this.metricName;
    const values = this.all.flatMap((s) => {
      let cumulative = 0;
      const buckets = [...this.bounds, Number.POSITIVE_INFINITY].map((le, i) => {
        cumulative += s.counts[i]!;
        return { metricName: `${name}_bucket`, labels: { ...s.labels, le }, value: cumulative };
      });
      return [...buckets, { metricName: `${name}_sum`, labels: s.labels, value: s.sum }, { metricName: `${name}_count`, labels: s.labels, value: s.count }];
    });
    // `le` is the one label prom-client's types do not list; the registry renders it like the others.
    return { name, help: this.metricHelp, type: HISTOGRAM, aggregator: 'sum', collect: () => undefined, values: values as Rendered['values'] };
  }
}

const SIGNIN_OUTCOMES: Partial<Record<EventType, string>> = {
  'signin.succeeded': 'succeeded', 'signin.failed': 'failed', 'signin.throttled': 'throttled',
};

export function createMetrics(sources: MetricSources): WardenMetrics {
  const registry = new Registry();
  const registers = [registry];
  registerProcessMetrics(registers);

  const http = new RouteHistogram('warden_http_request_duration_seconds',
    'HTTP requests by route (URL pattern), method and status, and how long they took', LATENCY_BUCKETS, registers);
  const events = new Counter({ name: 'warden_events_total', help: 'Security events written, by type', labelNames: ['type'] as const, registers });
  const signins = new Counter({ name: 'warden_signins_total', help: 'Password sign-ins by outcome', labelNames: ['outcome'] as const, registers });
  const refreshes = new Counter({ name: 'warden_refreshes_total', help: 'Refresh tokens rotated', registers });
  const reuse = new Counter({ name: 'warden_refresh_reuse_detected_total', help: 'Retired refresh tokens presented again (the session was ended)', registers });
  // Every series exists from the start at 0, so rate() sees the first increment.
  for (const t of EVENT_TYPES) events.labels(t).inc(0);
  for (const o of Object.values(SIGNIN_OUTCOMES)) signins.labels(o!).inc(0);
  const eventCounters = new Map(EVENT_TYPES.map((t) => [t, events.labels(t)]));
  const signinCounters = new Map(Object.entries(SIGNIN_OUTCOMES).map(([t, o]) => [t, signins.labels(o!)]));

  const hashWait = new Histogram({
    name: 'warden_password_hash_wait_seconds', help: 'Time a password hash waited for a free slot', buckets: WAIT_BUCKETS, registers,
  });

  gaugeAtScrape(registers, 'warden_revocation_index_entries', 'Revoked tokens, sessions and users and role overrides held in memory',
    () => sources.revocationEntries());
  counterAtScrape(registers, 'warden_verify_cache_hits_total', 'Access tokens found in the verify cache (signature skipped)', () => sources.verifyCache()?.hits);
  counterAtScrape(registers, 'warden_verify_cache_misses_total', 'Access tokens verified in full', () => sources.verifyCache()?.misses);
  gaugeAtScrape(registers, 'warden_password_hash_queue_depth', 'Password hashes waiting for a free slot', () => sources.passwordHashing().waiting);
  gaugeAtScrape(registers, 'warden_password_hash_running', 'Password hashes running now (at most one per core)', () => sources.passwordHashing().running);
  gaugeAtScrape(registers, 'warden_database_up', '1 while the database answers, 0 while it does not', () => (sources.databaseUp() ? 1 : 0));
  counterAtScrape(registers, 'warden_database_refusals_total', 'Statements the database refused for want of a resource (disk full, read-only, locked): each answered 503',
    () => sources.databaseRefusals());
  // The gauges below exist only where what they measure does (an unset gauge would read 0, i.e. "down").
  const { pool, redis, webhookBacklog } = sources;
  if (pool) {
    new Gauge({
      name: 'warden_database_pool_connections', help: 'PostgreSQL pool connections by state (waiting: requests queued for one)',
      labelNames: ['state'] as const, registers,
      collect() {
        const p = pool();
        this.labels('total').set(p.total);
        this.labels('idle').set(p.idle);
        this.labels('waiting').set(p.waiting);
      },
    });
  }
  if (redis) gaugeAtScrape(registers, 'warden_redis_up', '1 while the Redis revocation bus is connected, 0 while it is not', () => (redis() === 'up' ? 1 : 0));
  if (webhookBacklog) gaugeAtScrape(registers, 'warden_webhook_backlog', 'Webhook deliveries pending (not yet delivered or given up)', webhookBacklog);
  const recorders = new Map<string, RouteRecorder>();

  return {
    registry,
    contentType: registry.contentType,
    route(url) {
      // One recorder per route, however many callers ask (Fastify's hook and the HTTP edge's forward
      // auth record the same route): a series made twice would be rendered twice.
      const known = recorders.get(url);
      if (known !== undefined) return known;
      // This route's series by method, then by status: two small map lookups per request.
      const byMethod = new Map<string, Map<number, Series>>();
      const record: RouteRecorder = (method, status, seconds) => {
        let byStatus = byMethod.get(method);
        if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()));
        let series = byStatus.get(status);
        if (series === undefined) byStatus.set(status, (series = http.series(url, method, status)));
        http.observeIn(series, seconds);
      };
      recorders.set(url, record);
      return record;
    },
    events(list) {
      for (const e of list) {
        eventCounters.get(e.type)?.inc();
        signinCounters.get(e.type)?.inc();
        if (e.type === 'session.refreshed') refreshes.inc();
        else if (e.type === 'session.reuse_detected') reuse.inc();
      }
    },
    hashWaited(seconds) {
      hashWait.observe(seconds);
    },
    text: () => registry.metrics(),
  };
}
