// What a user or session looks like on the wire. Never the password hash.
import type { SessionRecord, UserRecord } from '../storage/types.js';
import type { Overview, TokenPair } from '../accounts/index.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** The administrators' overview (OVERVIEW in schemas.ts). */
export function overviewView(o: Overview) {
  return {
    at: iso(o.at),
    users: o.users,
    sign_ins: { since: iso(o.signIns.since), succeeded: o.signIns.succeeded, failed: o.signIns.failed, throttled: o.signIns.throttled },
    sessions: { live: o.liveSessions },
  };
}

export function userView(u: UserRecord) {
  return {
    id: u.id,
    username: u.username,
    email: u.email,
    full_name: u.fullName,
    roles: u.roles,
    is_active: u.isActive,
    email_verified: u.emailVerified,
    created_at: new Date(u.createdAt).toISOString(),
  };
}

/** Seed 004's profile shape. */
export function profileView(u: UserRecord) {
  return { user_id: u.id, email: u.email, full_name: u.fullName, is_active: u.isActive, roles: u.roles, email_verified: u.emailVerified };
}

export function sessionView(s: SessionRecord, currentSid: string | undefined) {
  return {
    id: s.id,
    created_at: new Date(s.createdAt).toISOString(),
    last_used_at: new Date(s.lastUsedAt).toISOString(),
    expires_at: new Date(Math.min(s.expiresAt, s.idleExpiresAt)).toISOString(),
    user_agent: s.userAgent,
    ip: s.ip,
    current: s.id === currentSid,
  };
}

export function pairView(p: TokenPair) {
  return { access_token: p.access.token, refresh_token: p.refresh.token, token_type: 'bearer' as const };
}
