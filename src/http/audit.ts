// The event stream over HTTP, under /api/v1 (seed 004's envelope): the administrators' audit log,
// a user's own recent security events, and the webhook deliveries with their attempts.
import type { FastifyInstance } from 'fastify';
import { WardenError, type JwtRequiredOptions } from '@warden/toolkit';
import { parseEventTypes, parseIsoTime } from '../events/audit.js';
import type { DeliveryRecord, DeliveryState } from '../events/records.js';
import { eventView, ownEventView } from '../events/view.js';
import { shownEndpoint, shownFailure } from '../events/webhooks/endpoints.js';
import { DEPENDENCY_ERRORS } from './api.js';
import { onceIn } from './request.js';
import type { RouteContext } from './context.js';
import { routeSchemas } from './docs.js';
import { ENVELOPE, familyErrorHandler } from './error-families.js';
import { envelope } from './schemas.js';

type Json = Record<string, unknown>;
const str = (description?: string, extra: Json = {}): Json => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const nullable = (schema: Json): Json => ({ ...schema, nullable: true });

const EVENT = {
  type: 'object',
  properties: {
    id: str('UUIDv7'), time: str(undefined, { format: 'date-time' }), type: str(), outcome: str(undefined, { enum: ['success', 'failure'] }),
    actor_id: nullable(str('the user who acted; null for an anonymous request or Warden itself')), user_id: nullable(str('the user it is about')),
    session_id: nullable(str()), ip: nullable(str()), user_agent: nullable(str()),
    details: { type: 'object', additionalProperties: true, description: 'small, typed per event type; never a secret' },
  },
  required: ['id', 'time', 'type', 'outcome', 'actor_id', 'user_id', 'session_id', 'ip', 'user_agent', 'details'],
};
const DELIVERY = {
  type: 'object',
  properties: {
    id: str(), event_id: str(), endpoint: str('the URL without its query string'), state: str(undefined, { enum: ['pending', 'delivered', 'failed'] }),
    attempts: { type: 'integer' }, created_at: str(undefined, { format: 'date-time' }),
    next_attempt_at: nullable(str('pending: when it is tried next', { format: 'date-time' })),
    last_attempt_at: nullable(str(undefined, { format: 'date-time' })), last_status: { type: 'integer', nullable: true },
    last_error: nullable(str()), delivered_at: nullable(str(undefined, { format: 'date-time' })),
  },
  required: ['id', 'event_id', 'endpoint', 'state', 'attempts', 'created_at', 'next_attempt_at', 'last_attempt_at', 'last_status', 'last_error', 'delivered_at'],
};
const pageOf = (item: Json): Json => envelope({
  type: 'object',
  properties: { items: { type: 'array', items: item }, next_cursor: nullable(str('pass as ?cursor= for the next page; null on the last')) },
  required: ['items', 'next_cursor'],
});
const LIMIT = { type: 'integer', minimum: 1, maximum: 100, default: 50 };
const CURSOR = str('the next_cursor of the previous page');
const AUDIT_QUERY = {
  type: 'object',
  properties: {
    type: str('event types, comma-separated (any of); a family as `signin.*`'), actor: str('the acting user: id, username or email'), user: str('the user the events are about: id, username or email'),
    from: str('from this time on (ISO 8601)', { format: 'date-time' }), to: str('before this time (ISO 8601)', { format: 'date-time' }),
    limit: LIMIT, cursor: CURSOR,
  },
};
const OWN_QUERY = { type: 'object', properties: { limit: LIMIT, cursor: CURSOR } };
const DELIVERY_QUERY = {
  type: 'object',
  properties: { state: str(undefined, { enum: ['pending', 'delivered', 'failed'] }), event: str('one event\'s deliveries'), limit: LIMIT, cursor: CURSOR },
};

const invalid = (field: string, message: string) => new WardenError('ERR_VALIDATION', `${field}: ${message}`, { field });
const ID = /^[0-9A-Za-z-]{1,64}$/;

/** A single-valued query parameter: absent, or a string (a repeated one is refused). */
function one(q: Record<string, unknown>, name: string): string | undefined {
  const v = onceIn(q, name);
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw invalid(name, 'must be a string');
  return v;
}

function id(q: Record<string, unknown>, name: string): string | undefined {
  const v = one(q, name);
  if (v !== undefined && !ID.test(v)) throw invalid(name, 'must be an id');
  return v;
}

function time(q: Record<string, unknown>, name: string): number | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  const ms = parseIsoTime(v);
  if (!Number.isFinite(ms)) throw invalid(name, 'must be an ISO 8601 date or date-time, e.g. 2026-01-31T12:00:00Z');
  return ms;
}

