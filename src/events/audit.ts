// Reading the event stream: the administrators' audit log, a user's own recent security events and
// the webhook deliveries. Listings are newest first and page by key: a cursor names the last item
// seen, (time, id), and the next page starts strictly after it through an index, so page 10,000
// costs what page 1 does (no OFFSET).
import { WardenError } from '@warden/toolkit';
import { EVENT_TYPES, type DeliveryRecord, type DeliveryState, type DeliveryStore, type EventRecord, type EventStore, type EventType } from './records.js';

export interface Page<T> {
  items: T[];
  /** Pass as `cursor` for the next page; null on the last one. */
  nextCursor: string | null;
}

export interface AuditQuery {
  types?: readonly EventType[];
  actorId?: string;
  userId?: string;
  from?: number;
  to?: number;
  limit: number;
  cursor?: string;
}

const invalid = (field: string, message: string) => new WardenError('ERR_VALIDATION', `${field}: ${message}`, { field });
const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);
const CURSOR = /^(\d{1,16})\.([0-9A-Za-z-]{1,64})$/;

function encodeCursor(key: number, id: string): string {
  return Buffer.from(`${key}.${id}`).toString('base64url');
}

function decodeCursor(cursor: string): { key: number; id: string } {
  const m = CURSOR.exec(Buffer.from(cursor, 'base64url').toString('latin1'));
  if (m === null || cursor.length > 120) throw invalid('cursor', 'is not a cursor this API gave out');
  return { key: Number(m[1]), id: m[2]! };
}

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(T[\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * Epoch milliseconds of an ISO 8601 date or date-time (`?from=`, `--from`), or NaN. The date must
 * exist: Date.parse reads 2026-02-31 as 3 March. Without an offset it is UTC, as a bare date is:
 * Date.parse would read a date-time in the machine's zone.
 */
export function parseIsoTime(value: string): number {
  const m = ISO_TIME.exec(value);
  if (m === null) return Number.NaN;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return Number.NaN;
  return Date.parse(m[4] !== undefined && m[5] === undefined ? `${value}Z` : value);
}

/**
 * Event types from a comma list (`?type=a,b`), a `prefix.*` standing for every type of that family
 * (as WEBHOOK_URLS filters take them); an unknown type, or a family of none, is a 422 naming it.
 */
export function parseEventTypes(value: string): EventType[] {
  const types = new Set<string>();
  for (const t of value.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    const family = t.endsWith('.*') ? [...KNOWN_TYPES].filter((k) => k.startsWith(t.slice(0, -1))) : KNOWN_TYPES.has(t) ? [t] : [];
    if (family.length === 0) throw invalid('type', `"${t.slice(0, 40)}" is not an event type${t.endsWith('.*') ? ' family' : ''}`);
    for (const k of family) types.add(k);
  }
  return [...types] as EventType[];
}

export class Audit {
  constructor(private readonly events: Pick<EventStore, 'list'>, private readonly deliveries: Pick<DeliveryStore, 'list'>) {}

  /** The audit log (administrators): every event, filtered. */
  async list(q: AuditQuery): Promise<Page<EventRecord>> {
    const before = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const rows = await this.events.list({
      limit: q.limit + 1,
      ...(q.types !== undefined && q.types.length > 0 ? { types: q.types } : {}),
      ...(q.actorId !== undefined ? { actorId: q.actorId } : {}),
      ...(q.userId !== undefined ? { userId: q.userId } : {}),
      ...(q.from !== undefined ? { from: q.from } : {}),
      ...(q.to !== undefined ? { to: q.to } : {}),
      ...(before !== undefined ? { before: { time: before.key, id: before.id } } : {}),
    });
    return page(rows, q.limit, (e) => encodeCursor(e.time, e.id));
  }

  /** A user's own events: what happened to their account, newest first. */
  own(userId: string, limit: number, cursor?: string): Promise<Page<EventRecord>> {
    return this.list({ userId, limit, ...(cursor !== undefined ? { cursor } : {}) });
  }

  /** Webhook deliveries and their attempts (administrators). */
  async deliveryLog(q: { limit: number; state?: DeliveryState; eventId?: string; cursor?: string }): Promise<Page<DeliveryRecord>> {
    const before = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
    const rows = await this.deliveries.list({
      limit: q.limit + 1,
      ...(q.state !== undefined ? { state: q.state } : {}),
      ...(q.eventId !== undefined ? { eventId: q.eventId } : {}),
      ...(before !== undefined ? { before: { createdAt: before.key, id: before.id } } : {}),
    });
    return page(rows, q.limit, (d) => encodeCursor(d.createdAt, d.id));
  }
}

function page<T>(rows: T[], limit: number, cursorOf: (last: T) => string): Page<T> {
  const items = rows.slice(0, limit);
  return { items, nextCursor: rows.length > limit ? cursorOf(items.at(-1)!) : null };
}
