// The bodies of the /account pages. They hold no user data: the page's module fills them from the
// API with the browser's own cookies.
import { html } from '../http/pages.js';
import { field, form } from './forms.js';

export function signInBody() {
  return html`${form('signin', 'Sign in', [
    field('signin', { name: 'username', label: 'Email or username', autocomplete: 'username', required: true }),
    field('signin', { name: 'password', label: 'Password', type: 'password', autocomplete: 'current-password', required: true }),
  ], 'Sign in', { action: '/api/v1/auth/login' })}
<div class="actions" data-passkey-only hidden><button type="button" data-passkey-signin>Sign in with a passkey</button></div>
<p class="error" data-passkey-error aria-live="assertive"></p>
<div data-second-step hidden>
<p>Your account has a second factor. Give the code your authenticator app shows now, or one of your recovery codes.</p>
${form('mfa', 'Second step', [
    field('mfa', { name: 'code', label: 'Code from your authenticator app, or a recovery code', autocomplete: 'one-time-code' }),
  ], 'Continue')}
<div class="actions" data-passkey-only hidden><button type="button" data-passkey-second>Use a passkey instead</button></div>
</div>
<p><a href="/account/forgot">Forgot your password?</a></p>`;
}

export function forgotBody() {
  return html`<p>Give your account's address: if an account has it, a link to choose a new password is sent to it.</p>
${form('forgot', 'Forgot password', [
    field('forgot', { name: 'email', label: 'Email address', type: 'email', autocomplete: 'email', required: true }),
  ], 'Send the link', { action: '/api/v1/auth/password/forgot' })}
<p><a href="/account/signin">Back to sign in</a></p>`;
}

export function resetBody(token: string) {
  return html`${form('reset', 'Choose a new password', [
    html`<input type="hidden" name="token" value="${token}">`,
    field('reset', { name: 'new_password', label: 'New password', type: 'password', autocomplete: 'new-password', required: true }),
  ], 'Set the new password', { action: '/api/v1/auth/password/reset' })}
<p><a href="/account/signin">Sign in</a></p>`;
}

/** The signed-in page; `selfDelete`: with the section that deletes the account (ACCOUNT_SELF_DELETE). */
export function accountBody(o: { selfDelete: boolean } = { selfDelete: false }) {
  return html`<section aria-labelledby="profile-h"><h2 id="profile-h">Profile</h2>
<dl class="facts" data-profile>
<dt>Email</dt><dd data-fact="email">…</dd>
<dt>Full name</dt><dd data-fact="full_name">…</dd>
<dt>Email verified</dt><dd data-fact="email_verified">…</dd>
<dt>Roles</dt><dd data-fact="roles">…</dd>
</dl>
<div class="actions"><button type="button" data-verify hidden>Send the verification mail again</button></div>
</section>
<section aria-labelledby="name-h"><h2 id="name-h">Your name</h2>
${form('name', 'Your name', [field('name', { name: 'full_name', label: 'Full name', autocomplete: 'name' })], 'Save name')}
</section>
<section aria-labelledby="email-h"><h2 id="email-h">Change email</h2>
<p>A confirmation goes to the new address; nothing changes until you follow its link.</p>
${form('email', 'Change email', [field('email', { name: 'new_email', label: 'New email address', type: 'email', autocomplete: 'email', required: true })], 'Change email')}
</section>
<section aria-labelledby="password-h"><h2 id="password-h">Change password</h2>
<p>Your other sessions are signed out.</p>
${form('password', 'Change password', [
    field('password', { name: 'current_password', label: 'Current password', type: 'password', autocomplete: 'current-password', required: true }),
    field('password', { name: 'new_password', label: 'New password', type: 'password', autocomplete: 'new-password', required: true }),
  ], 'Change password')}
</section>
<section aria-labelledby="mfa-h"><h2 id="mfa-h">Second factors</h2>
<p data-mfa-summary></p>
<ul class="cards" data-factors aria-live="polite"></ul>
<p class="error" data-mfa-error aria-live="assertive"></p>
<div class="actions"><button type="button" data-totp-start>Set up an authenticator app</button>
<button type="button" data-passkey-add data-passkey-only hidden>Add a passkey</button>
<button type="button" data-recovery-new hidden>New recovery codes</button></div>
<div data-totp-enrol hidden>
<p>Scan this code with your authenticator app, or type the key into it.</p>
<p><img data-totp-qr alt="QR code holding your authenticator app's key" width="200" height="200"></p>
<p>Key: <code data-totp-secret></code><br><a data-totp-uri href="/account">Open in an authenticator app on this device</a></p>
${form('totp', 'Confirm the authenticator app', [field('totp', { name: 'code', label: 'Code the app shows', autocomplete: 'one-time-code' })], 'Confirm')}
</div>
<div data-recovery hidden>
<h3 tabindex="-1" data-recovery-h>Your recovery codes</h3>
<p>Each works once, if you lose your device. Keep them somewhere safe: they are shown only now.</p>
<ul class="codes" data-recovery-codes></ul>
</div>
</section>
<section aria-labelledby="sessions-h"><h2 id="sessions-h">Sessions</h2>
<p class="error" data-sessions-error aria-live="assertive"></p>
<ul class="cards" data-sessions aria-live="polite"></ul>
<div class="actions"><button type="button" data-signout-others>Sign out all other sessions</button></div>
</section>${o.selfDelete ? deleteSection() : html``}`;
}

function deleteSection() {
  return html`
<section aria-labelledby="delete-h"><h2 id="delete-h">Delete your account</h2>
<p>Your account, its sessions and its second factors are deleted at once. This cannot be undone.</p>
${form('delete', 'Delete your account', [
    field('delete', { name: 'current_password', label: 'Current password', type: 'password', autocomplete: 'current-password', required: true }),
  ], 'Delete my account')}
</section>`;
}
