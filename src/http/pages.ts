// The few HTML pages a link in a mail lands on: a small form to choose a new password (a reset's,
// an invitation's) or to confirm an address, and the outcome of a reset, an invitation accepted, a
// verification or an address change. No script, no outside resource; every
// value is escaped; the token in the address never leaves in a Referer.
import type { FastifyReply, FastifyRequest } from 'fastify';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(v: string): string {
  return v.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** Raw HTML already made of escaped parts. */
export class Html {
  constructor(readonly text: string) {}
}

export function html(strings: TemplateStringsArray, ...values: (string | number | Html)[]): Html {
  return new Html(strings.reduce((out, s, i) => out + s + (i < values.length ? part(values[i]!) : ''), ''));
}

const part = (v: string | number | Html): string => (v instanceof Html ? v.text : escapeHtml(String(v)));

/** Sends a small page with headers that keep it to itself. */
export function sendPage(reply: FastifyReply, status: number, title: string, body: Html): FastifyReply {
  return reply
    .code(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .send(html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>${title}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; max-width: 32em; margin: 3em auto; padding: 0 1em; color: #222">
<main>
<h1 style="font-size: 1.4em">${title}</h1>
${body}
</main>
</body></html>
`.text);
}

/** A browser's form post (a link's page) wants a page back; an API client wants JSON. */
export function wantsPage(req: FastifyRequest): boolean {
  const ct = String(req.headers['content-type'] ?? '').toLowerCase();
  return ct.startsWith('application/x-www-form-urlencoded') && String(req.headers.accept ?? '').includes('text/html');
}

/** The words of a password form: the reset's by default; an invitation's (action "accept") its own. */
export interface PasswordFormWords {
  action: string;
  label: string;
  button: string;
}
const RESET_WORDS: PasswordFormWords = { action: 'reset', label: 'New password', button: 'Set the new password' };

/** The reset form; with `error`, the password refused says why, tied to the field (which has the focus) for a screen reader. */
export function resetForm(token: string, minLength: number, error?: string, words: PasswordFormWords = RESET_WORDS): Html {
  const refused = error === undefined ? html`` : html` aria-invalid="true" aria-describedby="new_password-error"`;
  return html`${error === undefined ? html`` : html`<p id="new_password-error">${error}</p>`}<form method="post" action="${words.action}">
<input type="hidden" name="token" value="${token}">
<p><label>${words.label}<br><input type="password" name="new_password" minlength="${minLength}" required autocomplete="new-password"${refused} autofocus></label></p>
<p><button type="submit">${words.button}</button></p>
</form>`;
}

/**
 * A link's page that acts only when the person presses its button: mail scanners and link
 * previews open every link in a mail, and a link that acted on GET would be used up (or would
 * verify an address for whoever signed up with it) before its reader ever saw it.
 */
export function confirmForm(token: string, action: string, button: string): Html {
  return html`<form method="post" action="${action}">
<input type="hidden" name="token" value="${token}">
<p><button type="submit" autofocus>${button}</button></p>
</form>`;
}

export function message(text: string): Html {
  return html`<p>${text}</p>`;
}
