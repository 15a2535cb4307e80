// The OpenAPI document (/openapi.json, /docs), generated from what the routes really do: each
// operation lists every status it answers, with bodies rendered by its error family from the one
// error registry (so the docs cannot drift from the wire), the errors its guard can raise (derived
// from the same jwtRequired options the route uses), its query parameters, its media types and
// its security. Route schemas only document: server.ts compiles no validator or serializer from them.
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger';
import type { FastifySchema } from 'fastify';
import { INVALID_TOKEN_CODES, WardenError, type ErrorCode, type JwtRequiredOptions, type TokenLocation } from '@warden/toolkit';
import type { Config } from '../config.js';
import { WARDEN_VERSION } from '../config/version.js';
import { render, type ErrorFamily } from './error-families.js';

type Json = Record<string, unknown>;

/** The security schemes: Swagger UI's Authorize dialog asks for username and password (as FastAPI's does) or a pasted token. */
export const SECURITY_SCHEMES = {
  OAuth2PasswordBearer: {
    type: 'oauth2' as const,
    description: 'Username (or email) and password, exchanged at POST /token for an access token',
    flows: { password: { tokenUrl: '/token', scopes: {} as Record<string, string> } },
  },
  bearer: { type: 'http' as const, scheme: 'bearer', bearerFormat: 'JWT', description: 'A Warden access token (or, on the refresh routes, a refresh token)' },
};

const ACCESS_SECURITY = [{ OAuth2PasswordBearer: [] }, { bearer: [] }];

/** Options for @fastify/swagger. */
export function openapiOptions(): FastifyDynamicSwaggerOptions {
  return {
    openapi: {
      info: { title: 'Warden', version: WARDEN_VERSION, description: 'JWT authentication server' },
      components: { securitySchemes: SECURITY_SCHEMES },
    },
    // @fastify/swagger marks every request body required; a route whose body is optional says so.
    // Every operation gets its operationId, the name client generators give its function.
    transformObject(document) {
      if (!('openapiObject' in document)) return document.swaggerObject;
      const paths = (document.openapiObject.paths ?? {}) as Record<string, Record<string, Json>>;
      for (const [path, item] of Object.entries(paths)) {
        for (const [method, op] of Object.entries(item)) {
          op.operationId ??= operationId(method, path);
          if (op['x-optional-body'] !== true) continue;
          delete op['x-optional-body'];
          if (op.requestBody) (op.requestBody as Json).required = false;
        }
      }
      return document.openapiObject;
    },
  };
}

/**
 * An operation's id, made of its method and path alone (`POST /api/v1/auth/login` is
 * `postApiV1AuthLogin`, `GET /api/v1/users/{id}` is `getApiV1UsersById`): unique as the pair is, and
 * the same from one release to the next while the route stays, so generated clients keep their names.
 */
export function operationId(method: string, path: string): string {
  const words = path.split('/').flatMap((segment) => {
    const param = /^\{(.+)\}$/.exec(segment);
    return param ? ['by', ...param[1]!.split(/[^A-Za-z0-9]+/)] : segment.split(/[^A-Za-z0-9]+/);
  }).filter((w) => w !== '');
  return method.toLowerCase() + words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
}

export type Media = 'json' | 'form' | 'multipart';
const MEDIA_TYPE: Record<Media, string> = { json: 'application/json', form: 'application/x-www-form-urlencoded', multipart: 'multipart/form-data' };

export interface Success {
  status: number;
  description: string;
  /** JSON schema of the body; absent for an empty body. */
  schema?: Json;
  /** The body's media type, when it is not application/json. */
  media?: string;
  headers?: Record<string, Json>;
}

export interface RouteDoc {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  tags: string[];
  summary: string;
  description?: string;
  family: ErrorFamily;
  /** The route's jwtRequired options; absent for a public route. */
  auth?: JwtRequiredOptions;
  /** The route's tokenErrorStatus (seed 004's 403 on /auth/me). */
  tokenErrorStatus?: number;
  ok: Success;
  /** What the handler itself may answer besides the guard's and the body parser's errors. */
  errors?: ErrorCode[];
  /** Other statuses the handler sends directly (not as errors). */
  extra?: Record<number, Success>;
  body?: { schema: Json; media: Media[]; optional?: boolean };
  querystring?: Json;
  params?: Json;
}

// Details the examples carry, as the routes attach them (every 503 carries its Retry-After too).
const SAMPLE_DETAILS: Partial<Record<ErrorCode, Json>> = {
  ERR_VALIDATION: { field: 'email' },
  ERR_RATE_LIMITED: { retryAfter: 900 },
  ERR_UNAVAILABLE: { retryAfter: 5 },
};

