// /account pages: sign in, forgot and reset password, and the signed-in page (profile, email and
// password changes, sessions, and with ACCOUNT_SELF_DELETE the account's deletion). Every change goes through Warden's public /api/v1 routes.
import { api, clearErrors, describeAgent, el, go, isAdmin, nextPath, notice, onClick, onSubmit, showChrome, showError, when } from './api.js';

const page = document.body.dataset.page;

// Passkeys through WebAuthn Level 3's JSON helpers (the API speaks that JSON); browsers without them
// keep the other ways in.
const passkeys = typeof PublicKeyCredential !== 'undefined' && typeof PublicKeyCredential.parseRequestOptionsFromJSON === 'function';
if (passkeys) for (const e of document.querySelectorAll('[data-passkey-only]')) e.hidden = false;

/** The browser's passkey answer for request options from the API, as JSON; null when the person cancels. */
async function passkeyAssertion(options) {
  try {
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    return credential.toJSON();
  } catch {
    return null;
  }
}
const form = (id) => document.getElementById(id);

if (page === 'signin') {
  if (new URLSearchParams(location.search).get('ended')) notice('Your session has ended. Sign in again.');
  if (new URLSearchParams(location.search).get('deleted')) notice('Your account has been deleted.');
  let mfaToken;
  // The MFA token is void (five minutes passed, or the password changed since): back to the
  // password, which gets the focus, so a keyboard or screen-reader user is not left on a hidden field.
  const restart = () => {
    document.querySelector('[data-second-step]').hidden = true;
    form('signin').hidden = false;
    const password = form('signin').elements.namedItem('password');
    password.value = '';
    showError(form('signin'), { message: 'This sign-in can no longer be finished (it took too long, or the password changed). Give your password again.' });
    password.focus();
  };
  onSubmit(form('signin'), async (v) => {
    const r = await api('POST', '/api/v1/auth/login', { username: v.username ?? '', password: v.password ?? '' }, { quiet: true });
    if (r.ok && r.data?.mfa_required) {
      // The password was right; the tokens come after the second factor.
      mfaToken = r.data.mfa_token;
      form('signin').hidden = true;
      document.querySelector('[data-second-step]').hidden = false;
      return form('mfa').elements.namedItem('code').focus();
    }
    if (r.ok) return go(nextPath());
    showError(form('signin'), r, { ERR_BAD_CREDENTIALS: 'password', ERR_MISSING_CREDENTIALS: 'username', ERR_USER_INACTIVE: 'username' });
  });
  const passkeyError = document.querySelector('[data-passkey-error]');
  onClick(document.querySelector('[data-passkey-signin]'), async () => {
    passkeyError.textContent = '';
    const o = await api('POST', '/api/v1/auth/passkey/options', undefined, { quiet: true });
    const response = o.ok ? await passkeyAssertion(o.data) : null;
    if (!response) { passkeyError.textContent = o.ok ? 'No passkey was used.' : o.message; return; }
    const r = await api('POST', '/api/v1/auth/passkey/login', { response }, { quiet: true });
    if (r.ok) go(nextPath()); else passkeyError.textContent = r.message;
  });
  onClick(document.querySelector('[data-passkey-second]'), async () => {
    clearErrors(form('mfa'));
    const o = await api('POST', '/api/v1/auth/mfa/webauthn/options', { mfa_token: mfaToken }, { quiet: true });
    if (o.code === 'ERR_MFA_TOKEN_INVALID') return restart();
    const webauthn = o.ok ? await passkeyAssertion(o.data) : null;
    if (!webauthn) return showError(form('mfa'), o.ok ? { message: 'No passkey was used.' } : o);
    const r = await api('POST', '/api/v1/auth/mfa/verify', { mfa_token: mfaToken, webauthn }, { quiet: true });
    if (r.ok) go(nextPath());
    else if (r.code === 'ERR_MFA_TOKEN_INVALID') restart();
    else showError(form('mfa'), r);
  });
  onSubmit(form('mfa'), async (v) => {
    const given = (v.code ?? '').trim();
    // Six digits (spaced as apps show them, "123 456") are an authenticator code; anything else is taken for a recovery code.
    const digits = given.replace(/\s+/g, '');
    const proof = /^\d{6}$/.test(digits) ? { code: digits } : { recovery_code: given };
    const r = await api('POST', '/api/v1/auth/mfa/verify', { mfa_token: mfaToken, ...proof }, { quiet: true });
    if (r.ok) return go(nextPath());
    if (r.code === 'ERR_MFA_TOKEN_INVALID') return restart();
    showError(form('mfa'), r, { ERR_MFA_CODE_INVALID: 'code', ERR_RATE_LIMITED: 'code', ERR_VALIDATION: 'code' });
  });
}

