// What a user or session looks like on the wire. Never the password hash.
import { Readable } from 'node:stream';
import type { SessionRecord, UserRecord } from '../storage/types.js';
import type { Overview, TokenPair } from '../accounts/index.js';
import type { PersonalData } from '../accounts/personal-data.js';
import type { EventRecord } from '../events/records.js';
import type { EventView } from '../events/view.js';

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

const isoOrNull = (t: number | null) => (t === null ? null : iso(t));

/**
 * A user's data export as the body of its answer, `{message, data}`, written as it is read: the
 * events a page at a time, as the caller may see them (ownEventView for the user). Built whole, a
 * user with 200,000 events (a refresh each, thousands an hour) took 820 MB and 13 s of one string.
 */
export function personalDataBody(p: PersonalData, now: number, event: (e: EventRecord) => EventView): Readable {
  const whole = JSON.stringify({ message: 'Account data exported', data: { ...personalDataView(p, now), events: [] } });
  const end = ']}}'; // the events array is the document's last member
  return Readable.from((async function* () {
    yield whole.slice(0, -end.length);
    let first = true;
    for await (const page of p.events) {
      yield (first ? '' : ',') + page.map((e) => JSON.stringify(event(e))).join(',');
      first = false;
    }
    yield end;
  })(), { objectMode: false });
}

/** What a user's data export shows but its events. */
function personalDataView(p: PersonalData, now: number) {
  return {
    exported_at: new Date(now).toISOString(),
    user: { ...userView(p.user), updated_at: isoOrNull(p.user.updatedAt), legacy_id: p.user.legacyId, password: p.password },
    sessions: p.sessions.map((s) => ({
      id: s.id, created_at: isoOrNull(s.createdAt), last_used_at: isoOrNull(s.lastUsedAt), expires_at: isoOrNull(s.expiresAt), idle_expires_at: isoOrNull(s.idleExpiresAt),
      ended_at: isoOrNull(s.endedAt), end_reason: s.endReason, user_agent: s.userAgent, ip: s.ip,
    })),
    second_factors: {
      totp: p.totp.map((f) => ({ id: f.id, created_at: isoOrNull(f.createdAt), confirmed_at: isoOrNull(f.confirmedAt), last_used_at: isoOrNull(f.lastUsedAt) })),
      passkeys: p.passkeys.map((k) => ({
        id: k.id, name: k.name, device_type: k.deviceType, backed_up: k.backedUp, transports: k.transports, created_at: isoOrNull(k.createdAt), last_used_at: isoOrNull(k.lastUsedAt),
      })),
      recovery_codes_remaining: p.recoveryCodesRemaining,
    },
    email_links: p.emailTokens.map((t) => ({
      purpose: t.purpose, email: t.email, created_at: isoOrNull(t.createdAt), expires_at: isoOrNull(t.expiresAt), used_at: isoOrNull(t.usedAt), superseded_at: isoOrNull(t.supersededAt),
    })),
    sign_in_devices: p.devices.map((d) => ({ first_seen: isoOrNull(d.firstSeen), last_seen: isoOrNull(d.lastSeen) })),
    pending_mails: p.pendingMails.map((m) => ({ template: m.template, queued_at: isoOrNull(m.createdAt) })),
  };
}
