// /admin pages: the overview (figures from /api/v1/overview), the users list (search, filters,
// paging), one user's page, user creation and invitation, and the audit log, all through the /api/v1 admin routes.
// The API refuses non-administrators; the page says so too.
import { api, describeAgent, el, go, isAdmin, notice, onClick, onSubmit, showChrome, showError, when } from './api.js';

const settings = document.body.dataset;
const form = (id) => document.getElementById(id);
const PAGE_SIZE = 50;
const FILTERS = ['email', 'username', 'role', 'active', 'verified', 'legacy'];

start();

async function start() {
  const me = await api('GET', '/api/v1/auth/me');
  if (!me.ok) return notice(me.message ?? 'This page cannot be shown now.');
  showChrome(me.data);
  if (!isAdmin(me.data)) {
    for (const e of document.querySelectorAll('main > :not(h1):not([data-notice])')) e.hidden = true;
    return notice('This page is for administrators. Your account does not have an administrator role.');
  }
  if (settings.page === 'overview') await overview();
  if (settings.page === 'users') await users();
  if (settings.page === 'user') await user(settings.userId);
  if (settings.page === 'new-user') newUser();
  if (settings.page === 'invite-user') inviteUser();
  if (settings.page === 'audit') await audit();
}

/** The figures at a glance; each links to the list or the events it counts. */
async function overview() {
  const r = await api('GET', '/api/v1/overview');
  if (!r.ok) return notice(r.message ?? 'The figures cannot be shown now.');
  const { users: u, sign_ins: s, sessions } = r.data;
  const figures = {
    users_total: u.total, users_active: u.active, users_inactive: u.total - u.active,
    signins_succeeded: s.succeeded, signins_failed: s.failed, signins_throttled: s.throttled, sessions_live: sessions.live,
  };
  for (const [name, n] of Object.entries(figures)) document.querySelector(`[data-figure="${name}"]`).textContent = n.toLocaleString();
  document.querySelector('[data-figures-at]').textContent = `As of ${when(r.data.at)}; sign-ins since ${when(s.since)}.`;
}

const roleList = (text) => String(text ?? '').split(',').map((r) => r.trim()).filter(Boolean);

async function users() {
  const params = new URLSearchParams(location.search);
  const f = form('search');
  for (const name of FILTERS) f.elements.namedItem(name).value = params.get(name) ?? '';
  const offset = Math.max(0, Number(params.get('offset')) || 0);
  const query = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(offset) });
  for (const name of FILTERS) if (params.get(name)) query.set(name, params.get(name));
  const r = await api('GET', `/api/v1/users?${query}`);
  if (!r.ok) return showError(f, r, {});
  const { items, total } = r.data;
  const count = document.querySelector('[data-count]');
  count.textContent = total === 0 ? 'No user matches.' : `Users ${offset + 1}–${offset + items.length} of ${total}`;
  document.querySelector('[data-users] tbody').replaceChildren(...items.map((u) => {
    const row = el('tr');
    const link = el('a', u.email, { href: `/admin/users/${encodeURIComponent(u.id)}` });
    const first = el('td');
    first.append(link);
    row.append(first, el('td', u.username), el('td', u.roles.join(', ') || '—'), el('td', u.is_active ? 'Active' : 'Deactivated'));
    return row;
  }));
  const pageLink = (selector, to, show) => {
    const a = document.querySelector(selector);
    const p = new URLSearchParams(params);
    p.set('offset', String(to));
    a.href = `/admin/users?${p}`;
    a.hidden = !show;
  };
  pageLink('[data-prev]', Math.max(0, offset - PAGE_SIZE), offset > 0);
  pageLink('[data-next]', offset + PAGE_SIZE, offset + items.length < total);
}

