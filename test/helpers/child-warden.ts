// Runs Warden as a separate process, as `npm start` would (src/cli.ts through tsx), so a test can
// kill it with SIGKILL and start it again on the same database. Only the variables given (and
// PATH/HOME) reach it: nothing of the test runner's environment.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? done(a.port) : fail(new Error('no port'))));
    });
  });
}

export interface ChildWarden {
  url: string;
  child: ChildProcess;
  /** What the process wrote to stderr and stdout so far (for a failing test's message). */
  output(): string;
  /** SIGKILL, and resolves once the process is gone. */
  kill9(): Promise<void>;
  /** SIGTERM, and resolves once the process is gone. */
  stop(): Promise<void>;
}

/**
 * Starts Warden on `port` with `env` and resolves once /health answers (or rejects with its output):
 * from source, or node with `args` in `cwd` (an installed package's bin).
 */
export async function startChildWarden(
  port: number, env: Record<string, string>, timeoutMs = 60_000,
  args = ['--conditions=warden-source', '--import', 'tsx', 'src/cli.ts'], cwd = ROOT,
): Promise<ChildWarden> {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', PORT: String(port), SIGNUP_LIMIT_PER_IP: '0', ...env }, // the limit: see startServer
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const gone = (signal: NodeJS.Signals) => async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`warden exited (${child.exitCode}) before answering:\n${out}`);
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await gone('SIGKILL')();
      throw new Error(`warden did not answer /health within ${timeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, child, output: () => out, kill9: gone('SIGKILL'), stop: gone('SIGTERM') };
}
