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
  options: WardenOptions & { routes?: (app: Warden['app']) => void; /** Listen here (default: any free port). */ port?: number } = {},
): Promise<Running> {
  const dataDir = mkdtempSync(join(tmpdir(), 'warden-test-'));
  let config: ReturnType<typeof loadConfig>;
  let warden: Warden | undefined;
  let observed: Observed;
  try {
    config = loadConfig({
      SECRET_KEY: TEST_SECRET,
      DATA_DIR: dataDir,
      COOKIE_SECURE: 'false',
      LOG_LEVEL: 'silent',
      // Tests sign many users up from 127.0.0.1, some counting in the one shared Redis: the limit
      // is on only where a test turns it on.
      SIGNUP_LIMIT_PER_IP: '0',
      ...env,
    });
    warden = await createWarden(config, options);
    options.routes?.(warden.app);
    observed = observeStatuses(warden.app);
    await warden.app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  } catch (e) {
    // A start that fails (the tests of bad configuration, a port taken) leaves no folder behind.
    await warden?.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  }
  const address = warden.app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    warden,
    config,
    async close() {
      const undocumented = undocumentedStatuses(warden.app, observed);
      await warden.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (undocumented.length > 0) {
        throw new Error(`statuses these tests saw that /openapi.json does not document for the route:\n  ${undocumented.join('\n  ')}`);
      }
    },
  };
}

/** Route ("GET /api/users/:id") -> every status it answered during the tests. */
export type Observed = Map<string, Set<number>>;

/** Records the status of every response of a documented route (hidden routes and 404s for unknown paths aside). */
export function observeStatuses(app: Warden['app']): Observed {
  const observed: Observed = new Map();
  app.addHook('onResponse', (req, reply, done) => {
    const url = req.routeOptions.url;
    if (url !== undefined && req.routeOptions.schema?.hide !== true) {
      const key = `${req.method === 'HEAD' ? 'GET' : req.method} ${url}`;
      let set = observed.get(key);
      if (set === undefined) observed.set(key, (set = new Set()));
      set.add(reply.statusCode);
    }
    done();
  });
  return observed;
}

/** Each observed (route, status) that the route's operation in the OpenAPI document does not list. */
export function undocumentedStatuses(app: Warden['app'], observed: Observed): string[] {
  const doc = app.swagger() as { paths?: Record<string, Record<string, { responses?: Record<string, unknown> }>> };
  const out: string[] = [];
  for (const [key, statuses] of observed) {
    const [method, url] = key.split(' ') as [string, string];
    const op = doc.paths?.[url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')]?.[method.toLowerCase()];
    for (const status of statuses) {
      if (op?.responses?.[String(status)] === undefined) out.push(`${key} -> ${status}${op ? '' : ' (no operation in the document)'}`);
    }
  }
  return out.sort();
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
