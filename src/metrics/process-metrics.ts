// The process figures an operator needs (CPU, memory, heap, file descriptors, the event loop, start
// time), under the names prom-client's and the other Prometheus clients' defaults use. prom-client's
// collectDefaultMetrics is not used: its event-loop-delay histogram samples the loop on a timer and
// its GC observer runs on every collection, all the time. Everything here is read at scrape time
// from what Node and the kernel already keep, so between scrapes nothing runs. Left out for that
// reason: GC durations and the lag percentiles (nothing keeps them unless something samples).
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import { counterAtScrape, gaugeAtScrape } from './read-at-scrape.js';

/** The open file limit from /proc/self/limits (Linux), read once; undefined where there is none. */
function maxFds(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const n = Number(line?.split(/\s{2,}/)[1]);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Open file descriptors (Linux): the entries of /proc/self/fd, less the one reading it. */
function openFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1;
  } catch {
    return undefined;
  }
}

/** How long a callback queued now waits for the event loop, in seconds (measured at the scrape). */
function loopLag(): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve) => setImmediate(() => resolve(Number(process.hrtime.bigint() - start) / 1e9)));
}

export function registerProcessMetrics(registers: Registry[]): void {
  // One reading of process.cpuUsage() per scrape for the three, so user + system = the total (by the
  // first counter, registered first: its collect() runs before the registry reads the other two).
  const setTo = (c: Counter, v: number) => (c.reset(), c.inc(v));
  new Counter({
    name: 'process_cpu_user_seconds_total', help: 'User CPU time spent, in seconds', registers,
    collect() {
      const u = process.cpuUsage(); // µs since the process started
      setTo(this, u.user / 1e6);
      setTo(system, u.system / 1e6);
      setTo(total, (u.user + u.system) / 1e6);
    },
  });
  const system = new Counter({ name: 'process_cpu_system_seconds_total', help: 'System CPU time spent, in seconds', registers });
  const total = new Counter({ name: 'process_cpu_seconds_total', help: 'User and system CPU time spent, in seconds', registers });
  const started = performance.timeOrigin / 1000;
  gaugeAtScrape(registers, 'process_start_time_seconds', 'When the process started, in seconds since the Unix epoch', () => started);
  gaugeAtScrape(registers, 'process_resident_memory_bytes', 'Resident memory size, in bytes', () => process.memoryUsage.rss());
  // process.memoryUsage() walks the heap's spaces: read once per scrape, for all three, by the first
  // gauge (registered first, so its collect() runs before the registry reads the other two).
  new Gauge({
    name: 'nodejs_heap_size_total_bytes', help: 'V8 heap size, in bytes', registers,
    collect() {
      const m = process.memoryUsage();
      this.set(m.heapTotal);
      used.set(m.heapUsed);
      external.set(m.external);
    },
  });
  const used = new Gauge({ name: 'nodejs_heap_size_used_bytes', help: 'V8 heap used, in bytes', registers });
  const external = new Gauge({
    name: 'nodejs_external_memory_bytes', help: 'Memory of C++ objects bound to JavaScript objects (buffers included), in bytes', registers,
  });
  const limit = maxFds();
  if (limit !== undefined) {
    gaugeAtScrape(registers, 'process_open_fds', 'Open file descriptors', openFds);
    gaugeAtScrape(registers, 'process_max_fds', 'Maximum open file descriptors', () => limit);
  }
  gaugeAtScrape(registers, 'nodejs_eventloop_lag_seconds', 'How long a callback queued at the scrape waited for the event loop, in seconds', loopLag);
  // Node counts the loop's idle time all the time anyway; active + idle is the time since it began,
  // so rate() of this counter is the loop's utilization (0 to 1).
  counterAtScrape(registers, 'nodejs_eventloop_active_seconds_total',
    'Time the event loop spent running callbacks (not waiting for I/O), in seconds; its rate() is the utilization',
    () => performance.eventLoopUtilization().active / 1000);
  const [major, minor, patch] = process.versions.node.split('.');
  new Gauge({
    name: 'nodejs_version_info', help: 'The Node.js version', labelNames: ['version', 'major', 'minor', 'patch'] as const, registers,
    collect() {
      this.labels(process.version, major!, minor!, patch!).set(1);
    },
  });
}
