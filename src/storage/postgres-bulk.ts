// PostgreSQL's many-row statements: a bulk insert of users with their events (insertMany), and many
// refresh rotations at once. The rows go as one array per column, expanded by unnest(): a dozen
// parameters where a VALUES list has one per value, which PostgreSQL parses, binds and plans in a
// fraction of the time. The events, and their webhook deliveries, are inserted by data-modifying
// CTEs of the same statement, so the statement alone is atomic: rows and events commit together or
// not at all.
import { DELIVERIES, EVENTS, SESSIONS, USERS, type ColumnKind, type Table } from './columns.js';
import { eventRecords } from './rules.js';
import { POSTGRES, columnValues, columnsOf, insertColumns, join, raw, shaped, sql, type Sql } from './sql.js';
import type { NewEvent, SessionStore, UserRecord } from './types.js';

/** One rotation of a batch: its arguments and the events a successful swap records. */
export interface BatchedRotation {
  args: Parameters<SessionStore['rotate']>[0];
  onSwap: readonly NewEvent[];
}

/**
 * The compare-and-swaps of several sessions (no two the same) in one statement: each swap as
 * rotateSwap (sql-stores.ts) makes it, the events of those that matched, and the users asked for.
 * Answers one row per session swapped, its columns as rotateSwap's (s: the session, u: the user
 * or null); a session without a row did not match, and its rotation is judged alone.
 */
export function rotationsStatement(batch: readonly BatchedRotation[]): Sql {
  const f = SESSIONS.fields;
  const ctes = [sql`rotated AS (
    UPDATE sessions SET ${raw(`${f.refreshJti.name} = b.batch_new, ${f.previousJti.name} = b.batch_presented, ${f.rotatedAt.name} = b.batch_now, ${f.lastUsedAt.name} = b.batch_now, ${f.idleExpiresAt.name} = b.batch_idle`)}
    FROM unnest(${arrayLiteral(batch.map((b) => b.args.id))}::text[], ${arrayLiteral(batch.map((b) => b.args.presentedJti))}::text[], ${arrayLiteral(batch.map((b) => b.args.newJti))}::text[],
      ${arrayLiteral(batch.map((b) => b.args.now))}::bigint[], ${arrayLiteral(batch.map((b) => b.args.idleExpiresAt))}::bigint[], ${arrayLiteral(batch.map((b) => b.args.userId ?? null))}::text[])
      AS b (batch_id, batch_presented, batch_new, batch_now, batch_idle, batch_user)
    WHERE ${raw(`${f.id.name} = b.batch_id AND ${f.refreshJti.name} = b.batch_presented AND ${f.endedAt.name} IS NULL AND ${f.expiresAt.name} > b.batch_now AND ${f.idleExpiresAt.name} > b.batch_now`)}
    RETURNING ${columnsOf(SESSIONS)}, b.batch_user)`];
  // Each event beside the session whose swap records it; each delivery beside its event. Every
  // column an array, so the text depends only on whether there are events and deliveries.
  const owners: string[] = [];
  const rows = eventRecords(batch.flatMap((b) => b.onSwap.map((e) => (owners.push(b.args.id), e))));
  if (rows.events.length > 0) ctes.push(sql`e AS (${insertFrom(EVENTS, rows.events, { owners, in: 'SELECT id FROM rotated' }, false)} RETURNING id)`);
  if (rows.deliveries.length > 0) {
    ctes.push(sql`w AS (${insertFrom(DELIVERIES, rows.deliveries, { owners: rows.deliveries.map((d) => d.eventId), in: 'SELECT id FROM e' }, false)})`);
  }
  // row_to_json(rotated) also carries batch_user, which the session's decoder ignores.
  const built = sql`WITH ${join(ctes, ', ')} SELECT row_to_json(rotated) AS s, (SELECT row_to_json(users) FROM users WHERE users.id = rotated.batch_user) AS u FROM rotated`;
  // A named prepared statement (see shaped()), as a lone rotation's is.
  return shaped(shapes, `rotations:${rows.events.length > 0}:${rows.deliveries.length > 0}`, [...built.values], () => built);
}

const shapes = new Map<string, Sql>();

const ARRAY_OF: Record<ColumnKind, string> = { text: 'text[]', time: 'bigint[]', integer: 'bigint[]', boolean: 'boolean[]', json: 'jsonb[]' };

