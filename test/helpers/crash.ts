// Crashes for real: a request is served by a Warden child process that SIGKILLs itself right after
// a chosen storage write has committed (crash-child.ts), as an OOM kill or a lost node would stop
// it between two awaits; the test then starts Warden again on the same database and looks at what
// the crash left. SQLite (a file) and PostgreSQL (a schema of its own, dropped afterwards).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createPostgresStorage, createSqliteStorage, type Storage } from '../../src/storage/index.js';
import type { CrashSpec } from './crash-child.js';
import { TEST_SECRET } from './server.js';
import { postgresUrlOrSkip, schemaPrefix } from './storage.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CrashDatabase {
  readonly name: 'sqlite' | 'postgres';
  readonly skip?: string;
  /** A fresh database: its handle (migrated) and the spec a child opens it by. */
  create(): Promise<{ storage: Storage; db: CrashSpec['db']; reopen(): Promise<Storage> }>;
  cleanup(): Promise<void>;
}

export async function crashDatabases(): Promise<CrashDatabase[]> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-crash-'));
  let n = 0;
  const sqlite: CrashDatabase = {
    name: 'sqlite',
    async create() {
      const path = join(dir, `db${++n}.sqlite`);
      const open = async () => {
        const s = createSqliteStorage(path);
        await s.migrate();
        return s;
      };
      return { storage: await open(), db: { kind: 'sqlite', path }, reopen: open };
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const { url, skip } = await postgresUrlOrSkip();
  const schemas: string[] = [];
  const postgres: CrashDatabase = {
    name: 'postgres',
    ...(skip !== undefined ? { skip } : {}),
    async create() {
      const schema = `${schemaPrefix()}warden_crash_${randomBytes(5).toString('hex')}`;
      schemas.push(schema);
      const open = async () => {
        const s = createPostgresStorage(url!, { schema });
        await s.migrate();
        return s;
      };
      return { storage: await open(), db: { kind: 'postgres', url: url!, schema }, reopen: open };
    },
    async cleanup() {
      if (!url || schemas.length === 0) return;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        for (const s of schemas.splice(0)) await c.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      } finally {
        await c.end();
      }
    },
  };
  return [sqlite, postgres];
}

/** The configuration a test's servers and the crashing child share (the same signing key). */
export function crashEnv(dataDir: string): Record<string, string> {
  return { SECRET_KEY: TEST_SECRET, DATA_DIR: dataDir, COOKIE_SECURE: 'false', LOG_LEVEL: 'silent', SIGNUP_LIMIT_PER_IP: '0' };
}

/**
 * Starts the child on `db`, sends it `request` (given its URL), and resolves once the child has
 * died of the SIGKILL it sent itself after `after` committed; throws if it did not die so (the
 * request never reached that write), with what the request answered.
 */
export async function crashAfter(spec: CrashSpec, request: (url: string) => Promise<unknown>): Promise<void> {
  const child = spawn(process.execPath, ['--conditions=warden-source', '--import', 'tsx', 'test/helpers/crash-child.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', CRASH_SPEC: JSON.stringify(spec) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<NodeJS.Signals | number | null>((done) => child.once('exit', (code, signal) => done(signal ?? code)));
  const url = await new Promise<string>((done, fail) => {
    let seen = '';
    child.stdout!.on('data', (d: Buffer) => {
      seen += d.toString();
      const m = /READY (\S+)/.exec(seen);
      if (m) done(m[1]!);
    });
    void exited.then((how) => fail(new Error(`the child exited (${String(how)}) before it listened:\n${out}`)));
  });
  let answered: unknown;
  try {
    answered = await request(url);
  } catch (e) {
    answered = e; // the connection dies with the process
  }
  const how = await Promise.race([exited, new Promise((r) => setTimeout(r, 5000, 'still running'))]);
  if (how !== 'SIGKILL') {
    child.kill('SIGKILL');
    await exited;
    throw new Error(`the child did not crash after ${spec.after} (${String(how)}); the request answered ${JSON.stringify(answered, null, 1)?.slice(0, 500)}\n${out}`);
  }
}
