// Bench child process, started pinned to one core by lib.ts's startPinned():
//   bare | spin | hmac | hmac-parse | guard | guard-users | guard-nocache | fastify-jwt | warden   listen on 127.0.0.1:<random> and print `READY {"port":N}`
//   argon2 <c1,c2..> <seconds> <warmup>   in-process argon2id verify loops; prints `RESULT {...}`
// The secret comes in BENCH_SECRET, Warden's data folder in BENCH_DATA_DIR.
import fastifyJwt from '@fastify/jwt';
import { hash, verify } from '@node-rs/argon2';
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';

// The code under test is loaded as `warden serve` runs it: the JavaScript `npm run build` wrote to
// dist/, and @warden/toolkit's dist/ (lib.ts builds both, and runs this file transpiled, without a
// loader). Under tsx's loader hooks some server processes ran slower than the same code compiled:
// process.nextTick's own time was 10% of a guarded server's CPU profile, against about 1% compiled,
// and the guard served 0.75–0.9 of bare Fastify's requests where compiled it served as many. BENCH_CODE=source
// loads src/ and toolkit/src/ through tsx instead (uncommitted code, no build), for a quick look.
const root = process.env.BENCH_CODE === 'source' ? '../src/' : '../dist/';
const load = <T>(path: string): Promise<T> => import(new URL(`${root}${path}`, import.meta.url).href) as Promise<T>;
const { HASH_OPTIONS } = await load<typeof import('../src/accounts/argon2-hasher.js')>('accounts/argon2-hasher.js');
const { loadConfig } = await load<typeof import('../src/config.js')>('config.js');
const { RevocationIndex } = await load<typeof import('../src/revocation/index.js')>('revocation/index.js');
const { createWarden, tuneHeapForServing } = await load<typeof import('../src/server.js')>('server.js');
// The toolkit by its package name, as src/ imports it: one copy of it in the process, whichever root.
const { wardenGuard, keyRingFromSecret, createTokenVerifier } = await import('@warden/toolkit');

// The same small body from every comparable route, so only the auth check differs.
const BODY = { hello: 'world' };
const ROUTE = '/hello'; // bench/run.ts knows it too
const STATS = '/__bench/verify-cache'; // the verify cache's counters, read between runs

const mode = process.argv[2];
const secret = process.env.BENCH_SECRET ?? '';

async function listen(app: FastifyInstance, extra: Record<string, unknown> = {}): Promise<void> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  process.stdout.write(`READY ${JSON.stringify({ port, ...extra })}\n`);
}

