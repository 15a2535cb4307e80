// Runs Debian's Caddy (package caddy) in the foreground with a test's own Caddyfile, in a private
// folder (its autosave and storage included), on a free port, without its admin endpoint or
// automatic HTTPS. `caddyOrSkip()` says why it cannot run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './child-warden.js';

const CADDY = '/usr/bin/caddy';

export function caddyOrSkip(): string | undefined {
  return existsSync(CADDY) ? undefined : `${CADDY} not found (apt-get install caddy): Caddy test not run`;
}

export interface RunningCaddy {
  url: string;
  close(): Promise<void>;
}

/** `site` is one site block whose address is `example.com`, which becomes this Caddy's own. */
export async function startCaddy(site: string): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'warden-caddy-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(join(dir, 'Caddyfile'), `{\n\tadmin off\n\tauto_https off\n}\n${site.replace(/^example\.com /m, `${url} `)}`);
  const child: ChildProcess = spawn(CADDY, ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir },
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`caddy exited: ${stderr}`);
    const ok = await fetch(url).then(() => true, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`caddy did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50)); // polling for the listener, bounded by the deadline
  }
  return {
    url,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