// Details only some answers of a code carry: documented as optional members (never required), so
// a client typed from the document can read them. A sign-up or an administrator's change lists
// every failed field in `fields`; a taken username or address names it in `field`.
const OPTIONAL_DETAILS: Partial<Record<ErrorCode, Json>> = {
  ERR_VALIDATION: { field: 'email', fields: [{ field: 'email', message: 'email: must be a valid address' }] },
  ERR_CONFLICT: { field: 'email' },
};

/** The errors a jwtRequired with these options can raise, before the handler runs. */
function guardErrors(o: JwtRequiredOptions, method: string, defaultLocations: readonly TokenLocation[], mfaRoles: readonly string[]): ErrorCode[] {
  const out: ErrorCode[] = [];
  if (o.optional !== true) out.push('ERR_JWT_MISSING');
  out.push(...INVALID_TOKEN_CODES);
  const locations = o.locations ?? defaultLocations;
  if (locations.includes('cookies') && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) out.push('ERR_CSRF_MISSING', 'ERR_CSRF_MISMATCH');
  if (o.fresh === true) out.push('ERR_FRESH_REQUIRED');
  if (o.roles !== undefined && o.roles.length > 0) out.push('ERR_ROLE_REQUIRED');
  if (o.mfa === true) out.push('ERR_MFA_REQUIRED');
  if (mfaRoles.length > 0 && o.mfaExempt !== true && o.refresh !== true) out.push('ERR_MFA_ENROLMENT_REQUIRED');
  return out;
}

/** What Fastify's body parsing answers on any route that takes a body. */
const BODY_ERRORS: ErrorCode[] = ['ERR_BAD_JSON', 'ERR_BODY_TOO_LARGE', 'ERR_MEDIA_TYPE'];

/** A JSON schema that every example fits: types, members, and the codes a `code` member takes. */
export function schemaOf(values: unknown[]): Json {
  const present = values.filter((v) => v !== undefined);
  if (present.length === 0) return {};
  if (present.every((v) => v === null)) return { type: 'null' };
  const nonNull = present.filter((v) => v !== null);
  const nullable = nonNull.length < present.length;
  const first = nonNull[0];
  let schema: Json;
  if (Array.isArray(first)) {
    schema = { type: 'array', items: schemaOf(nonNull.flatMap((v) => (Array.isArray(v) ? v : []))) };
  } else if (typeof first === 'object') {
    const objects = nonNull as Json[];
    const keys = [...new Set(objects.flatMap((o) => Object.keys(o)))];
    const properties: Json = {};
    for (const k of keys) {
      properties[k] = schemaOf(objects.map((o) => o[k]));
      if (k === 'code') (properties[k] as Json).enum = [...new Set(objects.map((o) => o[k]))];
    }
    const required = keys.filter((k) => objects.every((o) => k in o));
    schema = { type: 'object', properties, ...(required.length > 0 ? { required } : {}) };
  } else if (typeof first === 'number') {
    schema = { type: nonNull.every((v) => Number.isInteger(v)) ? 'integer' : 'number' };
  } else {
    schema = { type: typeof first };
  }
  return nullable ? { ...schema, nullable: true } : schema;
}

/** The documented responses for these error codes, grouped by the status the family answers with. */
export function errorResponses(family: ErrorFamily, codes: readonly ErrorCode[], tokenErrorStatus?: number): Record<number, Json> {
  const groups = new Map<number, { code: ErrorCode; message: string; body: unknown; headers: Record<string, string>; also?: unknown }[]>();
  for (const code of new Set(codes)) {
    const own = family.samples?.[code];
    const e = render(family, new WardenError(code, undefined, own ?? SAMPLE_DETAILS[code]), tokenErrorStatus);
    // A family with its own sample (FastAPI's list, marshmallow's dict) words the code its own way.
    const optional = own === undefined ? OPTIONAL_DETAILS[code] : undefined;
    const also = optional === undefined ? undefined : family.body(render(family, new WardenError(code, undefined, optional), tokenErrorStatus));
    const list = groups.get(e.status) ?? [];
    list.push({ code, message: e.message, body: family.body(e), headers: e.headers, also });
    groups.set(e.status, list);
  }
  const out: Record<number, Json> = {};
  for (const [status, list] of [...groups].sort((a, b) => a[0] - b[0])) {
    const headerNames = [...new Set(list.flatMap((g) => Object.keys(g.headers)))];
    const headers: Record<string, Json> = {};
    for (const h of headerNames) {
      const values = [...new Set(list.map((g) => g.headers[h]).filter((v) => v !== undefined))];
      headers[h] = { type: 'string', description: `e.g. ${values.slice(0, 2).join(' | ')}` };
    }
    // A family's own schema for a code (a format one sample cannot describe), else one drawn from the samples.
    const own = list.flatMap((g) => (family.schemas?.[g.code] === undefined ? [] : [family.schemas[g.code]!]));
    const sampled = list.filter((g) => family.schemas?.[g.code] === undefined);
    const schemas = [...own, ...(sampled.length > 0 ? [schemaOf([...sampled.map((g) => g.body), ...sampled.flatMap((g) => (g.also === undefined ? [] : [g.also]))])] : [])];
    out[status] = {
      description: list.map((g) => `\`${g.code}\` ${g.message}`).join('\n\n'),
      ...(schemas.length === 1 ? schemas[0] : { anyOf: schemas }),
      ...(headerNames.length > 0 ? { headers } : {}),
      'x-examples': Object.fromEntries(list.map((g) => [g.code, { summary: g.message, value: g.body }])),
    };
  }
  return out;
}