if (page === 'forgot') {
  onSubmit(form('forgot'), async (v) => {
    const r = await api('POST', '/api/v1/auth/password/forgot', { email: v.email ?? '' }, { quiet: true });
    if (r.ok) notice(r.message);
    else showError(form('forgot'), r, { ERR_RATE_LIMITED: 'email' });
  });
}

if (page === 'reset') {
  onSubmit(form('reset'), async (v) => {
    const r = await api('POST', '/api/v1/auth/password/reset', { token: v.token ?? '', new_password: v.new_password ?? '' }, { quiet: true });
    if (r.ok) {
      form('reset').hidden = true;
      notice('Your password has been changed and every session signed out. Sign in with the new password.');
      // The form had the focus: the way on takes it, rather than the page's body.
      document.querySelector('main a[href="/account/signin"]').focus();
    } else showError(form('reset'), r, { ERR_EMAIL_TOKEN_INVALID: '', ERR_VALIDATION: 'new_password' });
  });
}

if (page === 'home') home();

async function home() {
  const me = await api('GET', '/api/v1/auth/me');
  if (me.code === 'ERR_MFA_ENROLMENT_REQUIRED') return enrolFirst();
  if (!me.ok) return notice(me.message ?? 'Your account cannot be shown now.');
  showChrome(me.data);
  showProfile(me.data);
  const fresh = { ERR_FRESH_REQUIRED: '' };

  onClick(document.querySelector('[data-verify]'), async () => {
    const r = await api('POST', '/api/v1/auth/verify/request');
    notice(r.ok ? 'A verification mail is on its way.' : r.message);
  });
  form('name').elements.namedItem('full_name').value = me.data.full_name ?? '';
  onSubmit(form('name'), async (v) => {
    const r = await api('PATCH', '/api/v1/auth/me', { full_name: v.full_name ?? null });
    if (r.ok) { showProfile(r.data); notice('Your name has been saved.'); } else showError(form('name'), r);
  });
  onSubmit(form('email'), async (v) => {
    const r = await api('POST', '/api/v1/auth/email', { new_email: v.new_email ?? '' });
    if (r.ok) { notice(`A confirmation has been sent to ${v.new_email}; follow its link to finish. Stay signed in here until then: signing this session out cancels the change.`); form('email').reset(); }
    else showError(form('email'), withFreshHint(r), { ...fresh, ERR_CONFLICT: 'new_email', ERR_RATE_LIMITED: 'new_email' });
  });
  onSubmit(form('password'), async (v) => {
    const r = await api('POST', '/api/v1/auth/password', { current_password: v.current_password ?? '', new_password: v.new_password ?? '' });
    if (r.ok) { notice('Your password has been changed; your other sessions are signed out.'); form('password').reset(); await showSessions(); }
    else showError(form('password'), withFreshHint(r), { ...fresh, ERR_BAD_CREDENTIALS: 'current_password' });
  });
  const remove = form('delete'); // present with ACCOUNT_SELF_DELETE
  if (remove) {
    onSubmit(remove, async (v) => {
      const r = await api('DELETE', '/api/v1/auth/me', { current_password: v.current_password ?? '' });
      if (r.ok) go('/account/signin?deleted=1');
      else showError(remove, withFreshHint(r), { ...fresh, ERR_BAD_CREDENTIALS: 'current_password' });
    });
  }
  onClick(document.querySelector('[data-signout-others]'), async () => {
    const r = await api('POST', '/api/v1/auth/logout?scope=others');
    notice(r.ok ? `Signed out ${r.data.sessions_ended} other session(s).` : r.message);
    await showSessions();
  });
  await showSessions();
  await secondFactors();
}

