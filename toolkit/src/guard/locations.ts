// Where a token may travel, as flask-jwt-extended's JWT_TOKEN_LOCATION: headers, cookies,
// query string, JSON body. Each finder returns the raw token or undefined when it is absent.
import type { IncomingHttpHeaders } from 'node:http';
import { WardenError } from '../errors.js';
import type { TokenType } from '../tokens/types.js';

/** Every place a token may travel; the guard looks in the order a route lists them. */
export const TOKEN_LOCATIONS = ['headers', 'cookies', 'query_string', 'json'] as const;
export type TokenLocation = (typeof TOKEN_LOCATIONS)[number];

/**
 * What the guard reads of a request: a FastifyRequest is one; so is a plain object made from a node
 * IncomingMessage, for a route answered before Fastify (see the guard's jwtRequirement).
 */
export interface GuardedRequest {
  headers: IncomingHttpHeaders;
  method: string;
  /** Parsed query parameters (absent: none). */
  query?: unknown;
  /** Parsed body (absent: none). */
  body?: unknown;
}

/** flask-jwt-extended's default JWT_TOKEN_LOCATION. */
export const DEFAULT_TOKEN_LOCATIONS: readonly TokenLocation[] = ['headers'];

export interface LocationSettings {
  headerName: string; // any case, as messages name it (flask-jwt-extended's 'Bad Authorization header')
  /** The header's name lower-cased, as Node keys it; the guard sets it (else computed per request). */
  headerKey?: string;
  headerType: string; // 'Bearer'; '' means the bare token
  accessCookieName: string;
  refreshCookieName: string;
  queryStringName: string;
  jsonAccessKey: string;
  jsonRefreshKey: string;
}

export const DEFAULT_LOCATION_SETTINGS: Readonly<LocationSettings> = {
  headerName: 'Authorization',
  headerType: 'Bearer',
  accessCookieName: 'access_token_cookie',
  refreshCookieName: 'refresh_token_cookie',
  queryStringName: 'jwt',
  jsonAccessKey: 'access_token',
  jsonRefreshKey: 'refresh_token',
};

export function fromHeader(req: GuardedRequest, s: LocationSettings): string | undefined {
  const raw = req.headers[s.headerKey ?? s.headerName.toLowerCase()];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw[0] ?? '' : raw;
  if (s.headerType === '') return value.trim() || undefined;
  // The common case, "Bearer <token>" exactly, without allocating a lower-cased copy.
  if (value.startsWith(s.headerType) && value.charCodeAt(s.headerType.length) === 32) {
    const token = value.slice(s.headerType.length + 1);
    if (token !== '' && !token.includes(' ')) return token;
  }
  // As flask-jwt-extended reads it: the header may hold comma-separated credentials, and exactly
  // one of this scheme is the token's. A header without one holds no token here, and the next
  // location is looked at (a cookie behind HTTP Basic). The scheme is case-insensitive (RFC 7235
  // §2.1); "<type>" with anything but one token after it is malformed.
  const type = s.headerType.toLowerCase();
  const ours = value.split(',').map((f) => f.trim().split(/\s+/)).filter((words) => words[0]!.toLowerCase() === type);
  if (ours.length !== 1) return undefined;
  if (ours[0]!.length === 2) return ours[0]![1];
  throw new WardenError('ERR_JWT_MALFORMED', `Bad ${s.headerName} header. Expected '${s.headerName}: ${s.headerType} <JWT>'`);
}

/**
 * Cookies are parsed lazily, only when a guarded route looks for one. Parsed here rather than with
 * @fastify/cookie's parser, which exists only once that plugin has loaded: the guard must work without it.
 */
export function readCookies(req: GuardedRequest): Record<string, string | undefined> {
  const header = req.headers.cookie;
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (name in out) continue; // the first of duplicate names wins, as RFC 6265 §5.4 orders them
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    try {
      out[name] = value.includes('%') ? decodeURIComponent(value) : value;
    } catch {
      out[name] = value;
    }
  }
  return out;
}

export function fromCookie(req: GuardedRequest, s: LocationSettings, type: TokenType): string | undefined {
  const v = readCookies(req)[type === 'refresh' ? s.refreshCookieName : s.accessCookieName];
  return v === undefined || v === '' ? undefined : v;
}

export function fromQuery(req: GuardedRequest, s: LocationSettings): string | undefined {
  const v = (req.query as Record<string, unknown> | undefined)?.[s.queryStringName];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function fromJson(req: GuardedRequest, s: LocationSettings, type: TokenType): string | undefined {
  if (!isJsonRequest(req)) return undefined;
  const body = req.body;
  if (body === null || typeof body !== 'object') return undefined;
  const v = (body as Record<string, unknown>)[type === 'refresh' ? s.jsonRefreshKey : s.jsonAccessKey];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function isJsonRequest(req: GuardedRequest): boolean {
  const ct = req.headers['content-type'];
  return typeof ct === 'string' && ct.toLowerCase().includes('json');
}

/** Whether the token header is there, holding no credential of the configured scheme (HTTP Basic, say). */
export function headerOfOtherScheme(req: GuardedRequest, s: LocationSettings): boolean {
  const raw = req.headers[s.headerKey ?? s.headerName.toLowerCase()];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return s.headerType !== '' && value !== undefined && !onlyOuterCommas(value.trim());
}

/**
 * Whether the text is nothing but commas once its outer commas are gone. Scanned from both ends:
 * a regular expression stripping them (/^,+|,+$/g) backtracks quadratically on "Basic ,,,…x"
 * (0.3 s of the event loop for one 16 KB header).
 */
function onlyOuterCommas(v: string): boolean {
  let start = 0;
  while (start < v.length && v.charCodeAt(start) === 44) start++;
  let end = v.length;
  while (end > start && v.charCodeAt(end - 1) === 44) end--;
  return start === end;
}

/** What missingMessage words differently by request. */
export interface MissingContext {
  /** The request is JSON (the json location's part). Default true. */
  jsonRequest?: boolean;
  /** The token header is there with another scheme (the headers location's part). Default false. */
  otherScheme?: boolean;
}

/** flask-jwt-extended's text for a token found nowhere (two of its parts depend on the request). */
export function missingMessage(locations: readonly TokenLocation[], s: LocationSettings, type: TokenType, c: MissingContext = {}): string {
  const parts = locations.map((l) => {
    switch (l) {
      case 'headers':
        if (c.otherScheme === true) return `Missing '${s.headerType}' type in '${s.headerName}' header. Expected '${s.headerName}: ${s.headerType} <JWT>'`;
        return `Missing ${s.headerName} Header`;
      case 'cookies':
        return `Missing cookie "${type === 'refresh' ? s.refreshCookieName : s.accessCookieName}"`;
      case 'query_string':
        return `Missing '${s.queryStringName}' query paramater`; // sic: flask-jwt-extended 4.x's text, typo included
      case 'json':
        if (c.jsonRequest === false) return 'Invalid content-type. Must be application/json.';
        return `Missing "${type === 'refresh' ? s.jsonRefreshKey : s.jsonAccessKey}" key in json data.`;
    }
  });
  if (parts.length === 1) return parts[0]!;
  // "headers, cookies, query_string or json", as flask-jwt-extended 4.x joins them.
  return `Missing JWT in ${locations.slice(0, -1).join(', ')} or ${locations[locations.length - 1]!} (${parts.join('; ')})`;
}
