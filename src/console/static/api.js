// Shared by the console's page modules: calls to Warden's public API with the browser's cookies and
// the CSRF double submit, a refresh when the access token has run out, and errors written next to
// the field they concern. Settings come from the page's data-* attributes (no inline script).
const settings = document.body.dataset;

export function cookie(name) {
  const found = document.cookie.split('; ').find((c) => c.startsWith(`${name}=`));
  return found === undefined ? undefined : decodeURIComponent(found.slice(name.length + 1));
}

/**
 * Codes that mean "no usable session": the token is missing, expired, revoked, or the user is gone.
 * ERR_USER_NOT_FOUND says so only on the caller's own routes (/api/v1/auth/…): on an administrator's
 * /api/v1/users/{id} it is about another user (deleted meanwhile, an old link, an audit event's).
 */
function signedOutCode(code, path) {
  return typeof code === 'string' && (code.startsWith('ERR_JWT_') || code.startsWith('ERR_CSRF_') || code.startsWith('ERR_REFRESH_')
    || code === 'ERR_USER_INACTIVE' || (code === 'ERR_USER_NOT_FOUND' && path.startsWith('/api/v1/auth/')));
}

async function send(method, path, body, csrfCookie, attempt = 0) {
  const headers = { accept: 'application/json' };
  const csrf = method === 'GET' ? undefined : cookie(csrfCookie) ?? '';
  if (csrf !== undefined) headers[settings.csrfHeader] = csrf;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  } catch {
    return { ok: false, status: 0, message: 'The server cannot be reached. Check your connection and try again.' };
  }
  let json = {};
  try { json = await res.json(); } catch { /* an empty body */ }
  const r = { ...json, ok: res.ok, status: res.status };
  // Another tab of this browser refreshed between this page's reading the CSRF value and the
  // request's leaving: the browser sent that tab's new token with the old value. The session is
  // fine; the request goes again with the new value (a refresh sent so would otherwise sign this
  // tab out while the other goes on in the same session).
  if (csrf !== undefined && attempt < 3 && (r.code === 'ERR_CSRF_MISMATCH' || r.code === 'ERR_CSRF_MISSING') && (cookie(csrfCookie) ?? '') !== csrf) {
    return send(method, path, body, csrfCookie, attempt + 1);
  }
  return r;
}

/** This page has been answered as signed in: a session it finds missing later has ended (another tab signed out). */
let signedInHere = false;

let refreshing;
function refresh() {
  refreshing ??= send('POST', '/api/v1/auth/refresh', undefined, settings.refreshCsrfCookie).finally(() => { refreshing = undefined; });
  return refreshing;
}

/**
 * One API call. A signed-out answer is retried once after a refresh; if the session is over, the
 * browser goes to the sign-in page (`quiet` returns the answer instead, for pages that may be anonymous).
 */
export async function api(method, path, body, { quiet = false } = {}) {
  let r = await send(method, path, body, settings.csrfCookie);
  if (r.ok && !quiet) signedInHere = true;
  if (!r.ok && signedOutCode(r.code, path) && !path.startsWith('/api/v1/auth/login')) {
    const renewed = await refresh();
    // A refresh the server could not answer (unreachable, its database down, shutting down, busy)
    // says nothing of the session, which may well be live: the page says why, still signed in,
    // rather than sending the person to sign in as if it had ended.
    if (!renewed.ok && !signedOutCode(renewed.code, '/api/v1/auth/refresh')) return renewed;
    if (renewed.ok) r = await send(method, path, body, settings.csrfCookie);
    if (!r.ok && signedOutCode(r.code, path) && !quiet) {
      // No refresh token at all: this browser has no session to end (a first visit, or one signed
      // out here), so the sign-in page must not say that one ended; unless this page was shown
      // signed in, and another tab has signed out since: the person here is told why.
      signedOut({ ended: signedInHere || renewed.code !== 'ERR_JWT_MISSING' });
      return new Promise(() => {}); // the page is going away
    }
  }
  return r;
}

/** True once this page is on its way to another: its forms stay disabled until it is gone. */
let leaving = false;

/**
 * Leaves for `url`. The page stays on the screen until the next one comes (seconds on a slow
 * link), and a form done with must not be sent again meanwhile (a second sign-in, a second user).
 */
export function go(url) {
  leaving = true;
  location.assign(url);
}

// A page the browser brings back from its back-forward cache had left: its forms work again.
addEventListener('pageshow', (event) => {
  if (!event.persisted) return;
  leaving = false;
  for (const b of document.querySelectorAll('form button[type="submit"]')) b.disabled = false;
});

export function signedOut({ ended = true } = {}) {
  const here = location.pathname + location.search;
  go(`/account/signin?${ended ? 'ended=1&' : ''}next=${encodeURIComponent(here)}`);
}

/** Where to go after signing in: only a path on this site. */
export function nextPath() {
  const next = new URLSearchParams(location.search).get('next');
  return next && /^\/(account|admin)(\/|\?|$)/.test(next) ? next : '/account';
}

export function notice(text) {
  const el = document.querySelector('[data-notice]');
  el.textContent = text;
}

