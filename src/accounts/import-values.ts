// How bulk import reads one value of a row, whatever the source gave: CSV cells are text, JSON Lines
// give JSON values, SQLite gives 0/1 and text dates, PostgreSQL gives booleans, Dates and arrays.
// Each reader returns the value or throws ERR_VALIDATION naming the field (validate.ts's `invalid`).
import { invalid } from './validate.js';

/** Absent: undefined, null or a blank string (a CSV's empty cell). */
export function isBlank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

const TRUE = new Set(['true', 't', '1', 'yes', 'y', 'on']);
const FALSE = new Set(['false', 'f', '0', 'no', 'n', 'off']);

export function booleanValue(v: unknown, field: string): boolean {
  const b = readBoolean(v);
  if (b === undefined) throw invalid(field, 'must be true or false (or 1/0, t/f, yes/no)');
  return b;
}

function readBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 0 || v === 1) return v === 1;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  return undefined;
}

/**
 * Whether the address was verified: true or false as booleanValue reads them, or the date and time
 * it was (Flask-Security's confirmed_at, Flask-User's email_confirmed_at), which says yes.
 */
export function verifiedValue(v: unknown, field: string): boolean {
  const b = readBoolean(v);
  if (b !== undefined) return b;
  if (v instanceof Date || (typeof v === 'string' && DATE_TIME.test(v.trim()))) return timeValue(v, field) >= 0;
  throw invalid(field, 'must be true or false (or 1/0, t/f, yes/no), or the date it was verified');
}

/** Text of a string or a number (an integer id); anything else is refused. */
export function textValue(v: unknown, field: string): string {
  if (typeof v === 'string') return v.trim();
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  if (typeof v === 'bigint') return v.toString();
  throw invalid(field, 'must be text');
}

// An ISO 8601 time with a zone, or without one (read as UTC, which is what SQLAlchemy's
// datetime.utcnow() columns and Django's USE_TZ databases hold), with a "T" or a space.
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?))?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;

/** Epoch milliseconds from a Date, epoch seconds or milliseconds, or an ISO 8601 text. */
export function timeValue(v: unknown, field: string): number {
  let ms = Number.NaN;
  if (v instanceof Date) ms = v.getTime();
  else if (typeof v === 'number') ms = epoch(v);
  else if (typeof v === 'string') {
    const s = v.trim();
    if (/^\d+(\.\d+)?$/.test(s)) ms = epoch(Number(s));
    else if (ISO_UTC.test(s)) ms = Date.parse(s); // what toISOString() and most exports write
    else {
      const m = DATE_TIME.exec(s);
      if (m) {
        // Date.parse reads milliseconds only: keep three digits of any finer fraction.
        const time = (m[2] ?? '00:00:00').replace(/(\.\d{3})\d+$/, '$1');
        const zone = (m[3] ?? 'Z').replace(/^([+-]\d{2})(\d{2})$/, '$1:$2').replace(/^([+-]\d{2})$/, '$1:00');
        ms = Date.parse(`${m[1]}T${time}${zone}`);
      }
    }
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > 253_402_300_799_999 || (typeof v === 'string' && !realDay(v.trim()))) {
    throw invalid(field, 'must be a date and time (ISO 8601) or epoch seconds');
  }
  return Math.trunc(ms);
}

/** A written date is a day of its month: Date.parse rolls 2020-02-30 over to March 1st. */
function realDay(s: string): boolean {
  const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(s);
  if (!m) return true; // epoch seconds
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d && mo >= 1 && mo <= 12;
}

/** Below 10^11 a number is taken as seconds (10^11 s is the year 5138; 10^11 ms is 1973). */
function epoch(n: number): number {
  return n < 1e11 ? n * 1000 : n;
}

/** A list of role names: an array, a JSON array in text, or names separated by commas or spaces. */
export function rolesValue(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (typeof v === 'string') {
    const s = v.trim();
    if (s.startsWith('[')) {
      try {
        const parsed: unknown = JSON.parse(s);
        if (Array.isArray(parsed)) return parsed;
      } catch {
        /* refused below */
      }
      throw invalid('roles', 'must be a JSON array or names separated by commas');
    }
    return s.split(/[\s,]+/).filter(Boolean);
  }
  throw invalid('roles', 'must be a list of role names');
}
