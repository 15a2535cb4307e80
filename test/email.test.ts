// Account recovery and verified email over HTTP, with mail delivered to a real SMTP server (AUTH
// after STARTTLS, certificate trusted through SMTP_TLS_CA_FILE): each flow reads the delivered
// message, follows its link or token, and completes over HTTP.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { newEmailToken } from '../src/accounts/email-tokens.js';
import { testClock } from './helpers/clock.js';
import { codeAt, secretOf } from './helpers/totp.js';
import { call, startServer, type Running } from './helpers/server.js';
import { eventually, linkIn, startSmtp, tokenIn, type Delivered, type TestSmtp } from './helpers/smtp.js';

const PASSWORD = 'password-123';
const APP_URL = 'https://auth.example.test';
const FAST = { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } };

let n = 0;
const unique = (prefix: string) => `${prefix}${++n}${randomBytes(3).toString('hex')}`;
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function mailEnv(smtp: TestSmtp, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile,
    MAIL_FROM: 'Warden <no-reply@warden.test>', APP_URL,
    MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0', ...extra,
  };
}

/** Signs up a user (the server mails a verification) and signs in; returns the tokens. */
async function newUser(s: Running, over: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const username = unique('user');
  const email = `${username}@example.com`;
  const signup = await call(`${s.url}/api/v1/auth/signup`, { json: { username, email, password: PASSWORD, ...over }, headers });
  assert.equal(signup.status, 201, signup.text);
  const login = await call(`${s.url}/api/v1/auth/login`, { form: { username: email, password: PASSWORD }, headers });
  assert.equal(login.status, 200, login.text);
  return { username, email, id: signup.json.data.id as string, access: login.json.data.access_token as string, refresh: login.json.data.refresh_token as string };
}

const to = (address: string, subject?: string) => (m: Delivered) => m.to === address && (subject === undefined || m.subject === subject);

