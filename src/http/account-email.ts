// The routes of account recovery and verified email, under /api/v1 (envelope bodies): forgot and
// reset password, email verification, email change, invitations, and an administrator's reset mail. Links in
// mails land on small pages here (pages.ts). With email off (production without SMTP_URL) every
// route answers 501. Route schemas document only (as elsewhere); the accounts rules validate.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WardenError, isWardenError, type ErrorCode, type JwtRequiredOptions } from '@warden/toolkit';
import type { AccountEmail, EmailLinks } from '../accounts/index.js';
import { DEPENDENCY_ERRORS } from './api.js';
import type { RouteContext } from './context.js';
import { pageSchema, routeSchemas, type Media } from './docs.js';
import { ENVELOPE, familyErrorHandler } from './error-families.js';
import { clientIp, clientMeta, field, jsonOrFormBody, newUserBody, onceIn } from './request.js';
import { queueInvitation } from '../accounts/index.js';
import { isUuid } from '../accounts/users.js';
import { invalid } from '../accounts/validate.js';
import { actorOf } from './api.js';
import { confirmForm, html, message, resetForm, sendPage, wantsPage, type Html } from './pages.js';
import { envelope, ID_PARAMS, INVITE, newPassword, passwordPolicy, PROFILE, USER } from './schemas.js';
import { profileView, userView } from './views.js';

const ok = (msg: string, data: unknown = null) => ({ message: msg, data });

/** Where the links in mails point: pages of this server, under APP_URL. */
export function emailLinks(appUrl: string): EmailLinks {
  const base = appUrl.replace(/\/+$/, '');
  const link = (path: string) => (token: string) => `${base}/api/v1${path}?token=${token}`;
  return {
    reset: link('/auth/password/reset'), verify: link('/auth/verify/confirm'), emailChange: link('/auth/email/confirm'), invite: link('/auth/invite/accept'),
  };
}

// What every route here may answer besides its own: email off, or a dependency down.
const EMAIL_ERRORS: ErrorCode[] = ['ERR_EMAIL_DISABLED', ...DEPENDENCY_ERRORS];
// Why a token from a mail cannot be used (nothing changes), or no token at all (422).
const TOKEN_ERRORS: ErrorCode[] = ['ERR_VALIDATION', 'ERR_EMAIL_TOKEN_INVALID', 'ERR_EMAIL_TOKEN_USED', 'ERR_EMAIL_TOKEN_EXPIRED', 'ERR_EMAIL_TOKEN_SUPERSEDED'];
// The limit on mails asked for (its store down is ERR_UNAVAILABLE, in DEPENDENCY_ERRORS).
const LIMIT_ERRORS: ErrorCode[] = ['ERR_RATE_LIMITED'];
const BOTH: Media[] = ['json', 'form'];
const str = (extra: Record<string, unknown> = {}) => ({ type: 'string', ...extra });
const obj = (properties: Record<string, unknown>, required: string[]) => ({ type: 'object', properties, required });
const ADDRESS_LINK_VOID = 'This link no longer works: the session that asked for the change was signed out, a newer link was sent, or the account changed since. Sign in and ask again.';
const TOKEN_QUERY = obj({ token: str({ description: 'the token from the mail' }) }, ['token']);

