// `npm run bench [-- verify|guard|signin|storm ...]`: Warden's hot paths, each as a RATIO against a
// baseline measured in the same run (the machine is shared and noisy; absolute numbers drift).
// Prints a table and writes bench/results/latest.json. Never part of `npm test`.
// Layout: servers and the argon2 baseline run in bench/server.ts children pinned to core 0, the
// load generator (wrk, else autocannon) on core 1. BENCH_DATABASE_URL=memory: runs Warden without
// SQLite, to tell storage costs from the rest.
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { execSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join } from 'node:path';
import { createVerifier } from 'fast-jwt';
import { jwtVerify } from 'jose';
import { keyRingFromSecret } from '../src/tokens/keys.js';
import { createTokenIssuer } from '../src/tokens/issue.js';
import { createTokenVerifier } from '../src/tokens/verify.js';
import {
  HAS_TASKSET, HAS_WRK, LOAD_TOOL, SERVER_CORE, call, cleanup, cpuSeconds, median, runLoad, sleep, startPinned, workDir, type LoadResult,
} from './lib.js';

// Durations (seconds). Default run ≈ 3 minutes in all.
const WARMUP = 1;
const DURATION = 5;
const GUARD_ROUNDS = 3;
const SIGNIN_ROUNDS = 3;
const STORM_ROUNDS = 2;
const GUARD_CONNECTIONS = 32;
const SIGNIN_CONCURRENCY = 8;
const STORM_CONCURRENCY = 16;
const PROBE_RATE = 100; // GET /api/users per second while measuring latency
const ROUTE = '/hello'; // what bench/server.ts's bare, hmac, guard and fastify-jwt servers answer

const SECRET = randomBytes(48).toString('base64'); // ≥ 32 bytes, as config.ts wants
const PASSWORD = 'correct horse battery staple';

interface Row {
  section: string;
  name: string;
  value: string;
  baseline: string;
  ratio?: number;
  goal?: string;
  pass?: boolean;
  spread?: string;
}
const rows: Row[] = [];
const raw: Record<string, unknown> = {};
const notes: string[] = [];

