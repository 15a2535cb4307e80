// Forward auth (nginx auth_request, Traefik forwardAuth) authorises a request Warden never sees:
// the CSRF double submit must judge that request's method, which the proxy names in a header.
//
// A gateway asks once per request it proxies, so the answer it nearly always gets (200) is given at
// the HTTP edge, before Fastify routes the request: the same checks, compiled once by the guard,
// and the same headers, without a Fastify request, reply and hook chain around them (about a
// quarter of this route's CPU). Anything else (a refusal, a query string, a body, a browser's
// Origin, debug request logging) is left to the Fastify route, which answers it exactly as before.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { WardenError, type GuardedRequest, type JwtContext, type JwtRequiredOptions } from '@warden/toolkit';
import type { EdgeRoute } from './node-server.js';

/** The route's path, on both paths. */
export const FORWARD_AUTH_PATH = '/api/v1/auth/verify';

// RFC 9110 §9.2.1's safe methods: the only forwarded values that do not call for the CSRF check.
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/**
 * The methods an auth subrequest stands for: its own, Traefik's X-Forwarded-Method and the
 * X-Original-Method that the README's nginx snippet sets. The guard checks CSRF when any of them is
 * unsafe, so a header a client adds can only add the check, never remove it; a value that is not a
 * safe method (an extension method, two headers joined as "GET, POST") stands for an unsafe one.
 */
export function forwardedMethods(req: GuardedRequest): string[] {
  const methods = [req.method];
  for (const name of ['x-forwarded-method', 'x-original-method']) {
    const v = req.headers[name];
    if (typeof v !== 'string') continue;
    const m = v.trim().toUpperCase();
    methods.push(SAFE_METHODS.has(m) ? m : 'POST');
  }
  return methods;
}

/** The guard's options for forward auth, on both paths. */
export const FORWARD_AUTH_OPTIONS: JwtRequiredOptions = { requestMethods: forwardedMethods };

// What a header carries byte for byte to the application behind the proxy: visible ASCII, with
// inner spaces. Warden's own subs and roles always are; a token another holder of the key minted
// may not be (a non-Latin-1 character cannot be written at all, a Latin-1 one is not the UTF-8 the
// application reads, outer spaces are trimmed away), and its subject must not arrive changed.
const HEADER_SAFE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

/**
 * What a good token is answered with: the user and the roles in force, for the proxy to pass on.
 * A sub or roles no header can carry as they are is ERR_JWT_CLAIM_INVALID (401).
 */
export function forwardAuthHeaders(jwt: JwtContext): { 'x-auth-user': string; 'x-auth-roles': string } {
  const roles = rolesHeader(jwt.roles);
  if (roles === undefined || !HEADER_SAFE.test(jwt.claims.sub)) throw new WardenError('ERR_JWT_CLAIM_INVALID');
  return { 'x-auth-user': jwt.claims.sub, 'x-auth-roles': roles };
}

// X-Auth-Roles of the last role list seen: a token served from the verify cache brings the same
// (frozen) array on every request, so its header value is built and checked once, not per request.
// Undefined when no header can carry it as it is.
let lastRoles: readonly string[] | undefined;
let lastRolesHeader: string | undefined = '';
function rolesHeader(roles: readonly string[]): string | undefined {
  if (roles !== lastRoles || !Object.isFrozen(roles)) {
    lastRoles = roles;
    const header = roles.join(',');
    lastRolesHeader = HEADER_SAFE.test(header) ? header : undefined;
  }
  return lastRolesHeader;
}

/**
 * The edge answer: 200 and the headers when `check` (the guard's requirement for
 * FORWARD_AUTH_OPTIONS) accepts the request as it stands; otherwise nothing is written and the
 * Fastify route answers, refusal bodies and all. `record`: the route's metrics, as its hook records them.
 */
export function forwardAuthAtEdge(
  check: (req: GuardedRequest) => JwtContext | null,
  record: ((method: string, status: number, seconds: number) => void) | undefined,
): EdgeRoute {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    const h = req.headers;
    // CORS (a browser's Origin) and a request body are Fastify's to handle.
    if (h.origin !== undefined || h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0')) return false;
    const started = record === undefined ? 0 : performance.now();
    let headers: Record<string, string>;
    try {
      const jwt = check({ headers: h, method: 'GET' });
      if (jwt === null) return false;
      headers = forwardAuthHeaders(jwt);
    } catch {
      return false; // refused: the route says why, in its family's body
    }
    headers['content-length'] = '0';
    res.writeHead(200, headers).end();
    record?.('GET', 200, (performance.now() - started) / 1000);
    return true;
  };
}
