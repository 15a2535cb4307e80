// Bench child for the import baselines, into a migrated Warden database with the adapter's own
// connection settings; prints `RESULT {"rows", "seconds"}`.
//   <DATABASE_URL> <records.json> <batch>   the same user rows `warden import` writes, already made
//       (UUIDs, folded usernames, JSON roles), inserted by a plain batched INSERT; timed from the
//       first INSERT to the last COMMIT.
//   <DATABASE_URL> <records.json> <batch> set   (reference) the same, each batch as one set-based
//       statement, the shapes the import itself uses: SQLite one multi-row VALUES, PostgreSQL
//       unnest() of one array per column.
//   <DATABASE_URL> <file.csv> <batch>       a naive loader (reference): the same CSV read with
//       csv-parse and each row inserted as it is, no check; timed from opening the file.
//   node --conditions=warden-source --import tsx bench/import-baseline.ts ...
import { randomUUID } from 'node:crypto';
import { createReadStream, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { parse } from 'csv-parse';
import pg from 'pg';
import { parseDatabaseUrl } from '../src/storage/database-url.js';

const [url, file, batchArg, shape] = process.argv.slice(2) as [string, string, string, string | undefined];
const set = shape === 'set';
const batch = Number(batchArg);
const target = parseDatabaseUrl(url);
// Every column the import writes (email_verified too: the database would default it, the import sends it).
const COLUMNS = ['id', 'username', 'email', 'full_name', 'roles', 'is_active', 'password_hash', 'legacy_id', 'created_at', 'updated_at', 'username_lower', 'email_verified'];
const PG_TYPES = ['text', 'text', 'text', 'text', 'jsonb', 'boolean', 'text', 'text', 'bigint', 'bigint', 'text', 'boolean'];
const started = process.hrtime.bigint();

/** The rows: from the prepared JSON, or read from the CSV now (the naive loader). */
async function* source(): AsyncGenerator<unknown[][]> {
  if (!file.endsWith('.csv')) {
    const { rows } = JSON.parse(readFileSync(file, 'utf8')) as { rows: unknown[][] };
    for (let i = 0; i < rows.length; i += batch) yield rows.slice(i, i + batch);
    return;
  }
  let part: unknown[][] = [];
  for await (const r of createReadStream(file).pipe(parse({ columns: true })) as AsyncIterable<Record<string, string>>) {
    const at = Date.parse(r.created_at!);
    const active = r.is_active === 'true';
    part.push([randomUUID(), r.username, r.email, r.full_name, JSON.stringify([r.roles]), target.kind === 'sqlite' ? Number(active) : active, r.password_hash, r.id, at, at, r.username!.toLowerCase(), target.kind === 'sqlite' ? 0 : false]);
    if (part.length === batch) (yield part, (part = []));
  }
  if (part.length > 0) yield part;
}

let rows = 0;
let t0: bigint | undefined;
let seconds: number;

if (target.kind === 'sqlite') {
  const db = new Database(target.path);
  // As src/storage/sqlite.ts opens it.
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = FULL');
  const row = `(${COLUMNS.map(() => '?').join(', ')})`;
  const insert = db.prepare(`INSERT INTO users (${COLUMNS.join(', ')}) VALUES ${row}`);
  const multi = new Map<number, Database.Statement>(); // by row count
  const insertBatch = db.transaction((part: unknown[][]) => {
    if (!set) for (const r of part) insert.run(...r);
    else {
      let stmt = multi.get(part.length);
      if (!stmt) multi.set(part.length, (stmt = db.prepare(`INSERT INTO users (${COLUMNS.join(', ')}) VALUES ${part.map(() => row).join(', ')}`)));
      stmt.run(part.flat());
    }
  });
  for await (const part of source()) {
    t0 ??= file.endsWith('.csv') ? started : process.hrtime.bigint();
    insertBatch(part);
    rows += part.length;
  }
  seconds = Number(process.hrtime.bigint() - t0!) / 1e9;
  db.close();
} else if (target.kind === 'postgres') {
  const client = new pg.Client({ connectionString: target.url });
  await client.connect();
  for await (const part of source()) {
    t0 ??= file.endsWith('.csv') ? started : process.hrtime.bigint();
    await client.query('BEGIN');
    if (!set) {
      const values = part.map((_, r) => `(${COLUMNS.map((__, c) => `$${r * COLUMNS.length + c + 1}`).join(', ')})`).join(', ');
      await client.query(`INSERT INTO users (${COLUMNS.join(', ')}) VALUES ${values}`, part.flat());
    } else {
      const arrays = COLUMNS.map((_, c) => `$${c + 1}::${PG_TYPES[c]}[]`).join(', ');
      await client.query(`INSERT INTO users (${COLUMNS.join(', ')}) SELECT * FROM unnest(${arrays})`, COLUMNS.map((_, c) => part.map((r) => r[c])));
    }
    await client.query('COMMIT');
    rows += part.length;
  }
  seconds = Number(process.hrtime.bigint() - t0!) / 1e9;
  await client.end();
} else {
  throw new Error('the baseline needs sqlite: or postgres://');
}
process.stdout.write(`RESULT ${JSON.stringify({ rows, seconds })}\n`);