function success(s: Success): Json {
  const headers = s.headers ? { headers: s.headers } : {};
  if (s.schema === undefined) return { description: s.description, type: 'null', ...headers };
  if (s.media !== undefined) return { description: s.description, content: { [s.media]: { schema: s.schema } }, ...headers };
  return { description: s.description, ...s.schema, ...headers };
}

/** Every code a route can answer: the handler's, the guard's, the body parser's, and 503 when a dependency is down. */
export function routeErrors(d: RouteDoc, defaultLocations: readonly TokenLocation[], mfaRoles: readonly string[] = []): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (d.auth !== undefined) codes.push(...guardErrors(d.auth, d.method, defaultLocations, mfaRoles));
  if (d.method !== 'GET') codes.push(...BODY_ERRORS);
  codes.push(...(d.errors ?? []));
  return codes;
}

/** Builds a route's schema (documentation only) from its RouteDoc. */
export function routeSchemas(config: Pick<Config, 'guard' | 'mfa'>) {
  return function schema(d: RouteDoc): FastifySchema {
    const responses: Record<number, Json> = {
      ...errorResponses(d.family, routeErrors(d, config.guard.locations, config.mfa.requiredRoles ?? []), d.tokenErrorStatus),
      [d.ok.status]: success(d.ok),
    };
    for (const [status, s] of Object.entries(d.extra ?? {})) responses[Number(status)] = success(s);

    let querystring = d.querystring;
    const locations = d.auth?.locations ?? config.guard.locations;
    if (d.auth !== undefined && locations.includes('query_string')) {
      const name = d.auth.queryStringName ?? 'jwt';
      const q = (querystring ?? { type: 'object', properties: {} }) as { properties?: Json };
      querystring = {
        ...q,
        properties: { [name]: { type: 'string', description: `the ${d.auth.refresh === true ? 'refresh' : 'access'} token` }, ...q.properties },
      };
    }

    const security = d.auth === undefined ? []
      : d.auth.refresh === true ? [{ bearer: [] }]
      : d.auth.optional === true ? [{}, ...ACCESS_SECURITY]
      : ACCESS_SECURITY;

    const out: Json = {
      tags: d.tags,
      summary: d.summary,
      ...(d.description ? { description: d.description } : {}),
      security,
      response: responses,
      ...(querystring ? { querystring } : {}),
      ...(d.params ? { params: d.params } : {}),
    };
    if (d.body) {
      out.body = d.body.schema;
      out.consumes = d.body.media.map((m) => MEDIA_TYPE[m]);
      if (d.body.optional === true) out['x-optional-body'] = true;
    }
    return out as FastifySchema;
  };
}

export interface PageDoc {
  tags: string[];
  summary: string;
  description?: string;
  /** What the page says when it works. */
  ok: string;
  /** Refusals the route answers as a page (with the code's status and text), not as JSON. */
  pages: ErrorCode[];
  /** What it answers in its family's JSON instead (a dependency down, an unexpected failure). */
  family: ErrorFamily;
  errors?: ErrorCode[];
  querystring?: Json;
}

/**
 * The schema of a public HTML page (where a link in a mail lands). Its refusals are pages, so they
 * are listed by status and code without a JSON body; what it answers as JSON is rendered as usual.
 */
export function pageSchema(d: PageDoc): FastifySchema {
  const response: Record<number, Json> = errorResponses(d.family, d.errors ?? []);
  for (const [status, r] of Object.entries(errorResponses({ body: () => null }, d.pages))) {
    response[Number(status)] = { description: `An HTML page saying why:\n\n${String(r.description)}`, content: { 'text/html': { schema: { type: 'string' } } } };
  }
  response[200] = { description: d.ok, content: { 'text/html': { schema: { type: 'string' } } } };
  return {
    tags: d.tags, summary: d.summary, ...(d.description ? { description: d.description } : {}), security: [], response,
    ...(d.querystring ? { querystring: d.querystring } : {}),
  } as FastifySchema;
}
