// Generated input at every route of /openapi.json (test/helpers/route-fuzz.ts), on SQLite and
// PostgreSQL, as three users (an administrator, a user, and a user with an authenticator app whose
// sign-in's MFA token, codes and recovery codes are offered to the MFA routes): no request may
// reach a 5xx, show a stack trace, a path, SQL or an exception's name, answer an error outside its
// family's shape, or answer a status its operation does not document;
// and a refused request (4xx) may change nothing in the database. What a refusal may legitimately
// write is left out of the comparison: the audit log (`events`: refusals are recorded) and the
// throttle and limit counters (memory or Redis, not the database); a refresh token presented again
// (401 ERR_REFRESH_REUSED) ends its session by design, and is allowed to.
//
// Bounded and seeded, so it is the same run every time. To run it longer, or from another seed:
//   FUZZ_REQUESTS=20000 FUZZ_SEED=7 node --conditions=warden-source --import tsx --test test/fuzz-routes.test.ts
// (FUZZ_REQUESTS per database; FUZZ_BACKENDS=sqlite,postgres,memory picks them; a failure names the
// seed and the request's number, and FUZZ_ONLY=<number> replays that one request after the fixtures.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { createTokenIssuer } from '../toolkit/src/tokens/issue.js';
import { createMemoryStorage, createPostgresStorage, createSqliteStorage, type Storage } from '../src/storage/index.js';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { captureTransport } from './helpers/mail.js';
import { call, cookiesFrom, startServer, type Running } from './helpers/server.js';
import { postgresUrlOrSkip } from './helpers/storage.js';
import { codeAt, secretOf } from './helpers/totp.js';
import {
  checkResponse, closeAgent, generate, operations, prng, send, type FuzzRequest, type Operation, type Vocabulary,
} from './helpers/route-fuzz.js';

const REQUESTS = Number(process.env.FUZZ_REQUESTS ?? 400);
const SEED = Number(process.env.FUZZ_SEED ?? 1);
const BACKENDS = (process.env.FUZZ_BACKENDS ?? 'sqlite,postgres').split(',');
const ONLY = process.env.FUZZ_ONLY === undefined ? undefined : Number(process.env.FUZZ_ONLY);

// Everything but the audit log (events) and the bookkeeping of workers that run on their own clock
// (the mail outbox's claim and attempt columns; webhook deliveries: none are configured here).
const TABLES: [string, string][] = [
  ['users', 'SELECT * FROM users ORDER BY id'],
  ['user_roles', 'SELECT * FROM user_roles ORDER BY 1, 2'],
  ['sessions', 'SELECT * FROM sessions ORDER BY id'],
  ['revocations', 'SELECT * FROM revocations ORDER BY 1'],
  ['totp_factors', 'SELECT * FROM totp_factors ORDER BY id'],
  ['passkeys', 'SELECT * FROM passkeys ORDER BY id'],
  ['recovery_codes', 'SELECT * FROM recovery_codes ORDER BY 1, 2'],
  ['email_tokens', 'SELECT * FROM email_tokens ORDER BY 1'],
  ['challenges', 'SELECT * FROM challenges ORDER BY kind, id'],
  ['sign_in_devices', 'SELECT * FROM sign_in_devices ORDER BY user_id, device'],
  ['mail_outbox', 'SELECT id, template, recipient FROM mail_outbox ORDER BY id'],
];

type Snapshot = Map<string, string[]>;
interface Db { storage: Storage; snapshot(): Promise<Snapshot | null>; pendingMail(): Promise<number>; close(): Promise<void> }

