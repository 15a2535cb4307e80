// Reads the environment (and an optional `.env` file) through the configuration table. Every
// variable is checked at start and all mistakes are reported together, each naming the variable and
// what it expects, so a bad deploy fails at once instead of at the first request.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { Invalid } from './parsers.js';
import type { RawLookup, Setting } from './setting.js';
import { CONFIG_RULES, CONFIG_TABLE, type Config } from './table.js';

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** The variables written in `.env` under `cwd` (none when there is no such file). */
export function envFile(cwd = process.cwd()): Env {
  const file = join(cwd, '.env');
  return existsSync(file) ? parseEnv(readFileSync(file, 'utf8')) : {};
}

/** Reads `.env` from `cwd` (if present) under the given environment; the environment wins. */
export function readEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Env {
  return { ...envFile(cwd), ...env };
}

type AnySetting = Setting<unknown>;

/** Every row of the table with its place in the config. */
export function configRows(): { section: string; key: string; setting: AnySetting }[] {
  return Object.entries(CONFIG_TABLE).flatMap(([section, rows]) =>
    Object.entries(rows as Record<string, AnySetting>).map(([key, setting]) => ({ section, key, setting })));
}

/** How the loader reads each variable's text: as written (or undefined), its default, and either. */
function reader(env: Env) {
  const byName = new Map(configRows().map((r) => [r.setting.env, r.setting]));
  // The value as written, or undefined when unset: trimmed unless verbatim; empty means unset unless keepEmpty.
  const written = (s: AnySetting): string | undefined => {
    const v = env[s.env];
    if (v === undefined) return undefined;
    const value = s.verbatim ? v : v.trim();
    return value === '' && !s.keepEmpty ? undefined : value;
  };
  const fallback = (s: AnySetting): string | undefined =>
    typeof s.default === 'function' ? s.default(raw) : s.default;
  const raw: RawLookup = (name) => {
    const s = byName.get(name);
    if (s === undefined) throw new Error(`no configuration row for ${name}`);
    return written(s) ?? fallback(s);
  };
  return { written, fallback };
}

/** Every variable's text as the loader takes it (before parsing) and whether it was set or defaulted (`warden config check`). */
export function effectiveSettings(env: Env): { setting: AnySetting; text: string | undefined; given: boolean }[] {
  const { written, fallback } = reader(env);
  return configRows().map(({ setting }) => {
    const given = written(setting);
    return { setting, text: given ?? fallback(setting), given: given !== undefined };
  });
}

export function loadConfig(env: Env = readEnv()): Config {
  const rows = configRows();
  const { written, fallback } = reader(env);

  const problems: string[] = [];
  const refused = new Set<string>();
  const config: Record<string, Record<string, unknown>> = {};
  for (const { section, key, setting } of rows) {
    const given = written(setting);
    let value: unknown;
    try {
      const text = given ?? fallback(setting);
      value = text === undefined ? undefined : setting.parse(text);
    } catch (e) {
      if (!(e instanceof Invalid)) throw e;
      problems.push(`${setting.env} ${e.message}`);
      refused.add(setting.env);
      // Rules that use this variable are skipped; the default stands in so the config stays whole.
      const text = fallback(setting);
      value = text === undefined ? undefined : setting.parse(text);
    }
    (config[section] ??= {})[key] = value;
  }
  const typed = config as Config;
  for (const rule of CONFIG_RULES) {
    if (rule.uses.some((name) => refused.has(name))) continue;
    const problem = rule.check(typed);
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return typed;
}
