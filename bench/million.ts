// `npm run bench -- million` (not in the default run: it loads millions of rows): Warden with
// 1,000 then 100,000 then 1,000,000 users, each with a live session and ten security events, on
// SQLite and PostgreSQL. At each size it measures, one call at a time through the accounts API, the
// operations a large deployment runs all day — sign-in (its lookup alone too), refresh, /me, and
// each again over a sample of users served just before (warm: their pages in memory) — and
// the administrators' ones: the first page of users, a search by email and by username, a page
// with its total for each filter (a role, deactivated, unverified, a legacy hash, and the four at
// once), and the overview; the latency at each size is compared with the 1,000-user figure (goal:
// within 1.5×). Every SQL statement those calls ran is then EXPLAINed, and a plan that scans the
// users, sessions or events table is reported ("SCAN users" in SQLite, "Seq Scan" in PostgreSQL).
// Finally, with 1,000,000 users, start-up time and memory of a fresh server process with and
// without 1,000,000 live revocation entries (plus expired ones it must not load).
//
// Rows are bulk-inserted straight into the tables (one precomputed argon2id hash for everyone but
// the legacy ones), through the storage's column tables so a new column does not break the loader.
// The users vary as a directory does: one in fifty an admin, one in fifty deactivated, one in ten
// unverified, one in twenty on a legacy hash. Of the events, the last 24 hours hold the
// same 1,000 sign-ins at every size (the rest are older), so the overview's sign-in counts compare
// one range read in a table of 10,000 and of 10,000,000 events.
import { statSync } from 'node:fs';
import { hash } from '@node-rs/argon2';
import Database from 'better-sqlite3';
import pg from 'pg';
import { HASH_OPTIONS } from '../src/accounts/argon2-hasher.js';
import type { Warden } from '../src/server.js';
import { EVENTS, REVOCATIONS, SESSIONS, USERS, type Column, type Table } from '../src/storage/columns.js';
import type { EventRecord, EventType, SessionRecord, StoredRevocation, UserRecord } from '../src/storage/index.js';
import { POSTGRES, SQLITE } from '../src/storage/sql.js';
import type { JwtClaims } from '../toolkit/src/tokens/types.js';
import { freshDb, POSTGRES_URL, postgresUnavailable, wardenOn, type BenchDb } from './db.js';
import { alternating, median, startPinned } from './lib.js';
import { fmt, notes, percentile, raw, rows, spread } from './report.js';

const STAGES = (process.env.BENCH_MILLION_STAGES ?? '1000,100000,1000000').split(',').map(Number);
const LIVE_REVOCATIONS = Number(process.env.BENCH_MILLION_REVOCATIONS ?? 1_000_000);
const ENGINES = (process.env.BENCH_MILLION_ENGINES ?? 'sqlite,postgres').split(',');
const unknownEngine = ENGINES.find((e) => e !== 'sqlite' && e !== 'postgres');
if (unknownEngine !== undefined) throw new Error(`BENCH_MILLION_ENGINES: unknown engine ${unknownEngine} (sqlite, postgres)`);
const EXPIRED_REVOCATIONS = Math.round(LIVE_REVOCATIONS / 5);
const PASSWORD = 'correct horse battery staple';
const CHEAP_OPS = 200; // per operation and size
const SIGNINS = 20; // argon2id costs tens of ms each
const DAY = 86_400_000;
const EVENTS_PER_USER = 10;
const RECENT_SIGNINS = 1000; // events in the last 24 hours, at every size
const LEGACY_HASH = 'pbkdf2:sha256:600000$bench$00'; // a werkzeug-shaped hash: not today's argon2id

const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
const userId = (i: number) => `00000000-0000-4000-8000-${hex(i, 12)}`;
const sessionId = (i: number) => `00000001-0000-4000-8000-${hex(i, 12)}`;
const eventId = (i: number, time: number) => `${hex(time, 12).slice(0, 8)}-${hex(time, 12).slice(8)}-7000-8000-${hex(i, 12)}`;

