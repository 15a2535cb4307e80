// Bench sections for bringing users over from Flask/FastAPI (see bench/run.ts for the conventions):
//   import  `warden import FILE` of 100,000 rows with stored hashes, as rows/s, against the same rows
//           inserted by a plain batched INSERT (bench/import-baseline.ts), on SQLite and PostgreSQL;
//           both run as children pinned to the server core, rounds alternating.
//   legacy  the cost of checking a password against a legacy hash through Warden's hasher (parse,
//           limits, the concurrency limiter) against the same library's raw verify, per format;
//           and the one-time cost of the argon2id rehash that follows a successful sign-in.
import { spawnSync } from 'node:child_process';
import { pbkdf2 as pbkdf2Callback, randomUUID, timingSafeEqual } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import pg from 'pg';
import { HASH_OPTIONS, createArgon2Hasher } from '../src/accounts/argon2-hasher.js';
import { usernameKey } from '../src/storage/rules.js';
import { openStorage } from '../src/storage/index.js';
import { HAS_TASKSET, SERVER_CORE, median, workDir } from './lib.js';

export interface BenchRow {
  section: string;
  name: string;
  value: string;
  baseline: string;
  ratio?: number;
  goal?: string;
  pass?: boolean;
  spread?: string;
}

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const spread = (xs: number[]): string => `${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`;

const FIXTURES = (JSON.parse(readFileSync('test/fixtures/legacy-hashes/hashes.json', 'utf8')) as { rows: { kind: string; password: string; hash: string }[] }).rows;
const fixture = (kind: string) => FIXTURES.find((r) => r.kind === kind && r.password !== '')!;

// ---- import ------------------------------------------------------------------------------------

const IMPORT_ROWS = 100_000;
const IMPORT_ROUNDS = 3;
const BATCH = 1000;

