// Shared bench helpers: one way to start a pinned child (servers and the argon2 baseline), one way
// to run the load generator, statistics, and the cleanup that kills every child we started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';

// The machine has 2 cores: the server (and the argon2 baseline) get core 0, load generators core 1,
// so a generator never steals the CPU it is measuring.
export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

export const HAS_TASKSET = spawnSync('taskset', ['-c', '0', 'true']).status === 0;
export const HAS_WRK = spawnSync('wrk', ['--version']).error === undefined;
export const LOAD_TOOL: 'wrk' | 'autocannon' = HAS_WRK ? 'wrk' : 'autocannon';

export const workDir = mkdtempSync(join(tmpdir(), 'warden-bench-'));

// ---- child processes ---------------------------------------------------------------------------

const children = new Set<ChildProcess>();

function pinned(core: number, cmd: string, args: string[]): [string, string[]] {
  return HAS_TASKSET ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args];
}

/** Kills every child still running (taskset execs its command, so the pid is the real process). */
export function killAll(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
  }
  children.clear();
}

export function cleanup(): void {
  killAll();
  rmSync(workDir, { recursive: true, force: true });
}

// Children die with us on every exit path: normal end, a thrown error, Ctrl-C.
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}

export interface Child {
  proc: ChildProcess;
  pid: number;
  /** The JSON after the child's `READY ` line. */
  info: Record<string, unknown>;
  /** The JSON after the child's `RESULT ` line (resolves when it exits). */
  result: Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

let transpiled: string | undefined;

/**
 * How server children run. By default as `warden serve` does: `npm run build` once per bench run,
 * then bench/server.ts transpiled beside itself (bench/.server.mjs), which loads dist/ and the
 * toolkit's dist/, with plain node (see server.ts for why not tsx). BENCH_CODE=source: the
 * TypeScript sources through tsx, no build.
 */
function serverEntry(): { file: string; flags: string[] } {
  if (process.env.BENCH_CODE === 'source') return { file: 'bench/server.ts', flags: ['--conditions=warden-source', '--import', 'tsx'] };
  if (transpiled === undefined) {
    const built = spawnSync('npm', ['run', 'build', '--silent'], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`npm run build failed:\n${built.stdout}${built.stderr}`);
    const { outputText } = ts.transpileModule(readFileSync('bench/server.ts', 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    });
    writeFileSync('bench/.server.mjs', outputText);
    transpiled = 'bench/.server.mjs';
  }
  return { file: transpiled, flags: [] };
}

/**
 * Starts bench/server.ts <mode> ... (see serverEntry) pinned to `core` and waits for its
 * `READY {json}` line. Servers report their port there; the argon2 baseline prints `RESULT {json}`.
 */
export function startPinned(mode: string, args: string[] = [], env: Record<string, string> = {}, core = SERVER_CORE, nodeArgs: string[] = []): Promise<Child> {
  // BENCH_CPU_PROF=<dir>: each child writes a V8 CPU profile there when it is stopped.
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(process.env.BENCH_CPU_PROF, mode)}`] : [];
  // BENCH_NODE_FLAGS: more node/V8 flags for every server child (e.g. --trace-gc), for investigations.
  const extra = process.env.BENCH_NODE_FLAGS ? process.env.BENCH_NODE_FLAGS.split(/\s+/).filter(Boolean) : [];
  const server = serverEntry();
  const [cmd, argv] = pinned(core, process.execPath, [...prof, ...extra, ...nodeArgs, ...server.flags, server.file, mode, ...args]);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  // 'close', not 'exit': stdout may still hold the last line when the process has exited.
  const exited = new Promise<void>((res) => proc.once('close', () => res()));
  const waiters: Array<() => boolean> = [];
  // BENCH_CHILD_OUT=<dir>: each child's stdout and stderr also go to <dir>/<mode>.log (what BENCH_NODE_FLAGS traces print).
  const outDir = process.env.BENCH_CHILD_OUT;
  if (outDir) mkdirSync(outDir, { recursive: true });
  const copy = outDir ? createWriteStream(join(outDir, `${mode}.log`), { flags: 'a' }) : undefined;
  if (copy) proc.stderr!.on('data', (d: Buffer) => copy.write(d));
  proc.stdout!.on('data', (d: Buffer) => {
    copy?.write(d);
    out += d.toString();
    for (const w of waiters) w();
  });
  const line = (tag: string): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const scan = (): boolean => {
        const m = new RegExp(`^${tag} (.*)$`, 'm').exec(out);
        if (m) resolve(JSON.parse(m[1]!) as Record<string, unknown>);
        return m !== null;
      };
      waiters.push(scan);
      void exited.then(() => scan() || reject(new Error(`bench child "${mode}" exited without ${tag}:\n${err}`)));
    });
  const ready = line('READY');
  const result = line('RESULT');
  result.catch(() => undefined); // servers never print one
  const timeout = setTimeout(() => proc.kill('SIGKILL'), 300_000); // bounded start-up (a million-row database takes a while)
  return ready.finally(() => clearTimeout(timeout)).then((info) => ({
    proc, info, result, pid: proc.pid!,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      }
      children.delete(proc);
    },
  }));
}

// ---- load generation ---------------------------------------------------------------------------

export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  /** Target requests/s over all connections (a modest probe, not max throughput). */
  rate?: number;
  tool?: 'wrk' | 'autocannon';
  /**
   * A different Authorization header per request (wrk only): `file` holds one token per line; with
   * `order` (a file of 1-based line numbers, one per line) requests follow that sequence, else they
   * rotate through the tokens. Every run starts at `offset` in the sequence (default 0).
   */
  tokens?: { file: string; order?: string; offset?: number };
}

export interface LoadResult {
  tool: string;
  requests: number;
  rps: number;
  /** Latency in ms. */
  p50: number;
  p99: number;
  max: number;
  /** Non-2xx/3xx answers and socket errors: a benchmark with any is measuring failures. */
  bad: number;
}

let scriptSeq = 0;

/** Runs wrk (or autocannon) pinned to the load core for `seconds` and returns its summary. */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const tool = o.tool ?? LOAD_TOOL;
  const method = o.method ?? 'GET';
  const headers = o.headers ?? {};
  let cmd: string;
  let args: string[];
  if (o.tokens && tool !== 'wrk') throw new Error('a token stream needs wrk');
  if (tool === 'wrk') {
    // A Lua script carries method/body/headers, an optional think time (wrk's delay() hook: with
    // -c1 it paces a probe to ~rate) and a done() that prints one JSON line we can parse.
    const script = join(workDir, `load-${++scriptSeq}.lua`);
    const lua = [
      `wrk.method = ${JSON.stringify(method)}`,
      o.body !== undefined ? `wrk.body = ${luaString(o.body)}` : '',
      ...Object.entries(headers).map(([k, v]) => `wrk.headers[${luaString(k)}] = ${luaString(v)}`),
      o.tokens ? tokenStreamLua(o.tokens) : '',
      o.rate ? `function delay() return ${Math.max(1, Math.round((1000 * o.connections) / o.rate))} end` : '',
      `function done(s, lat, req)`,
      `  local e = s.errors`,
      `  io.write(string.format('WRKJSON {"requests":%d,"us":%d,"bad":%d,"p50":%d,"p99":%d,"max":%d}\\n',`,
      `    s.requests, s.duration, e.connect + e.read + e.write + e.timeout + e.status,`,
      `    lat:percentile(50), lat:percentile(99), lat.max))`,
      `end`,
    ].join('\n');
    writeFileSync(script, lua);
    cmd = 'wrk';
    args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--timeout', '10s', '-s', script, o.url];
  } else {
    cmd = process.execPath;
    args = [
      'node_modules/autocannon/autocannon.js', '-j', '-c', String(o.connections), '-d', String(o.seconds), '-m', method,
      ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}=${v}`]),
      ...(o.body !== undefined ? ['-b', o.body] : []),
      ...(o.rate ? ['-R', String(o.rate)] : []),
      o.url,
    ];
  }
  const [c, a] = pinned(LOAD_CORE, cmd, args);
  const proc = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(proc);
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  const kill = setTimeout(() => proc.kill('SIGKILL'), (o.seconds + 30) * 1000); // bounded
  const code = await new Promise<number | null>((res) => proc.once('exit', (code) => res(code)));
  clearTimeout(kill);
  children.delete(proc);
  if (code !== 0) throw new Error(`${tool} exited ${code}: ${err || out}`);
  if (tool === 'wrk') {
    const m = /^WRKJSON (.*)$/m.exec(out);
    if (!m) throw new Error(`wrk printed no summary: ${out}\n${err}`);
    const j = JSON.parse(m[1]!) as { requests: number; us: number; bad: number; p50: number; p99: number; max: number };
    return { tool, requests: j.requests, rps: j.requests / (j.us / 1e6), p50: j.p50 / 1000, p99: j.p99 / 1000, max: j.max / 1000, bad: j.bad };
  }
  const j = JSON.parse(out) as {
    requests: { total: number; average: number }; duration: number; latency: { p50: number; p99: number; max: number };
    non2xx: number; errors: number; timeouts: number;
  };
  return {
    tool, requests: j.requests.total, rps: j.requests.total / j.duration,
    p50: j.latency.p50, p99: j.latency.p99, max: j.latency.max, bad: j.non2xx + j.errors + j.timeouts,
  };
}

