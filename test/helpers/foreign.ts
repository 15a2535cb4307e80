// JWT libraries of other languages (Debian's ruby-jwt, ruby-oauth2, libcrypt-jwt-perl): the one
// interpreter each is installed for (python.ts's skips are made here too), why a test skips where one is missing, and a long-lived
// script spoken to one JSON line at a time (one process is one service: it keeps its JWKS cache
// while Warden restarts around it).
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Debian's interpreters, never an rbenv or perlbrew one on PATH: `apt-get install ruby-…`/`lib…-perl` install for these. */
export const RUBY = '/usr/bin/ruby';
export const PERL = '/usr/bin/perl';

/**
 * Undefined when `interpreter args…` exits 0, else the skip message: what failed, the Debian
 * packages that bring it, and what goes unchecked.
 */
export function commandMissing(interpreter: string, args: string[], what: string, packages: string, unchecked: string, lacking = 'loadable'): string | undefined {
  try {
    execFileSync(interpreter, args, { stdio: 'ignore', timeout: 30_000 });
    return undefined;
  } catch {
    return `${what}: not ${lacking} by ${interpreter} (apt-get install ${packages}); ${unchecked}`;
  }
}

export interface LineProcess {
  /** Sends one request and waits for its one answer line. */
  ask<T = Record<string, unknown>>(request: Record<string, unknown>): Promise<T>;
  close(): Promise<void>;
}

/** Starts `command args…`, which answers each JSON line on stdin with one JSON line on stdout. */
export function lineProcess(command: string, args: string[]): LineProcess {
  const child: ChildProcessWithoutNullStreams = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const waiting: Array<{ resolve: (line: string) => void; reject: (e: Error) => void }> = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (e) => {
    for (const w of waiting.splice(0)) w.reject(e);
  });
  child.once('exit', (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`${command} ${args.join(' ')} exited (${code}) before answering: ${stderr}`));
  });
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(line));
  return {
    ask<T>(request: Record<string, unknown>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        waiting.push({
          resolve: (line) => {
            try {
              resolve(JSON.parse(line) as T);
            } catch {
              reject(new Error(`not a JSON answer: ${line} (stderr: ${stderr})`));
            }
          },
          reject,
        });
        child.stdin.write(`${JSON.stringify(request)}\n`);
      });
    },
    async close() {
      child.stdin.end();
      await exited;
    },
  };
}
