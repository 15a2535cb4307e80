// One row of the configuration table: an environment variable, how to read it, its default and
// its documentation. The typed config, the validation and the README table are all derived from rows.
import type { Parser } from './parsers.js';

/** Another variable's text as the loader sees it (trimmed, default applied), for defaults built from it. */
export type RawLookup = (env: string) => string | undefined;

export interface Setting<V> {
  readonly env: string;
  readonly parse: Parser<Exclude<V, undefined>>;
  /** As it would be written in the environment (so it goes through `parse` too); undefined: no default. */
  readonly default: string | ((raw: RawLookup) => string) | undefined;
  /** The README's default column when the default is not a literal (e.g. built from another variable). */
  readonly defaultDoc: string | undefined;
  /** The README's meaning column. */
  readonly doc: string;
  /** An empty value is a value (e.g. JWT_HEADER_TYPE="" for bare tokens), not "unset". */
  readonly keepEmpty: boolean;
  /** Read without trimming (a password may begin or end with a space). */
  readonly verbatim: boolean;
  /** Never shown (`warden config check` prints it masked). */
  readonly secret: boolean;
  /** Type carrier only: the value this row puts into the config. */
  readonly __value?: V;
}

interface RowOptions {
  keepEmpty?: boolean;
  verbatim?: boolean;
  secret?: boolean;
  defaultDoc?: string;
}

function row<V>(env: string, parse: Parser<Exclude<V, undefined>>, fallback: Setting<V>['default'], doc: string, o: RowOptions): Setting<V> {
  return { env, parse, default: fallback, defaultDoc: o.defaultDoc, doc, keepEmpty: o.keepEmpty ?? false, verbatim: o.verbatim ?? false, secret: o.secret ?? false };
}

/** A variable with a literal default, written as it would be in the environment. */
export function setting<T>(env: string, parse: Parser<T>, fallback: string, doc: string, o: Omit<RowOptions, 'defaultDoc'> = {}): Setting<T> {
  return row<T>(env, parse as Parser<Exclude<T, undefined>>, fallback, doc, o);
}

/** A variable whose default is built from others; `defaultDoc` says how, for the README. */
export function derived<T>(env: string, parse: Parser<T>, fallback: (raw: RawLookup) => string, defaultDoc: string, doc: string): Setting<T> {
  return row<T>(env, parse as Parser<Exclude<T, undefined>>, fallback, doc, { defaultDoc });
}

/** A variable that may be absent (undefined in the config). */
export function optional<T>(env: string, parse: Parser<T>, doc: string, o: RowOptions = {}): Setting<T | undefined> {
  return row<T | undefined>(env, parse as Parser<Exclude<T | undefined, undefined>>, undefined, doc, o);
}

export type ValueOf<S> = S extends Setting<infer V> ? V : never;
