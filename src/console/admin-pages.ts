// The bodies of the /admin pages; the module fills them from the admin API.
import { Html, html } from '../http/pages.js';
import { field, form, select } from './forms.js';

const PAGES: Array<[string, string]> = [
  ['/admin', 'Overview'], ['/admin/users', 'Users'], ['/admin/users/new', 'Create a user'], ['/admin/users/invite', 'Invite a user'], ['/admin/audit', 'Audit log'],
];

/** The administration's pages, on each of them; the one shown is marked. */
function nav(current?: string) {
  const items = PAGES.map(([href, label]) => (href === current
    ? html`<li><a href="${href}" aria-current="page">${label}</a></li>`
    : html`<li><a href="${href}">${label}</a></li>`).text);
  return html`<nav class="admin-nav" aria-label="Administration"><ul>${new Html(items.join(''))}</ul></nav>`;
}

/** A figure of the overview, filled by the script (data-figure); a link to what it counts where there is one. */
function figure(name: string, label: string, href?: string) {
  const value = html`<span data-figure="${name}">…</span>`;
  const shown = href === undefined ? value : html`<a href="${href}">${value}<span class="visually-hidden"> (list them)</span></a>`;
  return html`<div class="figure"><dt>${label}</dt><dd>${shown}</dd></div>`;
}

export function overviewBody() {
  return html`${nav('/admin')}
<section aria-labelledby="users-h"><h2 id="users-h">Users</h2>
<dl class="figures">${figure('users_total', 'All users', '/admin/users')}${figure('users_active', 'Active', '/admin/users?active=true')}${figure('users_inactive', 'Deactivated', '/admin/users?active=false')}</dl>
</section>
<section aria-labelledby="signins-h"><h2 id="signins-h">Sign-ins, last 24 hours</h2>
<dl class="figures">${figure('signins_succeeded', 'Succeeded', '/admin/audit?type=signin.succeeded')}${figure('signins_failed', 'Failed', '/admin/audit?type=signin.failed')}${figure('signins_throttled', 'Throttled', '/admin/audit?type=signin.throttled')}</dl>
</section>
<section aria-labelledby="sessions-h"><h2 id="sessions-h">Sessions</h2>
<dl class="figures">${figure('sessions_live', 'Live now')}</dl>
</section>
<p class="meta" data-figures-at aria-live="polite"></p>`;
}

export function usersBody() {
  return html`${nav('/admin/users')}
${form('search', 'Find users', [
    field('search', { name: 'email', label: 'Email contains', type: 'search' }),
    field('search', { name: 'username', label: 'Username contains', type: 'search' }),
    field('search', { name: 'role', label: 'Role' }),
    select('search', 'active', 'Status', [['', 'Any'], ['true', 'Active'], ['false', 'Deactivated']]),
    select('search', 'verified', 'Email address', [['', 'Any'], ['true', 'Verified'], ['false', 'Not verified']]),
    select('search', 'legacy', 'Password hash', [['', 'Any'], ['true', 'Legacy (not yet upgraded)'], ['false', 'Current (argon2id)']]),
  ], 'Search', { method: 'get', action: '/admin/users' })}
<p data-count aria-live="polite"></p>
<div class="table-wrap"><table data-users>
<caption class="visually-hidden">Users</caption>
<thead><tr><th scope="col">Email</th><th scope="col">Username</th><th scope="col">Roles</th><th scope="col">Status</th></tr></thead>
<tbody></tbody></table></div>
<nav class="pager" aria-label="Pages"><a data-prev href="/admin/users" hidden>Previous page</a> <a data-next href="/admin/users" hidden>Next page</a></nav>`;
}

