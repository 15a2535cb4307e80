// The four cookies of flask-jwt-extended: httpOnly token cookies and page-readable CSRF cookies
// (double submit), with path "/" since three route families accept them.
// Written by hand rather than with @fastify/cookie: that plugin adds an onSend hook to every
// route of the server, which cost ~10% of forward-auth throughput, for four fixed-shape headers.
import type { FastifyReply } from 'fastify';
import type { Issued } from '../accounts/service.js';
import type { Config, SameSite } from '../config.js';

type CookieConfig = Pick<Config,
  'cookieSecure' | 'cookieSameSite' | 'cookieDomain' | 'accessCookieName' | 'refreshCookieName' |
  'accessCsrfCookieName' | 'refreshCsrfCookieName'>;

const SAME_SITE: Record<SameSite, string> = { strict: 'Strict', lax: 'Lax', none: 'None' };

/** One Set-Cookie value. Names come from validated configuration; values are URI-encoded. */
function serialize(c: CookieConfig, name: string, value: string, maxAge: number, httpOnly: boolean): string {
  let out = `${name}=${encodeURIComponent(value)}; Max-Age=${maxAge}; Path=/`;
  if (maxAge === 0) out += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  if (c.cookieDomain) out += `; Domain=${c.cookieDomain}`;
  if (httpOnly) out += '; HttpOnly';
  if (c.cookieSecure) out += '; Secure';
  return `${out}; SameSite=${SAME_SITE[c.cookieSameSite]}`;
}

const secondsLeft = (exp: number): number => Math.max(0, Math.floor(exp - Date.now() / 1000));

export function setAuthCookies(reply: FastifyReply, c: CookieConfig, access: Issued, refresh?: Issued): void {
  const accessAge = secondsLeft(access.claims.exp);
  const cookies = [
    serialize(c, c.accessCookieName, access.token, accessAge, true),
    serialize(c, c.accessCsrfCookieName, access.claims.csrf ?? '', accessAge, false),
  ];
  if (refresh) {
    const refreshAge = secondsLeft(refresh.claims.exp);
    cookies.push(
      serialize(c, c.refreshCookieName, refresh.token, refreshAge, true),
      serialize(c, c.refreshCsrfCookieName, refresh.claims.csrf ?? '', refreshAge, false),
    );
  }
  void reply.header('set-cookie', cookies);
}

export function clearAuthCookies(reply: FastifyReply, c: CookieConfig): void {
  void reply.header('set-cookie', [
    serialize(c, c.accessCookieName, '', 0, true),
    serialize(c, c.accessCsrfCookieName, '', 0, false),
    serialize(c, c.refreshCookieName, '', 0, true),
    serialize(c, c.refreshCsrfCookieName, '', 0, false),
  ]);
}
