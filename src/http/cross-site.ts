// Login CSRF: a page on another site must not sign a browser in (into the attacker's account) or
// swap its tokens. Routes that set auth cookies refuse a browser's cross-site request, judged by
// what browsers say about it and pages cannot forge: Sec-Fetch-Site, else (older browsers) Origin.
// curl and server-to-server clients send neither and pass: they carry no victim's cookies.
import type { onRequestHookHandler } from 'fastify';
import { WardenError } from '@warden/toolkit';

/**
 * An onRequest hook for cookie-setting routes. `allowedOrigins` (exact `scheme://host[:port]`) are
 * other origins trusted to sign in from the browser: CORS_ORIGINS.
 */
export function refuseCrossSite(allowedOrigins: readonly string[] | undefined): onRequestHookHandler {
  const allowed = new Set(allowedOrigins);
  return function crossSite(req, _reply, done) {
    const origin = req.headers.origin;
    const site = req.headers['sec-fetch-site'];
    if (origin !== undefined && allowed.has(origin)) return done();
    // The browser's own verdict; `none` is a navigation the user started (address bar, bookmark).
    if (site !== undefined) return site === 'same-origin' || site === 'none' ? done() : done(new WardenError('ERR_CROSS_SITE'));
    if (origin === undefined || sameHost(origin, req.host)) return done();
    done(new WardenError('ERR_CROSS_SITE'));
  };
}

/**
 * Origin against the Host the request was sent to (X-Forwarded-Host from a trusted proxy). The
 * scheme is not compared: behind a TLS-terminating proxy Warden may not know it, and a page on the
 * same host over the other scheme is not another site's. `null` and malformed origins never match.
 */
function sameHost(origin: string, host: string): boolean {
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