describe('email over a real SMTP server', () => {
  let smtp: TestSmtp;
  let s: Running;
  const clock = testClock();

  before(async () => {
    smtp = await startSmtp();
    s = await startServer(mailEnv(smtp), { clock, email: FAST });
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });

  const me = (access: string) => call(`${s.url}/api/v1/auth/me`, { headers: bearer(access) });

  it('sign-up mails a verification link over STARTTLS with AUTH; the link verifies once', async () => {
    const u = await newUser(s, { full_name: '<b>Eve</b> & co' });
    assert.equal((await me(u.access)).json.data.email_verified, false);
    assert.equal(claimsOf(u.access).email_verified, false);

    const mail = await smtp.waitFor(to(u.email, 'Confirm your email address'));
    assert.equal(mail.secure, true, 'delivered after STARTTLS and AUTH');
    assert.match(mail.from, /^"?Warden"? <no-reply@warden\.test>$/);
    assert.match(mail.messageId, /^<[0-9a-f-]{36}@warden\.test>$/);
    // User values are escaped in the HTML part and plain in the text part.
    assert.match(mail.html, /&lt;b&gt;Eve&lt;\/b&gt; &amp; co/);
    assert.doesNotMatch(mail.html, /<b>Eve<\/b>/);
    assert.match(mail.text, /Hello <b>Eve<\/b> & co,/);
    const link = linkIn(mail);
    assert.ok(link.startsWith(`${APP_URL}/api/v1/auth/verify/confirm?token=`), link);

    // The link lands on a page of this server (APP_URL is its public address), whose button
    // verifies: opening the link, as a mail scanner or a link preview does, uses nothing up.
    for (let i = 0; i < 2; i++) {
      const page = await call(`${s.url}${link.slice(APP_URL.length)}`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(page.text, new RegExp(`Confirm that ${u.email.replace('.', '\\.')} is your address`));
      assert.match(page.text, /<form method="post" action="\.\.\/verify">/);
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
      assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'none'/);
      assert.equal((await me(u.access)).json.data.email_verified, false, 'opening the link verifies nothing');
    }
    // The button: a browser's form post, answered with a page.
    const pressed = await call(`${s.url}/api/v1/auth/verify`, { form: { token: tokenIn(mail) }, headers: { accept: 'text/html' } });
    assert.equal(pressed.status, 200);
    assert.match(pressed.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(pressed.text, /is verified/);

    const profile = await me(u.access);
    assert.equal(profile.json.data.email_verified, true);
    // Tokens issued from now on carry the claim.
    const refreshed = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${u.refresh}`, { method: 'POST' });
    assert.equal(claimsOf(refreshed.json.data.access_token).email_verified, true);

    const again = await call(`${s.url}${link.slice(APP_URL.length)}`);
    assert.equal(again.status, 400);
    assert.match(again.text, /already been used/);
    assert.doesNotMatch(again.text, /not verified/, 'the address is verified: the page does not say otherwise');
    const json = await call(`${s.url}/api/v1/auth/verify`, { json: { token: tokenIn(mail) } });
    assert.equal(json.status, 400);
    assert.equal(json.json.code, 'ERR_EMAIL_TOKEN_USED');
  });

  it('POST /auth/verify/request mails a new link that supersedes the first; POST /auth/verify takes the token', async () => {
    const u = await newUser(s);
    const first = await smtp.waitFor(to(u.email, 'Confirm your email address'));
    const r = await call(`${s.url}/api/v1/auth/verify/request`, { method: 'POST', headers: bearer(u.access) });
    assert.equal(r.status, 202);
    const second = await eventually(() => smtp.delivered.filter(to(u.email, 'Confirm your email address'))[1], 'the second mail');
    assert.notEqual(tokenIn(second), tokenIn(first));

    const old = await call(`${s.url}/api/v1/auth/verify`, { json: { token: tokenIn(first) } });
    assert.equal(old.status, 400);
    assert.deepEqual(old.json, { message: 'This link has been replaced: a newer one was sent, or the account changed since; use the newest link or ask for another', data: null, code: 'ERR_EMAIL_TOKEN_SUPERSEDED' });
    assert.equal((await me(u.access)).json.data.email_verified, false, 'nothing changed');

    const ok = await call(`${s.url}/api/v1/auth/verify`, { json: { token: tokenIn(second) } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.data.email_verified, true);
    const already = await call(`${s.url}/api/v1/auth/verify/request`, { method: 'POST', headers: bearer(u.access) });
    assert.equal(already.status, 200);
    assert.equal(already.json.message, 'Email already verified');
  });

  it('forgot → mail → reset: the old password and every old session are refused, the new password works', async () => {
    const u = await newUser(s);
    const other = await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: PASSWORD }, headers: { 'user-agent': 'second-device' } });
    const forgot = await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: u.email.toUpperCase() } });
    assert.equal(forgot.status, 202);
    const mail = await smtp.waitFor(to(u.email, 'Reset your password'));
    assert.match(mail.text, /within 30 minutes/);
    const link = linkIn(mail);
    assert.ok(link.startsWith(`${APP_URL}/api/v1/auth/password/reset?token=`), link);

    // The link's page is a form; showing it uses nothing up.
    const form = await call(`${s.url}${link.slice(APP_URL.length)}`);
    assert.equal(form.status, 200);
    assert.match(form.text, /<form method="post" action="reset">/);
    assert.match(form.text, new RegExp(`name="token" value="${tokenIn(mail)}"`));

    const reset = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(mail), new_password: 'a-new-password-1' } });
    assert.equal(reset.status, 200, reset.text);
    for (const token of [u.access, other.json.data.access_token]) assert.equal((await me(token)).status, 403, 'old access tokens are refused');
    const refresh = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${u.refresh}`, { method: 'POST' });
    assert.equal(refresh.status, 401, 'old refresh tokens are refused');
    const oldPw = await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: PASSWORD } });
    assert.equal(oldPw.status, 401);
    const newPw = await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: 'a-new-password-1' } });
    assert.equal(newPw.status, 200);
    assert.equal((await me(newPw.json.data.access_token)).json.data.email_verified, true, 'the reset proved the address');
    const notice = await smtp.waitFor(to(u.email, 'Your password was changed'));
    assert.doesNotMatch(notice.text, /token=/);
  });

  it('a reset that removes the second factors of an unverified address says so in its notice; a verified one keeps them and says nothing of it', async () => {
    /** A user with an authenticator app; `verified`: their address proven first. */
    const withApp = async (verified: boolean) => {
      const u = await newUser(s);
      if (verified) assert.equal((await call(`${s.url}/api/v1/auth/verify`, { json: { token: tokenIn(await smtp.waitFor(to(u.email, 'Confirm your email address'))) } })).status, 200);
      const enrol = await call(`${s.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer(u.access) });
      assert.equal(enrol.status, 201, enrol.text);
      const code = codeAt(secretOf(enrol.json.data.otpauth_uri), clock() / 1000);
      assert.equal((await call(`${s.url}/api/v1/auth/mfa/totp/confirm`, { json: { code }, headers: bearer(u.access) })).status, 200);
      await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: u.email } });
      const token = tokenIn(await smtp.waitFor(to(u.email, 'Reset your password')));
      assert.equal((await call(`${s.url}/api/v1/auth/password/reset`, { json: { token, new_password: 'a-new-password-1' } })).status, 200);
      const signIn = await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: 'a-new-password-1' } });
      return { notice: await smtp.waitFor(to(u.email, 'Your password was changed')), mfaAsked: signIn.json.data.mfa_token !== undefined };
    };
    const removed = await withApp(false);
    assert.equal(removed.mfaAsked, false, 'the app is gone');
    for (const part of [removed.notice.text, removed.notice.html]) assert.match(part, /Your authenticator apps, passkeys and recovery codes were removed too/);
    const kept = await withApp(true);
    assert.equal(kept.mfaAsked, true, 'the app still guards the account');
    for (const part of [kept.notice.text, kept.notice.html]) assert.doesNotMatch(part, /removed/);
    assert.match(kept.notice.text, /signed out\.\n\nIf this was not you/, 'no gap where the sentence would be');
  });

  it('a reset link mailed to an address the account no longer has is refused; an inactive account\'s link is refused and kept', async () => {
    const u = await newUser(s);
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: u.email } })).status, 202);
    const mail = await smtp.waitFor(to(u.email, 'Reset your password'));
    // The account moves to another address (as a confirmed change or an administrator would).
    await s.warden.storage.users.update(u.id, { email: `moved-${u.email}` });
    const stale = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(mail), new_password: 'hijacked-password-1' } });
    assert.equal(stale.status, 400);
    assert.equal(stale.json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.equal((await call(`${s.url}/api/v1/auth/login`, { form: { username: `moved-${u.email}`, password: 'hijacked-password-1' } })).status, 401, 'the password is unchanged');

    const v = await newUser(s);
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: v.email } })).status, 202);
    const vMail = await smtp.waitFor(to(v.email, 'Reset your password'));
    await s.warden.storage.users.update(v.id, { isActive: false });
    const inactive = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(vMail), new_password: 'a-new-password-1' } });
    assert.equal(inactive.status, 400);
    assert.equal(inactive.json.code, 'ERR_USER_INACTIVE');
    await s.warden.storage.users.update(v.id, { isActive: true });
    const later = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(vMail), new_password: 'a-new-password-1' } });
    assert.equal(later.status, 200, 'the refusal used nothing up');
  });

  it('a password changed after a reset link was mailed supersedes the link (the user no longer needs it; whoever took it cannot use it)', async () => {
    const u = await newUser(s);
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: u.email } })).status, 202);
    const mail = await smtp.waitFor(to(u.email, 'Reset your password'));
    const changed = await call(`${s.url}/api/v1/auth/password`, { json: { current_password: PASSWORD, new_password: 'changed-password-1' }, headers: bearer(u.access) });
    assert.equal(changed.status, 200, changed.text);
    const stale = await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(mail), new_password: 'hijacked-password-1' } });
    assert.equal(stale.status, 400);
    assert.equal(stale.json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.equal((await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: 'changed-password-1' } })).status, 200, 'the changed password holds');
  });

  it('a password changed after an address change was asked for supersedes its link (the notice says to change the password: that must stop whoever asked)', async () => {
    const u = await newUser(s);
    const theirs = `${unique('taker')}@example.org`;
    assert.equal((await call(`${s.url}/api/v1/auth/email`, { json: { new_email: theirs }, headers: bearer(u.access) })).status, 202);
    const confirm = await smtp.waitFor(to(theirs, 'Confirm your new email address'));
    await smtp.waitFor(to(u.email, 'A change of your email address was requested'));
    const changed = await call(`${s.url}/api/v1/auth/password`, { json: { current_password: PASSWORD, new_password: 'changed-password-2' }, headers: bearer(u.access) });
    assert.equal(changed.status, 200, changed.text);
    const stale = await call(`${s.url}/api/v1/auth/email/confirm`, { json: { token: tokenIn(confirm) } });
    assert.equal(stale.status, 400, stale.text);
    assert.equal(stale.json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.equal((await s.warden.storage.users.findById(u.id))!.email, u.email, 'the address is unchanged');
  });

  it('a deactivated account\'s verification or address-change link changes nothing; a verification link stays usable for when it is active again', async () => {
    const u = await newUser(s);
    const mail = await smtp.waitFor(to(u.email, 'Confirm your email address'));
    await s.warden.storage.users.update(u.id, { isActive: false });
    const refused = await call(`${s.url}/api/v1/auth/verify`, { json: { token: tokenIn(mail) } });
    assert.equal(refused.status, 400);
    assert.equal(refused.json.code, 'ERR_USER_INACTIVE');
    assert.equal((await s.warden.storage.users.findById(u.id))!.emailVerified, false);
    await s.warden.storage.users.update(u.id, { isActive: true });
    assert.equal((await call(`${s.url}/api/v1/auth/verify`, { json: { token: tokenIn(mail) } })).status, 200);

    // The same for an address-change link.
    const newEmail = `${unique('inactive')}@example.org`;
    assert.equal((await call(`${s.url}/api/v1/auth/email`, { json: { new_email: newEmail }, headers: bearer(u.access) })).status, 202);
    const confirm = await smtp.waitFor(to(newEmail, 'Confirm your new email address'));
    await s.warden.storage.users.update(u.id, { isActive: false });
    const moved = await call(`${s.url}/api/v1/auth/email/confirm`, { json: { token: tokenIn(confirm) } });
    assert.equal(moved.status, 400);
    assert.equal(moved.json.code, 'ERR_USER_INACTIVE');
    assert.equal((await s.warden.storage.users.findById(u.id))!.email, u.email, 'the address is unchanged');
  });

  it('the reset page\'s form posts back and gets a page (a short password shows the form again, token unused)', async () => {
    const u = await newUser(s);
    await call(`${s.url}/api/v1/auth/password/forgot`, { form: { email: u.email } });
    const token = tokenIn(await smtp.waitFor(to(u.email, 'Reset your password')));
    const page = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,application/xhtml+xml' };
    const short = await call(`${s.url}/api/v1/auth/password/reset`, { body: new URLSearchParams({ token, new_password: 'short' }).toString(), headers: page });
    assert.equal(short.status, 422);
    assert.match(short.text, /The password must be at least 8 characters/);
    assert.match(short.text, /<form/);
    const done = await call(`${s.url}/api/v1/auth/password/reset`, { body: new URLSearchParams({ token, new_password: 'long-enough-1' }).toString(), headers: page });
    assert.equal(done.status, 200);
    assert.match(done.text, /Your password has been changed/);
  });

  it('every refusal of a reset token: used, expired, superseded, forged, malformed, missing — nothing changes', async () => {
    const u = await newUser(s);
    const reset = (token: unknown, pw = 'another-password-1') => call(`${s.url}/api/v1/auth/password/reset`, { json: { token, new_password: pw } });
    const nextReset = async (k: number) => {
      await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: u.email } });
      return tokenIn(await eventually(() => smtp.delivered.filter(to(u.email, 'Reset your password'))[k], `reset mail ${k}`));
    };
    const first = await nextReset(0);
    const second = await nextReset(1);
    const expect = async (r: Awaited<ReturnType<typeof reset>>, status: number, code: string) => {
      assert.equal(r.status, status, r.text);
      assert.equal(r.json.code, code);
    };
    await expect(await reset(first), 400, 'ERR_EMAIL_TOKEN_SUPERSEDED');
    await expect(await reset(randomBytes(32).toString('base64url')), 400, 'ERR_EMAIL_TOKEN_INVALID');
    await expect(await reset('not a token'), 400, 'ERR_EMAIL_TOKEN_INVALID');
    await expect(await reset(undefined), 422, 'ERR_VALIDATION');
    await expect(await reset(second, 'short'), 422, 'ERR_VALIDATION');
    // 30 minutes and one millisecond later the link is dead.
    await clock.during(30 * 60_000 + 1, async () => expect(await reset(second), 400, 'ERR_EMAIL_TOKEN_EXPIRED'));
    // None of that changed anything: the password is the old one and the second token still works once.
    assert.equal((await me(u.access)).status, 200);
    assert.equal((await reset(second)).status, 200);
    await expect(await reset(second), 400, 'ERR_EMAIL_TOKEN_USED');
    // A verification token is not a reset token.
    const verify = tokenIn(await smtp.waitFor(to(u.email, 'Confirm your email address')));
    await expect(await reset(verify), 400, 'ERR_EMAIL_TOKEN_INVALID');
  });

  it('forgot for an unknown address: same status and body, no mail, and the same mean time over 50 tries each', async () => {
    const known = (await newUser(s)).email;
    const unknown = `nobody-${randomBytes(4).toString('hex')}@example.com`;
    const forgot = async (email: string) => {
      const t0 = process.hrtime.bigint();
      const r = await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email } });
      return { r, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
    };
    const a = await forgot(known);
    const b = await forgot(unknown);
    assert.equal(a.r.status, 202);
    assert.equal(b.r.status, 202);
    assert.equal(a.r.text, b.r.text);
    const times = { known: [] as number[], unknown: [] as number[] };
    for (let i = 0; i < 50; i++) {
      // Interleaved, so drift on a shared machine lands on both.
      times.known.push((await forgot(known)).ms);
      times.unknown.push((await forgot(unknown)).ms);
    }
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const [mk, mu] = [mean(times.known), mean(times.unknown)];
    console.log(`# forgot mean time over 50: known ${mk.toFixed(2)} ms, unknown ${mu.toFixed(2)} ms`);
    // Both paths do the same work (check, count, queue one row); a generous band for a noisy machine.
    assert.ok(Math.abs(mk - mu) <= Math.max(3, 0.5 * Math.max(mk, mu)), `known ${mk} ms vs unknown ${mu} ms`);
    // Every one of the 51 requests for the known address was mailed (the latest link supersedes the others).
    await eventually(() => smtp.delivered.filter(to(known, 'Reset your password')).length >= 51 || undefined, 'the known address\'s mails', 20_000);
    assert.equal(smtp.delivered.filter((m) => m.to === unknown).length, 0, 'no mail for an address no account has');
  });

  it('a new device or browser gets a notice, the first sign-in and a known device do not', async () => {
    const u = await newUser(s, {}, { 'user-agent': 'browser-one' });
    await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: PASSWORD }, headers: { 'user-agent': 'browser-one' } });
    await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: PASSWORD }, headers: { 'user-agent': 'browser-two <script>' } });
    const notice = await smtp.waitFor(to(u.email, 'New sign-in to your account'));
    assert.match(notice.text, /browser: browser-two <script>/);
    assert.match(notice.html, /browser-two &lt;script&gt;/);
    // Only one: browser-one was the first device, and seen again.
    await smtp.waitFor(to(u.email, 'Confirm your email address'));
    assert.equal(smtp.delivered.filter(to(u.email, 'New sign-in to your account')).length, 1);
  });

  it('email change: confirmation to the new address, notices to the old; the address changes only on confirmation', async () => {
    const u = await newUser(s);
    const newEmail = `${unique('moved')}@example.org`;
    const r = await call(`${s.url}/api/v1/auth/email`, { json: { new_email: newEmail }, headers: bearer(u.access) });
    assert.equal(r.status, 202, r.text);
    const confirm = await smtp.waitFor(to(newEmail, 'Confirm your new email address'));
    const requested = await smtp.waitFor(to(u.email, 'A change of your email address was requested'));
    assert.match(requested.text, new RegExp(newEmail.replace('.', '\\.')));
    assert.doesNotMatch(requested.text, /token=/, 'the old address never gets the link');
    assert.equal((await me(u.access)).json.data.email, u.email, 'unchanged until confirmed');

    const link = linkIn(confirm);
    assert.ok(link.startsWith(`${APP_URL}/api/v1/auth/email/confirm?token=`));
    // Opening the link only shows the button (a mail scanner that opens it changes nothing).
    const page = await call(`${s.url}${link.slice(APP_URL.length)}`);
    assert.equal(page.status, 200);
    assert.match(page.text, new RegExp(`address becomes ${newEmail.replace('.', '\\.')}`));
    assert.match(page.text, /<form method="post" action="confirm">/);
    assert.equal((await me(u.access)).json.data.email, u.email, 'opening the link changes nothing');
    const pressed = await call(`${s.url}/api/v1/auth/email/confirm`, { form: { token: tokenIn(confirm) }, headers: { accept: 'text/html' } });
    assert.equal(pressed.status, 200);
    assert.match(pressed.text, /is now/);
    const profile = (await me(u.access)).json.data;
    assert.equal(profile.email, newEmail);
    assert.equal(profile.email_verified, true);
    await smtp.waitFor(to(u.email, 'Your email address was changed'));
    assert.equal((await call(`${s.url}/api/v1/auth/login`, { form: { username: newEmail, password: PASSWORD } })).status, 200);
    const reused = await call(`${s.url}/api/v1/auth/email/confirm`, { json: { token: tokenIn(confirm) } });
    assert.equal(reused.json.code, 'ERR_EMAIL_TOKEN_USED');
  });

  it('email change refusals: a stale token, the same address, a taken address, a bad address', async () => {
    const u = await newUser(s);
    const taken = await newUser(s);
    const ask = (token: string, new_email: unknown) => call(`${s.url}/api/v1/auth/email`, { json: { new_email }, headers: bearer(token) });
    const refreshed = await call(`${s.url}/api/v1/auth/refresh?refresh_token=${u.refresh}`, { method: 'POST' });
    const stale = await ask(refreshed.json.data.access_token, 'x@example.org');
    assert.equal(stale.status, 403);
    assert.equal(stale.json.code, 'ERR_FRESH_REQUIRED');
    assert.equal((await ask(u.access, u.email.toUpperCase())).status, 422);
    const conflict = await ask(u.access, taken.email);
    assert.equal(conflict.status, 409);
    assert.equal(conflict.json.field, 'new_email');
    const bad = await ask(u.access, 'not-an-address');
    assert.equal(bad.status, 422);
    assert.equal(bad.json.field, 'new_email');
  });

  it('an address-change link lives only as long as the session that asked for it', async () => {
    const askFrom = async (access: string) => {
      const newEmail = `${unique('moved')}@example.org`;
      assert.equal((await call(`${s.url}/api/v1/auth/email`, { json: { new_email: newEmail }, headers: bearer(access) })).status, 202);
      return { newEmail, token: tokenIn(await smtp.waitFor(to(newEmail, 'Confirm your new email address'))) };
    };
    const confirm = (token: string) => call(`${s.url}/api/v1/auth/email/confirm`, { json: { token } });
    const signIn = async (email: string) => (await call(`${s.url}/api/v1/auth/login`, { form: { username: email, password: PASSWORD } })).json.data.access_token as string;
    const logout = (access: string, scope: string) => call(`${s.url}/api/v1/auth/logout?scope=${scope}`, { method: 'POST', headers: bearer(access) });

    // A thief's session asks; the owner, from another session, signs the others out.
    const u = await newUser(s);
    const thiefs = await askFrom(u.access);
    const owner = await signIn(u.email);
    assert.equal((await logout(owner, 'others')).status, 200);
    const refused = await confirm(thiefs.token);
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.equal((await me(owner)).json.data.email, u.email, 'the address did not change');

    // The owner's own request survives signing the others out.
    const own = await askFrom(owner);
    assert.equal((await logout(owner, 'others')).status, 200);
    assert.equal((await confirm(own.token)).status, 200);
    assert.equal((await me(owner)).json.data.email, own.newEmail);

    // Signing out everywhere voids it, and so does a deactivation undone by an administrator.
    const v = await newUser(s);
    const pending = await askFrom(v.access);
    assert.equal((await logout(await signIn(v.email), 'global')).status, 200);
    assert.equal((await confirm(pending.token)).json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');

    const adminName = unique('admin');
    await s.warden.accounts.credentials.signUp(
      { username: adminName, email: `${adminName}@example.com`, password: PASSWORD, roles: ['admin'] }, { kind: 'system', task: 'test' });
    const admin = bearer(await signIn(`${adminName}@example.com`));
    const w = await newUser(s);
    const beforeDeactivation = await askFrom(w.access);
    const patch = (is_active: boolean) => call(`${s.url}/api/v1/users/${w.id}`, { method: 'PATCH', json: { is_active }, headers: admin });
    assert.equal((await patch(false)).status, 200);
    assert.equal((await patch(true)).status, 200);
    assert.equal((await confirm(beforeDeactivation.token)).json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');
    assert.equal((await call(`${s.url}/api/v1/auth/login`, { form: { username: w.email, password: PASSWORD } })).status, 200, 'still at the old address');
  });

  it('an address-change link mailed before migration 15 (tied to no session) is voided by signing out everywhere', async () => {
    // Versions before migration 15 stored address-change tokens without the asking session (NULL
    // session_id), and so does an instance not yet upgraded: written here as they wrote them.
    const legacyLink = async (userId: string) => {
      const { token, hash } = newEmailToken();
      await s.warden.storage.emailTokens.issue({ hash, userId, purpose: 'email', email: `${unique('moved')}@example.org`, createdAt: clock(), expiresAt: clock() + 86_400_000 });
      return token;
    };
    const confirm = (token: string) => call(`${s.url}/api/v1/auth/email/confirm`, { json: { token } });

    const u = await newUser(s);
    const stolen = await legacyLink(u.id);
    assert.equal((await call(`${s.url}/api/v1/auth/logout?scope=global`, { method: 'POST', headers: bearer(u.access) })).status, 200);
    const refused = await confirm(stolen);
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json.code, 'ERR_EMAIL_TOKEN_SUPERSEDED');

    // While a session that was there when it was mailed is live, it still works.
    const v = await newUser(s);
    assert.equal((await confirm(await legacyLink(v.id))).status, 200);
  });

  it('an administrator sends a reset mail: POST /users/{id}/password-reset', async () => {
    const adminName = unique('admin');
    await s.warden.accounts.credentials.signUp(
      { username: adminName, email: `${adminName}@example.com`, password: PASSWORD, roles: ['admin'] }, { kind: 'system', task: 'test' });
    const admin = await call(`${s.url}/api/v1/auth/login`, { form: { username: `${adminName}@example.com`, password: PASSWORD } });
    const u = await newUser(s);
    const r = await call(`${s.url}/api/v1/users/${u.id}/password-reset`, { method: 'POST', headers: bearer(admin.json.data.access_token) });
    assert.equal(r.status, 202, r.text);
    const mail = await smtp.waitFor(to(u.email, 'Reset your password'));
    assert.equal((await call(`${s.url}/api/v1/auth/password/reset`, { json: { token: tokenIn(mail), new_password: 'set-by-link-1' } })).status, 200);
    assert.equal((await call(`${s.url}/api/v1/users/${u.id}/password-reset`, { method: 'POST', headers: bearer(u.access) })).status, 401, 'the user\'s tokens were refused by the reset');
    const fresh = await call(`${s.url}/api/v1/auth/login`, { form: { username: u.email, password: 'set-by-link-1' } });
    assert.equal((await call(`${s.url}/api/v1/users/${u.id}/password-reset`, { method: 'POST', headers: bearer(fresh.json.data.access_token) })).status, 403);
    const missing = await call(`${s.url}/api/v1/users/00000000-0000-4000-8000-000000000000/password-reset`, { method: 'POST', headers: bearer(admin.json.data.access_token) });
    assert.equal(missing.status, 404);
  });

  it('/docs documents every new route with its statuses', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json;
    const statuses = (path: string, method: string) => Object.keys(doc.paths[path][method].responses).sort();
    // As rendered from the error registry: the handler's codes plus the body parser's (400 bad JSON,
    // 413, 415) and a dependency's (500, 503).
    assert.deepEqual(statuses('/api/v1/auth/password/forgot', 'post'), ['202', '400', '413', '415', '422', '429', '500', '501', '503']);
    assert.deepEqual(statuses('/api/v1/auth/password/reset', 'post'), ['200', '400', '413', '415', '422', '500', '501', '503']);
    assert.ok(statuses('/api/v1/auth/password/reset', 'get').includes('400'));
    assert.ok(statuses('/api/v1/auth/verify', 'post').includes('400'));
    assert.ok(statuses('/api/v1/auth/verify/request', 'post').includes('429'));
    assert.ok(statuses('/api/v1/auth/verify/confirm', 'get').includes('200'));
    assert.ok(statuses('/api/v1/auth/email', 'post').includes('409'));
    assert.ok(statuses('/api/v1/auth/email/confirm', 'post').includes('400'));
    assert.ok(statuses('/api/v1/auth/email/confirm', 'get').includes('400'));
    assert.ok(statuses('/api/v1/users/{id}/password-reset', 'post').includes('404'));
  });
});

