// What SQLite and PostgreSQL share, and the little where they differ. Statements are written as
// SQL with the `sql` tag: interpolated values always become parameters, which each dialect numbers
// its own way (`?` or `$n`). Records cross into rows and back only through the column tables
// (src/storage/columns.ts), with each column kind encoded per dialect. Not an ORM: nothing here
// writes a query; it builds INSERT column lists and SET lists, and renders placeholders.
import { uniqueFieldOf, type Column, type ColumnKind, type DerivedColumn, type Table } from './columns.js';
import { UniqueViolation } from './types.js';

export type Row = Record<string, unknown>;

/** A statement or a fragment of one: SQL text with the parameter values that sit between its parts. */
export class Sql {
  /**
   * `name`: a statement the server may keep parsed and planned under this name (PostgreSQL's named
   * prepared statements; see shaped()). Only for a text that never changes under that name.
   * `positional`: the statement returns exactly columnsOf(some table), in order, and its rows may
   * come back as arrays of values (SQLite does so: better-sqlite3 builds an object per row, a
   * property set by name per column, which was the largest cost of reading a refresh's two rows);
   * rowDecoder reads either.
   */
  constructor(readonly parts: readonly string[], readonly values: readonly unknown[], readonly name?: string, readonly positional = false) {}
}

/** Several statements run as one text, without parameters (a migration). */
export class Script {
  constructor(readonly text: string) {}
}

// A template whose values are all parameters keeps its strings as its parts: one array per call
// site, so render() finds its text in its cache.
const plainParts = new WeakMap<TemplateStringsArray, readonly string[]>();

/** Tagged template: an interpolated value becomes a parameter; an interpolated Sql is spliced in. */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): Sql {
  let plain = true;
  for (let i = 0; i < values.length && plain; i++) plain = !(values[i] instanceof Sql);
  if (plain) {
    let parts = plainParts.get(strings);
    if (parts === undefined) plainParts.set(strings, (parts = [...strings]));
    return new Sql(parts, values);
  }
  const parts = [strings[0]!];
  const params: unknown[] = [];
  values.forEach((v, i) => {
    const inner = v instanceof Sql ? v : new Sql(['', ''], [v]);
    parts[parts.length - 1] += inner.parts[0]!;
    inner.values.forEach((p, j) => (params.push(p), parts.push(inner.parts[j + 1]!)));
    parts[parts.length - 1] += strings[i + 1]!;
  });
  return new Sql(parts, params);
}

/** Trusted SQL text: identifiers from the column tables and dialect keywords, never input. */
export const raw = (text: string): Sql => new Sql([text], []);

/** The fragments one after another, `separator` between them (built in one pass). */
export function join(items: readonly Sql[], separator: string): Sql {
  if (items.length === 0) return raw('');
  const parts = [...items[0]!.parts];
  const values = [...items[0]!.values];
  for (let i = 1; i < items.length; i++) {
    const { parts: p, values: v } = items[i]!;
    parts[parts.length - 1] += separator + p[0]!;
    for (let j = 0; j < v.length; j++) (values.push(v[j]), parts.push(p[j + 1]!));
  }
  return new Sql(parts, values);
}

/**
 * A statement of a shape run many times (a refresh's rotation): its text is built by `build` once
 * per `key` and kept; each call only supplies `values`, in the order `build` puts them (checked
 * on the first build), so neither the fragments nor the text are made again. It also gets a name
 * of its own, so that PostgreSQL parses and plans it once per connection, not at every call: for
 * the rotation's statement (an UPDATE, an INSERT reading its row, a join) that was most of the
 * server's work, and refreshes ran 1.4 to 1.7 times as fast with it (bench/README.md). Such a text
 * must name the columns it returns (no `*`): the server refuses to run a prepared statement whose
 * result columns changed since it was prepared, as a migration adding a column would make them.
 */
