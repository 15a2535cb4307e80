// Where `warden import` reads users from: a CSV file (header row required, csv.ts), a JSON Lines
// file, or the old application's users table in SQLite (better-sqlite3, read-only) or PostgreSQL
// (pg, a server-side cursor). Each yields its records in slices (one await per slice, not per
// record), each record as its values beside the column names, which a file or table shares between
// all of its records; with where each is in the source. A record that cannot even be read (a CSV
// line with the wrong number of cells, a line that is not a JSON object) comes out as `unreadable`
// with the reason.
import { constants, createReadStream } from 'node:fs';
import { access, open, stat } from 'node:fs/promises';
import { CliError } from '../output.js';
import { CsvReader } from './csv.js';

export type SourceItem =
  | { ref: string; columns: readonly string[]; values: readonly unknown[] }
  | { ref: string; unreadable: string }
  /** A CSV file's header line, ahead of its rows: checked even when no row follows. */
  | { ref: string; header: readonly string[] };

export interface Source {
  /** For the report: the file, or the database (credentials hidden) and table. */
  readonly name: string;
  readonly kind: 'file' | 'database';
  /** Whether every record shares one set of columns (a CSV header, a table's), rather than each its own keys (JSON Lines). */
  readonly sharedColumns: boolean;
  /** How many records there are, when known before reading (databases). */
  readonly total?: number;
  /** Roles by the source's user id, from --roles-query. */
  readonly roles?: ReadonlyMap<string, string[]>;
  items(): AsyncIterable<SourceItem[]>;
  close(): Promise<void>;
}

export type FileFormat = 'csv' | 'jsonl';

/** From the extension, else from the first character (a JSON Lines file starts with "{"). */
export async function detectFormat(path: string, regular = true): Promise<FileFormat> {
  if (/\.csv$/i.test(path)) return 'csv';
  if (/\.(jsonl|ndjson|json)$/i.test(path)) return 'jsonl';
  // A pipe cannot be peeked at without losing what is read (warden import <(zcat users.csv.gz)).
  if (!regular) throw new CliError(`${path} is not a regular file: say its format with --format csv or --format jsonl`, 2);
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(512), 0, 512, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').trimStart().startsWith('{') ? 'jsonl' : 'csv';
  } finally {
    await fh.close();
  }
}

export async function fileSource(path: string, format: FileFormat | undefined, delimiter = ','): Promise<Source> {
  // stat and access, not open: opening a pipe waits for its writer.
  let regular: boolean;
  try {
    const st = await stat(path);
    await access(path, constants.R_OK);
    // A folder cannot be read; a pipe can (warden import <(zcat users.csv.gz)).
    if (st.isDirectory()) throw new CliError(`cannot read ${path}: a folder, not a file`);
    regular = st.isFile();
  } catch (e) {
    if (e instanceof CliError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code ?? (e as Error).message;
    throw new CliError(`cannot read ${path}: ${why}`);
  }
  const f = format ?? (await detectFormat(path, regular));
  return { name: path, kind: 'file', sharedColumns: f === 'csv', items: () => (f === 'csv' ? csvItems(path, delimiter) : jsonlItems(path)), close: async () => {} };
}

/** A NUL in every other character of the start (a stray NUL in one cell is that row's problem). */
function looksUtf16(text: string): boolean {
  const head = text.slice(0, 64);
  return head.length >= 4 && head.split('\u0000').length - 1 >= head.length / 4;
}

/** The file's text, a chunk at a time (UTF-8 decoded across chunk boundaries), then '' as the last. */
async function* chunksOf(path: string): AsyncGenerator<{ text: string; last: boolean }> {
  let first = true;
  try {
    for await (const text of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 18 }) as AsyncIterable<string>) {
      // UTF-16 (Excel's "Unicode Text") read as UTF-8 has a NUL after every ASCII letter: its header
      // would name no column, or seem to end its lines oddly. Said as what it is, before any row.
      if (first && looksUtf16(text)) {
        throw new CliError(`${path}: not UTF-8 text (NUL bytes: UTF-16, as Excel's "Unicode Text" writes?): convert it first, e.g. iconv -f utf-16 -t utf-8 FILE > NEW.csv`, 2);
      }
      first = false;
      yield { text, last: false };
    }
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
  yield { text: '', last: true };
}

