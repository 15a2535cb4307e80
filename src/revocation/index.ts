// The in-memory revocation index: what every request is checked against. Loaded from the store at
// start and kept current by the revoker and the bus, so a check on the hot path is a few Map
// lookups and never a network round trip. It implements the guard's RevocationCheck.
import type { JwtClaims, RevocationCheck } from '@warden/toolkit';
import { overriddenRoles, userRevocationMs, type RevocationKind, type RevocationRecord } from './records.js';
import { sessionOpenedAt } from './session-id.js';

/** Shared by every token without roles: the hot path allocates nothing here. */
const NO_ROLES: readonly string[] = Object.freeze([]);

/**
 * When a token or session entry may go, in whole seconds rounded up (kept up to a second longer).
 * Epoch seconds are small integers V8 keeps inline in the Map; epoch milliseconds would each be a
 * 16-byte heap number, an eighth of what a live entry costs (until 2038, when seconds outgrow them too).
 */
const expirySeconds = (ms: number): number => Math.ceil(ms / 1000);

export class RevocationIndex implements RevocationCheck {
  /** Revoked token ids and session ids, each with its expiry in epoch seconds. */
  private readonly jtis = new Map<string, number>();
  private readonly sessions = new Map<string, number>();
  /** Per user: every token issued, and every session opened, at or before `upToMs` is refused. */
  private readonly users = new Map<string, { upToMs: number; expiresAt: number }>();
  private readonly roleOverrides = new Map<string, { roles: string[]; expiresAt: number }>();

  apply(r: RevocationRecord): void {
    switch (r.kind) {
      case 'jti':
        this.jtis.set(r.key, Math.max(expirySeconds(r.expiresAt), this.jtis.get(r.key) ?? 0));
        break;
      case 'sid':
        this.sessions.set(r.key, Math.max(expirySeconds(r.expiresAt), this.sessions.get(r.key) ?? 0));
        break;
      case 'user': {
        const upToMs = userRevocationMs(r);
        const prev = this.users.get(r.key);
        // The later moment wins (NaN, a malformed value, wins too: it refuses everything).
        if (!prev || !(upToMs < prev.upToMs)) this.users.set(r.key, { upToMs, expiresAt: Math.max(r.expiresAt, prev?.expiresAt ?? 0) });
        break;
      }
      case 'roles': {
        // The later role change wins, whichever arrives last: its override's deadline is the later
        // (see RoleOverride). An equal one is the same record again.
        const prev = this.roleOverrides.get(r.key);
        if (!prev || !(r.expiresAt < prev.expiresAt)) this.roleOverrides.set(r.key, { roles: overriddenRoles(r), expiresAt: r.expiresAt });
        break;
      }
    }
  }

  /** Which revocation refuses these claims, or null. (An empty map is not asked: a lookup hashes a new token's ids.) */
  check(claims: JwtClaims): RevocationKind | null {
    if (this.jtis.size !== 0 && this.jtis.has(claims.jti)) return 'jti';
    if (claims.sid !== undefined && this.sessions.size !== 0 && this.sessions.has(claims.sid)) return 'sid';
    const u = this.users.size === 0 ? undefined : this.users.get(claims.sub);
    if (u === undefined) return null;
    if (claims.sid === undefined) {
      // A sessionless token (minted by the toolkit): its iat (whole seconds) is all that dates it.
      // Written so that a token without a numeric iat counts as issued before the rule.
      return !(claims.iat * 1000 > u.upToMs) ? 'user' : null;
    }
    // A session-bound token is as old as its session: the opening time in its sid. A sid that
    // carries none (sessions opened before session ids did) is refused by its own 'sid' record.
    const opened = typeof claims.sid === 'string' ? sessionOpenedAt(claims.sid) : undefined;
    return opened !== undefined && !(opened > u.upToMs) ? 'user' : null;
  }

  /** The moment (epoch ms) up to which a 'user' revocation refuses this user's tokens, if one does. */
  userCutoff(userId: string): number | undefined {
    return this.users.get(userId)?.upToMs;
  }

  /** The roles to enforce: a role override (an administrator's later change) beats the token's claim. */
  rolesOf(claims: JwtClaims): readonly string[] {
    const o = this.roleOverrides.size === 0 ? undefined : this.roleOverrides.get(claims.sub);
    if (o !== undefined) return o.roles;
    return Array.isArray(claims.roles) ? claims.roles : NO_ROLES;
  }

  /** Drops facts whose tokens have all expired. */
  sweep(now: number): void {
    const nowSeconds = now / 1000;
    for (const [k, exp] of this.jtis) if (exp <= nowSeconds) this.jtis.delete(k);
    for (const [k, exp] of this.sessions) if (exp <= nowSeconds) this.sessions.delete(k);
    for (const [k, v] of this.users) if (v.expiresAt <= now) this.users.delete(k);
    for (const [k, v] of this.roleOverrides) if (v.expiresAt <= now) this.roleOverrides.delete(k);
  }

  get size(): number {
    return this.jtis.size + this.sessions.size + this.users.size + this.roleOverrides.size;
  }
}