/** Runs `node --conditions=warden-source --import tsx ARGS` pinned to the server core; returns its stdout. */
function child(args: string[], env: Record<string, string>): string {
  const argv = ['--conditions=warden-source', '--import', 'tsx', ...args];
  const [cmd, full] = HAS_TASKSET ? ['taskset', ['-c', String(SERVER_CORE), process.execPath, ...argv]] : [process.execPath, argv];
  const r = spawnSync(cmd, full, { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  if (r.status !== 0 && r.status !== 1) throw new Error(`bench child ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** The input file and the baseline's records: the same users, as the import will store them. */
function makeRows(): { csv: string; records: string } {
  const hash = fixture('werkzeug-pbkdf2-sha256-default').hash; // what Flask's generate_password_hash writes
  const created = Date.UTC(2022, 0, 1);
  const lines = ['id,username,email,password_hash,full_name,roles,is_active,created_at'];
  const columns = ['id', 'username', 'email', 'full_name', 'roles', 'is_active', 'password_hash', 'legacy_id', 'created_at', 'updated_at', 'username_lower', 'email_verified'];
  const rows: unknown[][] = [];
  for (let i = 1; i <= IMPORT_ROWS; i++) {
    const name = `user${String(i).padStart(6, '0')}`;
    const at = created + i * 1000;
    lines.push(`${i},${name},${name}@example.com,${hash},User ${i},user,true,${new Date(at).toISOString()}`);
    rows.push([randomUUID(), name, `${name}@example.com`, `User ${i}`, '["user"]', true, hash, String(i), at, at, usernameKey(name), false]);
  }
  const csv = join(workDir, 'import.csv');
  const records = join(workDir, 'import-records.json');
  writeFileSync(csv, `${lines.join('\n')}\n`);
  writeFileSync(records, JSON.stringify({ columns, rows }));
  return { csv, records };
}

interface Target {
  name: string;
  /** A fresh, migrated, empty database URL for each call, and a cleanup. */
  fresh(): Promise<string>;
  /** SQLite stores booleans as 0/1. */
  sqlite: boolean;
  cleanup(): Promise<void>;
}

function sqliteTarget(): Target {
  let n = 0;
  return {
    name: 'SQLite', sqlite: true,
    async fresh() {
      const url = `sqlite:${join(workDir, `import-${++n}.db`)}`;
      await (await openStorage(url)).close(); // migrated, as `warden migrate` would leave it
      return url;
    },
    async cleanup() {},
  };
}

async function postgresTarget(): Promise<Target | string> {
  const url = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const admin = new pg.Client({ connectionString: url });
  try {
    await admin.connect();
  } catch (e) {
    return `PostgreSQL not reachable at ${url}: ${(e as Error).message}`;
  }
  const schemas: string[] = [];
  return {
    name: 'PostgreSQL', sqlite: false,
    async fresh() {
      const schema = `warden_bench_${process.pid}_${schemas.length + 1}`;
      schemas.push(schema);
      await admin.query(`CREATE SCHEMA ${schema}`);
      const u = new URL(url);
      u.searchParams.set('options', `-c search_path=${schema}`);
      await (await openStorage(u.toString())).close();
      return u.toString();
    },
    async cleanup() {
      for (const s of schemas) await admin.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
      await admin.end();
    },
  };
}

export async function sectionImport(raw: Record<string, unknown>, notes: string[]): Promise<BenchRow[]> {
  const out: BenchRow[] = [];
  const { csv, records } = makeRows();
  const sqliteRecords = join(workDir, 'import-records-sqlite.json');
  const parsed = JSON.parse(readFileSync(records, 'utf8')) as { columns: string[]; rows: unknown[][] };
  writeFileSync(sqliteRecords, JSON.stringify({ columns: parsed.columns, rows: parsed.rows.map((r) => r.map((v) => (typeof v === 'boolean' ? (v ? 1 : 0) : v))) }));
  const pgTarget = await postgresTarget();
  if (typeof pgTarget === 'string') notes.push(`import on PostgreSQL skipped: ${pgTarget}`);
  const targets = [sqliteTarget(), ...(typeof pgTarget === 'string' ? [] : [pgTarget])];
  const results: Record<string, { importRps: number[]; insertRps: number[]; setRps: number[]; naiveRps: number[] }> = {};
  try {
    for (const t of targets) {
      const r = (results[t.name] = { importRps: [] as number[], insertRps: [] as number[], setRps: [] as number[], naiveRps: [] as number[] });
      const runImport = async () => {
        const stdout = child(['src/cli.ts', 'import', csv, '--batch-size', String(BATCH), '--json'], { DATABASE_URL: await t.fresh() });
        const report = JSON.parse(stdout) as { created: number; rejected: number; seconds: number };
        if (report.created !== IMPORT_ROWS) throw new Error(`import created ${report.created} of ${IMPORT_ROWS} (${report.rejected} rejected)`);
        r.importRps.push(IMPORT_ROWS / report.seconds);
      };
      const baseline = async (input: string, into: number[], shape: string[] = []) => {
        const stdout = child(['bench/import-baseline.ts', await t.fresh(), input, String(BATCH), ...shape], {});
        const m = /^RESULT (.*)$/m.exec(stdout);
        if (!m) throw new Error(`baseline printed no result: ${stdout}`);
        const res = JSON.parse(m[1]!) as { rows: number; seconds: number };
        if (res.rows !== IMPORT_ROWS) throw new Error(`baseline inserted ${res.rows} rows`);
        into.push(res.rows / res.seconds);
      };
      const runInsert = () => baseline(t.sqlite ? sqliteRecords : records, r.insertRps);
      const runSet = () => baseline(t.sqlite ? sqliteRecords : records, r.setRps, ['set']);
      const runNaive = () => baseline(csv, r.naiveRps);
      for (let round = 0; round < IMPORT_ROUNDS; round++) {
        const order = [runImport, runInsert, runSet, runNaive];
        for (const f of round % 2 ? order.reverse() : order) await f();
      }
      const ratios = r.importRps.map((v, i) => v / r.insertRps[i]!);
      out.push({ section: 'import', name: `${t.name}: plain batched INSERT of the same rows (${BATCH}/transaction)`, value: `${fmt(median(r.insertRps))} rows/s`, baseline: '—' });
      out.push({
        section: 'import', name: `${t.name}: warden import of ${fmt(IMPORT_ROWS)} hashed rows (CSV, checked, matched)`, value: `${fmt(median(r.importRps))} rows/s`,
        baseline: `${fmt(median(r.insertRps))} rows/s INSERT`, ratio: median(ratios), goal: '≥ 0.8', pass: median(ratios) >= 0.8, spread: spread(ratios),
      });
      const set = r.importRps.map((v, i) => v / r.setRps[i]!);
      out.push({
        section: 'import', name: `${t.name}:   the same vs one set-based INSERT per batch, the import's statement shape, no checks or events (ref)`,
        value: `${fmt(median(r.importRps))} rows/s`, baseline: `${fmt(median(r.setRps))} rows/s ${t.sqlite ? 'multi-row VALUES' : 'unnest()'}`, ratio: median(set), spread: spread(set),
      });
      const naive = r.importRps.map((v, i) => v / r.naiveRps[i]!);
      out.push({
        section: 'import', name: `${t.name}:   the same vs a naive loader: csv-parse + the same INSERTs, no checks (ref)`, value: `${fmt(median(r.importRps))} rows/s`,
        baseline: `${fmt(median(r.naiveRps))} rows/s naive`, ratio: median(naive), spread: spread(naive),
      });
    }
  } finally {
    for (const t of targets) await t.cleanup();
  }
  raw.import = { rows: IMPORT_ROWS, batch: BATCH, results };
  return out;
}

