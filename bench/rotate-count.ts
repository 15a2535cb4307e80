// A fixed number of one-at-a-time SQLite rotations, for instruction counts that do not depend on
// the machine's load (bench/README.md, "Where a refresh's time goes"): run it under
// `valgrind --tool=callgrind --instr-atstart=no`, switch instrumentation on when it writes
// `$ROTATE_READY` (then write `$ROTATE_READY.on`), and dump when it writes `$ROTATE_READY.done`
// (then write `$ROTATE_READY.dumped`): callgrind_control -i on / -d, as bench/rotate-callgrind.sh does.
//   ROTATE_OP   refresh (accounts.sessions.refresh), rotate (storage.sessions.rotate), cas (the raw
//               UPDATE), casEvent (the raw UPDATE and its event row, one transaction)
//   ROTATE_N    timed operations (3000); ROTATE_WARM warm-up operations before them (4000)
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import type { JwtClaims } from '../toolkit/src/tokens/types.js';
import { freshDb, wardenOn } from './db.js';

const op = process.env.ROTATE_OP ?? 'refresh';
const N = Number(process.env.ROTATE_N ?? 3000);
const WARM = Number(process.env.ROTATE_WARM ?? 4000);
const READY = process.env.ROTATE_READY;

const db = await freshDb('sqlite', 'count');
const storage = await db.open();
const warden = await wardenOn(storage, randomBytes(48).toString('base64'));
const raw = db.raw();
const id = randomUUID();
const user = await storage.users.create({ id, username: `u-${id}`, email: `${id}@bench.test`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'not-used' });
let claims: JwtClaims = (await warden.accounts.sessions.open(user, { ip: '127.0.0.1', userAgent: 'bench' })).refresh.claims;
const row = { id: claims.sid as string, jti: claims.jti };
const CAS = 'UPDATE sessions SET refresh_jti = ? WHERE id = ? AND refresh_jti = ?';
const EVENT = "INSERT INTO events (id, occurred_at, type, actor_id, user_id, session_id, outcome, details) VALUES (?, ?, 'session.refreshed', ?, ?, ?, 'success', '{}')";
const ops: Record<string, () => unknown> = {
  refresh: async () => void (claims = (await warden.accounts.sessions.refresh(claims)).refresh.claims),
  rotate: async () => {
    const now = Date.now();
    const newJti = randomUUID();
    const r = await storage.sessions.rotate({ id: row.id, presentedJti: row.jti, newJti, now, idleExpiresAt: now + 7 * 86400_000, graceMs: 0 });
    if (r.status !== 'rotated') throw new Error(`rotate answered ${r.status}`);
    row.jti = newJti;
  },
  cas: () => {
    const newJti = randomUUID();
    if (raw.runSync!(CAS, [newJti, row.id, row.jti]) !== 1) throw new Error('raw CAS missed');
    row.jti = newJti;
  },
  casEvent: () => {
    raw.runSync!('BEGIN IMMEDIATE');
    const newJti = randomUUID();
    if (raw.runSync!(CAS, [newJti, row.id, row.jti]) !== 1) throw new Error('raw CAS missed');
    raw.runSync!(EVENT, [randomUUID(), Date.now(), id, id, row.id]);
    row.jti = newJti;
    raw.runSync!('COMMIT');
  },
};
const run = ops[op];
if (run === undefined) throw new Error(`ROTATE_OP: one of ${Object.keys(ops).join(', ')}`);
for (let i = 0; i < WARM; i++) await run();
/** Until the controlling script has written `file` (it answers each step by a file of its own). */
const until = async (file: string) => {
  while (!existsSync(file)) await new Promise((r) => setTimeout(r, 50));
};
if (READY) {
  writeFileSync(READY, '');
  await until(`${READY}.on`);
}
const t0 = performance.now();
const c0 = process.cpuUsage();
for (let i = 0; i < N; i++) await run();
const cpu = process.cpuUsage(c0);
if (READY) {
  writeFileSync(`${READY}.done`, '');
  await until(`${READY}.dumped`);
}
console.log(`${op}: ${N} in ${((performance.now() - t0) / 1000).toFixed(2)} s, CPU ${((cpu.user + cpu.system) / N).toFixed(1)} µs each`);
await warden.close();
await db.drop();