/**
 * Says `text` to a screen reader (a visually hidden live region). A new node each time, so the same
 * words said twice (a second failure) are an addition again, not an unchanged text.
 */
export function announce(text) {
  const region = document.querySelector('[data-announce]');
  const said = document.createElement('p');
  said.textContent = text;
  region.replaceChildren(said);
}

export function clearErrors(form) {
  document.querySelector('[data-announce]')?.replaceChildren();
  for (const el of form.querySelectorAll('[data-error-for]')) el.textContent = '';
  for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/**
 * Writes an API error beside its field: the `field` the API names, else the form's own mapping of
 * codes to fields (`codeFields`), else the form's general error slot. A form checked whole answers
 * every failed field (`fields`): each is written beside its own. The first such field gets focus.
 */
export function showError(form, r, codeFields = {}) {
  const failures = Array.isArray(r.fields) && r.fields.length > 0 ? r.fields : [{ field: r.field, message: r.message }];
  let focused = false;
  const written = new Set(); // a slot two failures share says both; one written before this answer is replaced
  for (const f of failures) {
    const name = (typeof f.field === 'string' && form.elements.namedItem(f.field) ? f.field : undefined) ?? codeFields[r.code];
    const slot = (name && form.querySelector(`[data-error-for="${CSS.escape(name)}"]`)) || form.querySelector('[data-error-for=""]');
    const text = String(f.message ?? 'Something went wrong').replace(/^[a-z_]+: /, '');
    const said = name ? capitalise(text) : text;
    slot.textContent = written.has(slot) ? `${slot.textContent} ${said}` : said;
    written.add(slot);
    const input = name ? form.elements.namedItem(name) : undefined;
    if (input instanceof HTMLElement) {
      input.setAttribute('aria-invalid', 'true');
      // A field that has the focus already (Enter pressed in it) gets no focus event, so a screen
      // reader would not read its error (its description) again: say it.
      if (!focused && document.activeElement === input) announce(said);
      else if (!focused) input.focus();
      focused = true;
    }
  }
}

const capitalise = (s) => s.charAt(0).toUpperCase() + s.slice(1);

/** The form's fields as an object (empty strings left out). */
export function values(form) {
  const out = {};
  for (const [k, v] of new FormData(form)) if (v !== '') out[k] = String(v);
  return out;
}

/**
 * Submits `form` through `handler`; the button is disabled meanwhile so a double click sends once,
 * and stays so when the handler leaves the page (`go`).
 */
export function onSubmit(form, handler) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearErrors(form);
    const button = form.querySelector('button[type="submit"]');
    button.disabled = true;
    try { await handler(values(form)); } finally { if (!leaving) button.disabled = false; }
  });
}

/**
 * Runs `handler` on a click of `button`, which is disabled meanwhile (and stays so when the handler
 * leaves the page): a double click acts once, rather than a second time on what the first changed
 * ("Session not found" said of a session just ended).
 */
export function onClick(button, handler) {
  button.addEventListener('click', async () => {
    // A disabled button loses the focus to the page: a keyboard user's focus comes back to it,
    // unless the action put it elsewhere.
    const focused = document.activeElement === button;
    button.disabled = true;
    try { await handler(); } finally {
      if (!leaving) {
        button.disabled = false;
        if (focused && button.isConnected && (document.activeElement === document.body || document.activeElement === null)) button.focus();
      }
    }
  });
}

export function isAdmin(profile) {
  const adminRoles = settings.adminRoles.split(',');
  return (profile.roles ?? []).some((r) => adminRoles.includes(r));
}

/** Header: the sign-out button and, for administrators, the link to /admin. */
export function showChrome(profile) {
  for (const el of document.querySelectorAll('[data-admin-only]')) el.hidden = !isAdmin(profile);
  const out = document.querySelector('[data-signout]');
  out.hidden = false;
  onClick(out, async () => {
    const r = await api('POST', '/api/v1/auth/logout?scope=local', undefined, { quiet: true });
    // Only once the session is over: a sign-out that failed must not look done (a shared computer).
    if (r.ok || signedOutCode(r.code, '/api/v1/auth/logout')) go('/account/signin');
    else notice(`The sign-out failed, so you are still signed in. ${r.message ?? ''}`.trim());
  });
}

/** An element with text content only (never innerHTML with API data). */
export function el(tag, text, attrs = {}) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

export function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toLocaleString();
}

/** "Chrome on Linux" from a user-agent string: enough for a person to recognise a device. */
export function describeAgent(ua) {
  if (!ua) return 'Unknown device';
  const browser = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'], ['Chromium/', 'Chromium'], ['Safari/', 'Safari'], ['curl/', 'curl']]
    .find(([k]) => ua.includes(k))?.[1];
  const os = [['Android', 'Android'], ['iPhone', 'iPhone'], ['iPad', 'iPad'], ['Windows', 'Windows'], ['Mac OS', 'macOS'], ['Linux', 'Linux']]
    .find(([k]) => ua.includes(k))?.[1];
  return browser ? (os ? `${browser} on ${os}` : browser) : ua.slice(0, 60);
}
