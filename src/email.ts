// Wires email from the configuration: the outbox worker and its transport, the limit on mail
// requests (on the server's limit counter), the links, and the options the account services take.
// Email is off (undefined) in production without SMTP_URL.
import type { Logger } from 'pino';
import type { AccountEmailOptions } from './accounts/index.js';
import { MailLimit } from './accounts/mail-limit.js';
import type { Config } from './config.js';
import { mailAddresses } from './config/mail-addresses.js';
import { emailLinks } from './http/account-email.js';
import type { WindowCounter } from './limits/window-counter.js';
import { openMail, type MailTransport, type OutboxTuning } from './mail/index.js';
import { deleteInBatches, periodically } from './storage/batches.js';
import { isConnectionFailure } from './storage/index.js';
import type { Storage } from './storage/types.js';

export interface EmailOptions {
  /** Send through this transport instead of SMTP_URL or the development folder. */
  transport?: MailTransport;
  /** Worker timings (tests: retries in milliseconds, not seconds). */
  tuning?: OutboxTuning;
}

export interface EmailSetup {
  /** For createAccounts; undefined when email is off. */
  accounts: AccountEmailOptions | undefined;
  /** Starts the outbox worker and the hourly clean-up (after the account services registered their preparers). */
  start(purge: () => Promise<void>): void;
  close(): Promise<void>;
}

const WEEK = 7 * 86_400_000;
/** Finished mails deleted per statement by the hourly clean-up (storage/batches.ts). */
const OUTBOX_PURGE_BATCH = 500;

export function setUpEmail(config: Config, d: {
  storage: Storage; clock: () => number; log: Logger; options?: EmailOptions | undefined;
  /** Where mail requests are counted (the server's, shared with the sign-up limit; it closes it). */
  counter: WindowCounter;
}): EmailSetup {
  const { from, appUrl } = mailAddresses(config);
  const outbox = openMail({
    production: config.server.production, smtpUrl: config.mail.smtpUrl, requireTls: config.mail.requireTls, tlsCaFile: config.mail.tlsCaFile,
    from, appUrl, templatesDir: config.mail.templatesDir, dataDir: config.server.dataDir,
  }, {
    store: d.storage.outbox, clock: d.clock, log: d.log, tuning: d.options?.tuning, transport: d.options?.transport,
    // server.ts logs each database outage once, whoever meets it first.
    loggedElsewhere: isConnectionFailure,
  });
  if (!outbox) return { accounts: undefined, start() {}, async close() {} };

  let stopCleanUp: () => void = () => undefined;
  return {
    accounts: {
      queue: outbox,
      limit: new MailLimit({
        counter: d.counter, maxPerAddress: config.email.maxPerAddress, maxPerIp: config.email.maxPerIp, windowMs: config.email.windowMs, ipv6Prefix: config.server.ipv6Prefix,
      }),
      ipv6Prefix: config.server.ipv6Prefix,
      links: emailLinks(appUrl),
      resetTtlMs: config.email.resetTtlMs,
      verifyTtlMs: config.email.verifyTtlMs,
      inviteTtlMs: config.email.inviteTtlMs,
      requireVerified: config.email.requireVerified,
      notifyNewSignIn: config.email.notifyNewSignIn,
      // A database outage is logged once by server.ts, whoever meets it first: not again with a
      // stack for each request whose mail it kept from the outbox, but that mail is lost (its
      // change was stored before), which the operator must still be told: one short line.
      report: (err, what) => {
        if (isConnectionFailure(err)) d.log.warn({ mail: what }, `${what} not sent: the database went away after the change it tells of was stored`);
        else d.log.warn({ err }, `${what} could not be queued`);
      },
    },
    start(purge) {
      outbox.start();
      stopCleanUp = periodically(() =>
        Promise.all([purge(), deleteInBatches((batch) => d.storage.outbox.purge(d.clock() - WEEK, batch), OUTBOX_PURGE_BATCH)])
          .catch((err: unknown) => isConnectionFailure(err) || d.log.warn({ err }, 'mail clean-up failed')), 3600_000, 30_000);
    },
    async close() {
      stopCleanUp();
      await outbox.stop();
    },
  };
}