async function* csvItems(path: string, delimiter: string): AsyncGenerator<SourceItem[]> {
  const reader = new CsvReader(delimiter);
  let header: string[] | undefined;
  for await (const { text, last } of chunksOf(path)) {
    const out: SourceItem[] = [];
    for (const r of reader.push(text, last)) {
      const ref = `line ${r.line}`;
      if ('error' in r) out.push({ ref, unreadable: `not a CSV row (${r.error})` });
      else if (header === undefined) {
        // Lines ending in a lone CR (Excel for Mac's "CSV (Macintosh)") read as one record: its
        // "header" would be every cell of the file, passwords included, and no row would follow.
        if (r.cells.some((c) => c.includes('\r'))) {
          throw new CliError(`${path}: its lines end with a lone CR (a classic Mac export), not LF or CRLF: convert it first, e.g. tr '\\r' '\\n' < FILE > NEW.csv`, 2);
        }
        out.push({ ref, header: (header = r.cells.map((c) => c.trim())) });
      }
      else if (r.cells.length !== header.length) out.push({ ref, unreadable: `${r.cells.length} cells where the header has ${header.length}` });
      else out.push({ ref, columns: header, values: r.cells });
    }
    if (out.length > 0) yield out;
  }
}

async function* jsonlItems(path: string): AsyncGenerator<SourceItem[]> {
  let n = 0;
  let rest = '';
  let started = false;
  for await (const { text, last } of chunksOf(path)) {
    // A JSON array (Django's dumpdata, json.dump of a list) is not JSON Lines: read line by line it
    // was a reject per line, none of them a user. Refused as a whole, saying how to convert it.
    const head = started ? '' : (rest + text).replace(/^\uFEFF/, '').trimStart();
    if (head !== '') {
      started = true;
      if (head.startsWith('[')) {
        throw new CliError(`${path}: a JSON array, not JSON Lines (one object per line): convert it, e.g. jq -c '.[]' FILE > users.jsonl (Django's dumpdata, whose "password" holds the hash: jq -c '.[] | .fields + {id: .pk, password_hash: .fields.password} | del(.password)')`, 2);
      }
    }
    const lines = (rest + text).split('\n');
    rest = last ? '' : lines.pop()!;
    const out: SourceItem[] = [];
    for (const raw of lines) {
      n++;
      const line = n === 1 ? raw.replace(/^\uFEFF/, '') : raw;
      if (line.trim() === '') continue;
      const ref = `line ${n}`;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch {
        out.push({ ref, unreadable: 'not valid JSON' });
        continue;
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) out.push({ ref, unreadable: 'not a JSON object' });
      else out.push({ ref, columns: Object.keys(value), values: Object.values(value) });
    }
    if (out.length > 0) yield out;
  }
}

/**
 * "public.user" as a quoted identifier ("public"."user", or `app`.`user` for MySQL, whose quote is
 * the backtick): the name is the operator's, but never spliced raw. Each part may be written quoted
 * already, as in SQL (`"user"`, `public."user"`; for MySQL also in backticks).
 */
export function quoteTable(name: string, quote: '"' | '`' = '"'): string {
  const parts = tableNameParts(name, quote === '`' ? ['"', '`'] : ['"']);
  if (parts === undefined || parts.length > 2 || parts.some((p) => p === '' || p.includes('\u0000'))) {
    throw new CliError(`--table "${name}" is not a table name (name or schema.name)`, 2);
  }
  return parts.map((p) => `${quote}${p.replaceAll(quote, quote + quote)}${quote}`).join('.');
}

/** The parts of `schema.name`, each bare or in one of `quotes` (that quote in it doubled); undefined when malformed. */
function tableNameParts(name: string, quotes: readonly string[]): string[] | undefined {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    let part = '';
    const quote = quotes.find((q) => name[i] === q);
    if (quote !== undefined) {
      for (let from = i + 1; ; ) {
        const q = name.indexOf(quote, from);
        if (q === -1) return undefined;
        part += name.slice(from, q);
        if (name[q + 1] !== quote) {
          i = q + 1;
          break;
        }
        part += quote;
        from = q + 2;
      }
    } else {
      const dot = name.indexOf('.', i);
      part = name.slice(i, dot === -1 ? name.length : dot);
      if (quotes.some((q) => part.includes(q))) return undefined;
      i += part.length;
    }
    parts.push(part);
    if (i === name.length) return parts;
    if (name[i] !== '.') return undefined;
    i++;
  }
}

