// Where `warden import` reads users from: a CSV file (csv-parse, header row required), a JSON
// Lines file, or the old application's users table in SQLite (better-sqlite3, read-only) or
// PostgreSQL (pg, a server-side cursor). Each yields the records as objects keyed by column name,
// with where each is in the source; a record that cannot even be read (a CSV line with the wrong
// number of cells, a line that is not a JSON object) comes out as `unreadable` with the reason.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { parse as csvParse, type CsvError } from 'csv-parse';
import { CliError } from '../output.js';

export type SourceItem =
  | { ref: string; record: Record<string, unknown> }
  | { ref: string; unreadable: string };

export interface Source {
  /** For the report: the file, or the database (credentials hidden) and table. */
  readonly name: string;
  readonly kind: 'file' | 'database';
  /** How many records there are, when known before reading (databases). */
  readonly total?: number;
  /** Roles by the source's user id, from --roles-query. */
  readonly roles?: ReadonlyMap<string, string[]>;
  items(): AsyncIterable<SourceItem>;
  close(): Promise<void>;
}

export type FileFormat = 'csv' | 'jsonl';

/** From the extension, else from the first character (a JSON Lines file starts with "{"). */
export async function detectFormat(path: string): Promise<FileFormat> {
  if (/\.csv$/i.test(path)) return 'csv';
  if (/\.(jsonl|ndjson|json)$/i.test(path)) return 'jsonl';
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(512), 0, 512, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').trimStart().startsWith('{') ? 'jsonl' : 'csv';
  } finally {
    await fh.close();
  }
}

export async function fileSource(path: string, format: FileFormat | undefined): Promise<Source> {
  try {
    await (await open(path, 'r')).close();
  } catch (e) {
    throw new CliError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const f = format ?? (await detectFormat(path));
  return { name: path, kind: 'file', items: () => (f === 'csv' ? csvItems(path) : jsonlItems(path)), close: async () => {} };
}

async function* csvItems(path: string): AsyncGenerator<SourceItem> {
  const skipped: SourceItem[] = [];
  const parser = createReadStream(path).pipe(csvParse({
    // Records as arrays, objects made here from the header: csv-parse's own (columns: true)
    // defines each property one by one, a third of its time on a large file.
    bom: true, info: true, skip_empty_lines: true,
    // A malformed line is reported as that line's reject, and the rest of the file goes on.
    skip_records_with_error: true,
  }));
  parser.on('skip', (err: CsvError & { lines?: number }) => {
    skipped.push({ ref: `line ${err.lines ?? '?'}`, unreadable: `not a CSV row of the header's columns (${err.code})` });
  });
  let header: string[] | undefined;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      yield* skipped.splice(0);
      if (header === undefined) {
        header = record.map((c) => c.trim());
        continue;
      }
      if (record.length !== header.length) {
        yield { ref: `line ${info.lines}`, unreadable: `${record.length} cells where the header has ${header.length}` };
        continue;
      }
      const row: Record<string, string> = {};
      for (let i = 0; i < header.length; i++) row[header[i]!] = record[i]!;
      yield { ref: `line ${info.lines}`, record: row };
    }
  } catch (e) {
    // Only what stops the parser (an unreadable file) gets here.
    throw new CliError(`${path}: ${(e as Error).message}`);
  }
  yield* skipped.splice(0);
}

async function* jsonlItems(path: string): AsyncGenerator<SourceItem> {
  const lines = createInterface({ input: createReadStream(path, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const raw of lines) {
    n++;
    const line = n === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      yield { ref: `line ${n}`, unreadable: 'not valid JSON' };
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) yield { ref: `line ${n}`, unreadable: 'not a JSON object' };
    else yield { ref: `line ${n}`, record: value as Record<string, unknown> };
  }
}

/** "public.user" as a quoted identifier ("public"."user"): the name is the operator's, but never spliced raw. */
export function quoteTable(name: string): string {
  const parts = name.split('.');
  if (parts.length > 2 || parts.some((p) => p === '' || p.includes('\u0000'))) throw new CliError(`--table "${name}" is not a table name (name or schema.name)`, 2);
  return parts.map((p) => `"${p.replaceAll('"', '""')}"`).join('.');
}

/** Roles per user id from the rows of --roles-query (first column the user id, second the role). */
function rolesByUser(rows: readonly unknown[][]): Map<string, string[]> {
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

const idRef = (n: number, record: Record<string, unknown>): string => {
  const id = record.id;
  return id === undefined || id === null ? `row ${n}` : `row ${n} (id ${String(id)})`;
};

export async function sqliteSource(path: string, table: string, rolesQuery: string | undefined): Promise<Source> {
  const { default: Database } = await import('better-sqlite3');
  let db: import('better-sqlite3').Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw new CliError(`cannot open the SQLite database ${path}: ${(e as Error).message}`);
  }
  try {
    const from = quoteTable(table);
    const total = Number((db.prepare(`SELECT count(*) AS n FROM ${from}`).get() as { n: number }).n);
    const roles = rolesQuery === undefined ? undefined : rolesByUser(db.prepare(rolesQuery).raw().all() as unknown[][]);
    return {
      name: `${path} table ${table}`, kind: 'database', total, ...(roles ? { roles } : {}),
      async *items() {
        let n = 0;
        // Rows come out as the old application stored them: 0/1 booleans, text dates.
        for (const record of db.prepare(`SELECT * FROM ${from}`).iterate() as Iterable<Record<string, unknown>>) yield { ref: idRef(++n, record), record };
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
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {}); // a dropped connection fails the next query, which reports it
  try {
    await client.connect();
    const from = quoteTable(table);
    const total = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`)).rows[0]!.n);
    const roles = rolesQuery === undefined ? undefined : rolesByUser((await client.query({ text: rolesQuery, rowMode: 'array' })).rows as unknown[][]);
    return {
      name: `${shownUrl} table ${table}`, kind: 'database', total, ...(roles ? { roles } : {}),
      async *items() {
        // A server-side cursor in a read-only transaction: the table is read in slices, never whole.
        await client.query('BEGIN READ ONLY');
        await client.query(`DECLARE warden_import NO SCROLL CURSOR FOR SELECT * FROM ${from}`);
        let n = 0;
        for (;;) {
          const { rows } = await client.query<Record<string, unknown>>(`FETCH ${FETCH} FROM warden_import`);
          for (const record of rows) yield { ref: idRef(++n, record), record };
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
