// Metrics whose values live elsewhere and are read only when Prometheus scrapes (prom-client's
// collect()), so nothing is recorded between scrapes: a request pays nothing for them.
import { Counter, Gauge, type Registry } from 'prom-client';

/** What a reading returns: a number, or undefined to leave the metric as it was (unknown now). */
type Reading = number | undefined;

/** A gauge set from `read` at each scrape. */
export function gaugeAtScrape(registers: Registry[], name: string, help: string, read: () => Reading | Promise<Reading>): Gauge {
  return new Gauge({
    name, help, registers,
    async collect() {
      const v = await read();
      if (v !== undefined) this.set(v);
    },
  });
}

/** A counter whose running total is kept elsewhere (since the process started), copied at each scrape. */
export function counterAtScrape(registers: Registry[], name: string, help: string, read: () => Reading): Counter {
  return new Counter({
    name, help, registers,
    collect() {
      const v = read();
      if (v === undefined) return;
      this.reset();
      this.inc(v);
    },
  });
}