/**
 * Runs --roles-query, a failure naming it: its SQL runs as written, so a table of another schema
 * than the connection's must be named there too, whatever --table says.
 */
async function rolesQueryRows<T>(table: string, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (e) {
    const hint = table.includes('.') ? ` (it runs as written: name the schema of its tables as --table ${table} does)` : '';
    throw new CliError(`--roles-query: ${(e as Error).message}${hint}`);
  }
}

/** Roles per user id from the rows of --roles-query (first column the user id, second the role). */
function rolesByUser(rows: readonly unknown[][], columns: number): Map<string, string[]> {
  // One column (the ids alone) would give nobody a role, silently: every administrator a plain user.
  if (columns < 2) throw new CliError(`--roles-query must return two columns, the user id and the role name (it returns ${columns})`, 2);
  const out = new Map<string, string[]>();
  for (const [id, role] of rows) {
    if (id === null || id === undefined || typeof role !== 'string' || role === '') continue;
    const key = String(id);
    const list = out.get(key) ?? [];
    if (!list.includes(role)) list.push(role);
    out.set(key, list);
  }
  return out;
}

const idRef = (n: number, columns: readonly string[], values: readonly unknown[]): string => {
  const id = values[columns.indexOf('id')];
  return id === undefined || id === null ? `row ${n}` : `row ${n} (id ${String(id)})`;
};