/**
 * wrk Lua for a token stream. The requests are formatted once in init() (wrk runs it before its
 * clock starts), so per request the generator only picks a prepared string: every contestant,
 * the bare baseline included, gets the same stream at the same generator cost.
 */
function tokenStreamLua(t: { file: string; order?: string; offset?: number }): string {
  return [
    'local reqs, order, n, m, i = {}, {}, 0, 0, 0',
    'function init(args)',
    '  local h = {}',
    '  for k, v in pairs(wrk.headers) do if string.lower(k) ~= "authorization" then h[k] = v end end',
    `  for line in io.lines(${luaString(t.file)}) do`,
    '    n = n + 1',
    '    h["Authorization"] = "Bearer " .. line',
    '    reqs[n] = wrk.format(nil, nil, h)',
    '  end',
    t.order ? `  for line in io.lines(${luaString(t.order)}) do m = m + 1; order[m] = tonumber(line) end` : '',
    `  i = ${Math.max(0, Math.floor(t.offset ?? 0))}`,
    'end',
    'function request()',
    '  i = i + 1',
    '  if m > 0 then return reqs[order[i % m + 1]] end',
    '  return reqs[i % n + 1]',
    'end',
  ].join('\n');
}

function luaString(s: string): string {
  return `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

// ---- statistics --------------------------------------------------------------------------------

/**
 * `rounds` measurements of a reference and a contestant, the order inside each round alternating
 * (contestant first in even rounds), so that neither always runs first: [reference, contestant] per round.
 */
export async function alternating(rounds: number, reference: () => Promise<number>, contestant: () => Promise<number>): Promise<Array<[number, number]>> {
  const out: Array<[number, number]> = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2) {
      const x = await reference();
      out.push([x, await contestant()]);
    } else {
      const y = await contestant();
      out.push([await reference(), y]);
    }
  }
  return out;
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU seconds a process (all its threads) has used so far, from /proc; NaN where there is none. */
export function cpuSeconds(pid: number): number {
  try {
    // Fields after the ")" of the command name: utime and stime are the 12th and 13th.
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** HTTP JSON call on loopback for setup (sign-ups, sign-ins); throws on a non-2xx answer. */
export async function call(url: string, method: string, body?: unknown, token?: string): Promise<Record<string, unknown>> {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${url} → ${res.status}: ${text}`);
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}