// Who is what (see the header); the operations of a signed-in user pick among the plain ones.
// (Shares that fill a first page of 20 at 1,000 users too, so each size lists as many rows.)
const isAdmin = (i: number) => i % 50 === 3;
const isInactive = (i: number) => i % 50 === 25;
const isUnverified = (i: number) => i % 10 === 5;
const isLegacy = (i: number) => i % 20 === 7;
const isPlain = (i: number) => !isInactive(i) && !isLegacy(i);
const firstJti = (i: number) => `00000002-0000-4000-8000-${hex(i, 12)}`;

// ---- bulk loading ------------------------------------------------------------------------------

type Loader = <R>(table: Table<R>, from: number, to: number, record: (i: number) => R) => Promise<void>;

/** Columns of a table in insert order (fields, then derived), with how to get each value. */
function columnsOf<R>(t: Table<R>): Array<Column & { value: (r: R) => unknown }> {
  return [
    ...Object.entries<Column>(t.fields).map(([field, c]) => ({ ...c, value: (r: R) => r[field as keyof R] })),
    ...t.derived.map((d) => ({ ...d, value: (r: R) => d.derive(String(r[d.from])) })),
  ];
}

function sqliteLoader(file: string): { load: Loader; close(): void } {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF'); // loading only; Warden's own connection keeps FULL
  db.pragma('foreign_keys = OFF');
  return {
    async load(t, from, to, record) {
      const cols = columnsOf(t);
      const insert = db.prepare(`INSERT INTO ${t.name} (${cols.map((c) => c.name).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`);
      const batch = db.transaction((a: number, b: number) => {
        for (let i = a; i < b; i++) {
          const r = record(i);
          insert.run(...cols.map((c) => {
            const v = c.value(r);
            return v === null || v === undefined ? null : SQLITE.encode(c.kind, v);
          }));
        }
      });
      for (let a = from; a < to; a += 50_000) batch(a, Math.min(to, a + 50_000));
    },
    close: () => db.close(),
  };
}

function postgresLoader(schema: string): { load: Loader; close(): Promise<void> } {
  const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1, options: `-c search_path=${schema}` });
  const arrayType: Record<Column['kind'], string> = { text: 'text[]', time: 'bigint[]', integer: 'bigint[]', boolean: 'boolean[]', json: 'text[]' };
  return {
    async load(t, from, to, record) {
      const cols = columnsOf(t);
      // One statement per 10,000 rows: a column-wise array per column, unnested into rows.
      const text = `INSERT INTO ${t.name} (${cols.map((c) => c.name).join(', ')})
        SELECT ${cols.map((c, i) => (c.kind === 'json' ? `c${i}::jsonb` : `c${i}`)).join(', ')}
        FROM unnest(${cols.map((c, i) => `$${i + 1}::${arrayType[c.kind]}`).join(', ')}) AS u(${cols.map((_, i) => `c${i}`).join(', ')})`;
      for (let a = from; a < to; a += 10_000) {
        const arrays: unknown[][] = cols.map(() => []);
        for (let i = a; i < Math.min(to, a + 10_000); i++) {
          const r = record(i);
          cols.forEach((c, k) => {
            const v = c.value(r);
            arrays[k]!.push(v === null || v === undefined ? null : POSTGRES.encode(c.kind, v));
          });
        }
        await pool.query(text, arrays);
      }
    },
    close: () => pool.end(),
  };
}

// ---- what the measured calls ran: every SQL text, for EXPLAIN --------------------------------

const captured = new Map<string, unknown[]>();
let capturing = false;
{
  const prepare = Database.prototype.prepare;
  Database.prototype.prepare = function (this: Database.Database, source: string) {
    if (capturing && !captured.has(source)) captured.set(source, []);
    return prepare.call(this, source);
  } as typeof prepare;
  const query = pg.Client.prototype.query as (...a: unknown[]) => unknown;
  (pg.Client.prototype as unknown as { query: unknown }).query = function (this: pg.Client, ...a: unknown[]) {
    const [text, values] = a;
    if (capturing && typeof text === 'string' && !/^(BEGIN|COMMIT|ROLLBACK)/i.test(text) && !captured.has(text)) captured.set(text, (values as unknown[]) ?? []);
    return query.apply(this, a);
  };
}

