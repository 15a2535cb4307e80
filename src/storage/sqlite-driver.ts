// Every better-sqlite3 object Warden makes goes through here, and none is ever let go.
//
// better-sqlite3 12's Database, Statement and StatementIterator are built on Node's ObjectWrap. From
// Node 24 that header registers an environment cleanup hook for each object and removes it in the
// destructor, which Node allows only while an environment is current: when the garbage collector
// finalizes such an object with none (some collections while the process runs, and at exit), the
// process aborts, `Assertion failed: (env) != nullptr` in RemoveEnvironmentCleanupHook, SIGABRT.
// Seen with Node 24.21 (not 20.20 or 22.23, whose header has no such hook, nor 26.10, which no
// longer aborts there): `warden serve` aborting at start on a new SQLite file, CLI commands and test
// files at exit. better-sqlite3 13 (Node-API) has no such hook, but it
// needs Node-API 10, which no Node 20 has.
//
// An object that never becomes garbage is never finalized by the collector: Node deletes it at exit
// through its cleanup hook, with its environment current. So each one made here is kept reachable
// until the process ends (close() still releases its SQLite resources; what is kept of a closed
// database is a few small objects), and pragma() (a statement of its own, thrown away) is not used.
// The bulk writer's worker (sqlite-bulk.ts) keeps its own the same way.
import Database from 'better-sqlite3';

const kept: object[] = [];

const keep = <T extends object>(o: T): T => (kept.push(o), o);

export function openSqlite(path: string, options?: Database.Options): Database.Database {
  return keep(new Database(path, options));
}

export function prepare(db: Database.Database, text: string): Database.Statement {
  return keep(db.prepare(text));
}

/** A statement's rows, one at a time (its iterator kept too). */
export function iterate<T>(statement: Database.Statement): IterableIterator<T> {
  return keep(statement.iterate() as IterableIterator<T>);
}

/** `PRAGMA text`, its answer ignored (db.pragma() would prepare a statement and drop it). */
export function setPragma(db: Database.Database, text: string): void {
  db.exec(`PRAGMA ${text}`);
}