/**
 * The users and their events (`events(id)`, asked for each user). Without `skipCollisions` any row
 * colliding with a stored one fails the statement (ON CONFLICT costs every row a speculative
 * insertion, +60% here); with it, colliding users are skipped, and so are their events, and the
 * statement returns the ids inserted.
 */
export function bulkInsertStatement(users: readonly UserRecord[], events: ((userId: string) => readonly NewEvent[]) | undefined, skipCollisions: boolean): Sql {
  const skip = skipCollisions;
  const ctes = [sql`u AS (${insertFrom(USERS, users, undefined)}${raw(skip ? ' ON CONFLICT DO NOTHING RETURNING id' : '')})`];
  // Each event beside the user it was made for, and each delivery beside its event: what a skipping
  // statement keeps them by.
  const owners: string[] = [];
  const made = events ? users.flatMap((u) => events(u.id).map((e) => (owners.push(u.id), e))) : [];
  const rows = eventRecords(made);
  if (rows.events.length > 0) {
    ctes.push(sql`e AS (${insertFrom(EVENTS, rows.events, skip ? { owners, in: 'SELECT id FROM u' } : undefined)}${raw(skip ? ' RETURNING id' : '')})`);
  }
  if (rows.deliveries.length > 0) {
    ctes.push(sql`w AS (${insertFrom(DELIVERIES, rows.deliveries, skip ? { owners: rows.deliveries.map((d) => d.eventId), in: 'SELECT id FROM e' } : undefined)})`);
  }
  // Data-modifying CTEs run to completion whether or not the query reads them.
  return sql`WITH ${join(ctes, ', ')} SELECT ${raw(skip ? 'id FROM u' : '1')}`;
}

/**
 * INSERT INTO t (…) SELECT … FROM unnest($1::text[], …) AS r (…), with `keep`: only the records
 * whose owner (one per record) is in `keep.in`. A column that holds the same value on every row (an
 * event's type, a null) is sent once, as a plain parameter (unless `collapse` is false, for a text
 * that must not depend on the values: a prepared statement's): fewer arrays to write out and for
 * PostgreSQL to read. The first column (the key) stays an array.
 */
function insertFrom<R>(t: Table<R>, records: readonly R[], keep: { owners: readonly string[]; in: string } | undefined, collapse = true): Sql {
  const columns = insertColumns(t);
  const arrays = columnValues(POSTGRES, t, records);
  const select: Sql[] = [];
  const unnest: Sql[] = [];
  const names: string[] = [];
  columns.forEach((c, i) => {
    const a = arrays[i]!;
    const type = ARRAY_OF[c.kind];
    if (collapse && i > 0 && a.every((v) => v === a[0])) {
      select.push(sql`${a[0]}::${raw(type.slice(0, -2))}`);
      return;
    }
    select.push(raw(`r.${c.name}`));
    unnest.push(sql`${arrayLiteral(a)}::${raw(type)}`);
    names.push(c.name);
  });
  if (keep) {
    unnest.push(sql`${arrayLiteral(keep.owners)}::text[]`);
    names.push('owner');
  }
  const list = raw(columns.map((c) => c.name).join(', '));
  return sql`INSERT INTO ${raw(t.name)} (${list}) SELECT ${join(select, ', ')} FROM unnest(${join(unnest, ', ')}) AS r (${raw(names.join(', '))})${raw(keep ? ` WHERE r.owner IN (${keep.in})` : '')}`;
}

const QUOTE_OR_BACKSLASH = /["\\]/;

/**
 * The array as PostgreSQL reads it in text: {"a","b",NULL}. pg writes the same from a JS array,
 * escaping every element twice over. Here the usual column (no null, no quote or backslash in any
 * value) is one native join, checked by one scan; only another goes element by element. Never a
 * string grown by `+=`: that is a rope, which pg flattens again to measure and to copy it.
 */
function arrayLiteral(values: readonly unknown[]): string {
  if (!values.includes(null) && !values.includes(undefined) && !QUOTE_OR_BACKSLASH.test(values.join(','))) return `{"${values.join('","')}"}`;
  const items: string[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    items[i] = v === null || v === undefined ? 'NULL' : `"${String(v).replace(/["\\]/g, '\\$&')}"`;
  }
  return `{${items.join(',')}}`;
}