/** The page size of these cursor-paged lists. An `offset` is refused: ignored, a client paging by it would read page one for ever. */
function limit(q: Record<string, unknown>): number {
  if (q.offset !== undefined) throw invalid('offset', 'is not taken here: follow next_cursor to the next page');
  const v = one(q, 'limit');
  if (v === undefined) return 50;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < 1 || n > 100) throw invalid('limit', 'must be a whole number from 1 to 100');
  return n;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function deliveryView(d: DeliveryRecord) {
  return {
    id: d.id, event_id: d.eventId, endpoint: shownEndpoint(d.endpoint), state: d.state, attempts: d.attempts,
    created_at: iso(d.createdAt), next_attempt_at: d.state === 'pending' ? iso(d.nextAttemptAt) : null,
    last_attempt_at: iso(d.lastAttemptAt), last_status: d.lastStatus, last_error: d.lastError === null ? null : shownFailure(d.lastError), delivered_at: iso(d.deliveredAt),
  };
}

export async function auditRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  const { config, audit } = ctx;
  app.setErrorHandler(familyErrorHandler(ENVELOPE, ctx.log));
  const doc = routeSchemas(config);
  const adminOpts: JwtRequiredOptions = { roles: config.accounts.adminRoles };
  const userOpts: JwtRequiredOptions = {};
  const ok = (message: string, data: unknown) => ({ message, data });

  // actor and user name a user by id, username or email, as `warden audit --user` does (the
  // console's filters pass them on); one that names nobody is 422, not an empty log read as "no events".
  const who = async (q: Record<string, unknown>, name: string): Promise<string | undefined> => {
    const v = one(q, name);
    if (v === undefined) return undefined;
    if (v.length > 320) throw invalid(name, 'is too long');
    const found = await ctx.accounts.admin.idOf(v);
    if (found === null) throw invalid(name, 'names no user (give an id, a username or an email)');
    return found;
  };

  app.get('/audit', {
    preHandler: app.jwtRequired(adminOpts),
    schema: doc({
      method: 'GET', tags: ['v1 admin'], family: ENVELOPE, auth: adminOpts, querystring: AUDIT_QUERY,
      summary: 'The audit log: security events, newest first (filters: type, actor, user, from, to; paged by cursor)',
      ok: { status: 200, description: '"Audit events retrieved"', schema: pageOf(EVENT) }, errors: ['ERR_VALIDATION', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const type = one(q, 'type');
    const cursor = one(q, 'cursor');
    const actorId = await who(q, 'actor');
    const userId = await who(q, 'user');
    const from = time(q, 'from');
    const to = time(q, 'to');
    const page = await audit.list({
      limit: limit(q),
      ...(type !== undefined ? { types: parseEventTypes(type) } : {}),
      ...(actorId !== undefined ? { actorId } : {}),
      ...(userId !== undefined ? { userId } : {}),
      ...(from !== undefined ? { from } : {}),
      ...(to !== undefined ? { to } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    return ok('Audit events retrieved', { items: page.items.map(eventView), next_cursor: page.nextCursor });
  });

  app.get('/auth/events', {
    preHandler: app.jwtRequired(userOpts),
    schema: doc({
      method: 'GET', tags: ['v1'], family: ENVELOPE, auth: userOpts, querystring: OWN_QUERY,
      summary: 'Your account\'s recent security events (sign-ins, failures, sessions, password and role changes), newest first',
      ok: { status: 200, description: '"Security events retrieved"', schema: pageOf(EVENT) }, errors: ['ERR_VALIDATION', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const cursor = one(q, 'cursor');
    const self = req.jwt!.claims.sub;
    const page = await audit.own(self, limit(q), cursor);
    return ok('Security events retrieved', { items: page.items.map((e) => ownEventView(e, self)), next_cursor: page.nextCursor });
  });

  app.get('/webhooks/deliveries', {
    preHandler: app.jwtRequired(adminOpts),
    schema: doc({
      method: 'GET', tags: ['v1 admin'], family: ENVELOPE, auth: adminOpts, querystring: DELIVERY_QUERY,
      summary: 'Webhook deliveries and their attempts, newest first (filters: state, event; paged by cursor)',
      ok: { status: 200, description: '"Deliveries retrieved"', schema: pageOf(DELIVERY) }, errors: ['ERR_VALIDATION', ...DEPENDENCY_ERRORS],
    }),
  }, async (req) => {
    const q = req.query as Record<string, unknown>;
    const state = one(q, 'state');
    if (state !== undefined && !['pending', 'delivered', 'failed'].includes(state)) throw invalid('state', 'must be pending, delivered or failed');
    const eventId = id(q, 'event');
    const cursor = one(q, 'cursor');
    const page = await audit.deliveryLog({
      limit: limit(q),
      ...(state !== undefined ? { state: state as DeliveryState } : {}),
      ...(eventId !== undefined ? { eventId } : {}),
      ...(cursor !== undefined ? { cursor } : {}),
    });
    return ok('Deliveries retrieved', { items: page.items.map(deliveryView), next_cursor: page.nextCursor });
  });
}
