// Runs the built `warden` binary as a user would: `npm run build` once per test process, then
// `node dist/cli.js …` in a folder of the test's choosing, with only the environment it is given.
import { execFile, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(ROOT, 'dist', 'cli.js');

let built: Promise<void> | undefined;

/** The newest modification time of the files under `dir` (recursively). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const mtime = (f: string) => (existsSync(f) ? statSync(f).mtimeMs : 0);

/**
 * Builds the packages (toolkit and server) into dist/, once per test process, and not at all when
 * both builds are newer than every source file (another test file of the same run built them).
 */
export function buildCli(): Promise<void> {
  built ??= (async () => {
    const sources = Math.max(newest(join(ROOT, 'src')), newest(join(ROOT, 'toolkit', 'src')), mtime(join(ROOT, 'package.json')));
    if (Math.min(mtime(CLI), mtime(join(ROOT, 'toolkit', 'dist', 'index.js'))) > sources) return;
    await promisify(execFile)('npm', ['run', 'build', '--silent'], { cwd: ROOT, maxBuffer: 1 << 24 });
  })();
  return built;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed, when it is JSON. */
  json: any;
}

export interface CliOptions {
  cwd: string;
  env?: Record<string, string | undefined>;
  /** Written to standard input, which is then closed. */
  input?: string;
  /** Standard output is not read for this long: a reader slower than the command (`warden … | slow`). */
  readAfterMs?: number;
  /** The reader closes its end of standard output once it has this many characters (`warden … | head`). */
  closeAfter?: number;
}

/** `warden ARGS…`; resolves with the exit code and output (never rejects on a non-zero exit). */
export function warden(args: readonly string[], o: CliOptions): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
    for (const [k, v] of Object.entries(o.env ?? {})) if (v !== undefined) env[k] = v;
    const child = spawn(process.execPath, [CLI, ...args], { cwd: o.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const read = () => child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (o.closeAfter !== undefined && stdout.length >= o.closeAfter) child.stdout.destroy();
    });
    if (o.readAfterMs === undefined) read();
    else setTimeout(read, o.readAfterMs); // the command meanwhile fills the pipe and must wait, not drop the rest
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: unknown;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolvePromise({ code: code ?? -1, stdout, stderr, json });
    });
    child.stdin.end(o.input ?? '');
  });
}
