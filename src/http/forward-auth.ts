// Forward auth (nginx auth_request, Traefik forwardAuth) authorises a request Warden never sees:
// the CSRF double submit must judge that request's method, which the proxy names in a header.
import type { FastifyRequest } from 'fastify';

/**
 * The methods an auth subrequest stands for: its own, Traefik's X-Forwarded-Method and the
 * X-Original-Method that the README's nginx snippet sets. The guard checks CSRF when any of them is
 * unsafe, so a header a client adds can only add the check, never remove it.
 */
export function forwardedMethods(req: FastifyRequest): string[] {
  const methods = [req.method];
  for (const name of ['x-forwarded-method', 'x-original-method']) {
    const v = req.headers[name];
    if (typeof v === 'string') methods.push(v.trim().toUpperCase());
  }
  return methods;
}
