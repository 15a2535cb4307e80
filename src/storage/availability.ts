// Telling "the database cannot be reached" from "this statement failed", and keeping track of it.
// An adapter turns a driver's connection failure (or a resource shortage) into StorageUnavailable;
// watchAvailability() wraps a Storage so that its state (up or down) changes once per outage, not
// once per request, that shortages are reported at a bounded rate without counting as outages, and
// that a readiness probe answers within a bound however the database behaves.
import type { Storage } from './types.js';

/** What a client is told to wait before retrying while the database is unreachable (seconds). */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 5;

/**
 * The database cannot be reached (refused, reset, timed out, shutting down), or was reached but
 * cannot take the statement now (`shortage`: see isResourceShortage). Storage may not import the
 * toolkit's WardenError, so this carries the error code the toolkit maps to 503 with
 * `Retry-After`; the driver's error is the `cause`.
 */
export class StorageUnavailable extends Error {
  readonly code = 'ERR_UNAVAILABLE';
  readonly retryAfter = UNAVAILABLE_RETRY_AFTER_SECONDS;
  /** Reached, but short of a resource (disk, write access, a lock): not an outage. */
  readonly shortage: boolean;
  constructor(cause: unknown) {
    const shortage = isResourceShortage(cause);
    super(`${shortage ? 'database refused for want of a resource' : 'database unreachable'}: ${describe(cause)}`, { cause });
    this.name = 'StorageUnavailable';
    this.shortage = shortage;
  }
}

// Socket-level failures (Node's error codes).
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EAI_AGAIN',
]);
// PostgreSQL SQLSTATEs that mean "not now" rather than "wrong statement": class 08 (connection
// exception), 53300 too_many_connections, 57014 query_canceled (statement_timeout), 57P01-57P03
// (admin/crash shutdown, cannot connect now: the server is restarting).
const UNAVAILABLE_SQLSTATE = /^(08...|53300|57014|57P0[123])$/;
// node-postgres and pg-pool report their own timeouts and lost connections by message only.
const DRIVER_MESSAGES = [
  'timeout exceeded when trying to connect', // pg-pool: no connection within connectionTimeoutMillis
  'Connection terminated', // "... unexpectedly", "... due to connection timeout"
  'Query read timeout', // query_timeout
  'timeout expired', // client connect timeout
  'not queryable', // a client whose connection already failed
];

// Reachable, but unable to take the statement for want of a resource, which comes back by itself or
// by the operator's hand, never by the client's: PostgreSQL's class 53 (disk full, out of memory,
// a configured limit) and a server that takes no writes (25006: a standby after a failover);
// SQLite's full disk, I/O errors, lost write access, no memory, and (after the bound the adapter
// waits, sqlite.ts) another connection's write lock. Those are 503 too, but the connections stay.
const SHORTAGE_SQLSTATE = /^(53...|25006)$/;
const SHORTAGE_SQLITE = /^SQLITE_(BUSY|FULL|IOERR|NOMEM|READONLY|CANTOPEN)(_|$)/;

/** The driver's error code (`SQLITE_BUSY`, a SQLSTATE, `ECONNRESET`), if `e` has a string one. */
export function errorCode(e: unknown): string | undefined {
  const code = e !== null && typeof e === 'object' ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/**
 * True when `e` says the database cannot take statements now though it was reached (see above).
 * A connection failure is none, whatever its class: 53300 (too many connections) is class 53 but
 * refuses the connection itself, which is an outage.
 */
export function isResourceShortage(e: unknown): boolean {
  const code = errorCode(e);
  return code !== undefined && (SHORTAGE_SQLSTATE.test(code) || SHORTAGE_SQLITE.test(code)) && !isConnectionFailure(e);
}

/** True when `e` says the database could not be reached, as opposed to a statement it refused. */
export function isConnectionFailure(e: unknown): boolean {
  if (e instanceof StorageUnavailable) return true;
  if (e === null || typeof e !== 'object') return false;
  const { code, message } = e as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code))) return true;
  return typeof message === 'string' && DRIVER_MESSAGES.some((m) => message.includes(m));
}

function describe(e: unknown): string {
  if (e === null || typeof e !== 'object') return String(e);
  const { code, message } = e as { code?: unknown; message?: unknown };
  return [typeof code === 'string' ? code : '', typeof message === 'string' ? message : ''].filter(Boolean).join(' ') || 'unknown error';
}

export type StorageStatus = 'up' | 'down';

export interface WatchedStorage extends Storage {
  /** 'down' from the first unreachable-database failure until a statement begun since then reaches it. */
  status(): StorageStatus;
  /** Statements refused for want of a resource since the process started (each answered 503). */
  refusals(): number;
  /**
   * Whether the database answers, decided within `withinMs`: one `ping()` at a time is shared by
   * every caller, so a partitioned database costs one hung probe, not one per readiness check.
   */
  probe(withinMs: number): Promise<boolean>;
}

