// The mails Warden sends, as Mustache templates: a subject, a plain-text body and an HTML body
// each. Readable defaults live here; a folder (MAIL_TEMPLATES_DIR) may replace any of them with
// `<name>.subject`, `<name>.txt` or `<name>.html`. Values are escaped for HTML in the HTML body
// (Mustache's `{{value}}`; `{{{value}}}` would opt out, so the defaults never use it), inserted
// as they are in the plain text, and stripped of line breaks in the subject.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Mustache from 'mustache';

export const TEMPLATE_NAMES = [
  'password-reset', 'password-changed', 'verify-email', 'email-change-confirm', 'email-change-requested', 'email-changed', 'new-sign-in',
  'account-deleted', 'invite',
] as const;
export type TemplateName = (typeof TEMPLATE_NAMES)[number];

export interface MailTemplate {
  subject: string;
  text: string;
  html: string;
}

export interface RenderedMail {
  subject: string;
  text: string;
  html: string;
}

const page = (title: string, body: string): string => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body style="font-family: system-ui, sans-serif; line-height: 1.5; max-width: 36em; margin: 2em auto; color: #222">
${body}
</body></html>
`;

const button = (label: string) =>
  `<p><a href="{{link}}" style="display: inline-block; padding: .6em 1.2em; background: #1f5fbf; color: #fff; text-decoration: none; border-radius: 4px">${label}</a></p>
<p style="font-size: .9em; color: #555">Or paste this address into your browser:<br>{{link}}</p>`;

const notYou = 'If this was not you, change your password now and sign out of your other sessions.';
// Whoever gets this mail no longer knows the password, and every session is already ended: the way
// back in is a reset, which signs out whoever set this one.
const notYouPassword = 'If this was not you, choose a new password at once with "Forgot password" (a reset link comes to this address and signs everyone out), and tell the administrators of {{app_url}}.';

/** Values every template may use: `name` (full name, else username), `username`, `email`, `app_url`, plus each mail's own. */
export const DEFAULT_TEMPLATES: Record<TemplateName, MailTemplate> = {
  invite: {
    subject: 'You are invited: choose your password',
    text: `Hello {{name}},

An administrator of {{app_url}} made you an account, {{username}}, for {{email}}.
To choose your password and start using it, open this link within {{days}} days:

{{link}}

The link works once. If you did not expect this, ignore this mail: nobody can sign in to the
account until a password is chosen with a link sent to this address.
`,
    html: page('You are invited', `<p>Hello {{name}},</p>
<p>An administrator of {{app_url}} made you an account, <b>{{username}}</b>, for <b>{{email}}</b>.
To choose your password and start using it, open this link within {{days}} days:</p>
${button('Choose my password')}
<p>The link works once. If you did not expect this, ignore this mail: nobody can sign in to the
account until a password is chosen with a link sent to this address.</p>`),
  },
  'password-reset': {
    subject: 'Reset your password',
    text: `Hello {{name}},

Someone (hopefully you) asked to reset the password of your account {{username}}.
To choose a new password, open this link within {{minutes}} minutes:

{{link}}

The link works once. If you did not ask for it, ignore this mail: your password stays as it is.
`,
    html: page('Reset your password', `<p>Hello {{name}},</p>
<p>Someone (hopefully you) asked to reset the password of your account <b>{{username}}</b>.
To choose a new password, open this link within {{minutes}} minutes:</p>
${button('Choose a new password')}
<p>The link works once. If you did not ask for it, ignore this mail: your password stays as it is.</p>`),
  },
  'password-changed': {
    subject: 'Your password was changed',
    text: `Hello {{name}},