export async function accountEmailRoutes(app: FastifyInstance, ctx: RouteContext): Promise<void> {
  app.setErrorHandler(familyErrorHandler(ENVELOPE, ctx.log));
  const doc = routeSchemas(ctx.config);
  const userOpts: JwtRequiredOptions = {};
  const freshOpts: JwtRequiredOptions = { fresh: true };
  const adminOpts: JwtRequiredOptions = { roles: ctx.config.accounts.adminRoles };
  const user = app.jwtRequired(userOpts);
  const fresh = app.jwtRequired(freshOpts);
  const admin = app.jwtRequired(adminOpts);
  const email = { tags: ['v1 email'], family: ENVELOPE };
  // Where a link lands: refusals of the token are pages; a dependency down answers the envelope.
  const page = { tags: ['v1 email'], family: ENVELOPE, querystring: TOKEN_QUERY, errors: DEPENDENCY_ERRORS };

  const mail = (): AccountEmail => {
    if (!ctx.accounts.email) throw new WardenError('ERR_EMAIL_DISABLED', 'Email is not configured on this server (set SMTP_URL)');
    return ctx.accounts.email;
  };
  const query = (req: FastifyRequest) => (req.query ?? {}) as Record<string, unknown>;
  // Given twice, the page says so (as every /api/v1 query parameter does), not "token: is required".
  const queryToken = (req: FastifyRequest): unknown => onceIn(query(req), 'token');
  // Where a person goes from a page a link landed on: with the console on, a link there (sign in,
  // the account, or a new reset link); without it, that is the application's own business.
  const onward = (href: string, text: string): Html => (ctx.config.console.enabled ? html`<p><a href="${href}">${text}</a></p>` : html``);
  const toSignIn = onward('/account/signin', 'Sign in');
  const toAccount = onward('/account', 'Go to your account');
  /** A page for a failure a link can meet (and where to go from it); anything else is the usual error answer. */
  const failurePage = (reply: FastifyReply, title: string, err: unknown, next: Html = html``): FastifyReply => {
    if (!isWardenError(err)) throw err;
    return sendPage(reply, err.status, title, html`${message(err.message)}${next}`);
  };
  const addressNotChanged = (reply: FastifyReply, err: unknown): FastifyReply => {
    // The usual cause here is not a newer link: the session that asked was signed out.
    if (isWardenError(err) && err.code === 'ERR_EMAIL_TOKEN_SUPERSEDED') {
      return sendPage(reply, err.status, 'Email address not changed', html`${message(ADDRESS_LINK_VOID)}${toAccount}`);
    }
    return failurePage(reply, 'Email address not changed', err, toAccount);
  };
  // A reset link that cannot be used: the way forward is another one.
  const newResetLink = (err: unknown): Html =>
    isWardenError(err) && TOKEN_ERRORS.includes(err.code) && err.code !== 'ERR_VALIDATION' ? onward('/account/forgot', 'Ask for a new link') : html``;

  // ---- forgot / reset password ----
  app.post('/auth/password/forgot', {
    schema: doc({
      ...email, method: 'POST', summary: 'Ask for a password reset mail: 202 and the same body whether or not an account has the address',
      body: { schema: obj({ email: str({ format: 'email' }) }, ['email']), media: BOTH },
      ok: { status: 202, description: 'Accepted: if an account has the address, a reset link is on its way', schema: envelope(null) },
      errors: ['ERR_BAD_REQUEST', 'ERR_VALIDATION', ...LIMIT_ERRORS, ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    await mail().recovery.forgot(field(jsonOrFormBody(req), 'email'), clientIp(req));
    return reply.code(202).send(ok('If an account has this address, a password reset link has been sent to it'));
  });

  app.get('/auth/password/reset', {
    schema: pageSchema({
      ...page, summary: 'The page a reset link lands on: a form to choose a new password (the token is not used yet)',
      ok: 'The form; it posts to POST /api/v1/auth/password/reset', pages: [...TOKEN_ERRORS, 'ERR_EMAIL_DISABLED'],
    }),
  }, async (req, reply) => {
    const title = 'Choose a new password';
    try {
      const token = queryToken(req);
      await mail().recovery.check(token);
      return sendPage(reply, 200, title, resetForm(String(token), ctx.config.accounts.passwordMinLength));
    } catch (err) {
      return failurePage(reply, title, err, newResetLink(err));
    }
  });

  app.post('/auth/password/reset', {
    schema: doc({
      ...email, method: 'POST', summary: 'Set a new password with the token from a reset mail; ends every session of the user',
      description: 'A browser\'s form post (Accept: text/html) gets the outcome as a page, with the same status.',
      body: { schema: obj({ token: str(), new_password: newPassword(passwordPolicy(ctx.config)) }, ['token', 'new_password']), media: BOTH },
      ok: { status: 200, description: 'Password changed; every session of the user ended; the address counts as verified', schema: envelope(null) },
      errors: ['ERR_BAD_REQUEST', ...TOKEN_ERRORS, 'ERR_USER_INACTIVE', ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    const body = jsonOrFormBody(req);
    if (!wantsPage(req)) {
      await mail().recovery.reset(field(body, 'token'), field(body, 'new_password'), clientMeta(req));
      return ok('Password changed; sign in with the new password');
    }
    // The form of the reset page.
    const title = 'Choose a new password';
    try {
      await mail().recovery.reset(field(body, 'token'), field(body, 'new_password'), clientMeta(req));
      return sendPage(reply, 200, 'Password changed', html`${message('Your password has been changed and every session signed out. Sign in with the new password.')}${toSignIn}`);
    } catch (err) {
      const token = field(body, 'token');
      if (isWardenError(err) && err.code === 'ERR_VALIDATION' && typeof token === 'string') {
        // A password the rules refuse: the form again, the token still unused.
        return sendPage(reply, 422, title, resetForm(token, ctx.config.accounts.passwordMinLength, err.message.replace(/^new_password: /, 'The password ')));
      }
      return failurePage(reply, title, err, newResetLink(err));
    }
  });

  // ---- email verification ----
  app.post('/auth/verify/request', {
    preHandler: user,
    schema: doc({
      ...email, method: 'POST', summary: 'Send (again) the verification mail to your address', auth: userOpts,
      ok: { status: 202, description: 'The mail is on its way', schema: envelope(null) },
      extra: { 200: { status: 200, description: 'The address is verified already; nothing sent', schema: envelope(null) } },
      errors: ['ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', ...LIMIT_ERRORS, ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    const sent = await mail().verification.request(req.jwt!.claims.sub, clientIp(req));
    return sent ? reply.code(202).send(ok('Verification mail sent')) : ok('Email already verified');
  });

  app.post('/auth/verify', {
    schema: doc({
      ...email, method: 'POST', summary: 'Verify your address with the token from the verification mail',
      description: 'The button of the link\'s page posts here: a browser\'s form post (Accept: text/html) gets the outcome as a page, with the same status.',
      body: { schema: obj({ token: str() }, ['token']), media: BOTH },
      ok: { status: 200, description: 'Verified; `data` is the profile (tokens issued from now on carry email_verified: true)', schema: envelope(PROFILE) },
      errors: ['ERR_BAD_REQUEST', ...TOKEN_ERRORS, 'ERR_USER_INACTIVE', ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    const token = field(jsonOrFormBody(req), 'token');
    if (!wantsPage(req)) return ok('Email verified', profileView(await mail().verification.verify(token, clientMeta(req))));
    // The button of the link's page.
    try {
      const verified = await mail().verification.verify(token, clientMeta(req));
      return sendPage(reply, 200, 'Email address verified', html`${message(`Thank you: ${verified.email} is verified.`)}${toAccount}`);
    } catch (err) {
      return failurePage(reply, 'This verification link cannot be used', err, toAccount);
    }
  });

  app.get('/auth/verify/confirm', {
    schema: pageSchema({
      ...page, summary: 'The page a verification link lands on: a button that verifies the address (opening the link uses nothing up)',
      ok: 'The button; it posts to POST /api/v1/auth/verify', pages: [...TOKEN_ERRORS, 'ERR_USER_INACTIVE', 'ERR_EMAIL_DISABLED'],
    }),
  }, async (req, reply) => {
    try {
      const token = queryToken(req);
      const address = await mail().verification.check(token);
      // '../verify': POST /api/v1/auth/verify, relative so that a path prefix in front of Warden holds.
      return sendPage(reply, 200, 'Confirm your email address', html`${message(`Confirm that ${address} is your address.`)}${confirmForm(String(token), '../verify', 'Confirm my address')}`);
    } catch (err) {
      return failurePage(reply, 'This verification link cannot be used', err, toAccount);
    }
  });

  // ---- email change ----
  app.post('/auth/email', {
    preHandler: fresh,
    schema: doc({
      ...email, method: 'POST', auth: freshOpts,
      summary: 'Change your address (fresh token): a confirmation goes to the new one, a notice to the old; nothing changes until confirmed',
      body: { schema: obj({ new_email: str({ format: 'email' }) }, ['new_email']), media: BOTH },
      ok: { status: 202, description: 'The confirmation is on its way', schema: envelope(null) },
      errors: ['ERR_BAD_REQUEST', 'ERR_VALIDATION', 'ERR_CONFLICT', 'ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', ...LIMIT_ERRORS, ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    await mail().emailChange.request(req.jwt!.claims, field(jsonOrFormBody(req), 'new_email'), clientIp(req));
    return reply.code(202).send(ok('Confirmation sent to the new address'));
  });

  app.post('/auth/email/confirm', {
    schema: doc({
      ...email, method: 'POST', summary: 'Confirm a new address with the token mailed to it',
      description: 'The button of the link\'s page posts here: a browser\'s form post (Accept: text/html) gets the outcome as a page, with the same status.',
      body: { schema: obj({ token: str() }, ['token']), media: BOTH },
      ok: { status: 200, description: 'The address is changed (and verified); `data` is the profile', schema: envelope(PROFILE) },
      // ERR_CONFLICT: another account took the address meanwhile.
      errors: ['ERR_BAD_REQUEST', ...TOKEN_ERRORS, 'ERR_CONFLICT', 'ERR_USER_INACTIVE', ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    const token = field(jsonOrFormBody(req), 'token');
    if (!wantsPage(req)) return ok('Email changed', profileView(await mail().emailChange.confirm(token, clientMeta(req))));
    // The button of the link's page.
    try {
      const changed = await mail().emailChange.confirm(token, clientMeta(req));
      return sendPage(reply, 200, 'Email address changed', html`${message(`Your account's address is now ${changed.email}.`)}${toAccount}`);
    } catch (err) {
      return addressNotChanged(reply, err);
    }
  });

  app.get('/auth/email/confirm', {
    schema: pageSchema({
      ...page, summary: 'The page an address-change link lands on: a button that confirms the new address (opening the link uses nothing up)',
      ok: 'The button; it posts to POST /api/v1/auth/email/confirm', pages: [...TOKEN_ERRORS, 'ERR_USER_INACTIVE', 'ERR_EMAIL_DISABLED'],
    }),
  }, async (req, reply) => {
    try {
      const token = queryToken(req);
      const address = await mail().emailChange.check(token);
      return sendPage(reply, 200, 'Confirm your new email address', html`${message(`Confirm that your account's address becomes ${address}.`)}${confirmForm(String(token), 'confirm', 'Confirm the new address')}`);
    } catch (err) {
      return addressNotChanged(reply, err);
    }
  });

  // ---- invitations ----
  const INVITE_WORDS = { action: 'accept', label: 'Your password', button: 'Set my password' };
  const inviteTitle = 'Choose your password';
  // An invitation link that cannot be used: an administrator sends another (or, once a password
  // was set, the person signs in or asks for a reset).
  const inviteVoid = (err: unknown): Html =>
    isWardenError(err) && TOKEN_ERRORS.includes(err.code) && err.code !== 'ERR_VALIDATION'
      ? html`${message('Ask the administrator who invited you to send a new invitation.')}${toSignIn}` : html``;

  app.get('/auth/invite/accept', {
    schema: pageSchema({
      ...page, summary: 'The page an invitation link lands on: a form to choose the account\'s first password (the token is not used yet)',
      ok: 'The form; it posts to POST /api/v1/auth/invite/accept', pages: [...TOKEN_ERRORS, 'ERR_USER_INACTIVE', 'ERR_EMAIL_DISABLED'],
    }),
  }, async (req, reply) => {
    try {
      const token = queryToken(req);
      const invited = await mail().invitations.check(token);
      return sendPage(reply, 200, inviteTitle, html`${message(`Choose the password of your account ${invited.username} (${invited.email}).`)}${resetForm(String(token), ctx.config.accounts.passwordMinLength, undefined, INVITE_WORDS)}`);
    } catch (err) {
      return failurePage(reply, 'This invitation link cannot be used', err, inviteVoid(err));
    }
  });

  app.post('/auth/invite/accept', {
    schema: doc({
      ...email, method: 'POST', summary: 'Accept an invitation: set the account\'s first password with the token from the invitation mail',
      description: 'The address counts as verified; nothing is signed in (sign in with the new password). A browser\'s form post (Accept: text/html) gets the outcome as a page, with the same status.',
      body: { schema: obj({ token: str(), new_password: newPassword(passwordPolicy(ctx.config)) }, ['token', 'new_password']), media: BOTH },
      ok: { status: 200, description: 'Password set; the address counts as verified', schema: envelope(null) },
      errors: ['ERR_BAD_REQUEST', ...TOKEN_ERRORS, 'ERR_USER_INACTIVE', ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    const body = jsonOrFormBody(req);
    if (!wantsPage(req)) {
      await mail().invitations.accept(field(body, 'token'), field(body, 'new_password'), clientMeta(req));
      return ok('Password set; sign in with it');
    }
    try {
      const accepted = await mail().invitations.accept(field(body, 'token'), field(body, 'new_password'), clientMeta(req));
      return sendPage(reply, 200, 'Password set', html`${message(`Your password is set and ${accepted.email} is verified. Sign in as ${accepted.username} or with your address.`)}${toSignIn}`);
    } catch (err) {
      const token = field(body, 'token');
      if (isWardenError(err) && err.code === 'ERR_VALIDATION' && typeof token === 'string') {
        // A password the rules refuse: the form again, the token still unused.
        return sendPage(reply, 422, inviteTitle, resetForm(token, ctx.config.accounts.passwordMinLength, err.message.replace(/^new_password: /, 'The password '), INVITE_WORDS));
      }
      return failurePage(reply, 'This invitation link cannot be used', err, inviteVoid(err));
    }
  });

  // ---- administration ----
  app.post('/users/invite', {
    preHandler: admin,
    schema: doc({
      tags: ['v1 admin'], family: ENVELOPE, method: 'POST', auth: adminOpts,
      summary: 'Invite a user: the account is created without a password and a mail with a link that sets one (INVITE_LINK_DAYS) goes to the address',
      description: 'Nobody can sign in to the account until the link sets its password (which verifies the address). A newer invitation (POST /api/v1/users/{id}/invite), a password set any other way, a deactivation or a deletion voids the link.',
      body: { schema: INVITE, media: BOTH },
      ok: { status: 201, description: '"User invited"; the mail is on its way', schema: envelope(USER) },
      errors: ['ERR_BAD_REQUEST', 'ERR_VALIDATION', 'ERR_CONFLICT', ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    const queue = mail().invitations.queue;
    const body = newUserBody(req);
    // The person chooses the password; an administrator who sends one means to create, not invite.
    for (const f of ['password', 'is_active']) if (f in body) throw invalid(f, 'is not a field of an invitation (the invited person chooses their password; the account is active)');
    const invited = await ctx.accounts.credentials.invite(body, actorOf(req)!, clientMeta(req));
    await queueInvitation(queue, invited);
    return reply.code(201).send(ok('User invited', userView(invited)));
  });

  app.post('/users/:id/invite', {
    preHandler: admin,
    schema: doc({
      tags: ['v1 admin'], family: ENVELOPE, method: 'POST', summary: 'Send the invitation again: a new link, which voids the one before', auth: adminOpts, params: ID_PARAMS,
      ok: { status: 202, description: 'The mail is on its way', schema: envelope(null) },
      // ERR_CONFLICT: the account has a password already (send a password reset instead).
      errors: ['ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', 'ERR_CONFLICT', ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    const id = (req.params as { id: string }).id;
    if (!isUuid(id)) throw new WardenError('ERR_USER_NOT_FOUND');
    await ctx.accounts.credentials.reinvite(id, actorOf(req)!, mail().invitations.queue, clientMeta(req));
    return reply.code(202).send(ok('Invitation sent'));
  });

  app.post('/users/:id/password-reset', {
    preHandler: admin,
    schema: doc({
      tags: ['v1 admin'], family: ENVELOPE, method: 'POST', summary: 'Send the user a password reset mail', auth: adminOpts, params: ID_PARAMS,
      ok: { status: 202, description: 'The mail is on its way', schema: envelope(null) },
      errors: ['ERR_USER_NOT_FOUND', 'ERR_USER_INACTIVE', ...EMAIL_ERRORS],
    }),
  }, async (req, reply) => {
    await mail().recovery.sendTo((req.params as { id: string }).id);
    return reply.code(202).send(ok('Password reset mail sent'));
  });
}
