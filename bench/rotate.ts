// `npm run bench -- rotate`: refresh-token rotation on SQLite and PostgreSQL, as rotations per second
// against the database's own compare-and-swap of one row, measured in the same run:
//  - Warden: accounts.sessions.refresh(claims), what POST /api/auth/refresh runs after the guard
//    (the compare-and-swap of the session's refresh jti, the user lookup, two tokens issued);
//  - storage.sessions.rotate(...) alone (ref): the storage layer's share;
//  - baseline: `UPDATE sessions SET refresh_jti = ? WHERE id = ? AND refresh_jti = ?` through the
//    raw driver (better-sqlite3 with Warden's pragmas; a pg.Pool of the same size), on rows of the
//    same table.
// Every worker rotates its own session in a closed loop. PostgreSQL runs twice: one instance (one
// pool of 10, 16 workers), and 10 instances' worth: 10 storage handles in this one process, each
// with its own pool of 4 and Warden wired on it, 4 workers each (40 rotations in flight).
import { randomUUID } from 'node:crypto';
import type { JwtClaims } from '../toolkit/src/tokens/types.js';
import type { Warden } from '../src/server.js';
import type { Storage } from '../src/storage/index.js';
import { closedLoop, freshDb, postgresUnavailable, syncLoop, wardenOn, type BenchDb, type RawDb } from './db.js';
import { median } from './lib.js';
import { fmt, notes, percentile, raw, rows, spread } from './report.js';

