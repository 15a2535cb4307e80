// The sender and link base of every mail: the configured ones, else the development defaults
// (production with SMTP_URL refuses to start without both, see CONFIG_RULES). One place, so the
// server and `warden config check` say the same.
import type { Config } from './table.js';

export const DEFAULT_MAIL_FROM = 'Warden <warden@localhost>';

export function mailAddresses(config: Pick<Config, 'mail' | 'server'>): { from: string; appUrl: string } {
  return {
    from: config.mail.from ?? DEFAULT_MAIL_FROM,
    appUrl: config.mail.appUrl ?? `http://localhost:${config.server.port}`,
  };
}