The password of your account {{username}} was changed on {{time}}.
Every session that was signed in has been signed out.
{{#factors_removed}}

Your authenticator apps, passkeys and recovery codes were removed too: this address had not been
confirmed before, so they may have been set up by someone else. Set them up again from your account.
{{/factors_removed}}

${notYouPassword}
`,
    html: page('Your password was changed', `<p>Hello {{name}},</p>
<p>The password of your account <b>{{username}}</b> was changed on {{time}}.
Every session that was signed in has been signed out.</p>
{{#factors_removed}}<p>Your authenticator apps, passkeys and recovery codes were removed too: this address had not been
confirmed before, so they may have been set up by someone else. Set them up again from your account.</p>{{/factors_removed}}
<p>${notYouPassword}</p>`),
  },
  'verify-email': {
    subject: 'Confirm your email address',
    text: `Hello {{name}},

Please confirm that {{email}} is the address of your account {{username}} by opening this link
within {{days}} days:

{{link}}

If you did not create this account, ignore this mail.
`,
    html: page('Confirm your email address', `<p>Hello {{name}},</p>
<p>Please confirm that <b>{{email}}</b> is the address of your account <b>{{username}}</b> by opening this link within {{days}} days:</p>
${button('Confirm my address')}
<p>If you did not create this account, ignore this mail.</p>`),
  },
  'email-change-confirm': {
    subject: 'Confirm your new email address',
    text: `Hello {{name}},

Your account {{username}} asked to use {{new_email}} as its address from now on.
To confirm the change, open this link within {{days}} days, while the session that asked for
it is still signed in (signing it out cancels the change):

{{link}}

Until you do, the account keeps its old address. If you did not ask for this, ignore this mail.
`,
    html: page('Confirm your new email address', `<p>Hello {{name}},</p>
<p>Your account <b>{{username}}</b> asked to use <b>{{new_email}}</b> as its address from now on.
To confirm the change, open this link within {{days}} days, while the session that asked for
it is still signed in (signing it out cancels the change):</p>
${button('Confirm the new address')}
<p>Until you do, the account keeps its old address. If you did not ask for this, ignore this mail.</p>`),
  },
  'email-change-requested': {
    subject: 'A change of your email address was requested',
    text: `Hello {{name}},

Someone signed in to your account {{username}} asked to change its address to {{new_email}}.
Nothing changes until the new address confirms.

${notYou}
`,
    html: page('A change of your email address was requested', `<p>Hello {{name}},</p>
<p>Someone signed in to your account <b>{{username}}</b> asked to change its address to <b>{{new_email}}</b>.
Nothing changes until the new address confirms.</p>
<p>${notYou}</p>`),
  },
  'email-changed': {
    subject: 'Your email address was changed',
    text: `Hello {{name}},

The address of your account {{username}} is now {{new_email}}; mails no longer come here.

${notYou}
`,
    html: page('Your email address was changed', `<p>Hello {{name}},</p>
<p>The address of your account <b>{{username}}</b> is now <b>{{new_email}}</b>; mails no longer come here.</p>
<p>${notYou}</p>`),
  },
  'new-sign-in': {
    subject: 'New sign-in to your account',
    text: `Hello {{name}},

Your account {{username}} was signed in to from a device or browser not seen before:

  when:    {{time}}
  from:    {{ip}}
  browser: {{user_agent}}

${notYou}
`,
    html: page('New sign-in to your account', `<p>Hello {{name}},</p>
<p>Your account <b>{{username}}</b> was signed in to from a device or browser not seen before:</p>
<ul><li>when: {{time}}</li><li>from: {{ip}}</li><li>browser: {{user_agent}}</li></ul>
<p>${notYou}</p>`),
  },
  'account-deleted': {
    subject: 'Your account was deleted',
    text: `Hello {{name}},

Your account {{username}} was deleted on {{time}}, with its password, by a signed-in session.
Every session has been signed out, and this address is no longer linked to it.

If this was not you, someone knew your password: contact the administrators of {{app_url}},
and change that password wherever else you use it.
`,
    html: page('Your account was deleted', `<p>Hello {{name}},</p>
<p>Your account <b>{{username}}</b> was deleted on {{time}}, with its password, by a signed-in session.
Every session has been signed out, and this address is no longer linked to it.</p>
<p>If this was not you, someone knew your password: contact the administrators of {{app_url}},
and change that password wherever else you use it.</p>`),
  },
};

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** The five characters that matter in HTML text and quoted attributes (Mustache's own also encodes / and =, which makes links unreadable in the source). */
function escapeHtml(v: unknown): string {
  return String(v).replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

const PARTS = [['subject', 'subject'], ['text', 'txt'], ['html', 'html']] as const;

export class MailTemplates {
  private constructor(private readonly templates: Record<TemplateName, MailTemplate>) {}

  /**
   * The defaults, with any file of `dir` named `<name>.subject|txt|html` in their place. Every
   * template is parsed now, so a broken override stops the start instead of a mail.
   */
  static load(dir?: string): MailTemplates {
    const templates = structuredClone(DEFAULT_TEMPLATES);
    for (const name of TEMPLATE_NAMES) {
      for (const [part, ext] of PARTS) {
        const file = dir === undefined ? undefined : join(dir, `${name}.${ext}`);
        if (file !== undefined && existsSync(file)) templates[name][part] = readFileSync(file, 'utf8');
        try {
          Mustache.parse(templates[name][part]);
        } catch (e) {
          throw new Error(`mail template ${name}.${ext}: ${(e as Error).message}`);
        }
      }
    }
    return new MailTemplates(templates);
  }

  render(name: TemplateName, values: Record<string, unknown>): RenderedMail {
    const t = this.templates[name];
    const plain = { escape: (v: unknown) => String(v) };
    return {
      subject: Mustache.render(t.subject, values, {}, plain).replace(/[\r\n]+/g, ' ').trim(),
      text: Mustache.render(t.text, values, {}, plain),
      html: Mustache.render(t.html, values, {}, { escape: escapeHtml }),
    };
  }
}

export function isTemplateName(v: string): v is TemplateName {
  return (TEMPLATE_NAMES as readonly string[]).includes(v);
}
