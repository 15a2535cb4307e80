// Runs Debian's nginx (package nginx-light or nginx) in the foreground with a test's own
// configuration, in a private prefix, on a free port. `nginxOrSkip()` says why it cannot run.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const NGINX = '/usr/sbin/nginx';

export function nginxOrSkip(): string | undefined {
  return existsSync(NGINX) ? undefined : `${NGINX} not found (apt-get install nginx-light): nginx test not run`;
}

export interface RunningNginx {
  url: string;
  /** The same server on [::1] (with `ipv6: true`). */
  url6?: string;
  close(): Promise<void>;
}

export interface NginxOptions {
  /** Listen on [::1] too, same port. */
  ipv6?: boolean;
  /** Directives of the `http { … }` context (a `map`), before the server block. */
  http?: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** `server` is the body of one `server { … }` block; `listen` is added. */
export async function startNginx(server: string, options: NginxOptions = {}): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'warden-nginx-'));
  const port = await freePort();
  const conf = `
daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  ${options.http ?? ''}
  server {
    listen 127.0.0.1:${port};
    ${options.ipv6 ? `listen [::1]:${port};` : ''}
    ${server}
  }
}
`;
  writeFileSync(join(prefix, 'nginx.conf'), conf);
  const child: ChildProcess = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const ok = await fetch(url).then(() => true, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`nginx did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50)); // polling for the listener, bounded by the deadline
  }
  return {
    url,
    ...(options.ipv6 ? { url6: `http://[::1]:${port}` } : {}),
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGQUIT');
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