describe('mail limits: per address and per client IP, 429 with Retry-After', () => {
  let smtp: TestSmtp;
  let s: Running;
  before(async () => {
    smtp = await startSmtp();
    s = await startServer(mailEnv(smtp, { MAIL_LIMIT_PER_ADDRESS: '2', MAIL_LIMIT_PER_IP: '5', MAIL_LIMIT_WINDOW_MINUTES: '10', TRUST_PROXY: '1' }), { email: FAST });
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });
  const forgot = (email: string, ip: string) => call(`${s.url}/api/v1/auth/password/forgot`, { json: { email }, headers: { 'x-forwarded-for': ip } });

  it('a third request for one address is refused, from any IP, known account or not', async () => {
    const address = `flood-${randomBytes(3).toString('hex')}@example.com`;
    assert.equal((await forgot(address, '198.51.100.1')).status, 202);
    assert.equal((await forgot(address, '198.51.100.2')).status, 202);
    const third = await forgot(address, '198.51.100.3');
    assert.equal(third.status, 429);
    assert.equal(third.json.code, 'ERR_RATE_LIMITED');
    const retry = Number(third.headers.get('retry-after'));
    assert.ok(retry > 0 && retry <= 600, `Retry-After ${retry}`);
  });

  it('a sixth request from one IP is refused, whatever the address', async () => {
    const ip = '203.0.113.77';
    for (let i = 0; i < 5; i++) assert.equal((await forgot(`spray${i}-${randomBytes(2).toString('hex')}@example.com`, ip)).status, 202);
    assert.equal((await forgot('another@example.com', ip)).status, 429);
    assert.equal((await forgot('another@example.com', '203.0.113.78')).status, 202);
  });
});

