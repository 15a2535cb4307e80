// Mail out: templates, a transport (SMTP, or a development folder) and the durable outbox that
// sends. Below the account services (they queue mails through MailQueue) and above storage (the
// outbox rows); nothing here knows HTTP or accounts.
import { join } from 'node:path';
import type { OutboxStore } from '../storage/types.js';
import { MailOutbox, type OutboxOptions } from './outbox.js';
import { MailTemplates } from './templates.js';
import { folderTransport, smtpTransport, type MailLog, type MailTransport } from './transport.js';

export { MailOutbox, storeOnlyQueue, type MailQueue, type Preparer, type QueuedMail } from './outbox.js';
export { MailTemplates, TEMPLATE_NAMES, DEFAULT_TEMPLATES, type TemplateName } from './templates.js';
export type { MailLog, MailTransport, OutgoingMail } from './transport.js';

export interface MailSettings {
  production: boolean;
  smtpUrl?: string | undefined;
  requireTls: boolean;
  tlsCaFile?: string | undefined;
  from: string;
  appUrl: string;
  templatesDir?: string | undefined;
  dataDir: string;
}

/** Production with no SMTP_URL: the email features are off and no mail worker runs. */
export function mailIsOff(s: Pick<MailSettings, 'production' | 'smtpUrl'>): boolean {
  return s.production && s.smtpUrl === undefined;
}

/** The worker's timings, for tests that must not wait seconds for a retry. */
export type OutboxTuning = Pick<OutboxOptions, 'pollMs' | 'retryBaseMs' | 'retryMaxMs' | 'leaseMs' | 'batch'>;

/**
 * The outbox, or undefined when email is off (production without SMTP_URL). Says once, at start,
 * where mail goes or that the email features are off.
 */
export function openMail(
  s: MailSettings,
  deps: {
    store: OutboxStore; clock: () => number; log: MailLog; tuning?: OutboxTuning; transport?: MailTransport;
    loggedElsewhere?: OutboxOptions['loggedElsewhere'];
  },
): MailOutbox | undefined {
  if (mailIsOff(s) && deps.transport === undefined) {
    deps.log.warn({}, 'email is off: NODE_ENV=production and no SMTP_URL; password reset, verification and email change answer 501');
    return undefined;
  }
  const templates = MailTemplates.load(s.templatesDir);
  const transport = deps.transport ?? (s.smtpUrl !== undefined
    ? smtpTransport({ url: s.smtpUrl, requireTls: s.requireTls, caFile: s.tlsCaFile })
    : folderTransport(join(s.dataDir, 'outbox'), deps.log));
  deps.log.info({}, `mail goes to ${transport.description}`);
  return new MailOutbox({
    store: deps.store, transport, templates, from: s.from, common: { app_url: s.appUrl }, clock: deps.clock, log: deps.log, ...deps.tuning,
    ...(deps.loggedElsewhere ? { loggedElsewhere: deps.loggedElsewhere } : {}),
  });
}
