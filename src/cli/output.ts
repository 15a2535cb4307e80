// What every command shares for talking to the person or the script that ran it: errors with an
// exit code, `--json` output, and plain tables for people.
import { markUnseen } from '../events/records.js';

/** A failure to report on stderr (or as JSON) with this exit code: 1 failed, 2 wrong usage. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1, readonly code = 'ERR_CLI') {
    super(message);
    this.name = 'CliError';
  }
}

export interface JsonOption {
  json?: boolean;
}

/** Prints `value` as JSON with --json, else the text `human` makes of it. */
export function emit<T>(opts: JsonOption, value: T, human: (v: T) => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(value, null, 2)}\n` : ensureNewline(human(value)));
}

function ensureNewline(s: string): string {
  return s === '' || s.endsWith('\n') ? s : `${s}\n`;
}

/** Columns padded to their widest cell; the header underlined; each unprintable character as U+FFFD. */
export function table(head: readonly string[], cells: readonly (readonly string[])[]): string {
  const rows = cells.map((r) => r.map((c) => markUnseen(c))); // a client's user agent reaches a cell
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export const iso = (ms: number | null): string => (ms === null ? '' : new Date(ms).toISOString());

/** Thousands separators, for counts people read. */
export const count = (n: number): string => n.toLocaleString('en-US');
