// Headers that keep tokens out of caches and pages out of frames. Each is set where its reply is
// built, never in a global Fastify hook (an onSend hook on every route cost ~10% of forward-auth
// throughput): the per-response headers of every reply are set on the raw response by
// http/node-server.ts, token responses call noStore, /docs gets its own route hook.
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import type { Config } from '../config.js';

/** RFC 6749 §5.1 for any response that carries a token: no cache (shared or private) may keep it. */
export function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

/**
 * Headers every response carries unless it set its own: no MIME sniffing; no caching (the API's
 * answers hold personal data, which a browser would otherwise keep in its cache after sign-out;
 * the public keys and static files say how they may be cached); HSTS when cookies are HTTPS-only (so is the site).
 */
export function everyResponseHeaders(config: Pick<Config, 'cookies'>): Array<[string, string]> {
  const headers: Array<[string, string]> = [['x-content-type-options', 'nosniff'], ['cache-control', 'no-store']];
  if (config.cookies.secure) headers.push(['strict-transport-security', 'max-age=31536000; includeSubDomains']);
  return headers;
}

/** Swagger UI's pages may not be framed (clickjacking): the old header and CSP's frame-ancestors. */
export function refuseFraming(_req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void {
  void reply.header('x-frame-options', 'DENY').header('content-security-policy', "frame-ancestors 'none'");
  done();
}