async function user(id) {
  const path = `/api/v1/users/${encodeURIComponent(id)}`;
  const actionsError = document.querySelector('[data-actions-error]');
  let current;
  const show = (u) => {
    current = u;
    // Each name isolated (<bdi>, and FSI…PDI in the title): a right-to-left name would otherwise
    // carry the parentheses and the username's digits into its run and draw them before it.
    const h1 = document.querySelector('h1');
    if (u.full_name) h1.replaceChildren(el('bdi', u.full_name), ' (', el('bdi', u.username), ')');
    else h1.replaceChildren(el('bdi', u.username));
    const isolate = (text) => `\u2068${text}\u2069`;
    document.title = `${u.full_name ? `${isolate(u.full_name)} (${isolate(u.username)})` : isolate(u.username)} · Warden`;
    const facts = { username: u.username, email: u.email, email_verified: u.email_verified ? 'Yes' : 'No', is_active: u.is_active ? 'Active' : 'Deactivated', created_at: when(u.created_at) };
    for (const [k, v] of Object.entries(facts)) document.querySelector(`[data-fact="${k}"]`).textContent = v;
    form('profile').elements.namedItem('full_name').value = u.full_name ?? '';
    form('profile').elements.namedItem('email').value = u.email;
    form('roles').elements.namedItem('roles').value = u.roles.join(', ');
    document.querySelector('[data-toggle-active]').textContent = u.is_active ? 'Deactivate' : 'Activate';
  };
  const r = await api('GET', path);
  if (!r.ok) {
    for (const e of document.querySelectorAll('main section')) e.hidden = true;
    return notice(r.message);
  }
  show(r.data);
  document.querySelector('[data-user-events]').href = `/admin/audit?user=${encodeURIComponent(id)}`;
  await showSessions(path);
  await showFactors(path);
  const patch = async (f, body, done, codeFields = {}) => {
    const u = await api('PATCH', path, body);
    if (u.ok) { show(u.data); notice(done); } else showError(f, u, codeFields);
  };
  onSubmit(form('profile'), (v) => {
    // Only what changed: an unchanged address must not lose its verified mark.
    const body = {};
    if ((v.full_name ?? '') !== (current.full_name ?? '')) body.full_name = v.full_name ?? null;
    if ((v.email ?? '') !== current.email) body.email = v.email ?? '';
    return patch(form('profile'), body, 'Details saved.', { ERR_CONFLICT: 'email' });
  });
  onSubmit(form('roles'), (v) => patch(form('roles'), { roles: roleList(v.roles) }, 'Roles saved.', { ERR_ROLES_FORBIDDEN: 'roles' }));
  onClick(document.querySelector('[data-toggle-active]'), async () => {
    actionsError.textContent = '';
    const u = await api('PATCH', path, { is_active: !current.is_active });
    if (u.ok) {
      show(u.data);
      notice(u.data.is_active ? 'The user is active again.' : 'The user is deactivated and signed out everywhere.');
      await showSessions(path);
    } else actionsError.textContent = u.message;
  });
  onClick(document.querySelector('[data-send-reset]'), async () => {
    actionsError.textContent = '';
    const s = await api('POST', `${path}/password-reset`);
    if (s.ok) notice('A password reset mail is on its way to the user.'); else actionsError.textContent = s.message;
  });
  onClick(document.querySelector('[data-delete]'), async () => {
    actionsError.textContent = '';
    if (!confirm(`Delete ${current.username}? This cannot be undone.`)) return;
    const d = await api('DELETE', path);
    if (d.ok) go('/admin/users'); else actionsError.textContent = d.message;
  });
}

/** The user's live sessions, each with a button that ends it (its tokens are refused at once). */
async function showSessions(path) {
  const list = document.querySelector('[data-sessions]');
  const r = await api('GET', `${path}/sessions`);
  document.querySelector('[data-sessions-error]').textContent = r.ok ? '' : r.message;
  if (!r.ok) return;
  document.querySelector('[data-sessions-count]').textContent = r.paging.total === 0 ? 'No live session.' : `${r.paging.total} live session(s).`;
  list.replaceChildren(...r.data.map((s) => {
    const item = el('li', undefined, { 'data-session': s.id });
    const device = describeAgent(s.user_agent);
    item.append(el('p', device, { class: 'card-title' }), el('p', `IP ${s.ip ?? 'unknown'} · last used ${when(s.last_used_at)} · signed in ${when(s.created_at)}`, { class: 'meta' }));
    const b = el('button', 'End this session', { type: 'button', 'aria-label': `End this session (${device}, last used ${when(s.last_used_at)})` });
    onClick(b, async () => {
      const d = await api('DELETE', `${path}/sessions/${encodeURIComponent(s.id)}`);
      notice(d.ok ? 'The session has been ended.' : d.message);
      await showSessions(path);
    });
    item.append(b);
    return item;
  }));
}