/**
 * A role that requires a second factor, and none yet: its token reaches only enrolment and
 * sign-out, so the page offers those alone.
 */
async function enrolFirst() {
  showChrome({ roles: [] });
  for (const s of document.querySelectorAll('main section')) s.hidden = s.getAttribute('aria-labelledby') !== 'mfa-h';
  notice('Your role requires a second factor. Set one up here, then sign out and sign in again with it.');
  await secondFactors();
}

/** The second factors: the list (with removal), authenticator app enrolment, recovery codes. */
async function secondFactors() {
  const error = document.querySelector('[data-mfa-error]');
  const enrol = document.querySelector('[data-totp-enrol]');
  const strongHint = (r) => (r.code === 'ERR_MFA_REQUIRED' || r.code === 'ERR_FRESH_REQUIRED'
    ? 'For this change, sign out and sign in again with your second factor first.' : r.message);
  const showCodes = (codes) => {
    if (!codes) return;
    document.querySelector('[data-recovery-codes]').replaceChildren(...codes.map((c) => el('li', c)));
    document.querySelector('[data-recovery]').hidden = false;
    // Shown once: the focus goes to them (the form that had it may just have been hidden).
    document.querySelector('[data-recovery-h]').focus();
  };
  const list = async () => {
    const r = await api('GET', '/api/v1/auth/mfa/factors');
    error.textContent = r.ok ? '' : r.message;
    if (!r.ok) return;
    const { factors, recovery_codes_remaining: left } = r.data;
    document.querySelector('[data-mfa-summary]').textContent = factors.length === 0
      ? 'None yet: your password alone signs you in.'
      : `Signing in asks for one of these after your password. Recovery codes left: ${left}.`;
    document.querySelector('[data-recovery-new]').hidden = factors.length === 0;
    // One authenticator app per account (the API refuses a second).
    document.querySelector('[data-totp-start]').hidden = factors.some((f) => f.type === 'totp');
    document.querySelector('[data-factors]').replaceChildren(...factors.map((f) => {
      const name = f.name || (f.type === 'totp' ? 'Authenticator app' : 'Passkey');
      const item = el('li', undefined, { 'data-factor': f.id });
      item.append(el('p', name, { class: 'card-title' }), el('p', `Added ${when(f.created_at)}${f.last_used_at ? ` · last used ${when(f.last_used_at)}` : ''}`, { class: 'meta' }));
      const b = el('button', 'Remove', { type: 'button', 'aria-label': `Remove ${name}` });
      onClick(b, async () => {
        const d = await api('DELETE', `/api/v1/auth/mfa/factors/${encodeURIComponent(f.id)}`);
        if (d.ok) { notice(`${name} removed.`); await list(); } else error.textContent = strongHint(d);
      });
      item.append(b);
      return item;
    }));
  };
  onClick(document.querySelector('[data-totp-start]'), async () => {
    error.textContent = '';
    const r = await api('POST', '/api/v1/auth/mfa/totp');
    if (!r.ok) { error.textContent = r.code === 'ERR_FRESH_REQUIRED' ? 'To add a factor, sign out and sign in again first.' : r.message; return; }
    document.querySelector('[data-totp-qr]').src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(r.data.qr_svg)}`;
    document.querySelector('[data-totp-secret]').textContent = r.data.secret;
    document.querySelector('[data-totp-uri]').href = r.data.otpauth_uri;
    enrol.hidden = false;
    form('totp').elements.namedItem('code').focus();
  });
  onSubmit(form('totp'), async (v) => {
    const r = await api('POST', '/api/v1/auth/mfa/totp/confirm', { code: (v.code ?? '').trim() });
    if (!r.ok) return showError(form('totp'), r, { ERR_MFA_CODE_INVALID: 'code', ERR_RATE_LIMITED: 'code', ERR_FACTOR_NOT_FOUND: 'code' });
    enrol.hidden = true;
    form('totp').reset();
    notice('Your authenticator app is set up: signing in will ask for its code.');
    showCodes(r.data.recovery_codes);
    await list();
  });
  onClick(document.querySelector('[data-passkey-add]'), async () => {
    error.textContent = '';
    const o = await api('POST', '/api/v1/auth/mfa/passkeys/options');
    if (!o.ok) { error.textContent = o.code === 'ERR_FRESH_REQUIRED' ? 'To add a factor, sign out and sign in again first.' : o.message; return; }
    let response;
    try {
      response = (await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(o.data) })).toJSON();
    } catch {
      error.textContent = 'No passkey was created.';
      return;
    }
    const r = await api('POST', '/api/v1/auth/mfa/passkeys', { response, name: describeAgent(navigator.userAgent) });
    if (!r.ok) { error.textContent = r.message; return; }
    notice('Your passkey is added.');
    showCodes(r.data.recovery_codes);
    await list();
  });
  onClick(document.querySelector('[data-recovery-new]'), async () => {
    const r = await api('POST', '/api/v1/auth/mfa/recovery-codes');
    if (r.ok) { showCodes(r.data.recovery_codes); notice('New recovery codes: the old ones no longer work.'); await list(); } else error.textContent = strongHint(r);
  });
  await list();
}

/** A password or email change wants a token from a fresh sign-in: say how to get one. */
function withFreshHint(r) {
  return r.code === 'ERR_FRESH_REQUIRED' ? { ...r, message: 'For this change, sign out and sign in again first (your sign-in is no longer recent).' } : r;
}

function showProfile(p) {
  const facts = { email: p.email, full_name: p.full_name || '—', email_verified: p.email_verified ? 'Yes' : 'No', roles: (p.roles ?? []).join(', ') || '—' };
  for (const [k, v] of Object.entries(facts)) document.querySelector(`[data-fact="${k}"]`).textContent = v;
  document.querySelector('[data-verify]').hidden = p.email_verified;
  if (isAdmin(p)) document.querySelector('[data-fact="roles"]').append(' ', el('a', '(administration)', { href: '/admin' }));
}

async function showSessions() {
  const list = document.querySelector('[data-sessions]');
  const error = document.querySelector('[data-sessions-error]');
  const r = await api('GET', '/api/v1/auth/sessions');
  error.textContent = r.ok ? '' : r.message;
  if (!r.ok) return;
  list.replaceChildren(...r.data.map((s) => {
    const item = el('li', undefined, { 'data-session': s.id });
    const title = el('p', describeAgent(s.user_agent), { class: 'card-title' });
    if (s.current) title.append(' ', el('strong', '(this device)', { class: 'badge' }));
    item.append(title, el('p', `IP ${s.ip ?? 'unknown'} · last used ${when(s.last_used_at)} · signed in ${when(s.created_at)}`, { class: 'meta' }));
    if (!s.current) {
      const b = el('button', 'Sign out this session', { type: 'button', 'aria-label': `Sign out this session (${describeAgent(s.user_agent)}, last used ${when(s.last_used_at)})` });
      onClick(b, async () => {
        const d = await api('DELETE', `/api/v1/auth/sessions/${encodeURIComponent(s.id)}`);
        notice(d.ok ? 'The session has been signed out.' : d.message);
        await showSessions();
      });
      item.append(b);
    }
    return item;
  }));
}