describe('REQUIRE_EMAIL_VERIFICATION and jwtRequired({ verified: true })', () => {
  let smtp: TestSmtp;
  let s: Running;
  before(async () => {
    smtp = await startSmtp();
    s = await startServer(mailEnv(smtp, { REQUIRE_EMAIL_VERIFICATION: 'true' }), {
      email: FAST,
      routes: (app) => app.get('/verified-only', { preHandler: app.jwtRequired({ verified: true }), schema: { hide: true } }, async () => ({ ok: true })),
    });
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });

  it('refuses an unverified user with 403 after the password check; a wrong password is still 401; verified users sign in', async () => {
    const username = unique('strict');
    const email = `${username}@example.com`;
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username, email, password: PASSWORD } })).status, 201);
    const refused = await call(`${s.url}/api/v1/auth/login`, { form: { username: email, password: PASSWORD } });
    assert.equal(refused.status, 403);
    assert.deepEqual(refused.json, { message: 'Email address not verified', data: null, code: 'ERR_EMAIL_NOT_VERIFIED' });
    const wrong = await call(`${s.url}/api/v1/auth/login`, { form: { username: email, password: 'wrong-password' } });
    assert.equal(wrong.status, 401, 'a stranger learns nothing');
    const oauth = await call(`${s.url}/oauth/token`, { form: { grant_type: 'password', username: email, password: PASSWORD } });
    assert.equal(oauth.status, 400);
    assert.equal(oauth.json.error, 'invalid_grant');

    const mail = await smtp.waitFor(to(email, 'Confirm your email address'));
    assert.equal((await call(`${s.url}/api/v1/auth/verify`, { json: { token: tokenIn(mail) } })).status, 200);
    const ok = await call(`${s.url}/api/v1/auth/login`, { form: { username: email, password: PASSWORD } });
    assert.equal(ok.status, 200);
    assert.equal((await call(`${s.url}/verified-only`, { headers: bearer(ok.json.data.access_token) })).status, 200);
  });

  it('jwtRequired({ verified: true }) refuses a token whose email_verified claim is not true', async () => {
    const user = await s.warden.accounts.credentials.signUp({ username: unique('guarded'), email: `${unique('g')}@example.com`, password: PASSWORD }, null);
    // Signed in directly (the sign-in route would refuse this unverified user).
    const pair = await s.warden.accounts.sessions.open(user, { userAgent: null, ip: null });
    const r = await call(`${s.url}/verified-only`, { headers: bearer(pair.access.token) });
    assert.equal(r.status, 403);
    assert.equal(r.json.code, 'ERR_EMAIL_NOT_VERIFIED');
  });
});

