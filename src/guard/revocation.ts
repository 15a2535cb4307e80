// Revocation at in-memory cost. Every fact is persisted first (RevocationStore), then applied to
// this process's index and broadcast to the other instances (RevocationBus, Redis pub/sub), so a
// check on the hot path is a few Map lookups and never a network round trip.
import type { RevocationRecord, RevocationStore } from '../storage/types.js';
import type { JwtClaims } from '../tokens/types.js';

export type RevocationReason = 'jti' | 'session' | 'user';

/** Broadcast of revocation facts between instances. */
export interface RevocationBus {
  publish(record: RevocationRecord): Promise<void>;
  /** `onResync` runs after a reconnect, when messages may have been missed. */
  subscribe(onRecord: (record: RevocationRecord) => void, onResync: () => void): Promise<void>;
  close(): Promise<void>;
}

export class RevocationIndex {
  private readonly jtis = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  private readonly users = new Map<string, { iat: number; expiresAt: number }>();
  private readonly roles = new Map<string, { roles: string[]; expiresAt: number }>();

  apply(r: RevocationRecord): void {
    switch (r.kind) {
      case 'jti':
        this.jtis.set(r.key, Math.max(r.expiresAt, this.jtis.get(r.key) ?? 0));
        break;
      case 'sid':
        this.sessions.set(r.key, Math.max(r.expiresAt, this.sessions.get(r.key) ?? 0));
        break;
      case 'user': {
        const iat = Number(r.value);
        const prev = this.users.get(r.key);
        if (!prev || iat >= prev.iat) this.users.set(r.key, { iat, expiresAt: r.expiresAt });
        break;
      }
      case 'roles':
        this.roles.set(r.key, { roles: parseRoles(r.value), expiresAt: r.expiresAt });
        break;
    }
  }

  /** Why these claims are revoked, or null. */
  check(claims: JwtClaims): RevocationReason | null {
    if (this.jtis.has(claims.jti)) return 'jti';
    if (claims.sid !== undefined && this.sessions.has(claims.sid)) return 'session';
    // Session-bound tokens die with their session; this rule catches the sessionless ones
    // (minted by the toolkit), whose iat is all that dates them.
    if (claims.sid === undefined) {
      const u = this.users.get(claims.sub);
      // Written so that a token without a numeric iat counts as issued before the rule.
      if (u !== undefined && !(claims.iat > u.iat)) return 'user';
    }
    return null;
  }

  /** The roles to enforce: an administrator's later change overrides the token's claim. */
  rolesOf(claims: JwtClaims): readonly string[] {
    const o = this.roles.get(claims.sub);
    if (o !== undefined) return o.roles;
    return Array.isArray(claims.roles) ? claims.roles : [];
  }

  /** Drops facts whose tokens have all expired. */
  sweep(now: number): void {
    for (const [k, exp] of this.jtis) if (exp <= now) this.jtis.delete(k);
    for (const [k, exp] of this.sessions) if (exp <= now) this.sessions.delete(k);
    for (const [k, v] of this.users) if (v.expiresAt <= now) this.users.delete(k);
    for (const [k, v] of this.roles) if (v.expiresAt <= now) this.roles.delete(k);
  }

  get size(): number {
    return this.jtis.size + this.sessions.size + this.users.size + this.roles.size;
  }
}

function parseRoles(value: string): string[] {
  try {
    const v: unknown = JSON.parse(value);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * Writes revocation facts durably, applies them locally and tells the other instances.
 * `revoke` resolves only after the store has the fact: an acknowledged sign-out is never lost.
 */
export class Revoker {
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: RevocationIndex,
    private readonly store: RevocationStore,
    private readonly bus: RevocationBus | undefined,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Loads live facts from the store, subscribes to the bus and starts the periodic sweep. */
  async start(sweepEveryMs = 60_000): Promise<void> {
    await this.reload();
    await this.bus?.subscribe(
      (r) => this.index.apply(r),
      () => void this.reload().catch(() => undefined),
    );
    this.sweepTimer = setInterval(() => {
      const now = this.clock();
      this.index.sweep(now);
      void this.store.purge(now).catch(() => undefined);
      // With peers, a periodic reload bounds how long a lost broadcast can go unseen.
      if (this.bus) void this.reload().catch(() => undefined);
    }, sweepEveryMs);
    this.sweepTimer.unref();
  }

  async reload(): Promise<void> {
    for (const r of await this.store.listLive(this.clock())) this.index.apply(r);
  }

  async revoke(record: RevocationRecord): Promise<void> {
    await this.store.add(record);
    this.index.apply(record);
    // The store is the source of truth; a failed broadcast is healed by the peers' resync.
    await this.bus?.publish(record).catch(() => undefined);
  }

  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.bus?.close();
  }
}
