// `warden audit`: the audit log on the command line, for an operator with database access (no
// token needed): the same filters as GET /api/v1/audit, every matching event newest first, as JSON
// lines (one eventView per line, for jq and log shippers) or as a text table. Pages through the
// store by key, a thousand at a time, so it streams any number of events in bounded memory.
// The CLI's command table wires `audit` to runAuditCommand.
import { parseArgs } from 'node:util';
import { parseEventTypes, parseIsoTime } from './audit.js';
import type { EventQuery, EventRecord, EventStore } from './records.js';
import { eventView } from './view.js';

export interface AuditExportOptions extends Omit<EventQuery, 'limit' | 'before'> {
  /** At most this many events (default: all that match). */
  limit?: number;
  format?: 'jsonl' | 'text';
}

const PAGE = 1000;

/** Writes every matching event, newest first, one line each; returns how many. */
export async function exportAudit(store: Pick<EventStore, 'list'>, o: AuditExportOptions, write: (line: string) => void): Promise<number> {
  const { limit = Number.POSITIVE_INFINITY, format = 'jsonl', ...filters } = o;
  let written = 0;
  let before: EventQuery['before'];
  while (written < limit) {
    const page = await store.list({ ...filters, limit: Math.min(PAGE, limit - written), ...(before ? { before } : {}) });
    for (const e of page) write(format === 'jsonl' ? JSON.stringify(eventView(e)) : textLine(e));
    written += page.length;
    if (page.length === 0 || page.length < PAGE) break;
    const last = page.at(-1)!;
    before = { time: last.time, id: last.id };
  }
  return written;
}

function textLine(e: EventRecord): string {
  const who = e.actorId === null ? '-' : e.actorId === e.userId ? 'self' : e.actorId;
  return [new Date(e.time).toISOString(), e.type.padEnd(22), e.outcome.padEnd(7), `user=${e.userId ?? '-'}`, `by=${who}`,
    `ip=${e.ip ?? '-'}`, JSON.stringify(e.details)].join('  ');
}

export const AUDIT_USAGE = `usage: warden audit [--type a,b] [--user U] [--actor U] [--from ISO] [--to ISO] [--limit N] [--format jsonl|text]
Prints the audit log (newest first) from the database DATABASE_URL names.`;

/** The command line's options as exportAudit takes them; throws an Error naming what is wrong. */
export function parseAuditArgs(argv: string[]): AuditExportOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      type: { type: 'string' }, user: { type: 'string' }, actor: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' },
      limit: { type: 'string' }, format: { type: 'string' },
    },
    strict: true,
  });
  const time = (name: 'from' | 'to'): number | undefined => {
    const v = values[name];
    if (v === undefined) return undefined;
    const ms = parseIsoTime(v);
    if (!Number.isFinite(ms)) throw new Error(`--${name} must be an ISO 8601 date or date-time (got "${v}")`);
    return ms;
  };
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit > 0)) throw new Error(`--limit must be a positive whole number (got "${values.limit}")`);
  if (values.format !== undefined && values.format !== 'jsonl' && values.format !== 'text') throw new Error('--format must be jsonl or text');
  const from = time('from');
  const to = time('to');
  return {
    ...(values.type !== undefined ? { types: parseEventTypes(values.type) } : {}),
    ...(values.user !== undefined ? { userId: values.user } : {}),
    ...(values.actor !== undefined ? { actorId: values.actor } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(values.format !== undefined ? { format: values.format as 'jsonl' | 'text' } : {}),
  };
}

/** `warden audit ARGS` over an opened storage: prints and returns the exit code (2 for a usage error). */
export async function runAuditCommand(store: Pick<EventStore, 'list'>, argv: string[], out: (line: string) => void, err: (line: string) => void): Promise<number> {
  let options: AuditExportOptions;
  try {
    options = parseAuditArgs(argv);
  } catch (e) {
    err(`warden audit: ${(e as Error).message}\n${AUDIT_USAGE}`);
    return 2;
  }
  await exportAudit(store, options, out);
  return 0;
}