/**
 * Whether a PostgreSQL plan reads all of a big table (users, sessions, events, user_roles): a Seq Scan, or an index scan with no
 * Index Cond that no Limit stops (an Index Only Scan feeding count(*), say).
 */
function pgScans(lines: string[]): boolean {
  const nodes: Array<{ indent: number; text: string; cond: boolean }> = [];
  for (const l of lines) {
    const arrow = l.indexOf('->');
    if (nodes.length === 0 || arrow >= 0) nodes.push({ indent: arrow >= 0 ? arrow : 0, text: l.trim(), cond: false });
    else if (/Index Cond:/.test(l)) nodes.at(-1)!.cond = true;
  }
  return nodes.some((n, i) => {
    if (/Seq Scan on (users|sessions|events|user_roles)\b/.test(n.text)) return true;
    if (!/Index (Only )?Scan (Backward )?using \S+ on (users|sessions|events|user_roles)\b/.test(n.text) || n.cond) return false;
    const parent = nodes.slice(0, i).reverse().find((p) => p.indent < n.indent);
    return !(parent && /^(->\s+)?Limit\b/.test(parent.text));
  });
}

/** The plan lines of every captured statement, and which of them scan a big table. */
async function explainAll(db: BenchDb): Promise<{ plans: Record<string, string[]>; scans: string[] }> {
  const plans: Record<string, string[]> = {};
  const scans: string[] = [];
  const rawDb = db.raw({ max: 1 });
  for (const [text, values] of captured) {
    let lines: string[];
    if (db.kind === 'sqlite') {
      // Parameters as NULL: the plan SQLite picks does not depend on their values.
      const out = await rawDb.query(`EXPLAIN QUERY PLAN ${text}`, Array.from(text.matchAll(/\?/g), () => null));
      lines = out.map((r) => String(r.detail));
      // An ordered walk of a (non-covering) index that a LIMIT stops after a page is bounded.
      const walk = (l: string) => /LIMIT/i.test(text) && /^SCAN (users|sessions|events|user_roles) USING INDEX \S+$/.test(l);
      if (lines.some((l) => /\bSCAN (users|sessions|events|user_roles)\b/.test(l) && !walk(l))) scans.push(text);
    } else {
      lines = await explainPg(text, values);
      if (pgScans(lines)) scans.push(text);
    }
    plans[text.replace(/\s+/g, ' ').trim()] = lines;
  }
  await rawDb.close();
  return { plans, scans };

  async function explainPg(text: string, values: unknown[]): Promise<string[]> {
    const c = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${db.where.split(' schema ')[1]}` });
    await c.connect();
    try {
      const r = await c.query(`EXPLAIN ${text}`, values);
      return r.rows.map((x: Record<string, unknown>) => String(x['QUERY PLAN']));
    } finally {
      await c.end();
    }
  }
}

// ---- one database ------------------------------------------------------------------------------

const ROUNDS = 5; // per operation and size: the big and the reference database take turns

/**
 * One measured operation. `grows`: why its cost rises with the size (no goal then). `prepare`: run
 * before each round, untimed (the warm rows read their sample of users there).
 */
interface Op {
  n: number;
  op: () => Promise<unknown>;
  grows?: string;
  prepare?: () => Promise<unknown>;
}

/**
 * The warm rows' sample: this many users, each read once before every round. The cold rows pick any
 * user of a million, whose pages the machine has usually paged out (see the README); these tell
 * what the same calls cost when the pages they read are in memory, as on a server with memory for
 * its data. 2,000 users' pages (tens of MB) still miss the CPU's caches.
 */
const WARM_SAMPLE = 2000;
/** The first users of that sample, for the warm sign-in (each costs an argon2id verification). */
const SIGNIN_WARM_SAMPLE = 50;

/** A database of `size` users, Warden on it, and the operations measured on it. */
interface Subject {
  db: BenchDb;
  loader: ReturnType<typeof sqliteLoader> | ReturnType<typeof postgresLoader>;
  warden: Warden;
  loaded: number;
  /** Each measured operation, by name. */
  ops(): Record<string, Op>;
}

/**
 * Synthetic but realistic addresses: a local part that differs per user (10 hex digits of a hash
 * of i) at one of a few domains. (Counting-style addresses such as user123@x share most of their
 * trigrams, and no directory looks like that.)
 */
const DOMAINS = ['example.com', 'example.org', 'mail.example.net', 'corp.example', 'uni.example.edu'];
function localPart(i: number): string {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  const a = (h ^ (h >>> 16)) >>> 0;
  return hex(a, 8) + hex(i % 256, 2);
}
const emailOf = (i: number) => `${localPart(i)}@${DOMAINS[i % DOMAINS.length]}`;
/** A username that differs per user as people's do (`user123`-style names share most of their trigrams). */
const usernameOf = (i: number) => `u${localPart(i ^ 0x5bd1e995).slice(0, 8)}${i % 100}`;

async function subject(kind: 'sqlite' | 'postgres', label: string, passwordHash: string, secret: string, now: number): Promise<Subject> {
  const db = await freshDb(kind, label);
  const storage = await db.open(); // creates the schema (migrations)
  const warden = await wardenOn(storage, secret);
  const loader = kind === 'sqlite' ? sqliteLoader(db.where) : postgresLoader(db.where.split(' schema ')[1]!);
  // Current refresh claims per user, as their holders would present them.
  const refresh = new Map<number, JwtClaims>();
  const claimsOf = (i: number): JwtClaims => refresh.get(i) ?? {
    sub: userId(i), sid: sessionId(i), jti: firstJti(i), type: 'refresh', fresh: false,
    iat: Math.floor(now / 1000), nbf: Math.floor(now / 1000), exp: Math.floor((now + 30 * DAY) / 1000),
  };
  const meta = { ip: '127.0.0.1', userAgent: 'bench' };
  let signIns = 0; // made on this database, each one more sign-in event in the last 24 hours
  const signIn = (i: number) => (signIns++, warden.accounts.credentials.signIn(usernameOf(i), PASSWORD, meta));
  const s: Subject = {
    db, loader, warden, loaded: 0,
    ops() {
      const pick = () => Math.floor(Math.random() * s.loaded);
      const plain = () => {
        let i = pick();
        while (!isPlain(i)) i = (i + 1) % s.loaded;
        return i;
      };
      const admin = warden.accounts.admin;
      const first = { limit: 20, offset: 0 };
      // Each filter's expected total, counted here once (outside the timing) from the loader's rules.
      const shares = {
        admin: isAdmin, inactive: isInactive, unverified: isUnverified, legacy: isLegacy,
        four: (i: number) => !isInactive(i) && !isUnverified(i) && !isLegacy(i),
      };
      const expected = Object.fromEntries(Object.keys(shares).map((k) => [k, 0])) as Record<keyof typeof shares, number>;
      for (let i = 0; i < s.loaded; i++) for (const [k, share] of Object.entries(shares)) if (share(i)) expected[k as keyof typeof shares]++;
      /** A filtered first page and its total (which must be the filter's count). */
      const filtered = (q: Omit<Parameters<typeof admin.list>[0], 'limit' | 'offset'>, which: keyof typeof shares) => ({
        n: CHEAP_OPS,
        op: async () => {
          const r = await admin.list({ ...first, ...q });
          if (r.total !== expected[which] || r.users.length === 0) throw new Error(`${JSON.stringify(q)}: total ${r.total}, expected ${expected[which]}`);
        },
      });
      // The warm rows: the call over a fixed sample of users, each of whom it has just served (Op.prepare).
      const sample = Array.from({ length: WARM_SAMPLE }, plain);
      /** Rotates user i's session with the refresh claims its holder has now. */
      const refreshOf = async (i: number) => {
        refresh.set(i, (await warden.accounts.sessions.refresh(claimsOf(i))).refresh.claims);
      };
      const warm = (call: (i: number) => Promise<unknown>, n = CHEAP_OPS, users = sample): Op => ({
        n,
        prepare: async () => {
          for (const i of users) await call(i);
        },
        op: () => call(users[Math.floor(Math.random() * users.length)]!),
      });
      return {
        'sign-in (argon2id included)': { n: SIGNINS, op: () => signIn(plain()) },
        // A sign-in writes into pages of several indexes that are the user's own (sessions by user,
        // events by user and actor, the user's devices): warm, over fewer users (argon2id is slow).
        [`sign-in, warm (${fmt(SIGNIN_WARM_SAMPLE)} of the ${fmt(WARM_SAMPLE)} warm-sample users, signed in just before)`]: warm(signIn, SIGNINS, sample.slice(0, SIGNIN_WARM_SAMPLE)),
        "sign-in's lookup (users.findByLogin)": { n: CHEAP_OPS, op: () => storage.users.findByLogin(usernameOf(pick())) },
        'refresh (rotation + user)': { n: CHEAP_OPS, op: () => refreshOf(plain()) },
        '/me (profile)': { n: CHEAP_OPS, op: () => warden.accounts.credentials.profile(userId(plain())) },
        [`sign-in's lookup, warm (${fmt(WARM_SAMPLE)} users looked up just before)`]: warm((i) => storage.users.findByLogin(usernameOf(i))),
        [`/me, warm (the same ${fmt(WARM_SAMPLE)} users, read just before)`]: warm((i) => warden.accounts.credentials.profile(userId(i))),
        [`refresh, warm (the same ${fmt(WARM_SAMPLE)} users' sessions, refreshed just before)`]: warm(refreshOf),
        'admin list, first page of 20': { n: CHEAP_OPS, op: () => admin.list(first) },
        'admin search by email (local part + @)': {
          n: CHEAP_OPS,
          op: async () => {
            const i = pick();
            const r = await admin.list({ ...first, email: `${localPart(i)}@` });
            if (r.total < 1) throw new Error(`search for ${localPart(i)}@ found nothing`);
          },
        },
        'admin search by username (6 of its characters)': {
          n: CHEAP_OPS,
          op: async () => {
            const part = usernameOf(pick()).slice(2, 8);
            const r = await admin.list({ ...first, username: part });
            if (r.total < 1) throw new Error(`search for ${part} found nothing`);
          },
        },
        'admin list + total, role admin (2%)': filtered({ role: 'admin' }, 'admin'),
        'admin list + total, deactivated (2%)': filtered({ active: false }, 'inactive'),
        'admin list + total, unverified (10%)': filtered({ verified: false }, 'unverified'),
        'admin list + total, legacy hash (5%)': filtered({ legacyHash: true }, 'legacy'),
        'admin list + total, all four filters (role user, active, verified, current hash: 85%)': filtered(
          { role: 'user', active: true, verified: true, legacyHash: false }, 'four'),
        "overview's sign-in counts (1,000 in the last 24 h)": {
          n: CHEAP_OPS,
          op: async () => {
            const since = Date.now() - DAY;
            const n = (await Promise.all((['signin.succeeded', 'signin.failed', 'signin.throttled'] as const).map((t) => storage.events.count(t, since))))
              .reduce((a, b) => a + b, 0);
            // The loaded ones, and those the sign-in measurements wrote.
            if (n < RECENT_SIGNINS || n > RECENT_SIGNINS + signIns) throw new Error(`${n} sign-ins in the last 24 h, expected ${RECENT_SIGNINS} to ${RECENT_SIGNINS + signIns}`);
          },
        },
        // No goal: counting the live sessions reads one index entry per live session (one per user here).
        'admin overview (users, 24 h sign-ins, live sessions)': { n: CHEAP_OPS, op: () => admin.overview(), grows: 'with live sessions' },
        // The server's hourly purge, one batch, when nothing is due yet (its usual case): it must
        // find that out from its indexes, not by reading every session (migration 12).
        'hourly session purge, one batch, none due': {
          n: CHEAP_OPS,
          op: async () => {
            const n = await storage.sessions.purge(Date.now() - 7 * DAY, 500);
            if (n !== 0) throw new Error(`the purge deleted ${n} sessions, none of which was due`);
          },
        },
      };
    },
  };
  return s;
}

