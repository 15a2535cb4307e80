// Starts a real Warden on a free port for a test, with its own data folder.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../../src/config.js';
import { createWarden, type Warden, type WardenOptions } from '../../src/server.js';

export const TEST_SECRET = 'test-secret-that-is-at-least-32-bytes-long!!';

export interface Running {
  url: string;
  warden: Warden;
  config: ReturnType<typeof loadConfig>;
  close(): Promise<void>;
}

export async function startServer(
  env: Record<string, string> = {},
  options: WardenOptions & { routes?: (app: Warden['app']) => void } = {},
): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-test-'));
  const config = loadConfig({
    SECRET_KEY: TEST_SECRET,
    DATA_DIR: dataDir,
    COOKIE_SECURE: 'false',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const warden = await createWarden(config, options);
  options.routes?.(warden.app);
  await warden.app.listen({ port: 0, host: '127.0.0.1' });
  const address = warden.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    warden,
    config,
    async close() {
      await warden.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface CurlResult {
  status: number;
  headers: Record<string, string[]>;
  body: string;
  json: any;
}

const execFileP = promisify(execFile);

/** Runs a curl command line through sh, as a person would paste it; `-si` is added to see the status and headers. */
export async function curl(command: string): Promise<CurlResult> {
  const { stdout } = await execFileP('sh', ['-c', command.replace(/^curl /, 'curl -si ')]);
  const split = stdout.indexOf('\r\n\r\n');
  const head = stdout.slice(0, split).split('\r\n');
  const body = stdout.slice(split + 4);
  const status = Number(head[0]!.split(' ')[1]);
  const headers: Record<string, string[]> = {};
  for (const line of head.slice(1)) {
    const i = line.indexOf(':');
    const k = line.slice(0, i).toLowerCase();
    (headers[k] ??= []).push(line.slice(i + 1).trim());
  }
  let json: unknown;
  try {
    json = body ? JSON.parse(body) : undefined;
  } catch {
    json = undefined;
  }
  return { status, headers, body, json };
}

/** fetch with a JSON body; returns status, headers and parsed body. */
export async function call(url: string, init: { method?: string; json?: unknown; form?: Record<string, string>; headers?: Record<string, string>; body?: string } = {}) {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined = init.body;
  if (init.json !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = JSON.stringify(init.json);
  } else if (init.form !== undefined) {
    headers['content-type'] ??= 'application/x-www-form-urlencoded';
    body = new URLSearchParams(init.form).toString();
  }
  const res = await fetch(url, { method: init.method ?? (body !== undefined ? 'POST' : 'GET'), headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Cookie header from a response's Set-Cookie lines (name=value pairs only). */
export function cookiesFrom(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of headers.getSetCookie()) {
    const [pair] = line.split(';');
    const i = pair!.indexOf('=');
    out[pair!.slice(0, i)] = decodeURIComponent(pair!.slice(i + 1));
  }
  return out;
}

export function cookieHeader(cookies: Record<string, string>): string {
  return Object.entries(cookies).map(([k, v]) => `${k}=${v}`).join('; ');
}