async function openDb(kind: string): Promise<Db | { skip: string }> {
  if (kind === 'memory') {
    const storage = createMemoryStorage();
    return { storage, snapshot: async () => null, pendingMail: async () => 0, close: async () => undefined };
  }
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'warden-fuzz-'));
    const file = join(dir, 'warden.db');
    const storage = createSqliteStorage(file);
    await storage.migrate();
    // Prepared once: the driver keeps every statement it makes for the life of the process.
    const reader = openSqlite(file, { readonly: true });
    const tables = TABLES.map(([t, q]) => [t, prepare(reader, q)] as const);
    const pending = prepare(reader, "SELECT count(*) AS n FROM mail_outbox WHERE status = 'pending'");
    return {
      storage,
      async snapshot() {
        return new Map(tables.map(([t, statement]) => [t, statement.all().map((row) => JSON.stringify(row))]));
      },
      async pendingMail() {
        return (pending.get() as { n: number }).n;
      },
      async close() { reader.close(); rmSync(dir, { recursive: true, force: true }); },
    };
  }
  const { url, skip } = await postgresUrlOrSkip();
  if (!url) return { skip: skip! };
  const schema = `warden_fuzz_${process.pid}_${randomBytes(3).toString('hex')}`;
  const storage = createPostgresStorage(url, { schema });
  await storage.migrate();
  const reader = new pg.Client({ connectionString: url });
  await reader.connect();
  await reader.query(`SET search_path TO ${schema}`);
  const all = `SELECT ${TABLES.map(([t, q]) => `(SELECT coalesce(json_agg(row_to_json(x)), '[]') FROM (${q}) x) AS ${t}`).join(', ')}`;
  return {
    storage,
    async snapshot() {
      const row = (await reader.query(all)).rows[0] as Record<string, unknown[]>;
      return new Map(TABLES.map(([t]) => [t, row[t]!.map((r) => JSON.stringify(r))]));
    },
    async pendingMail() {
      return Number((await reader.query("SELECT count(*) AS n FROM mail_outbox WHERE status = 'pending'")).rows[0].n);
    },
    async close() { await reader.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`); await reader.end(); },
  };
}

// Expired rows that a timer purges (challenges, every minute) may go at any moment.
const expired = (row: string): boolean => {
  const at = (JSON.parse(row) as { expires_at?: unknown }).expires_at;
  return at !== undefined && (typeof at === 'number' ? at : Date.parse(String(at))) <= Date.now();
};

function diff(a: Snapshot, b: Snapshot): string | null {
  for (const [t, all] of a) {
    const other = b.get(t)!;
    const rows = t === 'challenges' ? all.filter((r) => other.includes(r) || !expired(r)) : all;
    if (rows.length !== other.length || rows.some((r, i) => r !== other[i])) {
      // Column names only: rows hold hashes and token ids that have no place in a message.
      const changed = other.filter((r) => !rows.includes(r)).map((r) => Object.keys(JSON.parse(r)).join(','));
      return `${t}: ${rows.length} rows -> ${other.length}${changed.length ? ` (a row changed or added)` : ''}`;
    }
  }
  return null;
}

const PASSWORD = 'fuzz-password-123';
const FIXTURES = [
  { username: 'fuzzadmin', email: 'fuzzadmin@example.com', roles: ['admin'] },
  { username: 'fuzzuser', email: 'fuzzuser@example.com', roles: ['user'] },
] as const;
/** A user with an authenticator app: its sign-in answers with an MFA token, whose routes get real tokens, codes and recovery codes. */
const MFA_FIXTURE = { username: 'fuzzmfa', email: 'fuzzmfa@example.com' } as const;

interface Signed { id: string; access: string; refresh: string; cookies: Record<string, string> }
interface MfaHeld { id: string; secret: Buffer; recoveryCodes: string[]; mfaToken: string }

/** The fixture users, put back as they were and signed in afresh whenever a request may have changed them. */
class Fixtures {
  signed = new Map<string, Signed>();
  hashes = new Map<string, string>();
  expired = '';
  mfa: MfaHeld | undefined;
  constructor(private s: Running) {}

  /** The MFA user as it was: an active authenticator app, unused recovery codes, a fresh MFA token. */
  private async healMfa(): Promise<void> {
    const { storage } = this.s.warden;
    let u = await storage.users.findByLogin(MFA_FIXTURE.username);
    const intact = u !== null && u.email === MFA_FIXTURE.email && u.isActive && u.passwordHash === this.hashes.get(MFA_FIXTURE.username)
      && this.mfa?.id === u.id && (await storage.factors.listTotp(u.id)).some((t) => t.confirmedAt !== null)
      && (await storage.factors.countRecoveryCodes(u.id)) === this.mfa.recoveryCodes.length;
    if (!intact) {
      for (const login of [MFA_FIXTURE.username, MFA_FIXTURE.email]) {
        const other = await storage.users.findByLogin(login);
        if (other !== null) await storage.users.delete(other.id);
      }
      u = await this.s.warden.accounts.credentials.signUp({ ...MFA_FIXTURE, password: PASSWORD }, null);
      this.hashes.set(MFA_FIXTURE.username, u.passwordHash);
      const signin = await call(`${this.s.url}/api/auth/signin`, { json: { username: MFA_FIXTURE.username, password: PASSWORD } });
      assert.equal(signin.status, 200, `MFA fixture sign-in: ${signin.text}`);
      const bearer = { authorization: `Bearer ${signin.json.access_token}` };
      const e = await call(`${this.s.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer });
      assert.equal(e.status, 201, `MFA fixture enrolment: ${e.text}`);
      const secret = secretOf(e.json.data.otpauth_uri);
      const c = await call(`${this.s.url}/api/v1/auth/mfa/totp/confirm`, { json: { code: codeAt(secret, Math.floor(Date.now() / 1000)) }, headers: bearer });
      assert.equal(c.status, 200, `MFA fixture confirmation: ${c.text}`);
      this.mfa = { id: u.id, secret, recoveryCodes: c.json.data.recovery_codes, mfaToken: '' };
    }
    const r = await call(`${this.s.url}/api/auth/signin`, { json: { username: MFA_FIXTURE.username, password: PASSWORD } });
    assert.equal(r.json?.mfa_required, true, `MFA fixture's sign-in asks for a second factor: ${r.text}`);
    this.mfa!.mfaToken = r.json.mfa_token;
  }

  async heal(force = false): Promise<void> {
    const { storage, accounts } = this.s.warden;
    for (const f of FIXTURES) {
      let u = await storage.users.findByLogin(f.username);
      if (u === null || u.email !== f.email) {
        if (u !== null) await storage.users.delete(u.id);
        const other = await storage.users.findByLogin(f.email);
        if (other !== null) await storage.users.delete(other.id);
        u = await accounts.credentials.signUp({ username: f.username, email: f.email, password: PASSWORD }, null);
        u = (await storage.users.update(u.id, { roles: [...f.roles] }))!;
        this.hashes.set(f.username, u.passwordHash);
        force = true;
      }
      const want = { roles: [...f.roles], isActive: true, fullName: null, passwordHash: this.hashes.get(f.username)!, username: f.username };
      if (u.roles.join() !== want.roles.join() || !u.isActive || u.fullName !== null || u.passwordHash !== want.passwordHash || u.username !== f.username) {
        await storage.users.update(u.id, want);
        force = true;
      }
      const held = this.signed.get(f.username);
      const live = held !== undefined && held.id === u.id && !force
        && (await call(`${this.s.url}/api/v1/auth/verify`, { headers: { authorization: `Bearer ${held.access}` } })).status === 200
        && await this.refreshIsCurrent(held.refresh);
      if (!live) {
        const r = await call(`${this.s.url}/api/auth/signin`, { json: { username: f.username, password: PASSWORD } });
        assert.equal(r.status, 200, `fixture sign-in: ${r.text}`);
        this.signed.set(f.username, { id: u.id, access: r.json.access_token, refresh: r.json.refresh_token, cookies: cookiesFrom(r.headers) });
      }
    }
    await this.healMfa();
    if (this.expired === '') {
      const past = Date.now() - 3_600_000;
      const mint = createTokenIssuer({ keys: this.s.warden.keys, accessExpiresIn: 60, refreshExpiresIn: 60, clock: () => past });
      this.expired = mint.createAccessToken(this.signed.get('fuzzuser')!.id);
    }
  }

  private async refreshIsCurrent(refresh: string): Promise<boolean> {
    const claims = JSON.parse(Buffer.from(refresh.split('.')[1]!, 'base64url').toString()) as { sid: string; jti: string };
    const session = await this.s.warden.storage.sessions.get(claims.sid);
    return session !== null && session.endedAt === null && session.refreshJti === claims.jti;
  }

  vocabulary(mailed: string[] = []): Vocabulary {
    const a = this.signed.get('fuzzadmin')!;
    const u = this.signed.get('fuzzuser')!;
    const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
    const jar = (c: Record<string, string>) => Object.entries(c).map(([k, v]) => `${k}=${v}`).join('; ');
    const m = this.mfa!;
    const now = Math.floor(Date.now() / 1000);
    return {
      ids: [a.id, u.id, m.id],
      strings: {
        username: ['fuzzuser', 'fuzzadmin', 'fuzzmfa', 'fuzzuser@example.com', 'nobody', 'new_fuzz'],
        email: ['fuzzuser@example.com', 'new-fuzz@example.com', 'FUZZADMIN@example.com '],
        new_email: ['fuzzuser@example.com', 'other-fuzz@example.com'],
        password: [PASSWORD, 'wrong-password-1'],
        current_password: [PASSWORD, 'wrong-password-1'],
        new_password: [PASSWORD, 'short'],
        refresh_token: [u.refresh, a.refresh, u.access, this.expired],
        token: [u.refresh, u.access, 'x'.repeat(43), ...mailed.slice(-6)],
        mfa_token: [m.mfaToken, m.mfaToken, u.access, u.refresh],
        // The code of this step, the last one's (still accepted), one out of the window, and two
        // that are no code at all; one of the MFA user's recovery codes.
        code: [codeAt(m.secret, now), codeAt(m.secret, now - 30), codeAt(m.secret, now + 300), '123456', '000000'],
        recovery_code: [m.recoveryCodes[0]!, 'aaaa-bbbb-cccc-dddd'],
        grant_type: ['password', 'refresh_token', 'client_credentials'],
        roles: ['user', 'admin'],
        role: ['admin', 'user'],
        scope: ['local', 'global', 'others'],
        state: ['pending', 'delivered', 'failed'],
        user: [u.id, a.id, m.id],
        actor: [u.id, a.id, m.id],
      },
      auth: {
        none: {},
        garbage: bearer('not.a.token'),
        expired: bearer(this.expired),
        user: bearer(u.access),
        admin: bearer(a.access),
        'user refresh': bearer(u.refresh),
        'admin refresh': bearer(a.refresh),
        basic: { authorization: 'Basic Zm9vOmJhcg==' },
        'user cookies': { cookie: jar(u.cookies), 'x-csrf-token': u.cookies.csrf_access_token ?? '' },
        'user cookies, no CSRF': { cookie: jar(u.cookies) },
        'user cookies, wrong CSRF': { cookie: jar(u.cookies), 'x-csrf-token': 'wrong' },
        'admin cookies, refresh CSRF': { cookie: jar(a.cookies), 'x-csrf-token': a.cookies.csrf_refresh_token ?? '' },
        'refresh cookie as access': { cookie: `access_token_cookie=${u.refresh}`, 'x-csrf-token': u.cookies.csrf_refresh_token ?? '' },
      },
    };
  }
}