// ---- legacy-hash sign-in cost ----------------------------------------------------------------------

const pbkdf2 = promisify(pbkdf2Callback);

/** Raw verifies, written as each library's own check: the baseline. */
const RAW: Record<string, (hash: string, password: string) => Promise<boolean>> = {
  'werkzeug-pbkdf2-sha256-default': async (h, p) => {
    const [method, salt, hex] = h.split('$') as [string, string, string];
    const iterations = Number(method.split(':')[2]);
    return timingSafeEqual(await pbkdf2(p, salt, iterations, 32, 'sha256'), Buffer.from(hex, 'hex'));
  },
  'bcrypt-2b-default': (h, p) => bcryptVerify(p, h),
  'passlib-argon2-default': (h, p) => argon2Verify(h, p),
  'django-pbkdf2-sha256-default': async (h, p) => {
    const [, iterations, salt, b64] = h.split('$') as [string, string, string, string];
    return timingSafeEqual(await pbkdf2(p, salt, Number(iterations), 32, 'sha256'), Buffer.from(b64, 'base64'));
  },
};

/** Samples per format: enough for a stable median, about 4 s of work per candidate. */
const LEGACY_BUDGET_MS = 4000;

export async function sectionLegacy(raw: Record<string, unknown>): Promise<BenchRow[]> {
  const out: BenchRow[] = [];
  const hasher = createArgon2Hasher();
  const timings: Record<string, { raw: number[]; warden: number[] }> = {};
  const time = async (f: () => Promise<boolean>): Promise<number> => {
    const t0 = process.hrtime.bigint();
    if (!(await f())) throw new Error('the password did not verify');
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  for (const [kind, rawVerify] of Object.entries(RAW)) {
    const { hash, password } = fixture(kind);
    const candidates: [number[], () => Promise<boolean>][] = [];
    const t = (timings[kind] = { raw: [] as number[], warden: [] as number[] });
    candidates.push([t.raw, () => rawVerify(hash, password)], [t.warden, () => hasher.verify(hash, password)]);
    const once = (await time(candidates[0]![1])) + (await time(candidates[1]![1])); // warm-up
    const n = Math.max(8, Math.min(200, Math.round(LEGACY_BUDGET_MS / (once / 2))));
    // One call of each at a time, alternating which goes first: drift on this shared machine hits both alike.
    for (let i = 0; i < n; i++) for (const [into, f] of i % 2 ? [...candidates].reverse() : candidates) into.push(await time(f));
    const ratio = median(t.warden) / median(t.raw);
    // Spread: the ratio over each half of the samples.
    const half = (xs: number[], k: number) => xs.filter((_, i) => i % 2 === k);
    const halves = [0, 1].map((k) => median(half(t.warden, k)) / median(half(t.raw, k)));
    out.push({
      section: 'legacy', name: `${kind}: Warden's check (parse, limits, limiter, verify)`, value: `${fmt(median(t.warden), 1)} ms`,
      baseline: `${fmt(median(t.raw), 1)} ms raw verify`, ratio, goal: '≤ 1.1×', pass: ratio <= 1.1, spread: `${spread(halves)} (${n} calls each)`,
    });
  }
  // What the first successful sign-in adds once: today's argon2id hash of the password.
  const rehash: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = process.hrtime.bigint();
    await argon2Hash('correct horse battery staple', HASH_OPTIONS);
    rehash.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  out.push({ section: 'legacy', name: 'the rehash after the first sign-in: argon2id hash (ref)', value: `${fmt(median(rehash), 1)} ms`, baseline: '—' });
  raw.legacy = { ms_per_check: timings, rehash_ms: rehash };
  return out;
}
