// Audit retention: events older than AUDIT_RETENTION_DAYS are deleted (with their webhook
// deliveries), in bounded batches so that no statement holds locks or grows a transaction for long.
import { deleteInBatches, periodically } from '../storage/batches.js';
import type { EventStore } from './records.js';

export interface RetentionLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface EventRetentionOptions {
  store: Pick<EventStore, 'purge'>;
  clock: () => number;
  retentionMs: number;
  log: RetentionLog;
  /** Rows per DELETE (default 1000). */
  batch?: number;
  /** How often a purge runs, in ms (default hourly). */
  everyMs?: number;
  /** Failures logged elsewhere (a database outage, logged once by the server): not logged again here. */
  loggedElsewhere?: (err: unknown) => boolean;
}

/** Deletes every event older than the retention, one batch at a time. Returns how many went. */
export async function purgeOldEvents(o: Pick<EventRetentionOptions, 'store' | 'clock' | 'retentionMs' | 'batch'>): Promise<number> {
  const before = o.clock() - o.retentionMs;
  return deleteInBatches((batch) => o.store.purge(before, batch), o.batch ?? 1000);
}

/** Runs purgeOldEvents on a timer, and once 10 to 20 s after start; returns a stop function. */
export function startEventRetention(o: EventRetentionOptions): () => void {
  return periodically(() => purgeOldEvents(o)
    .then((n) => n > 0 && o.log.info({ deleted: n }, 'audit retention: old events deleted'))
    .catch((err: unknown) => o.loggedElsewhere?.(err) === true || o.log.warn({ reason: err instanceof Error ? err.message : String(err) }, 'audit retention purge failed')),
  o.everyMs ?? 3_600_000, 10_000);
}
