// The four cookies of flask-jwt-extended: httpOnly token cookies and page-readable CSRF cookies
// (double submit), with path "/" since three route families accept them.
import type { FastifyReply } from 'fastify';
import type { Config } from '../config.js';
import type { Issued } from '../accounts/service.js';

type CookieConfig = Pick<Config,
  'cookieSecure' | 'cookieSameSite' | 'cookieDomain' | 'accessCookieName' | 'refreshCookieName' |
  'accessCsrfCookieName' | 'refreshCsrfCookieName'>;

export function setAuthCookies(reply: FastifyReply, c: CookieConfig, access: Issued, refresh?: Issued): void {
  const base = { secure: c.cookieSecure, sameSite: c.cookieSameSite, domain: c.cookieDomain, path: '/' } as const;
  const now = Date.now() / 1000;
  const accessAge = Math.max(0, Math.floor(access.claims.exp - now));
  reply.setCookie(c.accessCookieName, access.token, { ...base, httpOnly: true, maxAge: accessAge });
  reply.setCookie(c.accessCsrfCookieName, access.claims.csrf ?? '', { ...base, httpOnly: false, maxAge: accessAge });
  if (refresh) {
    const refreshAge = Math.max(0, Math.floor(refresh.claims.exp - now));
    reply.setCookie(c.refreshCookieName, refresh.token, { ...base, httpOnly: true, maxAge: refreshAge });
    reply.setCookie(c.refreshCsrfCookieName, refresh.claims.csrf ?? '', { ...base, httpOnly: false, maxAge: refreshAge });
  }
}

export function clearAuthCookies(reply: FastifyReply, c: CookieConfig): void {
  const base = { secure: c.cookieSecure, sameSite: c.cookieSameSite, domain: c.cookieDomain, path: '/' } as const;
  for (const name of [c.accessCookieName, c.accessCsrfCookieName, c.refreshCookieName, c.refreshCsrfCookieName]) {
    reply.clearCookie(name, base);
  }
}
