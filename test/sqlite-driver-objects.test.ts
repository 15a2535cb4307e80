// No better-sqlite3 object Warden makes is ever left to the garbage collector (sqlite-driver.ts).
// On Node 24, better-sqlite3 12 aborts the whole process (SIGABRT, `Assertion failed:
// (env) != nullptr`) when the collector finalizes one of its objects with no Node environment
// current; `warden serve` did so at start on a new SQLite file, and CLI commands at exit. On Node 20
// the collection of such an object does no harm, so this test asserts what prevents the abort: after
// a server's storage has migrated, checked its migrations, answered health checks and closed, after an
// import has read an old application's SQLite table, a forced collection finalizes none of the
// objects the driver handed out (counted by wrapping its prepare() and iterate()).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import ts from 'typescript';
import { sqliteSource } from '../src/cli/import/sources.js';
import { uuidv7 } from '../src/ids/uuidv7.js';
import type { NewEvent } from '../src/events/records.js';
import { createSqliteStorage, type NewUser } from '../src/storage/index.js';
import { openSqlite } from '../src/storage/sqlite-driver.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Every Database, Statement and StatementIterator handed out from now on, and how many were finalized. */
function watchDriverObjects() {
  const seen = new WeakSet<object>();
  const count = { made: 0, finalized: 0 };
  const finalized = new FinalizationRegistry<void>(() => void count.finalized++);
  const watch = (o: object) => {
    if (seen.has(o)) return;
    seen.add(o);
    count.made++;
    finalized.register(o);
  };
  const proto = Database.prototype as unknown as { prepare: (...a: unknown[]) => Database.Statement };
  const prepare = proto.prepare;
  // pragma() and Warden's own calls both prepare through the prototype's prepare.
  proto.prepare = function (this: Database.Database, ...args: unknown[]) {
    watch(this);
    const statement = prepare.apply(this, args);
    watch(statement);
    const iterate = statement.iterate;
    statement.iterate = function (this: Database.Statement, ...a: unknown[]) {
      const it = (iterate as (...b: unknown[]) => object).apply(this, a);
      watch(it);
      return it;
    } as typeof statement.iterate;
    return statement;
  };
  return { count, restore: () => void (proto.prepare = prepare) };
}

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The driver, the bulk writer's worker (which keeps its own), and this file's control below. */
const MAY_MAKE_THEIR_OWN = new Set(['src/storage/sqlite-driver.ts', 'src/storage/sqlite-bulk.ts', 'test/sqlite-driver-objects.test.ts']);

/**
 * Where `file` could make a better-sqlite3 object the driver does not keep: a use of the module's
 * value other than `X.prototype` (its wrappers: a test watching statements) or a type, a dynamic
 * import or require() of it outside a type, a pragma() call (it prepares a statement and drops it).
 */
