// Small readers of request bodies shared by the route families.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { DEFAULT_LOCATION_SETTINGS, WardenError } from '@warden/toolkit';
import type { ClientMeta } from '../accounts/index.js';
import { canonicalAddress, withoutPort } from '../limits/client-key.js';
import { MULTIPART_FORM } from './multipart-form.js';

/**
 * The body of a route that takes JSON or a form (seed 000's sign-in): anything else is 415.
 * Fastify has already parsed it; this refuses other media types and non-object JSON.
 */
export function jsonOrFormBody(req: FastifyRequest, o: { multipart?: boolean } = {}): Record<string, unknown> {
  const ct = (req.headers['content-type'] ?? '').toLowerCase();
  if (!ct.startsWith('application/json') && !ct.startsWith('application/x-www-form-urlencoded') && !(o.multipart === true && ct.startsWith(MULTIPART_FORM))) {
    throw new WardenError('ERR_MEDIA_TYPE');
  }
  return objectBody(req);
}

/**
 * A sign-up's or a user creation's body. A form has no lists: repeated `roles=a&roles=b` arrives
 * as an array, a single `roles=a` as a string, which means the one-item list (as FastAPI's
 * `List[str] = Form()` reads it, and as Swagger UI sends a one-item array in a form).
 */
export function newUserBody(req: FastifyRequest): Record<string, unknown> {
  const body = jsonOrFormBody(req);
  const form = (req.headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
  return form && typeof body.roles === 'string' ? { ...body, roles: [body.roles] } : body;
}

/**
 * JSON with an empty body reads as no body at all. Seed clients send `Content-Type:
 * application/json` on every request, body-less POSTs included (seed 004's `/auth/refresh?
 * refresh_token=`, a sign-out), and FastAPI and Flask ignore it on a route that reads no body;
 * Fastify's own parser answers 400. A route that needs a body refuses this as a missing one.
 */
export function readEmptyJsonAsNoBody(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body.length === 0) done(null, undefined);
    else json(req, body as string, done);
  });
}

export function objectBody(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw new WardenError('ERR_BAD_REQUEST', 'The body must be a JSON object');
  return b as Record<string, unknown>;
}

/**
 * The body's fields, without the token when the guard took it from the body (JWT_TOKEN_LOCATION
 * with `json`): it is the request's credential, not a field to change.
 */
export function fieldsBody(req: FastifyRequest): Record<string, unknown> {
  const body = objectBody(req);
  const key = DEFAULT_LOCATION_SETTINGS.jsonAccessKey;
  if (req.jwt?.location !== 'json' || !(key in body)) return body;
  const { [key]: _credential, ...fields } = body;
  return fields;
}

/** A form field may arrive repeated (`a=1&a=2`): only a single string value counts. */
export function field(body: Record<string, unknown>, name: string): unknown {
  const v = body[name];
  return Array.isArray(v) ? undefined : v;
}

/**
 * A query parameter that may be given once: `?limit=1&limit=2` is refused as that, the same on every
 * route, rather than as whatever the value's check makes of an array.
 */
export function onceIn(query: Record<string, unknown>, name: string): unknown {
  const v = query[name];
  if (Array.isArray(v)) throw new WardenError('ERR_VALIDATION', `${name}: must be given once`, { field: name });
  return v;
}

/**
 * The client's address: Fastify's `request.ip` (the socket's peer, or the X-Forwarded-For entry
 * TRUST_PROXY picks), without the port a proxy may have written beside it, in its one text (an
 * IPv4 peer of a dual-stack listener as IPv4; IPv6 as RFC 5952 writes it). What every per-IP limit
 * keys by, sessions and events record, and logs show.
 */
export function clientIp(req: FastifyRequest): string | null {
  const ip: string | undefined = req.ip;
  return ip === undefined ? null : canonicalAddress(withoutPort(ip));
}

export function clientMeta(req: FastifyRequest): ClientMeta {
  const ua = req.headers['user-agent'];
  return { userAgent: typeof ua === 'string' ? ua : null, ip: clientIp(req) };
}

// An id a proxy assigned (nginx's $request_id: 32 hex digits; a UUID): short and plain, so that a
// client writing its own can neither lengthen the error line nor make it read as something else;
// and never of the form of Warden's own (req- and a counter, guessed at once), so that where no proxy
// replaces the header a client cannot give its failure the id another request's line carries.
const GIVEN_REQUEST_ID = /^(?!req-)[A-Za-z0-9._:-]{1,64}$/i;

/**
 * Fastify's `genReqId`: the request's `X-Request-Id` when a proxy set a plain one (so an error line
 * is found from the proxy's access log), else `req-` and a counter, as Fastify's own. Read only for
 * requests Fastify routes: forward auth's 200 is answered before (http/forward-auth.ts).
 */
export function requestIdGenerator(): (req: { headers: Record<string, string | string[] | undefined> }) => string {
  let next = 0;
  return (req) => {
    const given = req.headers['x-request-id'];
    if (typeof given === 'string' && GIVEN_REQUEST_ID.test(given)) return given;
    next = (next + 1) & 0x7fffffff;
    return `req-${next.toString(36)}`;
  };
}
