// An event as the audit API, a user's own history and webhooks show it: snake_case, ISO times.
import type { EventRecord } from './records.js';

export function eventView(e: EventRecord) {
  return {
    id: e.id,
    time: new Date(e.time).toISOString(),
    type: e.type,
    outcome: e.outcome,
    actor_id: e.actorId,
    user_id: e.userId,
    session_id: e.sessionId,
    ip: e.ip,
    user_agent: e.userAgent,
    details: e.details,
  };
}

export type EventView = ReturnType<typeof eventView>;

/**
 * An event as its user sees it in their own history: what another user did to the account (an
 * administrator) shows who, but not from where (that IP and user agent are the other person's).
 */
export function ownEventView(e: EventRecord, self: string): EventView {
  const v = eventView(e);
  return e.actorId !== null && e.actorId !== self ? { ...v, ip: null, user_agent: null } : v;
}
