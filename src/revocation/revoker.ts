// The one writer of revocation records: each is persisted first (RevocationStore), then applied to
// this process's index and broadcast to the other instances (RevocationBus). Callers say what to
// refuse or override and until when; how long is the caller's policy (accounts/retention.ts).
// The broadcast is never waited for; while the bus is down, this instance polls the store for the
// other instances' records (poller.ts) and keeps its own unsent ones until the bus is back.
import type { BusStatus, RevocationBus } from './bus.js';
import type { RevocationIndex } from './index.js';
import { RevocationPoller } from './poller.js';
import {
  jtiRevocation, sessionRevocation, userRevocation, type LivePage, type RevocationRecord, type RevocationStore,
} from './records.js';

/** Records kept for a later broadcast while the bus is down; past this, peers rely on their reloads. */
const MAX_UNSENT = 10_000;
/** Live records per query when (re)loading the index. */
const RELOAD_PAGE = 10_000;
/**
 * How long past its expiry a record stays in the store: the most a purging instance's clock may be
 * ahead of another's before that one loses a record it still needs (a host set to local time
 * rather than UTC is off by up to 14 hours). Indexes load only live records, so it costs rows, not memory.
 */
export const PURGE_AFTER_MS = 86_400_000;

/** Stores a record durably (resolving once it is), in place of the store's own add. */
export type Persist = (record: RevocationRecord) => Promise<void>;

export interface RevokerOptions {
  /** While the bus is down, how often the store is read for new records, in ms (default 500). */
  pollEveryMs?: number;
}

export class Revoker {
  private readonly inflight = new Set<Promise<void>>();
  private sweepTimer: NodeJS.Timeout | undefined;
  private readonly poller: RevocationPoller;
  /** Records whose broadcast failed, by kind and key (a later write of the same fact replaces it). */
  private readonly unsent = new Map<string, RevocationRecord>();

  constructor(
    readonly index: RevocationIndex,
    private readonly store: RevocationStore,
    private readonly bus: RevocationBus | undefined,
    private readonly clock: () => number = Date.now,
    options: RevokerOptions = {},
  ) {
    this.poller = new RevocationPoller(store, index, clock, options.pollEveryMs ?? 500);
  }

  /** 'down' while the bus is (the store is polled meanwhile); 'up' too when there is no bus. */
  get busStatus(): BusStatus {
    return this.bus?.status?.() ?? 'up';
  }

  /** Loads live records from the store, subscribes to the bus and starts the periodic sweep. */
  async start(sweepEveryMs = 60_000): Promise<void> {
    await this.reload();
    await this.bus?.subscribe(
      (r) => this.index.apply(r),
      () => void this.reload().catch(() => undefined),
    );
    this.bus?.onStatus?.((status) => this.onBusStatus(status));
    // Without a bus (one instance, or the `warden` CLI writing to its database) the store is polled
    // all the time, so a change made elsewhere is seen within a poll interval.
    if (!this.bus || this.busStatus === 'down') this.poller.start();
    this.sweepTimer = setInterval(() => void this.sweep(), sweepEveryMs);
    this.sweepTimer.unref();
  }

  /**
   * What the periodic timer runs: drops expired records from this index and from the store, and
   * reloads. Resolves when the store's purge and the reload have settled (failures are left to the
   * next run).
   */
  async sweep(): Promise<void> {
    const now = this.clock();
    this.index.sweep(now);
    await Promise.all([
      // Other instances, and those not started yet, load their index from the store by their own
      // clocks: a row deleted by this clock, were it ahead of theirs, would leave them accepting
      // the tokens it refused. The store keeps rows PURGE_AFTER_MS past their expiry.
      this.store.purge(now - PURGE_AFTER_MS).catch(() => undefined),
      // A periodic reload bounds how long a record can go unseen: a lost broadcast, or one the
      // poller's read by recorded_at missed because its writer's clock is behind this instance's
      // by more than the poller's overlap (another instance, or the CLI on another host). Without
      // a bus the poller is all there is, so the reload runs then too.
      this.reload().catch(() => undefined),
    ]);
  }

  /** Applies every live record, a page at a time: each query stays short and the rows are not all held at once. */
  async reload(): Promise<void> {
    const now = this.clock();
    for (let after: LivePage['after'] = null; ;) {
      const page = await this.store.listLive(now, { after, limit: RELOAD_PAGE });
      for (const r of page) this.index.apply(r);
      if (page.length < RELOAD_PAGE) return;
      const last = page[page.length - 1]!;
      after = { kind: last.kind, key: last.key };
    }
  }

  /**
   * One token is refused until `until` (epoch ms). `persist`: how the record is stored, when the
   * caller stores it with more in one transaction (the event recording it); by default, the store alone.
   */
  revokeToken(jti: string, until: number, persist?: Persist): Promise<void> {
    return this.record(jtiRevocation(jti, until), persist);
  }

  /** Every token carrying one of these session ids is refused until `until`. */
  async revokeSessions(sids: readonly string[], until: number): Promise<void> {
    for (const sid of sids) await this.record(sessionRevocation(sid, until));
  }

  /**
   * Every token the user held at `upToMs` (epoch ms) is refused until `until`: sessionless ones
   * issued up to then, and those of every session opened up to then. One record, however many sessions.
   */
  revokeUserTokens(userId: string, upToMs: number, until: number): Promise<void> {
    return this.record(userRevocation(userId, upToMs, until));
  }

  /**
   * A record the store already has (written in another change's transaction: a session's end, a
   * role change's override as stored), applied here and told to the other instances.
   */
  recorded(r: RevocationRecord): void {
    this.index.apply(r);
    this.broadcast(r);
  }

  /** Resolves only after the store has the record: an acknowledged sign-out is never lost. */
  private async record(r: RevocationRecord, persist: Persist = (x) => this.store.add(x)): Promise<void> {
    await persist(r);
    this.recorded(r);
  }

  // Not awaited: the store is the source of truth and a request never waits on the bus.
  private broadcast(r: RevocationRecord): void {
    if (!this.bus) return;
    const key = `${r.kind}\u0000${r.key}`;
    const sent = this.bus.publish(r).then(
      () => undefined,
      () => {
        // Kept for when the bus is back: peers that never lost it would not resync.
        if (this.unsent.size < MAX_UNSENT || this.unsent.has(key)) this.unsent.set(key, r);
      },
    );
    // Tracked so that stop() lets a publish under way finish (bounded by the bus's command timeout):
    // a short-lived process such as the CLI must not exit with its change unsent.
    this.inflight.add(sent);
    void sent.finally(() => this.inflight.delete(sent));
  }

  private onBusStatus(status: BusStatus): void {
    if (status === 'down') {
      this.poller.start();
      return;
    }
    // Not before the store has answered: with the database down too, what other instances revoked
    // meanwhile is only known from it.
    this.poller.stopOnceCaughtUp();
    const pending = [...this.unsent.values()];
    this.unsent.clear();
    for (const r of pending) this.broadcast(r);
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.poller.stop();
    await Promise.allSettled([...this.inflight]);
    await this.bus?.close();
  }
}