function ownObjects(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const at = (n: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}: ${n.getText().split('\n')[0]}`;
  const isModule = (e: ts.Node | undefined) => e !== undefined && ts.isStringLiteralLike(e) && e.text === 'better-sqlite3';
  const names = new Set<string>();
  for (const st of sf.statements) {
    if (!ts.isImportDeclaration(st) || !isModule(st.moduleSpecifier) || st.importClause === undefined || st.importClause.isTypeOnly) continue;
    const c = st.importClause;
    if (c.name) names.add(c.name.text);
    if (c.namedBindings && ts.isNamespaceImport(c.namedBindings)) names.add(c.namedBindings.name.text);
    if (c.namedBindings && ts.isNamedImports(c.namedBindings)) for (const e of c.namedBindings.elements) if (!e.isTypeOnly) names.add(e.name.text);
  }
  const found: string[] = [];
  const visit = (n: ts.Node): void => {
    if (ts.isTypeNode(n) || ts.isImportDeclaration(n)) return; // types make nothing; the import was read above
    if (ts.isCallExpression(n) && (n.expression.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(n.expression) && n.expression.text === 'require')) && isModule(n.arguments[0])) {
      found.push(at(n));
    } else if (ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.name.text === 'pragma') {
      found.push(at(n));
    } else if (ts.isIdentifier(n) && names.has(n.text)) {
      const p = n.parent;
      const prototypeOf = ts.isPropertyAccessExpression(p) && p.expression === n && p.name.text === 'prototype';
      const aName = ts.isPropertyAccessExpression(p) && p.name === n; // x.Database: another object's property
      if (!prototypeOf && !aName) found.push(at(p));
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return found;
}

function sourcesUnder(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)));
}

/** Collections until finalizers had their turn (they run from the event loop, after a collection). */
async function collect(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('better-sqlite3 objects are never left to the garbage collector (Node 24 aborts when one is)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'warden-driver-objects-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('no file of src/ or test/ makes one but through the driver (a test file that did aborted at exit on Node 24)', () => {
    // CI runs Node 20, where nothing shows: a test opening its own Database (cli-audit's, at the
    // end of its run) failed on Node 24 with `Assertion failed: (env) != nullptr`.
    const files = [...sourcesUnder('src'), ...sourcesUnder('test')].filter((f) => !MAY_MAKE_THEIR_OWN.has(f));
    assert.ok(files.length > 100 && files.includes('test/helpers/plans.ts'), `files read: ${files.length}`);
    const found = files.flatMap((f) => ownObjects(f, readFileSync(join(ROOT, f), 'utf8')));
    assert.deepEqual(found, [], 'open and prepare through src/storage/sqlite-driver.ts (openSqlite, prepare, iterate, setPragma)');
    // The check sees what it looks for.
    assert.deepEqual(ownObjects('x.ts', [
      "import Database from 'better-sqlite3';",
      "import type { Statement } from 'better-sqlite3';",
      'const proto = Database.prototype; let s: Statement | Database.Database;',
      "const db = new Database(':memory:');",
      "const { default: D } = await import('better-sqlite3');",
      "db.pragma('journal_mode');",
    ].join('\n')).map((l) => l.replace(/: .*/, '')), ['x.ts:4', 'x.ts:5', 'x.ts:6']);
  });

  it('the watch itself sees a dropped statement finalized (else a zero below would prove nothing)', async () => {
    const w = watchDriverObjects();
    try {
      const db = new Database(':memory:');
      db.prepare('SELECT 1').get();
      db.close();
      await collect();
      assert.ok(w.count.made >= 2, `objects seen: ${w.count.made}`);
      assert.ok(w.count.finalized >= 1, 'a statement dropped by the test itself was finalized');
    } finally {
      w.restore();
    }
  });

  it('a storage (migrations, migration checks, health checks, close) and an import source: none finalized', async () => {
    const w = watchDriverObjects();
    try {
      await (async () => {
        const storage = createSqliteStorage(join(dir, 'warden.db'));
        await storage.migrate();
        await storage.pendingMigrations();
        await storage.newerMigrations();
        for (let i = 0; i < 20; i++) await storage.ping();
        const old = openSqlite(join(dir, 'old.db'));
        old.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT); INSERT INTO users (username) VALUES ('ann'), ('bob')");
        old.close();
        const source = await sqliteSource(join(dir, 'old.db'), 'users', undefined);
        let rows = 0;
        for await (const batch of source.items()) rows += batch.length;
        assert.equal(rows, 2);
        await source.close();
        await storage.close();
      })();
      await collect();
      assert.ok(w.count.made >= 8, `objects the driver handed out: ${w.count.made}`);
      assert.equal(w.count.finalized, 0, `of ${w.count.made} driver objects, ${w.count.finalized} were finalized by the garbage collector`);
    } finally {
      w.restore();
    }
  });

  it('the bulk writer, keeping its statements, writes batches of many sizes: every row written', async () => {
    const storage = createSqliteStorage(join(dir, 'bulk.db'));
    try {
      await storage.migrate();
      let n = 0;
      const batch = (size: number): NewUser[] => Array.from({ length: size }, () => {
        const i = n++;
        return { id: randomUUID(), username: `bulk${i}`, email: `bulk${i}@example.org`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'none', createdAt: 1_700_000_000_000 + i };
      });
      // 40 batches of 40 sizes.
      for (let size = 1; size <= 40; size++) assert.equal((await storage.users.insertMany(batch(size))).length, size);
      assert.equal(await storage.users.count(), n);
      assert.equal(n, 820);
    } finally {
      await storage.close();
    }
  });

  it('a bulk insert of any size prepares statements of a bounded set of texts (each is kept for good)', async () => {
    // Every statement made is kept, with its text (a 1,000-row insert's is about 40 kB): inserts
    // whose row counts vary (an import's batches less their rejected rows) must not each make one,
    // in the bulk writer's worker (its messages watched here) or on the main thread (a database in
    // memory runs the same plan there; its prepare() watched).
    const posted = new Set<string>();
    const postMessage = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (this: Worker, value: unknown, ...rest: unknown[]) {
      if (Array.isArray(value)) for (const step of value as { text: string }[]) posted.add(step.text);
      return (postMessage as (...a: unknown[]) => void).call(this, value, ...rest);
    };
    const prepared = new Set<string>();
    const proto = Database.prototype as unknown as { prepare: (text: string) => Database.Statement };
    const prepare = proto.prepare;
    proto.prepare = function (this: Database.Database, text: string) {
      if (/^INSERT INTO (users|events)\b/.test(text)) prepared.add(text);
      return prepare.call(this, text);
    };
    const file = createSqliteStorage(join(dir, 'shapes.db'));
    const memory = createSqliteStorage(':memory:');
    try {
      let n = 0;
      const batch = (size: number): NewUser[] => Array.from({ length: size }, () => {
        const i = n++;
        return { id: randomUUID(), username: `shape${i}`, email: `shape${i}@example.org`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'none', createdAt: 1_700_000_000_000 + i };
      });
      const imported = (userId: string): NewEvent[] => [{
        id: uuidv7(1_700_000_000_000), time: 1_700_000_000_000, type: 'user.imported', actorId: null, userId, sessionId: null,
        ip: null, userAgent: null, outcome: 'success', details: { action: 'created' }, deliverTo: [],
      }];
      for (const s of [file, memory]) {
        await s.migrate();
        // 60 sizes from 1 to 1,234: every row written, with its event.
        for (let size = 1; size <= 1234; size += 21) assert.equal((await s.users.insertMany(batch(size), imported)).length, size);
        assert.equal(await s.users.count(), n);
        n = 0;
      }
      // Inserts of 1,000 rows, then of powers of two: 11 sizes each for users and their events.
      assert.ok(posted.size > 0 && posted.size <= 22, `the bulk writer was sent ${posted.size} statement texts`);
      assert.ok(prepared.size > 0 && prepared.size <= 22, `the main thread prepared ${prepared.size} insert texts`);
    } finally {
      Worker.prototype.postMessage = postMessage;
      proto.prepare = prepare;
      await file.close();
      await memory.close();
    }
  });
});