/** How many second factors the user has, and the reset for a lost device (it ends their sessions). */
async function showFactors(path) {
  const summary = document.querySelector('[data-factors-summary]');
  const reset = document.querySelector('[data-factors-reset]');
  const r = await api('GET', `${path}/factors`);
  if (!r.ok) { summary.textContent = r.message; return; }
  const names = r.data.factors.map((f) => f.name || (f.type === 'totp' ? 'Authenticator app' : 'Passkey'));
  summary.textContent = names.length === 0 ? 'None.' : `${names.join(', ')}; recovery codes left: ${r.data.recovery_codes_remaining}.`;
  reset.hidden = names.length === 0;
  reset.onclick = async () => {
    if (!confirm('Reset this user\'s second factors? They are signed out everywhere and sign in with their password alone.')) return;
    const d = await api('DELETE', `${path}/factors`);
    notice(d.ok ? `Second factors reset; ${d.data.sessions_ended} session(s) ended.` : d.message);
    await showFactors(path);
    await showSessions(path);
  };
}

function newUser() {
  onSubmit(form('create'), async (v) => {
    const body = { username: v.username ?? '', email: v.email ?? '', password: v.password ?? '', roles: roleList(v.roles) };
    if (v.full_name) body.full_name = v.full_name;
    const r = await api('POST', '/api/v1/users', body);
    if (r.ok) go(`/admin/users/${encodeURIComponent(r.data.id)}`);
    else showError(form('create'), r, { ERR_CONFLICT: 'username', ERR_ROLES_FORBIDDEN: 'roles' });
  });
}

function inviteUser() {
  onSubmit(form('invite'), async (v) => {
    const body = { email: v.email ?? '' };
    const roles = roleList(v.roles);
    if (roles.length > 0) body.roles = roles; // else DEFAULT_ROLES
    if (v.username) body.username = v.username;
    if (v.full_name) body.full_name = v.full_name;
    const r = await api('POST', '/api/v1/users/invite', body);
    if (r.ok) go(`/admin/users/${encodeURIComponent(r.data.id)}`);
    else showError(form('invite'), r, { ERR_CONFLICT: 'email' });
  });
}

const AUDIT_FILTERS = ['type', 'actor', 'user', 'from', 'to'];

/** The audit log, newest first, filtered by what the address says; older pages by the API's cursor. */
async function audit() {
  const params = new URLSearchParams(location.search);
  const f = form('audit');
  for (const name of AUDIT_FILTERS) f.elements.namedItem(name).value = params.get(name) ?? '';
  const query = new URLSearchParams({ limit: '50' });
  for (const name of AUDIT_FILTERS) {
    const v = params.get(name);
    if (!v) continue;
    // datetime-local is the browser's local time; the API takes ISO 8601 with its zone. What is no
    // time at all (a hand-made link) goes as given, for the API to say so beside its field.
    const time = name === 'from' || name === 'to' ? new Date(v) : undefined;
    query.set(name, time && !Number.isNaN(time.getTime()) ? time.toISOString() : v);
  }
  if (params.get('cursor')) query.set('cursor', params.get('cursor'));
  const r = await api('GET', `/api/v1/audit?${query}`);
  if (!r.ok) return showError(f, r, {});
  const { items, next_cursor: next } = r.data;
  document.querySelector('[data-count]').textContent = items.length === 0 ? 'No event matches.' : `${items.length} event(s)${next ? ', newest first; older ones on the next page' : ''}.`;
  const who = (id) => {
    const cell = el('td');
    if (id) cell.append(el('a', id.slice(0, 8), { href: `/admin/users/${encodeURIComponent(id)}`, 'aria-label': `user ${id}` }));
    else cell.textContent = '—';
    return cell;
  };
  document.querySelector('[data-events] tbody').replaceChildren(...items.map((e) => {
    const row = el('tr', undefined, { 'data-event-type': e.type });
    const what = el('td');
    what.append(el('strong', e.type));
    const details = Object.entries(e.details ?? {}).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`).join('; ');
    if (details) what.append(el('br'), el('span', details, { class: 'meta' }));
    row.append(el('td', when(e.time)), what, el('td', e.outcome), who(e.actor_id), who(e.user_id), el('td', e.ip ?? '—'));
    return row;
  }));
  const newest = document.querySelector('[data-newest]');
  const older = document.querySelector('[data-older]');
  const base = new URLSearchParams(params);
  base.delete('cursor');
  newest.href = `/admin/audit?${base}`;
  newest.hidden = !params.get('cursor');
  if (next) base.set('cursor', next);
  older.href = `/admin/audit?${base}`;
  older.hidden = !next;
}