// A few paths no operation has, so the unmatched handler's families are fuzzed too.
const UNDOCUMENTED: Operation[] = ['/api/v1/nope', '/oauth/nope', '/token/x', '/api/login/x', '/nope', '/api/v1/users/{id}/nope']
  .map((path) => ({ method: 'GET', path, params: [], secured: false }));

interface Finding { key: string; message: string }

export async function fuzzBackend(kind: string, requests: number, seed: number): Promise<{ findings: Finding[]; sent: number; statuses: Map<number, number>; byOp: Map<string, Set<number>> }> {
  const db = await openDb(kind);
  if ('skip' in db) throw new Error(db.skip);
  // Mails go to an array: their links' tokens become vocabulary, so the email routes are reached
  // with real tokens too.
  const transport = captureTransport();
  // The outbox worker writes a mail's token (and supersedes the older ones) after the request that
  // queued it has been answered: wait for it before the next snapshot is the "before" of a refusal.
  const settle = async () => {
    for (let n = 0; n < 2000 && (await db.pendingMail()) > 0; n++) await new Promise((r) => setImmediate(r));
  };
  const s = await startServer({
    ACCOUNT_SELF_DELETE: 'true', SIGNIN_MAX_FAILURES: '0', MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
    JWT_TOKEN_LOCATION: 'headers,cookies,query_string,json',
  }, { storage: db.storage, email: { transport } });
  const findings = new Map<string, Finding>();
  const statuses = new Map<number, number>();
  const byOp = new Map<string, Set<number>>();
  let sent = 0;
  try {
    const doc = await (await fetch(`${s.url}/openapi.json`)).json();
    const ops = [...operations(doc), ...UNDOCUMENTED];
    const fixtures = new Fixtures(s);
    await fixtures.heal(true);
    let vocabulary = fixtures.vocabulary();
    let before = await db.snapshot();
    for (let i = ONLY ?? 0; i < (ONLY === undefined ? requests : ONLY + 1); i++) {
      const r = prng(seed * 1_000_003 + i);
      const op = ops[i % ops.length]!;
      const req: FuzzRequest = generate(op, vocabulary, r);
      const res = await send(s.url, req);
      sent++;
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const opKey = `${op.method} ${op.path}`;
      if (!byOp.has(opKey)) byOp.set(opKey, new Set());
      byOp.get(opKey)!.add(res.status);
      const where = `${kind} seed ${seed} #${i}: ${req.method} ${req.path.slice(0, 200)} [${req.notes.join('; ').slice(0, 400)}]`;
      for (const p of checkResponse(req, res)) {
        const key = `${op.method} ${op.path}: ${p}`;
        if (!findings.has(key)) findings.set(key, { key, message: `${where} -> ${res.status} ${res.text.slice(0, 300)}` });
      }
      if (res.status < 300) await settle();
      const after = await db.snapshot();
      let bodyCode: string | undefined;
      try { bodyCode = JSON.parse(res.text)?.code; } catch { /* not JSON */ }
      if (res.status >= 400 && res.status < 500 && before && after && bodyCode !== 'ERR_REFRESH_REUSED') {
        const d = diff(before, after);
        if (d) {
          const key = `${op.method} ${op.path}: ${res.status} changed ${d.split(':')[0]}`;
          if (!findings.has(key)) findings.set(key, { key, message: `${where} -> ${res.status} ${res.text.slice(0, 200)}; ${d}` });
        }
      }
      // A request that was let through may have changed the fixtures or ended their sessions.
      const changed = res.status < 400 && !['GET', 'HEAD', 'OPTIONS'].includes(req.method);
      if (changed || res.status === 401 && bodyCode === 'ERR_REFRESH_REUSED' || i % 250 === 249) {
        await fixtures.heal();
        const mailed = transport.sent.flatMap((m) => [...`${m.text ?? ''}`.matchAll(/token=([A-Za-z0-9_-]{20,})/g)].map((x) => x[1]!));
        vocabulary = fixtures.vocabulary(mailed);
        await settle();
        before = await db.snapshot();
      } else {
        before = after;
      }
    }
  } finally {
    try {
      await s.close();
    } catch (e) {
      findings.set('undocumented', { key: 'undocumented status', message: (e as Error).message });
    }
    await db.close();
  }
  return { findings: [...findings.values()], sent, statuses, byOp };
}

after(() => closeAgent());

for (const kind of BACKENDS) {
  describe(`fuzzing every route on ${kind}`, async () => {
    const skip = kind === 'postgres' ? (await postgresUrlOrSkip()).skip : undefined;
    it(`${REQUESTS} generated requests from seed ${SEED}: no 5xx, no leak, the family's error shape, and a 4xx changes nothing`, { skip }, async () => {
      const { findings, sent, statuses, byOp } = await fuzzBackend(kind, REQUESTS, SEED);
      if (process.env.FUZZ_REQUESTS) {
        console.log(kind, 'sent', sent, JSON.stringify(Object.fromEntries(statuses)));
        for (const [k, v] of byOp) console.log(`  ${k}: ${[...v].sort().join(' ')}`);
      }
      assert.deepEqual(findings.map((f) => `${f.key}\n    ${f.message}`), [], `${findings.length} findings`);
    });
  });
}