/** How often, at most, a run of refusals for want of a resource is reported (ms). */
export const SHORTAGE_REPORT_EVERY_MS = 60_000;

export interface AvailabilityReports {
  /** Each transition between 'up' and 'down' (see watchAvailability). */
  onChange(status: StorageStatus, cause?: StorageUnavailable): void;
  /**
   * Statements refused for want of a resource: the first at once, then at most one report per
   * `shortageEveryMs` with how many were refused since the last (`refused`) and the latest cause.
   */
  onShortage?(cause: StorageUnavailable, refused: number): void;
  shortageEveryMs?: number;
}

/**
 * Wraps every store method of `storage` to follow its availability. `onChange` runs on each
 * transition only: 'down' with the failure that revealed it, 'up' when a statement succeeds again
 * (a statement the database refuses, such as a unique violation, also proves it is reachable).
 *
 * Only a statement begun after the last transition may cause the next one. A statement that was
 * already waiting when the state changed tells of the past: a background worker's query stuck on
 * a silenced connection since the partition times out after the heal, and must not announce a
 * second outage when statements begun since the heal succeed.
 *
 * A shortage (a full disk, a read-only standby, another process's write lock) is no outage: the
 * database answered, and reads usually go on, so it would flip the state with every write and
 * read that follow each other. It proves the database reachable, and goes to `onShortage`.
 */
export function watchAvailability(storage: Storage, reports: AvailabilityReports): WatchedStorage {
  const { onChange, onShortage, shortageEveryMs = SHORTAGE_REPORT_EVERY_MS } = reports;
  let status: StorageStatus = 'up';
  let transitions = 0;
  const set = (next: StorageStatus, begunAt: number, cause?: StorageUnavailable) => {
    if (next === status || begunAt !== transitions) return;
    status = next;
    transitions++;
    onChange(next, cause);
  };

  // Refusals since start, and how many of them reports have told; a report is due when `quiet` fires.
  let refused = 0;
  let told = 0;
  let latest: StorageUnavailable | undefined;
  let quiet: NodeJS.Timeout | undefined;
  const shortage = (cause: StorageUnavailable) => {
    refused++;
    latest = cause;
    if (quiet === undefined) report();
  };
  const report = () => {
    quiet = undefined;
    if (refused === told || latest === undefined) return;
    onShortage?.(latest, refused - told);
    told = refused;
    quiet = setTimeout(report, shortageEveryMs).unref();
  };

  const watch = async <T>(run: () => Promise<T>): Promise<T> => {
    const begunAt = transitions;
    try {
      const out = await run();
      set('up', begunAt);
      return out;
    } catch (e) {
      if (e instanceof StorageUnavailable && !e.shortage) {
        set('down', begunAt, e);
      } else {
        set('up', begunAt); // refused, or short of a resource: either way the database answered
        if (e instanceof StorageUnavailable) shortage(e);
      }
      throw e;
    }
  };
  const watched = <S extends object>(store: S): S => {
    const out: Record<string, unknown> = {};
    for (const [name, member] of Object.entries(store)) {
      out[name] = typeof member === 'function'
        ? (...args: unknown[]) => watch(() => (member as (...a: unknown[]) => Promise<unknown>).apply(store, args))
        : member;
    }
    return out as S;
  };

  let pinging: Promise<boolean> | undefined;
  const ping = (): Promise<boolean> => {
    pinging ??= watch(() => storage.ping()).then(() => true, () => false).finally(() => (pinging = undefined));
    return pinging;
  };

  return {
    kind: storage.kind,
    users: watched(storage.users),
    sessions: watched(storage.sessions),
    revocations: watched(storage.revocations),
    emailTokens: watched(storage.emailTokens),
    outbox: watched(storage.outbox),
    devices: watched(storage.devices),
    factors: watched(storage.factors),
    challenges: watched(storage.challenges),
    events: watched(storage.events),
    deliveries: watched(storage.deliveries),
    migrate: () => storage.migrate(),
    pendingMigrations: () => storage.pendingMigrations(),
    newerMigrations: () => storage.newerMigrations(),
    ping: () => watch(() => storage.ping()),
    ...(storage.poolStats ? { poolStats: () => storage.poolStats!() } : {}),
    close: () => (clearTimeout(quiet), storage.close()),
    status: () => status,
    refusals: () => refused,
    probe(withinMs) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, withinMs, false)));
      return Promise.race([ping(), late]).finally(() => clearTimeout(timer));
    },
  };
}