async function main(): Promise<void> {
  // A clean exit on stop, so that --cpu-prof (BENCH_CPU_PROF) gets to write its profile.
  if (mode !== 'warden') process.once('SIGTERM', () => process.exit(0));
  switch (mode) {
    case 'bare': {
      // Baseline: the same route and body; the Authorization header arrives but is not read.
      const app = Fastify({ logger: false });
      app.get(ROUTE, async () => BODY);
      return listen(app);
    }
    case 'spin': {
      // A control for bench/wake-cost.ts: a preHandler that burns BENCH_SPIN iterations of integer
      // arithmetic (no allocation, no native call), to slow a server down without any crypto.
      const n = Number(process.env.BENCH_SPIN ?? '0');
      let x = 1;
      const app = Fastify({ logger: false });
      app.get(ROUTE, {
        preHandler: (_req, _reply, next) => {
          for (let i = 0; i < n; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
          if (x !== 0.5) next(); // never false: keeps the loop from being dropped
        },
      }, async () => BODY);
      return listen(app);
    }
    case 'guard':
    case 'guard-users':
    case 'guard-nocache': {
      // 'guard' runs as the server does (VERIFY_CACHE_SIZE's default); 'guard-users' with a cache as
      // large as the token streams' user count (bench/run.ts's USERS); 'guard-nocache' verifies every time.
      const cacheSize = mode === 'guard' ? 10_000 : mode === 'guard-users' ? 100_000 : 0;
      const verify = createTokenVerifier({ keys: keyRingFromSecret(secret, 'HS256'), cacheSize });
      const app = Fastify({ logger: false });
      await app.register(wardenGuard, { verify, revocations: new RevocationIndex() });
      app.get(ROUTE, { preHandler: app.jwtRequired() }, async () => BODY);
      app.get(STATS, async () => verify.cacheStats());
      return listen(app);
    }
    case 'hmac': {
      // The floor for any per-request check: read the Bearer, one raw HMAC-SHA256, compare.
      const key = Buffer.from(secret, 'utf8');
      const app = Fastify({ logger: false });
      app.get(ROUTE, {
        preHandler: (req, reply, next) => {
          const t = (req.headers.authorization ?? '').slice(7);
          const d = t.lastIndexOf('.');
          const sig = Buffer.from(t.slice(d + 1), 'base64url');
          const mac = createHmac('sha256', key).update(t.slice(0, d)).digest();
          if (sig.length === mac.length && timingSafeEqual(mac, sig)) next();
          else void reply.code(401).send();
        },
      }, async () => BODY);
      return listen(app);
    }
    case 'hmac-parse': {
      // The issue's own baseline, in a server: Warden's HMAC primitive (toolkit/src/tokens/primitives.ts)
      // and a JSON.parse of the payload, nothing else (no claims, no cache, no revocation check).
      const toolkit = process.env.BENCH_CODE === 'source' ? '../toolkit/src/' : '../toolkit/dist/';
      const { checkerFor } = (await import(new URL(`${toolkit}tokens/primitives.js`, import.meta.url).href)) as typeof import('../toolkit/src/tokens/primitives.js');
      const check = checkerFor('HS256', createSecretKey(Buffer.from(secret, 'utf8')));
      const app = Fastify({ logger: false });
      app.get(ROUTE, {
        preHandler: (req, reply, next) => {
          const t = (req.headers.authorization ?? '').slice(7);
          const d = t.lastIndexOf('.');
          const claims = check(t.slice(0, d), t.slice(d + 1))
            ? (JSON.parse(Buffer.from(t.slice(t.indexOf('.') + 1, d), 'base64url').toString('utf8')) as { exp?: unknown })
            : undefined;
          if (typeof claims?.exp === 'number') next();
          else void reply.code(401).send();
        },
      }, async () => BODY);
      return listen(app);
    }
    case 'fastify-jwt': {
      // Reference: the usual Fastify way (fast-jwt underneath) doing the same check.
      const app = Fastify({ logger: false });
      await app.register(fastifyJwt, { secret });
      app.get(ROUTE, { preHandler: async (req) => void (await req.jwtVerify()) }, async () => BODY);
      return listen(app);
    }
    case 'warden': {
      const dir = process.env.BENCH_DATA_DIR!;
      const config = loadConfig({
        // BENCH_DATABASE_URL (e.g. memory:) separates storage costs from the rest.
        SECRET_KEY: secret, DATA_DIR: dir, DATABASE_URL: process.env.BENCH_DATABASE_URL ?? `sqlite:${dir}/warden.db`,
        LOG_LEVEL: 'silent', COOKIE_SECURE: 'false', HOST: '127.0.0.1', PORT: '0',
        // Variables a section compares (e.g. METRICS=false, CORS_ORIGINS), as JSON.
        ...(JSON.parse(process.env.BENCH_WARDEN_ENV ?? '{}') as Record<string, string>),
      });
      const warden = await createWarden(config);
      tuneHeapForServing(); // as `warden serve` does
      warden.app.get(STATS, async () => warden.verify.cacheStats());
      process.once('SIGTERM', () => void warden.close().finally(() => process.exit(0)));
      return listen(warden.app);
    }
    case 'startup': {
      // Start-up of a server on an existing database (BENCH_DATABASE_URL), run with --expose-gc:
      // how long createWarden takes (migrations, revocation index load) and the heap after it.
      const gc = (globalThis as { gc?: () => void }).gc!;
      const config = loadConfig({
        SECRET_KEY: secret, DATA_DIR: process.env.BENCH_DATA_DIR ?? '/tmp', DATABASE_URL: process.env.BENCH_DATABASE_URL!,
        LOG_LEVEL: 'silent', COOKIE_SECURE: 'false', HOST: '127.0.0.1', PORT: '0',
      });
      process.stdout.write('READY {}\n');
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      const warden = await createWarden(config);
      const ms = performance.now() - t0;
      gc();
      const m = process.memoryUsage();
      const result = { ms, heapBefore, heapAfter: m.heapUsed, rss: m.rss, indexSize: warden.revoker.index.size, maxRssKb: process.resourceUsage().maxRSS };
      await warden.close();
      process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
      return;
    }
    case 'argon2': {
      // Baseline for sign-in: the same argon2id parameters and call Warden makes, on the same libuv
      // pool (UV_THREADPOOL_SIZE as inherited) and the same core; one timed run per concurrency.
      const [list, seconds, warmup] = process.argv.slice(3) as [string, string, string];
      const password = 'correct horse battery staple';
      const stored = await hash(password, HASH_OPTIONS);
      process.stdout.write('READY {}\n');
      const run = async (concurrency: number, ms: number): Promise<number> => {
        const end = performance.now() + ms;
        let done = 0;
        const worker = async (): Promise<void> => {
          while (performance.now() < end) {
            if (!(await verify(stored, password))) throw new Error('argon2 verify failed');
            done++;
          }
        };
        const t0 = performance.now();
        await Promise.all(Array.from({ length: concurrency }, worker));
        return done / ((performance.now() - t0) / 1000);
      };
      const perSecond: Record<string, number> = {};
      await run(Number(list.split(',')[0]), Number(warmup) * 1000); // native code: one warm-up is enough
      for (const c of list.split(',').map(Number)) perSecond[c] = await run(c, Number(seconds) * 1000);
      process.stdout.write(`RESULT ${JSON.stringify({ perSecond })}\n`);
      return;
    }
    default:
      throw new Error(`unknown bench mode: ${String(mode)}`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