export async function sqliteSource(path: string, table: string, rolesQuery: string | undefined): Promise<Source> {
  // Through sqlite-driver.ts: on Node 24 a driver object the garbage collector finalizes can abort.
  const { openSqlite, prepare, iterate } = await import('../../storage/sqlite-driver.js');
  let db: import('better-sqlite3').Database;
  try {
    db = openSqlite(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new CliError(`cannot open the SQLite database ${path}: ${(e as Error).message}`);
  }
  try {
    const from = quoteTable(table);
    const total = Number((prepare(db, `SELECT count(*) AS n FROM ${from}`).get() as { n: number }).n);
    const rolesResult = rolesQuery === undefined ? undefined : await rolesQueryRows(table, () => {
      const statement = prepare(db, rolesQuery).raw();
      return { rows: statement.all() as unknown[][], columns: statement.columns().length };
    });
    const roles = rolesResult && rolesByUser(rolesResult.rows, rolesResult.columns);
    return {
      name: `${path} table ${table}`, kind: 'database', sharedColumns: true, total, ...(roles ? { roles } : {}),
      async *items() {
        // Rows come out as the old application stored them: 0/1 booleans, text dates.
        const select = prepare(db, `SELECT * FROM ${from}`).raw();
        const columns = select.columns().map((c) => c.name);
        let n = 0;
        let out: SourceItem[] = [];
        for (const values of iterate<unknown[]>(select)) {
          out.push({ ref: idRef(++n, columns, values), columns, values });
          if (out.length === FETCH) (yield out, (out = []));
        }
        if (out.length > 0) yield out;
      },
      async close() {
        db.close();
      },
    };
  } catch (e) {
    db.close();
    if (e instanceof CliError) throw e;
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
}

const FETCH = 1000;

export async function postgresSource(url: string, shownUrl: string, table: string, rolesQuery: string | undefined): Promise<Source> {
  const { default: pg } = await import('pg');
  // timestamp without time zone and date as the text they are: read as UTC, as the README says and
  // the other sources do (pg's own parsers read them in this process's time zone).
  const asText = (text: string) => text;
  const client = new pg.Client({
    connectionString: url,
    types: { getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === 1114 || oid === 1082 ? asText : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser },
  });
  client.on('error', () => {}); // a dropped connection fails the next query, which reports it
  try {
    await client.connect();
    const from = quoteTable(table);
    const total = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`)).rows[0]!.n);
    const rolesResult = rolesQuery === undefined ? undefined : await rolesQueryRows(table, () => client.query({ text: rolesQuery, rowMode: 'array' }));
    const roles = rolesResult && rolesByUser(rolesResult.rows as unknown[][], rolesResult.fields.length);
    return {
      name: `${shownUrl} table ${table}`, kind: 'database', sharedColumns: true, total, ...(roles ? { roles } : {}),
      async *items() {
        // A server-side cursor in a read-only transaction: the table is read in slices, never whole.
        await client.query('BEGIN READ ONLY');
        await client.query(`DECLARE warden_import NO SCROLL CURSOR FOR SELECT * FROM ${from}`);
        let n = 0;
        for (;;) {
          const { rows, fields } = await client.query<unknown[]>({ text: `FETCH ${FETCH} FROM warden_import`, rowMode: 'array' });
          const columns = fields.map((f) => f.name);
          if (rows.length > 0) yield rows.map((values) => ({ ref: idRef(++n, columns, values), columns, values }));
          if (rows.length < FETCH) break;
        }
        await client.query('COMMIT');
      },
      async close() {
        await client.end().catch(() => undefined);
      },
    };
  } catch (e) {
    await client.end().catch(() => undefined);
    if (e instanceof CliError) throw e;
    throw new CliError(`${shownUrl}: ${(e as Error).message}`);
  }
}

/** MySQL's "no date" (a zero DATETIME, which strict modes no longer store but old tables hold). */
const ZERO_DATE = /^0000-00-00(?: 00:00:00(?:\.0+)?)?$/;

/**
 * The users table of a MySQL or MariaDB database (mysql2): a Flask or Django application's on
 * PyMySQL or mysqlclient. Values come out as the other sources give them: DATETIME and DATE as their
 * text (read as UTC, as the README says), a zero date as NULL, TINYINT(1) booleans as 0/1, BIGINT
 * ids as text (never rounded), BLOB hashes as bytes (their text is the hash). The table is streamed
 * with the driver's backpressure, never read whole.
 */
export async function mysqlSource(url: string, shownUrl: string, table: string, rolesQuery: string | undefined): Promise<Source> {
  const { default: mysql } = await import('mysql2');
  let conn: import('mysql2').Connection;
  try {
    conn = mysql.createConnection({ uri: url, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true, charset: 'utf8mb4', connectTimeout: 10_000 });
  } catch (e) {
    throw new CliError(`--from ${shownUrl}: ${(e as Error).message}`, 2);
  }
  conn.on('error', () => {}); // a dropped connection fails the query under way, which reports it
  const run = (sql: string) => conn.promise().query({ sql, rowsAsArray: true }) as unknown as Promise<[unknown[][], { name: string }[]]>;
  const close = () => new Promise<void>((done) => conn.end(() => done()));
  const value = (v: unknown) => (typeof v === 'string' && ZERO_DATE.test(v) ? null : v);
  try {
    const from = quoteTable(table, '`');
    const total = Number((await run(`SELECT count(*) FROM ${from}`))[0][0]![0]);
    const rolesResult = rolesQuery === undefined ? undefined : await rolesQueryRows(table, () => run(rolesQuery));
    const roles = rolesResult && rolesByUser(rolesResult[0], rolesResult[1].length);
    return {
      name: `${shownUrl} table ${table}`, kind: 'database', sharedColumns: true, total, ...(roles ? { roles } : {}),
      async *items() {
        const query = conn.query({ sql: `SELECT * FROM ${from}`, rowsAsArray: true });
        let columns: string[] = [];
        query.once('fields', (fields: { name: string }[]) => (columns = fields.map((f) => f.name)));
        let n = 0;
        let out: SourceItem[] = [];
        for await (const row of query.stream({ highWaterMark: FETCH }) as AsyncIterable<unknown[]>) {
          const values = row.map(value);
          out.push({ ref: idRef(++n, columns, values), columns, values });
          if (out.length === FETCH) (yield out, (out = []));
        }
        if (out.length > 0) yield out;
      },
      close,
    };
  } catch (e) {
    await close();
    if (e instanceof CliError) throw e;
    throw new CliError(`${shownUrl}: ${(e as Error).message}`);
  }
}
