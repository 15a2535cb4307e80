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