export function userBody() {
  return html`${nav()}
<p><a data-user-events href="/admin/audit">This user's events</a></p>
<section aria-labelledby="facts-h"><h2 id="facts-h">Profile</h2>
<dl class="facts">
<dt>Username</dt><dd data-fact="username">…</dd>
<dt>Email</dt><dd data-fact="email">…</dd>
<dt>Email verified</dt><dd data-fact="email_verified">…</dd>
<dt>Status</dt><dd data-fact="is_active">…</dd>
<dt>Created</dt><dd data-fact="created_at">…</dd>
</dl></section>
<section aria-labelledby="edit-h"><h2 id="edit-h">Details</h2>
${form('profile', 'Details', [
    field('profile', { name: 'full_name', label: 'Full name', autocomplete: 'off' }),
    field('profile', { name: 'email', label: 'Email address', type: 'email', autocomplete: 'off' }),
  ], 'Save details')}
</section>
<section aria-labelledby="roles-h"><h2 id="roles-h">Roles</h2>
${form('roles', 'Roles', [field('roles', { name: 'roles', label: 'Roles (comma-separated)', autocomplete: 'off', hint: 'Changes apply to the user\'s live tokens at once.' })], 'Save roles')}
</section>
<section aria-labelledby="sessions-h"><h2 id="sessions-h">Sessions</h2>
<p class="error" data-sessions-error aria-live="assertive"></p>
<p data-sessions-count></p>
<ul class="cards" data-sessions aria-live="polite"></ul>
</section>
<section aria-labelledby="factors-h"><h2 id="factors-h">Second factors</h2>
<p data-factors-summary></p>
<div class="actions"><button type="button" data-factors-reset hidden>Reset second factors</button></div>
</section>
<section aria-labelledby="actions-h"><h2 id="actions-h">Actions</h2>
<p class="error" data-actions-error aria-live="assertive"></p>
<div class="actions">
<button type="button" data-toggle-active>Deactivate</button>
<button type="button" data-send-reset>Send a password reset mail</button>
<button type="button" class="danger" data-delete>Delete user</button>
</div></section>`;
}

export function newUserBody() {
  return html`${nav('/admin/users/new')}
${form('create', 'Create a user', [
    field('create', { name: 'username', label: 'Username', autocomplete: 'off', required: true }),
    field('create', { name: 'email', label: 'Email address', type: 'email', autocomplete: 'off', required: true }),
    field('create', { name: 'full_name', label: 'Full name', autocomplete: 'off' }),
    field('create', { name: 'password', label: 'Password', type: 'password', autocomplete: 'new-password', required: true }),
    field('create', { name: 'roles', label: 'Roles (comma-separated)', autocomplete: 'off' }),
  ], 'Create user')}`;
}

/** An invitation (POST /api/v1/users/invite): the person chooses their password from the mailed link. */
export function inviteUserBody() {
  return html`${nav('/admin/users/invite')}
<p>The address gets a link to choose a password; nobody can sign in to the account until then.</p>
${form('invite', 'Invite a user', [
    field('invite', { name: 'email', label: 'Email address', type: 'email', autocomplete: 'off', required: true }),
    field('invite', { name: 'username', label: 'Username', autocomplete: 'off', hint: 'Leave empty to make one from the address.' }),
    field('invite', { name: 'full_name', label: 'Full name', autocomplete: 'off' }),
    field('invite', { name: 'roles', label: 'Roles (comma-separated)', autocomplete: 'off' }),
  ], 'Send the invitation')}`;
}

export function auditBody() {
  return html`${nav('/admin/audit')}
${form('audit', 'Filter events', [
    field('audit', { name: 'type', label: 'Event types (comma-separated)', autocomplete: 'off', hint: 'For example signin.failed, user.deactivated, session.ended.' }),
    field('audit', { name: 'actor', label: 'Done by (id, username or email)', autocomplete: 'off' }),
    field('audit', { name: 'user', label: 'About (id, username or email)', autocomplete: 'off' }),
    field('audit', { name: 'from', label: 'From', type: 'datetime-local' }),
    field('audit', { name: 'to', label: 'Before', type: 'datetime-local' }),
  ], 'Filter', { method: 'get', action: '/admin/audit' })}
<p data-count aria-live="polite"></p>
<div class="table-wrap"><table data-events>
<caption class="visually-hidden">Audit events, newest first</caption>
<thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Outcome</th><th scope="col">Done by</th><th scope="col">About</th><th scope="col">IP</th></tr></thead>
<tbody></tbody></table></div>
<nav class="pager" aria-label="Pages"><a data-newest href="/admin/audit" hidden>Newest events</a> <a data-older href="/admin/audit" hidden>Older events</a></nav>`;
}
