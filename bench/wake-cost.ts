// What a server pays the kernel to wake its load generator, per request (bench/README.md, "Why the
// cold rows sit where they do"). Each response a server writes on loopback is delivered in the
// server's own context: the kernel queues it on wrk's socket and, when wrk is asleep in epoll_wait,
// wakes it (sock_def_readable → try_to_wake_up; on a virtual machine a cross-core wake is an
// interrupt to the other virtual CPU). The slower a server, the more often wrk has gone back to
// sleep, so the same request costs it more kernel time: a share of the cold rows' gap to bare
// Fastify that no verifier's code is in.
// usage: node --conditions=warden-source --import tsx bench/wake-cost.ts   (needs perf and wrk)
// WAKE_SECONDS (6), WAKE_ROUNDS (2), WAKE_SPIN (iterations of the spin control, 1000).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTokenIssuer, keyRingFromSecret } from '../toolkit/src/tokens/index.js';
import { HAS_WRK, median, runLoad, startPinned, workDir, type Child } from './lib.js';

const SECONDS = Number(process.env.WAKE_SECONDS ?? '6');
const ROUNDS = Number(process.env.WAKE_ROUNDS ?? '2');
const FREQ = 1999; // perf samples per second of the server's CPU
const SECRET = randomBytes(48).toString('base64');

if (!HAS_WRK || spawnSync('perf', ['--version']).error !== undefined) {
  console.log('wake-cost: needs wrk and perf (apt-get install wrk linux-perf); nothing measured');
  process.exit(0);
}

// The cold section's traffic: 100,000 distinct valid sign-in-shaped tokens in rotation.
const issuer = createTokenIssuer({ keys: keyRingFromSecret(SECRET, 'HS256'), accessExpiresIn: 3600, refreshExpiresIn: 86400 });
const tokens = join(workDir, 'tokens.txt');
writeFileSync(tokens, Array.from({ length: 100_000 }, () => issuer.createAccessToken(randomUUID(), { fresh: true, additionalClaims: { roles: ['user'], sid: randomUUID() } })).join('\n') + '\n');

const contestants: Array<{ mode: string; label: string; env?: Record<string, string> }> = [
  { mode: 'bare', label: 'bare Fastify' },
  { mode: 'spin', label: `bare + a JavaScript loop (${process.env.WAKE_SPIN ?? '1000'} iterations; no crypto)`, env: { BENCH_SPIN: process.env.WAKE_SPIN ?? '1000' } },
  { mode: 'hmac', label: 'raw HMAC check (the floor)' },
  { mode: 'guard', label: 'Warden guard (cache on)' },
];

interface Sample { rps: number; total: number; wake: number } // µs of server CPU per request

/** Samples of the server under load: all of them, and those inside sock_def_readable (waking a socket's reader). */
async function measure(c: Child): Promise<Sample> {
  const url = `http://127.0.0.1:${c.info.port as number}/hello`;
  const data = join(workDir, `perf-${c.pid}.data`);
  const perf = spawn('perf', ['record', '-g', '-F', String(FREQ), '-o', data, '-p', String(c.pid), '--', 'sleep', String(SECONDS)], { stdio: 'ignore' });
  const recorded = new Promise<void>((res) => perf.once('exit', () => res()));
  const load = await runLoad({ url, connections: 32, seconds: SECONDS, tokens: { file: tokens, offset: Math.floor(Math.random() * 100_000) } });
  await recorded;
  const script = spawnSync('perf', ['script', '-i', data, '-F', 'ip,sym'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  let samples = 0;
  let wake = 0;
  for (const block of script.stdout.split(/\n\s*\n/)) {
    if (block.trim() === '') continue;
    samples++;
    if (block.includes('sock_def_readable')) wake++;
  }
  if (samples === 0) throw new Error(`perf recorded nothing for pid ${c.pid}: ${script.stderr}`);
  const requests = load.rps * SECONDS;
  const us = (n: number): number => (n / FREQ / requests) * 1e6;
  return { rps: load.rps, total: us(samples), wake: us(wake) };
}

const started = await Promise.all(contestants.map(async (k) => ({ k, child: await startPinned(k.mode, [], { BENCH_SECRET: SECRET, ...k.env }) })));
const results = new Map<string, Sample[]>();
for (const { child } of started) await runLoad({ url: `http://127.0.0.1:${child.info.port as number}/hello`, connections: 32, seconds: 2, tokens: { file: tokens } });
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? started : [...started].reverse();
  for (const { k, child } of order) results.set(k.mode, [...(results.get(k.mode) ?? []), await measure(child)]);
}
for (const { child } of started) await child.stop();

const med = (mode: string, f: (s: Sample) => number): number => median(results.get(mode)!.map(f));
const bareRest = med('bare', (s) => s.total - s.wake);
console.log(`wake-cost: cold token stream, 32 connections, ${ROUNDS} rounds of ${SECONDS} s; µs of the server's CPU per request (perf, ${FREQ} Hz), medians`);
console.log('contestant | req/s | vs bare | CPU per request | of which waking wrk | the rest | the rest vs bare\'s rest (inverse)');
for (const { k } of started) {
  const rps = med(k.mode, (s) => s.rps);
  const total = med(k.mode, (s) => s.total);
  const wake = med(k.mode, (s) => s.wake);
  const rest = med(k.mode, (s) => s.total - s.wake);
  console.log(`${k.label} | ${Math.round(rps)} | ${(rps / med('bare', (s) => s.rps)).toFixed(2)} | ${total.toFixed(2)} | ${wake.toFixed(2)} | ${rest.toFixed(2)} | ${(bareRest / rest).toFixed(2)}`);
}
