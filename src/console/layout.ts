// The shell every console page shares: landmarks, navigation, the one stylesheet and the page's one
// module, and the settings its script needs (cookie and header names) as data attributes, since no
// inline script may carry them. Served with a CSP that allows only this origin's files.
import type { FastifyReply } from 'fastify';
import type { Config } from '../config.js';
import { Html, html } from '../http/pages.js';
import { ASSET_PREFIX } from './assets.js';

/**
 * No inline script or style, no eval, nothing from elsewhere, never framed; `data:` images for QR
 * codes. Trusted Types with no policy: the browser itself refuses any string written as HTML
 * (innerHTML and the like), so the scripts' rule of writing API data only as text is enforced.
 */
export const CONSOLE_CSP = [
  "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'", "require-trusted-types-for 'script'", "trusted-types 'none'",
].join('; ');

export type Area = 'account' | 'admin';

export interface PageSpec {
  area: Area;
  /** Which page the module should enhance (its `data-page`). */
  page: string;
  title: string;
  body: Html;
  /** More data-* attributes for the script (names without the prefix). */
  data?: Record<string, string>;
}

export function sendConsolePage(reply: FastifyReply, config: Config, spec: PageSpec, status = 200): FastifyReply {
  const { cookies, guard, accounts } = config;
  const data: Record<string, string> = {
    page: spec.page,
    'csrf-cookie': cookies.accessCsrfName,
    'refresh-csrf-cookie': cookies.refreshCsrfName,
    'csrf-header': guard.csrfHeaderName,
    'admin-roles': accounts.adminRoles.join(','),
    'admin-enabled': String(config.console.adminEnabled),
    ...spec.data,
  };
  const attrs = Object.entries(data).map(([k, v]) => html` data-${k}="${v}"`);
  const adminLink = config.console.adminEnabled ? html`<li data-admin-only hidden><a href="/admin">Administration</a></li>` : html``;
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .send(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${spec.title} · Warden</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${ASSET_PREFIX}console.css">
<script type="module" src="${ASSET_PREFIX}${spec.area}.js"></script>
</head>
<body${join(attrs)}>
<a class="skip" href="#main">Skip to content</a>
<header class="top"><nav aria-label="Console">
<a class="brand" href="/account">Warden</a>
<ul><li><a href="/account">Account</a></li>${adminLink}<li><button type="button" class="link" data-signout hidden>Sign out</button></li></ul>
</nav></header>
<main id="main" tabindex="-1">
<h1>${spec.title}</h1>
<p class="notice" role="status" aria-live="polite" data-notice></p>
<div class="visually-hidden" aria-live="assertive" data-announce></div>
${spec.body}
</main>
</body></html>
`.text);
}

function join(parts: Html[]): Html {
  return new Html(parts.map((p) => p.text).join(''));
}
