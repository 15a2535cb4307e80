// The four cookies of flask-jwt-extended: httpOnly token cookies and page-readable CSRF cookies
// (double submit), with path "/" since three route families accept them.
// Written by hand rather than with @fastify/cookie: that plugin adds an onSend hook to every
// route of the server, which cost ~10% of forward-auth throughput, for four fixed-shape headers.
import type { FastifyReply } from 'fastify';
import type { IssuedToken } from '@warden/toolkit';
import type { Config, SameSite } from '../config.js';

type CookieConfig = Config['cookies'];

/** What writing the cookies needs from the route context: their settings and the server's clock. */
export interface CookieContext {
  config: Pick<Config, 'cookies'>;
  clock: () => number;
}

const SAME_SITE: Record<SameSite, string> = { strict: 'Strict', lax: 'Lax', none: 'None' };

/** One Set-Cookie value. Names come from validated configuration; values are URI-encoded. */
function serialize(c: CookieConfig, name: string, value: string, maxAge: number, httpOnly: boolean): string {
  let out = `${name}=${encodeURIComponent(value)}; Max-Age=${maxAge}; Path=/`;
  if (maxAge === 0) out += '; Expires=Thu, 01 Jan 1970 00:00:00 GMT';
  if (c.domain) out += `; Domain=${c.domain}`;
  if (httpOnly) out += '; HttpOnly';
  if (c.secure) out += '; Secure';
  return `${out}; SameSite=${SAME_SITE[c.sameSite]}`;
}

/** Seconds until `exp` by the server's clock, the one that stamped the token. */
const secondsLeft = (exp: number, clock: () => number): number => Math.max(0, Math.floor(exp - clock() / 1000));

export function setAuthCookies(reply: FastifyReply, ctx: CookieContext, access: IssuedToken, refresh?: IssuedToken): void {
  const c = ctx.config.cookies;
  const accessAge = secondsLeft(access.claims.exp, ctx.clock);
  const cookies = [
    serialize(c, c.accessName, access.token, accessAge, true),
    serialize(c, c.accessCsrfName, access.claims.csrf ?? '', accessAge, false),
  ];
  if (refresh) {
    const refreshAge = secondsLeft(refresh.claims.exp, ctx.clock);
    cookies.push(
      serialize(c, c.refreshName, refresh.token, refreshAge, true),
      serialize(c, c.refreshCsrfName, refresh.claims.csrf ?? '', refreshAge, false),
    );
  }
  void reply.header('set-cookie', cookies);
}

export function clearAuthCookies(reply: FastifyReply, ctx: Pick<CookieContext, 'config'>): void {
  const c = ctx.config.cookies;
  void reply.header('set-cookie', [
    serialize(c, c.accessName, '', 0, true),
    serialize(c, c.accessCsrfName, '', 0, false),
    serialize(c, c.refreshName, '', 0, true),
    serialize(c, c.refreshCsrfName, '', 0, false),
  ]);
}