/** Loads users (and a session each) up to `size`. Seconds taken. */
async function grow(s: Subject, size: number, passwordHash: string, now: number): Promise<number> {
  const t0 = performance.now();
  const user = (i: number): UserRecord => ({
    id: userId(i), username: usernameOf(i), email: emailOf(i), fullName: null, roles: isAdmin(i) ? ['user', 'admin'] : ['user'],
    isActive: !isInactive(i), emailVerified: !isUnverified(i), passwordHash: isLegacy(i) ? LEGACY_HASH : passwordHash, legacyId: null,
    createdAt: now - 365 * DAY + i, updatedAt: now - 365 * DAY + i,
  });
  // Ten per user: the first RECENT_SIGNINS sign-ins within the last 24 hours, the rest from 2 to 30 days ago.
  const TYPES: EventType[] = ['signin.succeeded', 'signin.succeeded', 'signin.failed', 'session.refreshed', 'signin.succeeded', 'user.updated', 'signin.throttled', 'session.refreshed', 'signin.succeeded', 'signout'];
  const event = (i: number): EventRecord => {
    const recent = i < RECENT_SIGNINS;
    const time = recent ? now - 60_000 - i * 60_000 : now - 2 * DAY - ((i * 7919) % (28 * DAY));
    const type = recent ? (['signin.succeeded', 'signin.failed', 'signin.throttled'] as const)[i % 3]! : TYPES[i % TYPES.length]!;
    return {
      id: eventId(i, time), time, type, actorId: null, userId: userId(Math.floor(i / EVENTS_PER_USER)), sessionId: null, ip: '127.0.0.1',
      userAgent: 'bench', outcome: type === 'signin.failed' || type === 'signin.throttled' ? 'failure' : 'success', details: {},
    } as EventRecord;
  };
  const session = (i: number): SessionRecord => ({
    id: sessionId(i), userId: userId(i), refreshJti: firstJti(i), createdAt: now, lastUsedAt: now, expiresAt: now + 30 * DAY,
    idleExpiresAt: now + 7 * DAY, userAgent: 'bench', ip: '127.0.0.1', endedAt: null, endReason: null, previousJti: null, rotatedAt: null,
  });
  await s.loader.load(USERS, s.loaded, size, user);
  await s.loader.load(SESSIONS, s.loaded, size, session);
  await s.loader.load(EVENTS, s.loaded * EVENTS_PER_USER, size * EVENTS_PER_USER, event);
  s.loaded = size;
  if (s.db.kind === 'postgres') {
    // What autovacuum does after such a load: statistics, the visibility map, and the GIN index's
    // pending list merged (until then every search would read that list from end to end).
    const r = s.db.raw({ max: 1 });
    for (const t of ['users', 'sessions', 'events', 'user_roles']) await r.run(`VACUUM ANALYZE ${t}`);
    await r.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Latencies of one operation on the reference and the big database, in alternating rounds. */
async function timePair(ref: Op, big: Op) {
  const per = Math.max(1, Math.round(ref.n / ROUNDS));
  const run = async (o: Op, into: number[]) => {
    await o.prepare?.();
    const lat: number[] = [];
    for (let i = 0; i < per; i++) {
      const t = performance.now();
      await o.op();
      lat.push(performance.now() - t);
    }
    into.push(...lat);
    return median(lat);
  };
  for (let i = 0; i < Math.min(20, per); i++) (await ref.op(), await big.op()); // warm-up
  const a: number[] = [];
  const b: number[] = [];
  const ratios = (await alternating(ROUNDS, () => run(ref, a), () => run(big, b))).map(([x, y]) => y / x);
  return { ref: { p50: median(a), p99: percentile(a, 99) }, big: { p50: median(b), p99: percentile(b, 99) }, ratio: median(ratios), ratios };
}

async function runOn(kind: 'sqlite' | 'postgres', passwordHash: string, secret: string): Promise<void> {
  const label = kind === 'sqlite' ? 'SQLite' : 'PostgreSQL';
  const now = Date.now();
  const section = 'million';
  const refSize = STAGES[0]!;
  let ref: Subject | undefined;
  let big: Subject | undefined;
  try {
    // The reference: its own database of the smallest size, measured in turns with the big one,
    // so that whatever else the machine does hits both alike.
    ref = await subject(kind, 'million_ref', passwordHash, secret, now);
    big = await subject(kind, 'million', passwordHash, secret, now);
    await grow(ref, refSize, passwordHash, now);
    const figures: Record<string, unknown> = {};
    const loadSeconds: Record<number, number> = {};
    const fileBytes: Record<number, number> = {}; // SQLite: how big the file is (its memory map's reach, see SQLITE_PRAGMAS)
    for (const size of STAGES.slice(1)) {
      loadSeconds[size] = await grow(big, size, passwordHash, now);
      if (big.db.kind === 'sqlite') fileBytes[size] = statSync(big.db.where).size;
      const refOps = ref.ops();
      const bigOps = big.ops();
      for (const name of Object.keys(bigOps)) {
        capturing = true; // (SQLite prepares a statement once, at its first use: that is in here)
        const t = await timePair(refOps[name]!, bigOps[name]!);
        capturing = false;
        figures[`${size} ${name}`] = t;
        rows.push({
          section, name: `${label} ${fmt(size)} users: ${name}`, value: `p50 ${fmt(t.big.p50, 3)} / p99 ${fmt(t.big.p99, 2)} ms`,
          baseline: `p50 ${fmt(t.ref.p50, 3)} ms with ${fmt(refSize)}`, ratio: t.ratio,
          ...(bigOps[name]!.grows === undefined ? { goal: '≤ 1.5×', pass: t.ratio <= 1.5 } : { goal: `grows ${bigOps[name]!.grows}` }),
          spread: `rounds ${spread(t.ratios)}`,
        });
      }
    }
    rows.push({ section, name: `${label}: bulk load (users, a session and ${EVENTS_PER_USER} events each)`, value: STAGES.slice(1).map((s) => `to ${fmt(s)} in ${fmt(loadSeconds[s]!, 1)} s${fileBytes[s] === undefined ? '' : ` (file ${fmt(fileBytes[s]! / 2 ** 30, 2)} GiB)`}`).join(', '), baseline: '—' });
    const db = big.db;
    const loader = big.loader;
    const schema = db.where.split(' schema ')[1];
    const { plans, scans } = await explainAll(db);
    captured.clear();
    rows.push({
      section, name: `${label}: EXPLAIN of the ${Object.keys(plans).length} statements those calls ran`, value: scans.length === 0 ? 'no scan of users/sessions/events/user_roles' : `${scans.length} scan${scans.length > 1 ? 's' : ''}`,
      baseline: kind === 'sqlite' ? 'no "SCAN users|sessions|events|user_roles" (but a LIMITed index walk)' : 'no Seq Scan (nor unbounded index scan) on users|sessions|events|user_roles', goal: 'none', pass: scans.length === 0,
    });
    for (const s of scans) notes.push(`${label} plan scans: ${s.replace(/\s+/g, ' ').trim().slice(0, 160)} → ${(plans[s.replace(/\s+/g, ' ').trim()] ?? []).join(' | ')}`);
    raw[`million ${label}`] = { figures, loadSeconds, plans, scans };

    // ---- start-up and memory with the largest size, without and with live revocations --------
    await ref.warden.close();
    await big.warden.close();
    const live = (i: number): StoredRevocation => (i % 3 === 0
      ? { kind: 'sid', key: `00000003-0000-4000-8000-${hex(i, 12)}`, value: '', expiresAt: now + DAY, recordedAt: now }
      : { kind: 'jti', key: `00000004-0000-4000-8000-${hex(i, 12)}`, value: '', expiresAt: now + DAY, recordedAt: now });
    const expired = (i: number): StoredRevocation => ({ kind: 'jti', key: `00000005-0000-4000-8000-${hex(i, 12)}`, value: '', expiresAt: now - DAY, recordedAt: now - 2 * DAY });
    await loader.load(REVOCATIONS, 0, EXPIRED_REVOCATIONS, expired);
    const url = kind === 'sqlite' ? `sqlite:${db.where}` : `${POSTGRES_URL}${POSTGRES_URL.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const startup = async () => {
      const child = await startPinned('startup', [], { BENCH_SECRET: secret, BENCH_DATABASE_URL: url }, undefined, ['--expose-gc']);
      const r = (await child.result) as { ms: number; heapBefore: number; heapAfter: number; rss: number; indexSize: number; maxRssKb: number };
      await child.stop();
      return r;
    };
    const without = await startup();
    const t0 = performance.now();
    await loader.load(REVOCATIONS, EXPIRED_REVOCATIONS, EXPIRED_REVOCATIONS + LIVE_REVOCATIONS, (i) => live(i - EXPIRED_REVOCATIONS));
    const revLoad = (performance.now() - t0) / 1000;
    const withLive = await startup();
    const perEntry = (withLive.heapAfter - without.heapAfter) / LIVE_REVOCATIONS;
    const largest = STAGES.at(-1)!;
    rows.push({
      section, name: `${label} ${fmt(largest)} users: server start-up, no live revocations (${fmt(EXPIRED_REVOCATIONS)} expired)`,
      value: `${fmt(without.ms)} ms; heap ${fmt(without.heapAfter / 2 ** 20, 1)} MiB, RSS ${fmt(without.rss / 2 ** 20)} MiB`, baseline: '—',
      spread: `index entries loaded: ${fmt(without.indexSize)}`,
    });
    rows.push({
      section, name: `${label} ${fmt(largest)} users: server start-up with ${fmt(LIVE_REVOCATIONS)} live revocations`,
      value: `${fmt(withLive.ms)} ms; heap ${fmt(withLive.heapAfter / 2 ** 20, 1)} MiB, RSS ${fmt(withLive.rss / 2 ** 20)} MiB (peak ${fmt(withLive.maxRssKb / 1024)} MiB)`,
      baseline: `${fmt(without.ms)} ms without`, ratio: withLive.ms / without.ms,
      goal: 'expired not loaded', pass: withLive.indexSize === LIVE_REVOCATIONS,
      spread: `index entries loaded: ${fmt(withLive.indexSize)}; ${fmt(perEntry)} bytes of heap per live entry; revocations loaded in ${fmt(revLoad, 1)} s`,
    });
    raw[`million ${label} startup`] = { without, withLive, perEntryBytes: perEntry };
  } finally {
    for (const x of [ref, big]) {
      if (!x) continue;
      await x.warden.close().catch(() => undefined);
      await x.loader.close();
      await x.db.drop();
    }
  }
}

export async function sectionMillion(secret: string): Promise<void> {
  const passwordHash = await hash(PASSWORD, HASH_OPTIONS);
  if (ENGINES.includes('sqlite')) await runOn('sqlite', passwordHash, secret);
  if (!ENGINES.includes('postgres')) return;
  const pgDown = await postgresUnavailable();
  if (pgDown) notes.push(`million: ${pgDown}; PostgreSQL skipped`);
  else await runOn('postgres', passwordHash, secret);
}