export function shaped(cache: Map<string, Sql>, key: string, values: unknown[], build: () => Sql, positional = false): Sql {
  let made = cache.get(key);
  if (made === undefined) {
    const built = build();
    if (built.values.length !== values.length || built.values.some((v, i) => !Object.is(v, values[i]))) {
      throw new Error(`shaped statement "${key}": its values are not in the order its text takes them`);
    }
    if (built.parts.some((p) => /(^|[\s,.(])\*/.test(p))) throw new Error(`shaped statement "${key}": it must name the columns it returns`);
    cache.set(key, (made = new Sql(built.parts, [], `warden_${++statementNames}`)));
  }
  return new Sql(made.parts, values, made.name, positional);
}

/** Names given by shaped(), unique in the process (a connection belongs to one storage, but one process may hold several). */
let statementNames = 0;

/** Column types and checks that migrations spell differently per dialect. Never change a word: released migrations use them. */
export interface Ddl {
  readonly time: string;
  /** A whole number that may exceed 2^31 (a TOTP step, a signature counter). */
  readonly integer: string;
  readonly boolean: string;
  readonly true: string;
  readonly false: string;
  /** Appended after a boolean column's definition ('' where the type itself is boolean). */
  booleanCheck(column: string): string;
  readonly json: string;
  isJsonArray(column: string): string;
  /** An index or ORDER BY term comparing text byte by byte. */
  binary(column: string): string;
  /** A text column's type whose comparisons are byte by byte (keys compared in row values, such as cursors). */
  readonly binaryText: string;
}

export interface Dialect {
  readonly name: 'sqlite' | 'postgres';
  /** The placeholder of the n-th parameter, from 1. */
  placeholder(n: number): string;
  encode(kind: ColumnKind, value: unknown): unknown;
  decode(kind: ColumnKind, value: unknown): unknown;
  /** The two-argument maximum function. */
  readonly greatest: string;
  /** True when `needle` occurs in the text column literally (no wildcards to escape). */
  contains(column: string, needle: string): Sql;
  /** True when the text column equals one of `values`: one parameter whatever their number, so the statement text stays the same. */
  anyOf(column: string, values: readonly string[]): Sql;
  /** True when the JSON array in `column` (qualified by its table) holds the string `item`. */
  jsonArrayHas(column: string, item: string): Sql;
  /** What a SELECT in a transaction appends to lock the rows it read ('' where the transaction holds a write lock already). */
  readonly forUpdate: string;
  /**
   * What a SELECT appends to hold the rows it read against deletion and key changes only, as a
   * foreign key's check does ('' where the transaction holds a write lock already).
   */
  readonly forKeyShare: string;
  /**
   * What a SELECT appends to lock the rows it read against other writers but not against foreign
   * keys' checks (rows referencing them may still be inserted); '' as forUpdate.
   */
  readonly forNoKeyUpdate: string;
  /**
   * A statement that holds, until its transaction ends, a lock of its own named `key` (PostgreSQL:
   * a transaction-level advisory lock, which no row lock waits on); none where the transaction
   * holds the write lock already.
   */
  serialize(key: string): Sql | undefined;
  /** What a subquery choosing rows to claim appends so that concurrent claimers pass over each other's rows. */
  readonly skipLocked: string;
  /** The table and column of the unique index a driver error reports, if it is a unique violation. */
  uniqueViolated(e: unknown): { table: string; column: string } | undefined;
  /** The error without anything that could carry row data into a log. */
  scrub(e: unknown): unknown;
  readonly ddl: Ddl;
}

const identity = (v: unknown): unknown => v;

/** Users' columns with a trigram search table in SQLite. */
const SQLITE_SEARCH_TABLES: Record<string, string> = { email: 'users_email_search', username_lower: 'users_username_search' };

export const SQLITE: Dialect = {
  name: 'sqlite',
  placeholder: () => '?',
  // Booleans as 0/1 and JSON as text: SQLite has neither type.
  encode: (kind, v) => (kind === 'boolean' ? (v ? 1 : 0) : kind === 'json' ? JSON.stringify(v) : v),
  decode: (kind, v) => (kind === 'boolean' ? v === 1 : kind === 'json' ? JSON.parse(v as string) : v),
  greatest: 'max',
  // Users' email and username_lower have trigram indexes (migrations 8 and 10): they narrow to
  // candidates, instr() decides. Fewer than 3 characters make no trigram; then instr() alone reads the table.
  contains(column, needle) {
    const search = SQLITE_SEARCH_TABLES[column];
    return search !== undefined && [...needle].length >= 3
      ? sql`(users.id IN (SELECT user_id FROM ${raw(search)} WHERE ${raw(column)} LIKE ${`%${needle}%`}) AND instr(users.${raw(column)}, ${needle}) > 0)`
      : sql`instr(${raw(column)}, ${needle}) > 0`;
  },
  anyOf: (column, values) => sql`${raw(column)} IN (SELECT value FROM json_each(${JSON.stringify(values)}))`,
  jsonArrayHas: (column, item) => sql`EXISTS (SELECT 1 FROM json_each(${raw(column)}) WHERE value = ${item})`,
  forUpdate: '', // the adapter's transactions begin IMMEDIATE, i.e. holding the write lock
  forKeyShare: '',
  forNoKeyUpdate: '',
  serialize: () => undefined,
  skipLocked: '', // one writer at a time: a single UPDATE … RETURNING is already exclusive
  uniqueViolated(e) {
    const err = e as { code?: unknown; message?: unknown };
    if (err?.code !== 'SQLITE_CONSTRAINT_UNIQUE' || typeof err.message !== 'string') return undefined;
    const m = /UNIQUE constraint failed: (\w+)\.(\w+)$/.exec(err.message);
    return m ? { table: m[1]!, column: m[2]! } : undefined;
  },
  scrub: identity, // SQLite's messages name columns, never values
  ddl: {
    time: 'INTEGER',
    integer: 'INTEGER',
    boolean: 'INTEGER',
    true: '1',
    false: '0',
    booleanCheck: (c) => ` CHECK (${c} IN (0, 1))`,
    json: 'TEXT',
    isJsonArray: (c) => `json_valid(${c}) AND json_type(${c}) = 'array'`,
    binary: (c) => c,
    binaryText: 'TEXT',
  },
};

export const POSTGRES: Dialect = {
  name: 'postgres',
  placeholder: (n) => `$${n}`,
  // JSON is sent as text (pg would send a JS array as a PostgreSQL array); jsonb arrives parsed.
  encode: (kind, v) => (kind === 'json' ? JSON.stringify(v) : v),
  // BIGINT arrives as a string (it may exceed 2^53); epoch milliseconds and Warden's counters never do.
  decode: (kind, v) => (kind === 'time' || kind === 'integer' ? Number(v) : v),
  greatest: 'GREATEST',
  // LIKE (wildcards escaped), which users' trigram index on email serves (migration 7); it
  // needs 3 characters, so shorter needles keep strpos().
  contains: (column, needle) =>
    [...needle].length >= 3
      ? sql`${raw(column)} LIKE ${`%${needle.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}`
      : sql`strpos(${raw(column)}, ${needle}) > 0`,
  anyOf: (column, values) => sql`${raw(column)} = ANY(${[...values]}::text[])`, // pg sends a JS array as a text[]
  jsonArrayHas: (column, item) => sql`${raw(column)} @> jsonb_build_array(${item}::text)`,
  forUpdate: ' FOR UPDATE',
  forKeyShare: ' FOR KEY SHARE',
  forNoKeyUpdate: ' FOR NO KEY UPDATE',
  serialize: (key) => sql`SELECT pg_advisory_xact_lock(hashtext(${key}))`,
  skipLocked: ' FOR UPDATE SKIP LOCKED',
  uniqueViolated(e) {
    // Unique constraints are named <table>_<column>_key (PostgreSQL's own convention; see migrations.ts).
    const err = e as { code?: unknown; table?: unknown; constraint?: unknown };
    if (err?.code !== '23505' || typeof err.table !== 'string' || typeof err.constraint !== 'string') return undefined;
    const m = /^(.+)_key$/.exec(err.constraint.slice(err.table.length + 1));
    return err.constraint.startsWith(`${err.table}_`) && m ? { table: err.table, column: m[1]! } : undefined;
  },
  scrub(e) {
    // For NOT NULL, CHECK and foreign-key failures `detail` reads "Failing row contains (…)" or
    // "Key (…)=(…)" with the values (a password hash among them), and errors end up in logs.
    if (e && typeof e === 'object' && 'detail' in e) (e as { detail?: unknown }).detail = undefined;
    return e;
  },
  ddl: {
    time: 'BIGINT',
    integer: 'BIGINT',
    boolean: 'BOOLEAN',
    true: 'TRUE',
    false: 'FALSE',
    booleanCheck: () => '',
    json: 'JSONB',
    isJsonArray: (c) => `jsonb_typeof(${c}) = 'array'`,
    binary: (c) => `${c} COLLATE "C"`,
    binaryText: 'TEXT COLLATE "C"',
  },
};

/** The statement as the driver takes it: text with this dialect's placeholders, and the values. */
export function render(d: Dialect, s: Sql): { text: string; values: unknown[]; name?: string } {
  const cache = rendered[d.name];
  let text = cache.get(s.parts);
  if (text === undefined) {
    text = s.parts[0]!;
    for (let i = 1; i < s.parts.length; i++) text += d.placeholder(i) + s.parts[i]!;
    cache.set(s.parts, text);
  }
  return s.name === undefined ? { text, values: [...s.values] } : { text, values: [...s.values], name: s.name };
}

// A statement run many times with different values (a bulk insert) shares its parts: its text is
// rendered once.
const rendered = { sqlite: new WeakMap<readonly string[], string>(), postgres: new WeakMap<readonly string[], string>() };

/** A driver error as the storage contract reports it: UniqueViolation, or the error scrubbed. */
export function storageError(d: Dialect, e: unknown): unknown {
  const hit = d.uniqueViolated(e);
  const field = hit && uniqueFieldOf(hit.table, hit.column);
  return field ? new UniqueViolation(field) : d.scrub(e);
}

const encoded = (d: Dialect, c: Column, v: unknown): unknown => (v === null || v === undefined ? null : d.encode(c.kind, v));

/**
 * Reads records from rows (columns not in the table, such as a computed total, are ignored), or from
 * a row as PostgreSQL's row_to_json() writes it. Build once per table.
 */
export function rowDecoder<R>(d: Dialect, t: Table<R>): (row: Row) => R {
  const columns = Object.entries<Column>(t.fields).map(([field, c]) => ({ field, name: c.name, kind: c.kind }));
  return (row) => {
    const out: Row = {};
    if (Array.isArray(row)) {
      // A positional statement's row (see Sql.positional): its columns are columnsOf(t), in order.
      for (let i = 0; i < columns.length; i++) {
        const c = columns[i]!;
        const v: unknown = row[i];
        out[c.field] = v === null ? null : d.decode(c.kind, v);
      }
      return out as R;
    }
    for (const c of columns) {
      const v = row[c.name];
      out[c.field] = v === null ? null : d.decode(c.kind, v);
    }
    return out as R;
  };
}

/** INSERT of a whole record, derived columns included (append RETURNING or ON CONFLICT as needed). */
export function insertRow<R>(d: Dialect, t: Table<R>, r: R): Sql {
  return insertRows(d, t, [r]);
}

/**
 * INSERT of several whole records in one statement, `tail` (ON CONFLICT, RETURNING) appended. A
 * batch holds thousands of values: they are listed in one pass, and the statement's parts are made
 * once per table, row count and tail, so render() finds its text already made.
 */
export function insertRows<R>(d: Dialect, t: Table<R>, records: readonly R[], tail = ''): Sql {
  const values: unknown[] = [];
  for (const r of records) appendValues(d, t, r, values);
  return new Sql(insertParts(t, records.length, tail), values);
}

/**
 * Rows per multi-row INSERT of a bulk write: few statements, and within SQLite's limit of 32,766
 * parameters a statement (and PostgreSQL's 65,535) for tables of up to 32 columns.
 */
export const ROWS_PER_INSERT = 1000;

/** `list` cut into slices of at most `size`. */
export function chunks<T>(list: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < list.length; i += size) out.push(list.slice(i, i + size));
  return out;
}

/**
 * `list` cut for multi-row INSERTs: slices of ROWS_PER_INSERT, and on SQLite the rest in slices of
 * powers of two (999 rows: 512, 256, … 1), so that its inserts come in 11 sizes whatever the row
 * counts. SQLite keeps every statement it prepares for the life of the process (sqlite-driver.ts, and
 * the bulk writer's worker), each with its text (about 40 kB at 1,000 users): one for each row count
 * an import's batches happened to have grew without bound. PostgreSQL prepares none of them.
 */
export function insertSlices<T>(d: Dialect, list: readonly T[]): T[][] {
  const out = chunks(list, ROWS_PER_INSERT);
  if (d.name !== 'sqlite' || out.length === 0 || out[out.length - 1]!.length === ROWS_PER_INSERT) return out;
  const rest = out.pop()!;
  let i = 0;
  for (let size = 2 ** Math.floor(Math.log2(rest.length)); size >= 1; size >>= 1) {
    if (rest.length - i >= size) (out.push(rest.slice(i, i + size)), (i += size));
  }
  return out;
}

/**
 * INSERT of one whole record for each row of `source` (a CTE's name): a write that happens only if
 * the statement's earlier step matched.
 */
export function insertFrom<R>(d: Dialect, t: Table<R>, r: R, source: string): Sql {
  const names = layoutOf(t).names;
  return new Sql([`INSERT INTO ${t.name} (${names.join(', ')}) SELECT `, ...names.map((_, i) => (i === names.length - 1 ? ` FROM ${source}` : ', '))], insertValues(d, t, r));
}

/** The record's columns: a RETURNING or SELECT list without `*`. */
export function columnsOf<R>(t: Table<R>): Sql {
  return raw(Object.values<Column>(t.fields).map((c) => c.name).join(', '));
}

/** A record's values in the order insertRow/insertRows list its columns. */
export function insertValues<R>(d: Dialect, t: Table<R>, r: R): unknown[] {
  return appendValues(d, t, r, []);
}

function appendValues<R>(d: Dialect, t: Table<R>, r: R, out: unknown[]): unknown[] {
  const { fields, derived } = layoutOf(t);
  for (const [field, c] of fields) out.push(encoded(d, c, r[field]));
  for (const c of derived) out.push(c.derive(String(r[c.from])));
  return out;
}

/**
 * The records' values column by column, in insertColumns order: what a statement taking one array
 * per column sends. Filled column-wise, without an array per record (a bulk import makes 100,000).
 */
export function columnValues<R>(d: Dialect, t: Table<R>, records: readonly R[]): unknown[][] {
  const { fields, derived } = layoutOf(t);
  const out: unknown[][] = [];
  for (const [field, c] of fields) {
    const col: unknown[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) col[i] = encoded(d, c, records[i]![field]);
    out.push(col);
  }
  for (const c of derived) {
    const col: unknown[] = new Array(records.length);
    for (let i = 0; i < records.length; i++) col[i] = c.derive(String(records[i]![c.from]));
    out.push(col);
  }
  return out;
}

/** The columns, fields then derived ones: the order of every INSERT's column list and values. */
export function insertColumns<R>(t: Table<R>): readonly Column[] {
  return layoutOf(t).columns;
}

interface Layout<R> {
  fields: [keyof R, Column][];
  derived: readonly DerivedColumn<R>[];
  columns: readonly Column[];
  names: string[];
  /** Parts of multi-row INSERTs by row count and tail; a few sizes only (full chunks and the last). */
  parts: Map<string, readonly string[]>;
}

const layouts = new WeakMap<object, Layout<never>>();

function layoutOf<R>(t: Table<R>): Layout<R> {
  let l = layouts.get(t) as Layout<R> | undefined;
  if (!l) {
    const fields = Object.entries<Column>(t.fields) as [keyof R, Column][];
    const columns = [...fields.map(([, c]) => c), ...t.derived];
    l = { fields, derived: t.derived, columns, names: columns.map((c) => c.name), parts: new Map() };
    layouts.set(t, l as Layout<never>);
  }
  return l;
}

const PARTS_KEPT = 8;

function insertParts<R>(t: Table<R>, rows: number, tail: string): readonly string[] {
  const l = layoutOf(t);
  const key = `${rows}:${tail}`;
  let parts = l.parts.get(key);
  if (!parts) {
    const width = l.names.length;
    const out = [`INSERT INTO ${t.name} (${l.names.join(', ')}) VALUES (`];
    for (let r = 0; r < rows; r++) {
      for (let c = 1; c < width; c++) out.push(', ');
      out.push(r === rows - 1 ? `)${tail}` : '), (');
    }
    parts = out;
    if (l.parts.size >= PARTS_KEPT) l.parts.delete(l.parts.keys().next().value!);
    l.parts.set(key, parts);
  }
  return parts;
}

/** `column = value` for each field the patch sets (undefined = not set), and the columns derived from them. */
export function assignments<R>(d: Dialect, t: Table<R>, patch: Partial<R>): Sql[] {
  const out: Sql[] = [];
  for (const [field, c] of Object.entries<Column>(t.fields)) {
    const v = patch[field as keyof R];
    if (v !== undefined) out.push(sql`${raw(c.name)} = ${encoded(d, c, v)}`);
  }
  for (const c of t.derived) {
    const v = patch[c.from];
    if (v !== undefined) out.push(sql`${raw(c.name)} = ${c.derive(String(v))}`);
  }
  return out;
}

/** A parameter holding `value` encoded as `field`'s column, for WHERE clauses. */
export function param<R>(d: Dialect, t: Table<R>, field: keyof R, value: unknown): Sql {
  return sql`${encoded(d, t.fields[field], value)}`;
}

/** What running a statement gives back: its rows (RETURNING included) and how many rows it changed. */
export interface Result {
  rows: Row[];
  changes: number;
}

/**
 * A sequence of statements whose later steps depend on earlier rows, written once for both
 * drivers: it yields each statement and is handed back its result. SQLite runs it synchronously
 * inside one better-sqlite3 transaction (which cannot await); PostgreSQL awaits each step on one
 * connection. Each adapter chooses the transaction and the locks around it.
 */
export type Plan<T> = Generator<Sql | Script, T, Result>;

export function runPlan<T>(plan: Plan<T>, exec: (s: Sql | Script) => Result): T {
  let step = plan.next();
  while (!step.done) step = plan.next(exec(step.value));
  return step.value;
}

export async function runPlanAsync<T>(plan: Plan<T>, exec: (s: Sql | Script) => Promise<Result>): Promise<T> {
  let step = plan.next();
  while (!step.done) step = plan.next(await exec(step.value));
  return step.value;
}
