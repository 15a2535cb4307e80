// Which pages one-at-a-time SQLite refreshes write (bench/README.md, "Where a refresh's time goes"):
// each commit's pages are frames appended to the WAL, so after a checkpoint(TRUNCATE), ROTATE_N
// refreshes, the frame headers name the pages, and dbstat names their b-trees. Printed per refresh.
//   ROTATE_USERS  users with a session each, refreshed at random (1); ROTATE_PRE refreshes before (3000)
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { JwtClaims } from '../toolkit/src/tokens/types.js';
import { freshDb, wardenOn } from './db.js';

const N = Number(process.env.ROTATE_N ?? 60);
const USERS = Number(process.env.ROTATE_USERS ?? 1);
const PRE = Number(process.env.ROTATE_PRE ?? 3000);
const ROUNDS = 5;

const db = await freshDb('sqlite', 'frames');
const storage = await db.open();
const warden = await wardenOn(storage, randomBytes(48).toString('base64'));
const raw = db.raw();
const claims: JwtClaims[] = [];
for (let i = 0; i < USERS; i++) {
  const id = randomUUID();
  const user = await storage.users.create({ id, username: `u-${id}`, email: `${id}@bench.test`, fullName: null, roles: ['user'], isActive: true, passwordHash: 'not-used' });
  claims.push((await warden.accounts.sessions.open(user, { ip: '127.0.0.1', userAgent: 'bench' })).refresh.claims);
}
const refresh = async () => {
  const i = Math.floor(Math.random() * USERS);
  claims[i] = (await warden.accounts.sessions.refresh(claims[i]!)).refresh.claims;
};
for (let i = 0; i < PRE; i++) await refresh(); // the indexes grow past one page
const counts = new Map<string, number>();
for (let r = 0; r < ROUNDS; r++) {
  await raw.query('PRAGMA wal_checkpoint(TRUNCATE)');
  for (let i = 0; i < N; i++) await refresh();
  const wal = readFileSync(`${db.where}-wal`);
  const pages: number[] = [];
  for (let off = 32; off + 24 <= wal.length; off += 24 + 4096) pages.push(wal.readUInt32BE(off));
  await raw.query('PRAGMA wal_checkpoint(TRUNCATE)'); // the file as those pages left it
  const names = new Database(db.where, { readonly: true });
  const owner = new Map((names.prepare('SELECT name, pageno FROM dbstat').all() as Array<{ name: string; pageno: number }>).map((x) => [x.pageno, x.name]));
  names.close();
  for (const p of pages) counts.set(owner.get(p) ?? `page ${p}`, (counts.get(owner.get(p) ?? `page ${p}`) ?? 0) + 1);
}
let total = 0;
for (const [name, c] of [...counts].sort((a, b) => b[1] - a[1])) {
  total += c;
  console.log(`${name.padEnd(32)} ${(c / ROUNDS / N).toFixed(2)}`);
}
console.log(`${'pages a refresh writes'.padEnd(32)} ${(total / ROUNDS / N).toFixed(2)}`);
await warden.close();
await db.drop();