const SECONDS = Number(process.env.BENCH_DB_SECONDS ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CAS = 'UPDATE sessions SET refresh_jti = ? WHERE id = ? AND refresh_jti = ?';
// The least a rotation must write since issue 13: the compare-and-swap and its event, committed
// together (SQLite: two statements in one transaction; PostgreSQL: one statement, the insert reading
// the UPDATE's row, so the event exists only if the swap matched).
const EVENT = "INSERT INTO events (id, occurred_at, type, actor_id, user_id, session_id, outcome, details) VALUES (?, ?, 'session.refreshed', ?, ?, ?, 'success', '{}')";
const CAS_EVENT_PG = `WITH s AS (UPDATE sessions SET refresh_jti = ? WHERE id = ? AND refresh_jti = ? RETURNING id, user_id)
  INSERT INTO events (id, occurred_at, type, actor_id, user_id, session_id, outcome, details)
  SELECT ?, ?, 'session.refreshed', user_id, user_id, id, 'success', '{}' FROM s`;

interface Setup {
  label: string;
  kind: 'sqlite' | 'postgres';
  instances: number;
  /** Pool size per instance (PostgreSQL). */
  pool: number;
  /** Workers per instance. */
  workers: number;
}

const SETUPS: Setup[] = [
  { label: 'SQLite', kind: 'sqlite', instances: 1, pool: 1, workers: 1 },
  // A server's load: many clients at once. Warden's rotations of one event-loop turn then share a
  // commit (src/storage/sqlite.ts); the raw CAS baseline is still one row per commit, as above.
  { label: 'SQLite', kind: 'sqlite', instances: 1, pool: 1, workers: 16 },
  { label: 'PostgreSQL, 1 instance', kind: 'postgres', instances: 1, pool: 10, workers: 16 },
  { label: 'PostgreSQL, 10 instances', kind: 'postgres', instances: 10, pool: 4, workers: 4 },
];

/** A user and a live session on `warden`; returns the session's current refresh claims. */
async function openSession(storage: Storage, warden: Warden): Promise<JwtClaims> {
  const id = randomUUID();
  const user = await storage.users.create({
    id, username: `u-${id}`, email: `${id}@bench.test`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'not-used-by-refresh',
  });
  const pair = await warden.accounts.sessions.open(user, { ip: '127.0.0.1', userAgent: 'bench' });
  return pair.refresh.claims;
}

interface Measured {
  perSecond: number;
  latencies: Float64Array;
}

async function runSetup(s: Setup, secret: string): Promise<void> {
  const db: BenchDb = await freshDb(s.kind, 'rotate');
  try {
    type Row = { id: string; jti: string; user: string };
    const instances: Array<{ storage: Storage; warden: Warden; raw: RawDb; refresh: JwtClaims[]; rotate: Row[]; cas: Row[]; casEvent: Row[]; casPrepared: Row[] }> = [];
    for (let i = 0; i < s.instances; i++) {
      const storage = await db.open({ max: s.pool });
      const warden = await wardenOn(storage, secret);
      const rawDb = db.raw({ max: s.pool });
      const refresh: JwtClaims[] = [];
      const rotate: Row[] = [];
      const cas: Row[] = [];
      const casEvent: Row[] = [];
      const casPrepared: Row[] = [];
      const row = (c: JwtClaims): Row => ({ id: c.sid as string, jti: c.jti, user: c.sub });
      for (let w = 0; w < s.workers; w++) {
        refresh.push(await openSession(storage, warden));
        rotate.push(row(await openSession(storage, warden)));
        cas.push(row(await openSession(storage, warden)));
        casEvent.push(row(await openSession(storage, warden)));
        if (s.kind === 'postgres') casPrepared.push(row(await openSession(storage, warden)));
      }
      instances.push({ storage, warden, raw: rawDb, refresh, rotate, cas, casEvent, casPrepared });
    }
    const total = s.instances * s.workers;
    const on = (w: number) => instances[Math.floor(w / s.workers)]!;
    const slot = (w: number) => w % s.workers;
    const ops: Record<string, () => Promise<Measured> | Measured> = {
      refresh: () => closedLoop(total, SECONDS, async (w) => {
        const inst = on(w);
        const pair = await inst.warden.accounts.sessions.refresh(inst.refresh[slot(w)]!);
        inst.refresh[slot(w)] = pair.refresh.claims;
      }),
      rotate: () => closedLoop(total, SECONDS, async (w) => {
        const inst = on(w);
        const row = inst.rotate[slot(w)]!;
        const now = Date.now();
        const newJti = randomUUID();
        const r = await inst.storage.sessions.rotate({ id: row.id, presentedJti: row.jti, newJti, now, idleExpiresAt: now + 7 * 86400_000, graceMs: 0 });
        if (r.status !== 'rotated') throw new Error(`rotate answered ${r.status}`);
        row.jti = newJti;
      }),
      cas: () => {
        if (s.kind === 'sqlite') {
          // better-sqlite3 is synchronous: the raw baseline is a plain loop.
          const row = instances[0]!.cas[0]!;
          const rawDb = instances[0]!.raw;
          return syncLoop(SECONDS, () => {
            const newJti = randomUUID();
            if (rawDb.runSync!(CAS, [newJti, row.id, row.jti]) !== 1) throw new Error('raw CAS missed');
            row.jti = newJti;
          });
        }
        return closedLoop(total, SECONDS, async (w) => {
          const inst = on(w);
          const row = inst.cas[slot(w)]!;
          const newJti = randomUUID();
          if ((await inst.raw.run(CAS, [newJti, row.id, row.jti])) !== 1) throw new Error('raw CAS missed');
          row.jti = newJti;
        });
      },
      // PostgreSQL: the same swap as a named prepared statement, as Warden's rotation is (SQLite's
      // baseline above is prepared already).
      ...(s.kind === 'postgres' ? {
        casPrepared: () => closedLoop(total, SECONDS, async (w) => {
          const inst = on(w);
          const row = inst.casPrepared[slot(w)]!;
          const newJti = randomUUID();
          if ((await inst.raw.runPrepared!('bench_cas', CAS, [newJti, row.id, row.jti])) !== 1) throw new Error('raw prepared CAS missed');
          row.jti = newJti;
        }),
      } : {}),
      casEvent: () => {
        if (s.kind === 'sqlite') {
          // With many in flight, the swaps of all the workers to one transaction, as Warden groups them.
          const batch = instances[0]!.casEvent;
          const rawDb = instances[0]!.raw;
          return syncLoop(SECONDS, () => {
            rawDb.runSync!('BEGIN IMMEDIATE');
            for (const row of batch) {
              const newJti = randomUUID();
              if (rawDb.runSync!(CAS, [newJti, row.id, row.jti]) !== 1) throw new Error('raw CAS missed');
              rawDb.runSync!(EVENT, [randomUUID(), Date.now(), row.user, row.user, row.id]);
              row.jti = newJti;
            }
            rawDb.runSync!('COMMIT');
          }, batch.length);
        }
        return closedLoop(total, SECONDS, async (w) => {
          const inst = on(w);
          const row = inst.casEvent[slot(w)]!;
          const newJti = randomUUID();
          if ((await inst.raw.run(CAS_EVENT_PG, [newJti, row.id, row.jti, randomUUID(), Date.now()])) !== 1) throw new Error('raw CAS + event missed');
          row.jti = newJti;
        });
      },
    };
    const names = Object.keys(ops);
    const results: Record<string, Measured[]> = Object.fromEntries(names.map((n) => [n, []]));
    for (const n of names) await ops[n]!(); // warm-up: JIT, connections, page cache
    for (let r = 0; r < ROUNDS; r++) {
      for (const n of r % 2 ? [...names].reverse() : names) results[n]!.push(await ops[n]!());
    }
    const section = 'rotate';
    const rate = (n: string) => results[n]!.map((m) => m.perSecond);
    const lat = (n: string) => {
      const all = Float64Array.from(results[n]!.flatMap((m) => [...m.latencies]));
      return `p50 ${fmt(percentile(all, 50), 2)} / p99 ${fmt(percentile(all, 99), 2)} ms`;
    };
    const base = rate('cas');
    const conc = s.kind === 'sqlite' ? (total === 1 ? '1 at a time' : `${total} in flight, one connection`) : `${total} in flight${s.instances > 1 ? `, ${s.instances} handles × pool ${s.pool}` : `, pool ${s.pool}`}`;
    raw[`rotate ${s.label} (${conc})`] = Object.fromEntries(names.map((n) => [n, { perSecond: rate(n), p50: percentile(Float64Array.from(results[n]!.flatMap((m) => [...m.latencies])), 50), p99: percentile(Float64Array.from(results[n]!.flatMap((m) => [...m.latencies])), 99) }]));
    rows.push({ section, name: `${s.label} (${conc}): raw CAS UPDATE of one row${s.kind === 'sqlite' && total > 1 ? ', one per commit (one at a time: the driver is synchronous)' : ''}`, value: `${fmt(median(base))} /s`, baseline: '—', spread: `${base.map((x) => fmt(x)).join(' / ')}; ${lat('cas')}` });
    for (const [n, label, goal] of [
      ['refresh', '  Warden refresh rotation (accounts.sessions.refresh)', 0.7],
      ['rotate', '  storage.sessions.rotate alone (ref)', undefined],
      ['casEvent', s.kind === 'sqlite' && total > 1
        ? `  raw CAS with its event row, ${total} swaps to a transaction (ref: the least issue 13 allows, grouped as Warden groups them)`
        : '  raw CAS with its event row, committed together (ref: the least issue 13 allows)', undefined],
    ] as const) {
      const ratios = rate(n).map((v, i) => v / base[i]!);
      rows.push({
        section, name: label, value: `${fmt(median(rate(n)))} /s`, baseline: `${fmt(median(base))} raw CAS/s`, ratio: median(ratios),
        goal: goal ? `≥ ${goal}` : undefined, pass: goal ? median(ratios) >= goal : undefined, spread: `${spread(ratios)}; ${lat(n)}`,
      });
    }
    if (s.kind === 'postgres') {
      const prepared = rate('casPrepared');
      const vsPrepared = rate('refresh').map((v, i) => v / prepared[i]!);
      rows.push({
        section, name: '  raw CAS UPDATE as a named prepared statement (ref: parsed and planned once per connection, as Warden\'s is)', value: `${fmt(median(prepared))} /s`,
        baseline: `${fmt(median(base))} raw CAS/s`, ratio: median(prepared.map((v, i) => v / base[i]!)), spread: `${spread(prepared.map((v, i) => v / base[i]!))}; ${lat('casPrepared')}`,
      });
      rows.push({
        section, name: '  Warden refresh rotation vs that prepared raw CAS (ref)', value: `${fmt(median(rate('refresh')))} /s`,
        baseline: `${fmt(median(prepared))} prepared raw CAS/s`, ratio: median(vsPrepared), spread: spread(vsPrepared),
      });
    }
    // Against the least a rotation must write (the swap and its event): what the rest of a refresh costs.
    const withEvent = rate('casEvent');
    const vsEvent = rate('refresh').map((v, i) => v / withEvent[i]!);
    rows.push({
      section, name: '  Warden refresh rotation vs raw CAS with its event (ref)', value: `${fmt(median(rate('refresh')))} /s`,
      baseline: `${fmt(median(withEvent))} raw CAS+event/s`, ratio: median(vsEvent), spread: spread(vsEvent),
    });
    for (const inst of instances) await inst.warden.close();
  } finally {
    await db.drop();
  }
}

export async function sectionRotate(secret: string): Promise<void> {
  const pgDown = await postgresUnavailable();
  if (pgDown) notes.push(`rotate: ${pgDown}; PostgreSQL rows skipped`);
  for (const s of SETUPS) {
    if (s.kind === 'postgres' && pgDown) continue;
    await runSetup(s, secret);
  }
}