describe('MAIL_TEMPLATES_DIR replaces templates', () => {
  it('an override is used for its part; the other parts keep their defaults', async () => {
    const smtp = await startSmtp();
    const dir = mkdtempSync(join(tmpdir(), 'warden-templates-'));
    writeFileSync(join(dir, 'verify-email.subject'), 'Welcome, {{username}}: one click left');
    writeFileSync(join(dir, 'verify-email.html'), '<p>Hi {{name}}, <a href="{{link}}">confirm</a></p>');
    const s = await startServer(mailEnv(smtp, { MAIL_TEMPLATES_DIR: dir }), { email: FAST });
    try {
      const username = unique('tpl');
      await call(`${s.url}/api/v1/auth/signup`, { json: { username, email: `${username}@example.com`, password: PASSWORD, full_name: 'A <i>B</i>' } });
      const mail = await smtp.waitFor(to(`${username}@example.com`));
      assert.equal(mail.subject, `Welcome, ${username}: one click left`);
      assert.match(mail.html, /^<p>Hi A &lt;i&gt;B&lt;\/i&gt;, <a href="https:\/\/auth\.example\.test\/api\/v1\/auth\/verify\/confirm\?token=[\w-]{43}">confirm<\/a><\/p>$/);
      assert.match(mail.text, /Please confirm that/, 'the default text part');
    } finally {
      await s.close();
      await smtp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('production without SMTP_URL: email is off', () => {
  it('the email routes answer 501 with a clear message, and the start says so once', async () => {
    const lines: string[] = [];
    const logStream = new Writable({ write(chunk, _e, cb) { lines.push(String(chunk)); cb(); } });
    const s = await startServer({ NODE_ENV: 'production', LOG_LEVEL: 'info' }, { logStream });
    try {
      const r = await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: 'a@example.com' } });
      assert.equal(r.status, 501);
      assert.deepEqual(r.json, { message: 'Email is not configured on this server (set SMTP_URL)', data: null, code: 'ERR_EMAIL_DISABLED' });
      assert.equal((await call(`${s.url}/api/v1/auth/verify`, { json: { token: 'x' } })).status, 501);
      const page = await call(`${s.url}/api/v1/auth/verify/confirm?token=x`);
      assert.equal(page.status, 501);
      assert.match(page.text, /Email is not configured/);
      // Sign-up still works, without a mail.
      assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'prod1', email: 'prod1@example.com', password: PASSWORD } })).status, 201);
      assert.equal(lines.filter((l) => l.includes('email is off')).length, 1, lines.join(''));
      // The 501s are answers, not failures: none is logged (any client could fill the log with them).
      assert.deepEqual(lines.filter((l) => /"level":50/.test(l)), []);
    } finally {
      await s.close();
    }
  });
});
