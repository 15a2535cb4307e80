// How instances tell each other of new revocation records. The store stays the source of truth:
// a lost message is healed by the resync after a reconnect and by the periodic reload, and while
// the bus is down the revoker polls the store instead (poller.ts).
import type { RevocationRecord } from './records.js';

/** 'up' while messages flow both ways; 'down' from the moment that is in doubt. */
export type BusStatus = 'up' | 'down';

export interface RevocationBus {
  /** Settles within a bounded time whatever the bus's state (it never waits for a reconnect). */
  publish(record: RevocationRecord): Promise<void>;
  /**
   * Starts listening; resolves within a bounded time even when the bus is unreachable (it keeps
   * retrying). `onResync` runs after a reconnect, when messages may have been missed.
   */
  subscribe(onRecord: (record: RevocationRecord) => void, onResync: () => void): Promise<void>;
  close(): Promise<void>;
  /** The status now. A bus without it is taken as always up. */
  status?(): BusStatus;
  /** `listener` runs on each change of status (not on repeats). */
  onStatus?(listener: (status: BusStatus) => void): void;
}
