// `warden config check`: every variable's effective value (secrets masked, credentials in URLs
// hidden) and where it came from, every problem the server would refuse to start with, and which
// signing key, database and mail the server would use. Exit 1 when there is a problem. Writes nothing:
// no data folder, no generated key, no database.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, effectiveSettings, loadConfig, readEnv } from '../config/load.js';
import { mailAddresses } from '../config/mail-addresses.js';
import { unreadVariables } from '../config/unread.js';
import type { Config } from '../config/table.js';
import { generatedKeyFile, loadKeyRing, namesKey } from '../keyring.js';
import { maskedUrl, parseDatabaseUrl } from '../storage/database-url.js';
import { emit, table } from './output.js';
import type { RunState } from './program.js';

interface Checked {
  ok: boolean;
  problems: string[];
  /** Variables set that look meant for Warden but that it does not read (not problems: exit 0). */
  unread: string[];
  settings: { name: string; value: string | null; source: 'environment' | '.env' | 'default' | 'unset' }[];
  keys?: string;
  database?: string;
  mail?: string;
}

export function registerConfig(program: Command, state: RunState): void {
  const config = program.command('config').description('inspect the configuration');
  config
    .command('check')
    .description('print the effective configuration (secrets masked) and any problem; exit 1 on problems')
    .option('--json', 'print the result as JSON')
    .action((opts: { json?: boolean }) => {
      const result = check();
      if (!result.ok) state.exitCode = 1;
      emit(opts, result, human);
    });
}

function check(): Checked {
  const env = readEnv();
  const settings = effectiveSettings(env).map(({ setting, text, given }) => ({
    name: setting.env,
    value: text === undefined ? null : setting.secret ? '********' : maskedUrl(text),
    source: !given ? (text === undefined ? 'unset' as const : 'default' as const) : process.env[setting.env] !== undefined ? 'environment' as const : '.env' as const,
  }));
  const unread = unreadVariables();
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, problems: e.problems, unread, settings };
    throw e;
  }
  const problems: string[] = [];
  let keys: string;
  try {
    keys = describeKeys(config);
  } catch (e) {
    problems.push((e as Error).message);
    keys = 'unusable';
  }
  return { ok: problems.length === 0, problems, unread, settings, keys, database: describeDatabase(config.storage.databaseUrl), mail: describeMail(config) };
}

/** Which key would sign, loading configured keys as the server does; a development key is only named, never made here. */
export function describeKeys(config: Config): string {
  const k = config.keys;
  if (namesKey(config)) {
    const { ring } = loadKeyRing(config); // reads files only: these branches never write
    const from = k.jwksFile ? `JWKS_FILE ${k.jwksFile}` : k.privateKeyFile ? `PRIVATE_KEY_FILE ${k.privateKeyFile}` : 'SECRET_KEY';
    // Mid-rotation the operator must see which keys still verify (step 1 added one, step 3 removed
    // one), and that a key variable left beside JWKS_FILE no longer counts.
    const others = ring.keys.filter((e) => e !== ring.signer).map((e) => `${e.kid} (${e.alg})`);
    const unused = k.jwksFile ? [k.secretKey !== undefined && 'SECRET_KEY', k.privateKeyFile !== undefined && 'PRIVATE_KEY_FILE'].filter((v) => v) : [];
    return `${ring.signer.alg} from ${from}${ring.signer.kid ? ` (kid ${ring.signer.kid})` : ''}`
      + (others.length ? `; also verifying ${others.join(', ')}` : '')
      + (unused.length ? `; ${unused.join(' and ')} unused while JWKS_FILE is set` : '');
  }
  const file = generatedKeyFile(config);
  return `${k.algorithm} development key ${file} (${existsSync(file) ? 'exists' : 'generated at the first start'}; not for production)`;
}

export function describeDatabase(url: string): string {
  const t = parseDatabaseUrl(url);
  if (t.kind === 'sqlite') return `SQLite ${t.path}${existsSync(t.path) ? '' : ' (does not exist yet: created at the first start or by "warden migrate")'}`;
  if (t.kind === 'memory') return 'in memory (nothing is kept: tests only)';
  return `PostgreSQL ${maskedUrl(t.url)}`;
}

/** Where mail goes, and the sender and links it carries (defaults computed as the server computes them). */
export function describeMail(config: Config): string {
  const { smtpUrl } = config.mail;
  if (smtpUrl === undefined && config.server.production) return 'off (NODE_ENV=production without SMTP_URL: the email routes answer 501)';
  const { from, appUrl } = mailAddresses(config);
  const via = smtpUrl !== undefined ? `SMTP ${maskedUrl(smtpUrl)}` : `written to ${join(config.server.dataDir, 'outbox')}/*.eml (no SMTP_URL)`;
  return `${via}, from ${from}, links at ${appUrl}`;
}

function human(r: Checked): string {
  const lines = [r.ok ? 'configuration: OK' : `configuration: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}`];
  for (const p of r.problems) lines.push(`  - ${p}`);
  if (r.unread.length) lines.push('not read:', ...r.unread.map((n) => `  - ${n}`));
  lines.push('', table(['variable', 'value', 'from'], r.settings.map((s) => [s.name, s.value ?? '', s.source])));
  if (r.keys !== undefined) lines.push('', `signing key: ${r.keys}`);
  if (r.database !== undefined) lines.push(`database:    ${r.database}`);
  if (r.mail !== undefined) lines.push(`mail:        ${r.mail}`);
  return lines.join('\n');
}
