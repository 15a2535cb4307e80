// Where mails go: an SMTP server (SMTP_URL) through nodemailer, or, in development without one, a
// folder of .eml files (DATA_DIR/outbox) composed by nodemailer too, so a developer can open
// exactly what would have been sent.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nodemailer from 'nodemailer';

export interface OutgoingMail {
  /** The outbox id: the Message-ID is built from it, so a resent message is recognisably the same. */
  id: string;
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  /** For the start-up log line: never a password. */
  readonly description: string;
  /** Resolves once the server (or the folder) has accepted the message; rejects otherwise. */
  send(mail: OutgoingMail): Promise<void>;
  close(): void;
}

export interface MailLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What nodemailer tells about a failure: enough to act on, never the message itself. */
export interface SendFailure {
  code: string | undefined;
  responseCode: number | undefined;
  command: string | undefined;
  message: string;
}

export function sendFailure(err: unknown, recipient = ''): SendFailure {
  const e = (err ?? {}) as { code?: unknown; responseCode?: unknown; command?: unknown; message?: unknown };
  const message = String(e.message ?? err);
  return {
    code: typeof e.code === 'string' ? e.code : undefined,
    responseCode: typeof e.responseCode === 'number' ? e.responseCode : undefined,
    command: typeof e.command === 'string' ? e.command : undefined,
    // The address a reply names (a refused mailbox) is replaced before the cut, which could
    // otherwise fall inside it and leave part of it in the log and the stored row.
    message: (recipient === '' ? message : message.split(recipient).join('<recipient>')).slice(0, 300),
  };
}

/**
 * A refusal that sending again will not change (RFC 5321 §4.2.1: 5yz replies are permanent),
 * for the envelope or the message; a refused login or TLS failure is a configuration matter an
 * operator may fix, so those are retried until the deadline.
 */
export function isPermanent(f: SendFailure): boolean {
  return f.responseCode !== undefined && f.responseCode >= 500 && (f.code === 'EENVELOPE' || f.code === 'EMESSAGE');
}

/** The server refused the recipient (RCPT TO), not the sender, the message or the connection. */
export function isRecipientRefusal(f: SendFailure): boolean {
  return f.code === 'EENVELOPE' && f.command !== undefined && /^RCPT\b/i.test(f.command);
}

export interface SmtpOptions {
  url: string;
  requireTls: boolean;
  /** PEM file of certificates to trust besides the system's. */
  caFile?: string | undefined;
}

/** Host and port of an SMTP URL, for logs (the URL itself may hold a password). */
function describeSmtp(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.hostname}${u.port ? `:${u.port}` : ''}`;
}

function messageId(mail: OutgoingMail): string {
  const domain = /@([^\s>]+)>?\s*$/.exec(mail.from)?.[1] ?? 'warden.invalid';
  return `<${mail.id}@${domain}>`;
}

function message(mail: OutgoingMail) {
  return { from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html, messageId: messageId(mail) };
}

export function smtpTransport(o: SmtpOptions): MailTransport {
  const transporter = nodemailer.createTransport({
    url: o.url,
    requireTLS: o.requireTls,
    ...(o.caFile !== undefined ? { tls: { ca: readFileSync(o.caFile, 'utf8') } } : {}),
    // Bounded, so a silent server costs one attempt, not ten minutes (nodemailer's defaults are
    // 2 min to connect and 10 min of socket silence). The outbox renews its claim while it waits.
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 30_000,
    dnsTimeout: 10_000,
  });
  return {
    description: `SMTP ${describeSmtp(o.url)}${o.requireTls ? ' (STARTTLS required)' : ''}`,
    async send(mail) {
      await transporter.sendMail(message(mail));
    },
    close: () => transporter.close(),
  };
}

/** Development without SMTP_URL: each mail becomes `<dir>/<time>-<id>.eml`, and its recipient and subject are logged. */
export function folderTransport(dir: string, log: MailLog): MailTransport {
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    description: `the folder ${dir} (.eml files; set SMTP_URL to send)`,
    async send(mail) {
      const info = await composer.sendMail(message(mail));
      mkdirSync(dir, { recursive: true });
      const name = `${new Date().toISOString().replace(/[:.]/g, '-')}-${mail.id}.eml`;
      // Written whole, then renamed: a reader never sees half a message.
      const tmp = join(dir, `.${name}.tmp`);
      writeFileSync(tmp, info.message as Buffer, { mode: 0o600 });
      renameSync(tmp, join(dir, name));
      log.info({ mailId: mail.id, to: mail.to, subject: mail.subject, file: name }, 'mail written to the development outbox');
    },
    close: () => composer.close(),
  };
}