const fmt = (n: number, d = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const spread = (xs: number[]): string => `${fmt(Math.min(...xs), 2)}–${fmt(Math.max(...xs), 2)}`;

/** A token shaped like the access tokens Warden issues at sign-in (roles, sid, csrf, fresh...). */
function benchToken(): string {
  const issuer = createTokenIssuer({ keys: keyRingFromSecret(SECRET, 'HS256'), accessExpiresIn: 3600, refreshExpiresIn: 86400 });
  return issuer.createAccessToken(randomUUID(), { fresh: true, additionalClaims: { roles: ['user'], sid: randomUUID() } });
}

// ---- 1. token verify cost ---------------------------------------------------------------------

let sink: unknown; // results land here so the JIT cannot drop the calls

async function sectionVerify(): Promise<void> {
  const token = benchToken();
  const dot = token.lastIndexOf('.');
  const input = token.slice(0, dot);
  const signature = Buffer.from(token.slice(dot + 1), 'base64url');
  const secretBytes = Buffer.from(SECRET, 'utf8');
  const warden = createTokenVerifier({ keys: keyRingFromSecret(SECRET, 'HS256') });
  const wardenCached = createTokenVerifier({ keys: keyRingFromSecret(SECRET, 'HS256'), cacheSize: 10_000 });
  const fast = createVerifier({ key: SECRET, algorithms: ['HS256'], cache: false });
  // jose goes through WebCrypto (async); a CryptoKey imported once is its fastest key form.
  const joseKey = await crypto.subtle.importKey('raw', Buffer.from(SECRET, 'utf8'), { name: 'HMAC', hash: 'SHA-256' }, false, ['verify']);

  type Fn = { name: string; sync?: () => unknown; async?: () => Promise<unknown> };
  const fns: Fn[] = [
    // The floor: one HMAC-SHA256 over header.payload and a constant-time compare, nothing else.
    { name: 'baseline', sync: () => timingSafeEqual(createHmac('sha256', secretBytes).update(input).digest(), signature) },
    { name: 'warden', sync: () => warden(token) },
    { name: 'warden-cached', sync: () => wardenCached(token) },
    { name: 'fast-jwt', sync: () => fast(token) },
    { name: 'jose', async: () => jwtVerify(token, joseKey, { algorithms: ['HS256'] }) },
  ];
  // Sanity: each accepts the token.
  if (fns[0]!.sync!() !== true) throw new Error('baseline HMAC does not match the token');
  for (const f of fns) sink = f.sync ? f.sync() : await f.async!();

  const timeBatch = async (f: Fn, n: number): Promise<number> => {
    const t0 = process.hrtime.bigint();
    if (f.sync) for (let i = 0; i < n; i++) sink = f.sync();
    else for (let i = 0; i < n; i++) sink = await f.async!();
    return Number(process.hrtime.bigint() - t0) / n; // ns/op
  };
  // Warm up (JIT) and size each batch to ~100 ms so timer and loop overheads vanish.
  const iters = new Map<string, number>();
  for (const f of fns) {
    await timeBatch(f, 2000);
    const ns = await timeBatch(f, 5000);
    iters.set(f.name, Math.max(1000, Math.round(100e6 / ns)));
  }
  // Interleaved rounds, order reversed every other round, so drift hits every candidate alike.
  const ROUNDS = 11;
  const ns: Record<string, number[]> = Object.fromEntries(fns.map((f) => [f.name, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const f of r % 2 ? [...fns].reverse() : fns) ns[f.name]!.push(await timeBatch(f, iters.get(f.name)!));
  }
  raw.verify = { token_length: token.length, ns_per_op: ns };
  const base = ns.baseline!;
  const ratios = (name: string): number[] => ns[name]!.map((v, i) => v / base[i]!);
  const baseLabel = `${fmt(median(base))} ns/op raw HMAC`;
  rows.push({ section: 'verify', name: 'baseline createHmac+timingSafeEqual', value: `${fmt(median(base))} ns/op`, baseline: '—' });
  for (const [name, label, goal] of [
    ['warden', 'Warden createTokenVerifier (cold: every call verified)', 2],
    ['warden-cached', 'Warden createTokenVerifier, cache hit (ref)', undefined],
    ['fast-jwt', 'fast-jwt createVerifier (ref)', undefined],
    ['jose', 'jose jwtVerify, WebCrypto async (ref)', undefined],
  ] as const) {
    const ratio = median(ratios(name));
    rows.push({
      section: 'verify', name: label, value: `${fmt(median(ns[name]!))} ns/op`, baseline: baseLabel, ratio,
      goal: goal ? `≤ ${goal}×` : undefined, pass: goal ? ratio <= goal : undefined, spread: spread(ratios(name)),
    });
  }
}

// ---- 2. guarded route throughput ---------------------------------------------------------------

/** Warm-up, then the timed run; with a server pid, also how busy its core was (≈100% = server-bound). */
async function measure(o: Parameters<typeof runLoad>[0], pid?: number, warm = true): Promise<LoadResult & { cpu: number }> {
  if (warm) await runLoad({ ...o, seconds: WARMUP }); // connections, JIT, caches
  const cpu0 = pid === undefined ? NaN : cpuSeconds(pid);
  const r = await runLoad(o);
  const cpu = pid === undefined ? NaN : (cpuSeconds(pid) - cpu0) / o.seconds;
  if (r.bad > 0) notes.push(`${o.method ?? 'GET'} ${o.url}: ${r.bad} non-2xx answers or socket errors in ${r.requests} requests`);
  return { ...r, cpu };
}

async function startWarden(): Promise<{ base: string; adminToken: string; pid: number; stop(): Promise<void> }> {
  const dir = join(workDir, `data-${randomUUID()}`);
  const srv = await startPinned('warden', [], { BENCH_SECRET: SECRET, BENCH_DATA_DIR: dir });
  const base = `http://127.0.0.1:${srv.info.port as number}`;
  // The first account may take the admin role; the second is the one that signs in under load.
  await call(`${base}/api/auth/signup`, 'POST', { username: 'admin', email: 'admin@bench.test', password: PASSWORD, roles: ['admin'] });
  await call(`${base}/api/auth/signup`, 'POST', { username: 'bench', email: 'bench@bench.test', password: PASSWORD });
  const signin = await call(`${base}/api/auth/signin`, 'POST', { username: 'admin', password: PASSWORD });
  return { base, adminToken: signin.access_token as string, pid: srv.pid, stop: () => srv.stop() };
}

async function sectionGuard(): Promise<void> {
  const token = benchToken();
  const env = { BENCH_SECRET: SECRET };
  const auth = { authorization: `Bearer ${token}` };
  // All servers start once and sit idle on core 0 while another is measured, so rounds can alternate.
  const [bare, hmac, guard, guardCold, fjwt, warden] = await Promise.all([
    startPinned('bare', [], env), startPinned('hmac', [], env), startPinned('guard', [], env), startPinned('guard-nocache', [], env),
    startPinned('fastify-jwt', [], env), startWarden(),
  ]);
  try {
    const url = (c: { info: Record<string, unknown> }) => `http://127.0.0.1:${c.info.port as number}${ROUTE}`;
    const targets: Array<[string, string, number]> = [
      ['bare', url(bare), bare.pid], ['hmac', url(hmac), hmac.pid], ['guard', url(guard), guard.pid],
      ['guard-nocache', url(guardCold), guardCold.pid], ['v1-verify', `${warden.base}/api/v1/auth/verify`, warden.pid], ['fastify-jwt', url(fjwt), fjwt.pid],
    ];
    // Every target must answer 200 to the token before it is timed.
    for (const [name, u] of targets) {
      const res = await fetch(u, { headers: auth });
      if (res.status !== 200) throw new Error(`${name} answered ${res.status}: ${await res.text()}`);
    }
    const rps: Record<string, number[]> = Object.fromEntries(targets.map(([n]) => [n, []]));
    const cpu: Record<string, number[]> = Object.fromEntries(targets.map(([n]) => [n, []]));
    for (let r = 0; r < GUARD_ROUNDS; r++) {
      for (const [name, u, pid] of r % 2 ? [...targets].reverse() : targets) {
        // Servers stay up between rounds, so after round 1 their JIT is warm: skip the warm-up run.
        const m = await measure({ url: u, headers: auth, connections: GUARD_CONNECTIONS, seconds: DURATION }, pid, r === 0);
        rps[name]!.push(m.rps);
        cpu[name]!.push(m.cpu);
      }
    }
    // Is the generator the bottleneck? autocannon on the same single core against the bare route:
    // if it reaches what wrk does, neither generator is what limits the bare figure.
    let autocannonBare: number | undefined;
    if (HAS_WRK) {
      autocannonBare = (await measure({ url: url(bare), headers: auth, connections: GUARD_CONNECTIONS, seconds: DURATION, tool: 'autocannon' })).rps;
    }
    raw.guard = { rps, serverCpu: cpu, autocannonBare, connections: GUARD_CONNECTIONS };
    const base = rps.bare!;
    const busy = (name: string) => `server core ${fmt(100 * median(cpu[name]!))}%`;
    const baseLabel = `${fmt(median(base))} req/s bare Fastify`;
    rows.push({
      section: 'guard', name: `bare Fastify ${ROUTE} (Bearer sent, unchecked)`, value: `${fmt(median(base))} req/s`, baseline: '—',
      spread: `${base.map((x) => fmt(x)).join(' / ')}; ${busy('bare')}`,
    });
    for (const [name, label, goal] of [
      ['hmac', `raw HMAC check in a preHandler (floor)`, undefined],
      ['guard', `(a) wardenGuard jwtRequired ${ROUTE} (verify cache, the default)`, 0.85],
      ['guard-nocache', `(a') the same with VERIFY_CACHE_SIZE=0 (ref)`, undefined],
      ['v1-verify', '(b) Warden GET /api/v1/auth/verify', 0.85],
      ['fastify-jwt', '@fastify/jwt jwtVerify (ref)', undefined],
    ] as const) {
      const ratios = rps[name]!.map((v, i) => v / base[i]!);
      const ratio = median(ratios);
      rows.push({
        section: 'guard', name: label, value: `${fmt(median(rps[name]!))} req/s`, baseline: baseLabel, ratio,
        goal: goal ? `≥ ${goal}` : undefined, pass: goal ? ratio >= goal : undefined, spread: `${spread(ratios)}; ${busy(name)}`,
      });
    }
    if (autocannonBare !== undefined) {
      rows.push({
        section: 'guard', name: 'bare Fastify via autocannon (generator check)', value: `${fmt(autocannonBare)} req/s`,
        baseline: 'bare via wrk', ratio: autocannonBare / median(base),
      });
    }
  } finally {
    await Promise.all([bare.stop(), hmac.stop(), guard.stop(), fjwt.stop(), warden.stop()]);
  }
}

// ---- 3. sign-in throughput vs raw argon2id ----------------------------------------------------

const signinLoad = (base: string, connections: number, seconds: number) => ({
  url: `${base}/api/auth/signin`, method: 'POST' as const, connections, seconds,
  headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench', password: PASSWORD }),
});

async function sectionSignin(): Promise<void> {
  const warden = await startWarden();
  // Warden runs at most one argon2 per core (src/accounts/passwords.ts); on this pinned core that
  // is one at a time, so raw argon2 at concurrency 1 is reported too: the cost floor that design has.
  const serial = Math.min(SIGNIN_CONCURRENCY, availableParallelismOnCore0());
  try {
    const signin: number[] = [];
    const argon: number[] = [];
    const argonSerial: number[] = [];
    const runSignin = async () => signin.push((await measure(signinLoad(warden.base, SIGNIN_CONCURRENCY, DURATION))).rps);
    const runArgon = async () => {
      // The baseline child runs on core 0 too (the idle Warden there takes no CPU meanwhile).
      const child = await startPinned('argon2', [`${SIGNIN_CONCURRENCY},${serial}`, String(DURATION), String(WARMUP)]);
      const per = (await child.result).perSecond as Record<string, number>;
      argon.push(per[SIGNIN_CONCURRENCY]!);
      argonSerial.push(per[serial]!);
      await child.stop();
    };
    for (let r = 0; r < SIGNIN_ROUNDS; r++) {
      for (const f of r % 2 ? [runArgon, runSignin] : [runSignin, runArgon]) await f();
    }
    raw.signin = { signin, argon2: argon, argon2Serial: argonSerial, concurrency: SIGNIN_CONCURRENCY, serial };
    const ratios = signin.map((v, i) => v / argon[i]!);
    const serialRatios = signin.map((v, i) => v / argonSerial[i]!);
    rows.push({ section: 'signin', name: `raw argon2id verify ×${SIGNIN_CONCURRENCY} (in-process)`, value: `${fmt(median(argon), 1)} /s`, baseline: '—', spread: argon.map((x) => fmt(x, 1)).join(' / ') });
    rows.push({
      section: 'signin', name: `POST /api/auth/signin, ${SIGNIN_CONCURRENCY} conns`, value: `${fmt(median(signin), 1)} req/s`,
      baseline: `${fmt(median(argon), 1)} argon2 verify/s ×${SIGNIN_CONCURRENCY}`, ratio: median(ratios), goal: '≥ 0.9', pass: median(ratios) >= 0.9, spread: spread(ratios),
    });
    rows.push({
      section: 'signin', name: `  same, vs raw argon2id ×${serial} (ref)`, value: `${fmt(median(signin), 1)} req/s`,
      baseline: `${fmt(median(argonSerial), 1)} argon2 verify/s ×${serial}`, ratio: median(serialRatios), spread: spread(serialRatios),
    });
  } finally {
    await warden.stop();
  }
}

/** What os.availableParallelism() says inside a child pinned to the server core (1 when pinned). */
function availableParallelismOnCore0(): number {
  if (!HAS_TASKSET) return availableParallelism();
  const out = execSync(`taskset -c ${SERVER_CORE} ${JSON.stringify(process.execPath)} -p "require('os').availableParallelism()"`, { encoding: 'utf8' });
  return Number(out.trim()) || 1;
}

// ---- 4. p99 of GET /api/users during a sign-in storm -------------------------------------------

async function sectionStorm(): Promise<void> {
  const warden = await startWarden();
  try {
    const probe = { url: `${warden.base}/api/users`, headers: { authorization: `Bearer ${warden.adminToken}` }, connections: 1, seconds: DURATION, rate: PROBE_RATE };
    await runLoad({ ...probe, seconds: WARMUP });
    const quiet: LoadResult[] = [];
    const storm: Array<{ probe: LoadResult; signin: LoadResult }> = [];
    for (let r = 0; r < STORM_ROUNDS; r++) {
      quiet.push(await measure(probe));
      // The storm starts first and outlasts the probe, so every probe request meets a full storm.
      const signin = runLoad(signinLoad(warden.base, STORM_CONCURRENCY, DURATION + 2));
      await sleep(1000);
      const p = await runLoad(probe);
      storm.push({ probe: p, signin: await signin });
      for (const [what, x] of [['GET /api/users', p], ['sign-in storm', storm.at(-1)!.signin]] as const) {
        if (x.bad > 0) notes.push(`storm round ${r + 1}, ${what}: ${x.bad} non-2xx answers or socket errors in ${x.requests}`);
      }
    }
    raw.storm = { quiet, storm, probeRate: PROBE_RATE, stormConcurrency: STORM_CONCURRENCY };
    const q99 = median(quiet.map((x) => x.p99));
    const s99 = median(storm.map((x) => x.probe.p99));
    const stormRps = median(storm.map((x) => x.signin.rps));
    rows.push({
      section: 'storm', name: `GET /api/users, no storm (~${PROBE_RATE}/s)`,
      value: `p50 ${fmt(median(quiet.map((x) => x.p50)), 2)} / p99 ${fmt(q99, 2)} ms`, baseline: '—',
      spread: `p99s ${quiet.map((x) => fmt(x.p99, 2)).join(' / ')}; max ${fmt(Math.max(...quiet.map((x) => x.max)), 1)} ms`,
    });
    rows.push({
      section: 'storm', name: `GET /api/users, sign-in storm ×${STORM_CONCURRENCY} (${fmt(stormRps, 1)} sign-ins/s)`,
      value: `p50 ${fmt(median(storm.map((x) => x.probe.p50)), 2)} / p99 ${fmt(s99, 2)} ms`, baseline: `p99 ${fmt(q99, 2)} ms quiet`,
      ratio: s99 / q99, goal: 'p99 < 20 ms', pass: s99 < 20,
      spread: `p99s ${storm.map((x) => fmt(x.probe.p99, 2)).join(' / ')}; max ${fmt(Math.max(...storm.map((x) => x.probe.max)), 1)} ms`,
    });
  } finally {
    await warden.stop();
  }
}

// ---- main --------------------------------------------------------------------------------------

const SECTIONS: Record<string, () => Promise<void>> = { verify: sectionVerify, guard: sectionGuard, signin: sectionSignin, storm: sectionStorm };

function printTable(): void {
  const head = ['section', 'measurement', 'value (median)', 'baseline (same run)', 'ratio', 'goal', '', 'rounds / spread'];
  const body = rows.map((r) => [
    r.section, r.name, r.value, r.baseline, r.ratio === undefined ? '' : `${fmt(r.ratio, 2)}×`, r.goal ?? '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL', r.spread ?? '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(`\n${line(head)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}`);
  for (const b of body) console.log(line(b));
  for (const n of notes) console.log(`note: ${n}`);
}

async function main(): Promise<void> {
  const asked = process.argv.slice(2).filter((a) => a !== '--');
  for (const a of asked) if (!(a in SECTIONS)) throw new Error(`unknown section "${a}"; choose from ${Object.keys(SECTIONS).join(', ')}`);
  const chosen = asked.length ? asked : Object.keys(SECTIONS);
  if (!HAS_TASKSET) notes.push('taskset not found: server and load generator are NOT pinned to separate cores');
  if (!HAS_WRK) notes.push('wrk not found (apt-get install -y wrk): using autocannon, which may saturate its core before the server');
  console.log(`warden bench: ${chosen.join(', ')} | load generator ${LOAD_TOOL} | node ${process.version} | ${cpus().length} cores`);
  const started = Date.now();
  for (const s of chosen) {
    const t = Date.now();
    process.stdout.write(`running ${s}... `);
    await SECTIONS[s]!();
    console.log(`${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
  printTable();
  let commit = '';
  try {
    commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
  } catch {
    /* not a checkout */
  }
  const out = join('bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'latest.json'), JSON.stringify({
    date: new Date().toISOString(), commit, node: process.version, cpus: cpus().length, loadTool: LOAD_TOOL,
    pinned: HAS_TASKSET, seconds: (Date.now() - started) / 1000, sections: chosen, rows, notes, raw,
  }, null, 2));
  console.log(`\nwrote ${join(out, 'latest.json')}`);
}

main()
  .catch((e: unknown) => {
    console.error(e instanceof Error ? e.stack : e);
    process.exitCode = 1;
  })
  .finally(cleanup);
