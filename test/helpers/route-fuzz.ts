// A fuzzer driven by Warden's own /openapi.json: for every documented operation it builds a request
// from the documented parameters and body schema, then breaks it (types, sizes, encodings, odd
// characters, content types, methods, tokens in the wrong place). Everything it draws comes from a
// seeded PRNG, so a failure is reproduced by its seed and request number. The oracle is in
// `checkResponse` (no 5xx, nothing internal in the body, the family's error shape); what a refused
// request may not change is compared by the caller (test/fuzz-routes.test.ts).
import http from 'node:http';

/** mulberry32: small, fast and good enough to pick mutations. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    chance: (p: number) => next() < p,
    pick<T>(xs: readonly T[]): T {
      return xs[Math.floor(next() * xs.length)]!;
    },
  };
}
export type Rng = ReturnType<typeof prng>;

type Schema = Record<string, any>;

export interface Operation {
  method: string;
  path: string;
  params: { name: string; in: 'query' | 'path' | 'header'; schema: Schema }[];
  body?: Record<string, Schema>; // content type -> schema
  secured: boolean;
}

export function operations(doc: any): Operation[] {
  const out: Operation[] = [];
  for (const [path, ops] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      const body = op.requestBody?.content
        ? Object.fromEntries(Object.entries<any>(op.requestBody.content).map(([ct, c]) => [ct, c.schema ?? {}]))
        : undefined;
      out.push({
        method: method.toUpperCase(),
        path,
        params: (op.parameters ?? []).map((p: any) => ({ name: p.name, in: p.in, schema: p.schema ?? {} })),
        ...(body ? { body } : {}),
        secured: Array.isArray(op.security) && op.security.some((s: object) => Object.keys(s).length > 0),
      });
    }
  }
  return out;
}

/** What the fuzzer knows of the world: fixture ids and credentials to draw "nearly valid" values from. */
export interface Vocabulary {
  ids: string[]; // user ids, session ids, factor ids
  strings: Record<string, string[]>; // field name -> plausible values (usernames, passwords, tokens...)
  auth: Record<string, Record<string, string>>; // identity name -> headers carrying it
}

const HOSTILE_STRINGS = [
  '', ' ', 'a', '\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\u202eevil', '\u2067x\u2069', '\u200b', '\ufeff', '\r\nX-Injected: 1',
  '%00', '%ff', '../../etc/passwd', "' OR 1=1 --", '"; DROP TABLE users; --', '${7*7}', '<script>alert(1)</script>',
  '\u{1F600}', 'ÿ', 'null', 'true', '0', '-1', '1e400', 'NaN', '9007199254740993', '__proto__', 'constructor',
  'ROLE_ADMIN', 'admin', 'x@y', 'a@b.c', 'A'.repeat(65), 'é'.repeat(201), '0000-0000', '123456', 'local', 'global', 'others',
  'pending', 'delivered', 'failed', 'password', 'refresh_token', '2026-01-01T00:00:00Z', 'not-a-date', '-0', '00000000-0000-0000-0000-000000000000',
];

function bigString(r: Rng): string {
  return r.pick(['x', 'é', '\u{1F600}', 'a\u0000', '\ud800']).repeat(r.pick([201, 1025, 4096, 20000, 70000]));
}

/** A plausible value for a field, from the vocabulary when the name is known. */
function plausible(name: string, schema: Schema, v: Vocabulary, r: Rng): unknown {
  const known = v.strings[name];
  if (known && known.length > 0 && r.chance(0.7)) return r.pick(known);
  if (schema.enum && schema.enum.length > 0) return r.pick(schema.enum);
  switch (schema.type) {
    case 'integer':
    case 'number':
      return r.pick([0, 1, 5, 20, 50, 100, 101, -1]);
    case 'boolean':
      return r.chance(0.5);
    case 'array':
      return [plausible(name, schema.items ?? {}, v, r)];
    case 'object':
      return generateObject(schema, v, r);
    default:
      if (/id$/.test(name) && v.ids.length > 0) return r.pick(v.ids);
      return r.pick(HOSTILE_STRINGS.slice(0, 3).concat(['fuzz-value', 'user@example.com', 'longenough-password']));
  }
}

function generateObject(schema: Schema, v: Vocabulary, r: Rng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const required = new Set<string>(schema.required ?? []);
  for (const [k, s] of Object.entries<Schema>(schema.properties ?? {})) {
    if (required.has(k) || r.chance(0.6)) out[k] = plausible(k, s, v, r);
  }
  return out;
}

/** A value of some other kind than asked for. */
function wrongValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 9 : 12)) {
    case 0: return null;
    case 1: return r.pick([0, -1, 1.5, 1e308, -0, 2 ** 53 + 1]);
    case 2: return r.chance(0.5);
    case 3: return r.pick(HOSTILE_STRINGS);
    case 4: return bigString(r);
    case 5: return String(r.pick([0, 1, 100, -5]));
    case 6: return r.pick(['true', 'false', '1', '']);
    case 7: return [];
    case 8: return {};
    case 9: return [wrongValue(r, depth + 1), wrongValue(r, depth + 1)];
    case 10: return { a: wrongValue(r, depth + 1), __proto__x: 1 };
    default: return { $ne: null, $gt: '' };
  }
}

function deep(n: number, asArray: boolean): string {
  return asArray ? '['.repeat(n) + ']'.repeat(n) : '{"a":'.repeat(n) + '1' + '}'.repeat(n);
}

export interface FuzzRequest {
  method: string;
  path: string; // with query, as sent
  headers: Record<string, string | string[]>;
  body?: Buffer;
  /** What was done to it, for the failure message. */
  notes: string[];
}

function pathValue(name: string, v: Vocabulary, r: Rng): string {
  return r.pick([
    () => (v.ids.length > 0 ? r.pick(v.ids) : 'x'),
    () => (v.ids.length > 0 ? r.pick(v.ids).toUpperCase() : 'X'),
    () => '00000000-0000-7000-8000-000000000000',
    () => 'not-a-uuid', () => '1', () => '-1', () => '..%2F..', () => '%00', () => '%ff', () => '%E2%80%AE', () => '%ED%A0%80', () => '__proto__',
    () => 'constructor', () => pct('\u{1F600}'), () => 'a'.repeat(r.pick([100, 5000])), () => '%', () => "'%20OR%201=1",
    () => `${name}%0d%0aX:1`,
  ])();
}

/** Percent-encodes the UTF-8 of `s` (a lone surrogate goes as U+FFFD: encodeURIComponent would throw). */
function pct(s: string): string {
  return [...Buffer.from(s)].map((b) => (/[A-Za-z0-9_.~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join('');
}

function queryValue(name: string, schema: Schema, v: Vocabulary, r: Rng): string {
  if (r.chance(0.4)) {
    const p = plausible(name, schema, v, r);
    return pct(typeof p === 'string' ? p : JSON.stringify(p));
  }
  return r.pick(['', '%00', '%ff', '%', '%E2%80%AE', '%ED%A0%80', '1e400', '-1', '0', '101', 'NaN', 'abc', '1.5', '%20', 'true', 'yes', pct(bigString(r)), '9'.repeat(30), 'a,b,,c', pct(JSON.stringify(wrongValue(r)))]);
}

/** A value too deep for JSON.stringify goes as the raw text instead. */
function safely(f: () => string, fallback: string): string {
  try { return f(); } catch { return fallback; }
}

function formEncode(obj: unknown): string {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return pct(JSON.stringify(obj));
  const parts: string[] = [];
  for (const [k, val] of Object.entries(obj as Record<string, unknown>)) {
    const vals = Array.isArray(val) ? val : [val];
    for (const x of vals) parts.push(`${pct(k)}=${pct(typeof x === 'string' ? x : JSON.stringify(x))}`);
  }
  return parts.join('&');
}

function multipartEncode(obj: unknown, boundary: string): string {
  const entries = obj !== null && typeof obj === 'object' && !Array.isArray(obj) ? Object.entries(obj as Record<string, unknown>) : [['x', obj] as const];
  let s = '';
  for (const [k, val] of entries) {
    s += `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${typeof val === 'string' ? val : JSON.stringify(val)}\r\n`;
  }
  return `${s}--${boundary}--\r\n`;
}

/** Mutates a generated object in place-ish; returns the text of the JSON to send. */
function mutateJson(obj: Record<string, unknown>, r: Rng, notes: string[]): string {
  const keys = Object.keys(obj);
  const times = r.int(3) + (keys.length === 0 ? 1 : 0);
  let raw: string | undefined;
  for (let i = 0; i < times; i++) {
    const k = keys.length > 0 ? r.pick(keys) : 'extra';
    switch (r.int(11)) {
      case 0: delete obj[k]; notes.push(`drop ${k}`); break;
      case 1: obj[`x_${r.int(100)}`] = wrongValue(r); notes.push('extra field'); break;
      case 2: case 3: case 4: obj[k] = wrongValue(r); notes.push(`${k}: wrong value`); break;
      case 5: obj[k] = typeof obj[k] === 'string' ? (obj[k] as string) + r.pick(HOSTILE_STRINGS) : r.pick(HOSTILE_STRINGS); notes.push(`${k}: odd text`); break;
      case 6: raw = `{"__proto__":{"roles":["admin"],"is_active":true},${JSON.stringify(obj).slice(1)}`; notes.push('__proto__'); break;
      case 7: raw = `{"constructor":{"prototype":{"admin":true}},${JSON.stringify(obj).slice(1)}`; notes.push('constructor'); break;
      case 8: raw = `${JSON.stringify(obj).slice(0, -1)}${keys.length > 0 ? ',' : ''}${JSON.stringify(k)}:${JSON.stringify(wrongValue(r))}}`; notes.push(`duplicate ${k}`); break;
      case 9: obj[k] = JSON.parse(deep(r.pick([10, 200]), r.chance(0.5))); notes.push(`${k}: deep`); break;
      default: obj[k] = Array.isArray(obj[k]) ? obj[k] : [obj[k], obj[k]]; notes.push(`${k}: array`); break;
    }
  }
  return raw ?? JSON.stringify(obj);
}

const ODD_METHODS = ['PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'POST', 'GET', 'PROPFIND', 'FOO', 'TRACE', 'M-SEARCH'];
const CONTENT_TYPES = [
  'text/plain', 'application/xml', 'application/json; charset=latin1', 'application/json; charset=utf-16', 'application/json;;',
  'APPLICATION/JSON', 'application/x-www-form-urlencoded; charset=utf-8', 'multipart/form-data', 'multipart/form-data; boundary=',
  'application/vnd.api+json', 'application/merge-patch+json', '*/*', 'json', '',
];

/** One request for `op`, drawn from `r`. */
export function generate(op: Operation, v: Vocabulary, r: Rng): FuzzRequest {
  const notes: string[] = [];
  let method = op.method;
  if (r.chance(0.04)) { method = r.pick(ODD_METHODS); notes.push(`method ${method}`); }

  // Path parameters: real ids, and things that are not ids.
  let path = op.path.replace(/\{([^}]+)\}/g, (_m, name: string) => pathValue(name, v, r));
  if (r.chance(0.02)) { path += r.pick(['/', '//', '/..', '%2F', '/extra', '?', '#x', ';x=1']); notes.push('path suffix'); }

  // Query: documented parameters, repeated, bracketed, or undocumented ones.
  const query: string[] = [];
  for (const p of op.params.filter((x) => x.in === 'query')) {
    if (!r.chance(0.6)) continue;
    const name = r.chance(0.1) ? `${p.name}${r.pick(['[]', '[a]', '[__proto__]', '.x'])}` : p.name;
    query.push(`${name}=${queryValue(p.name, p.schema, v, r)}`);
    if (r.chance(0.1)) { query.push(`${name}=${queryValue(p.name, p.schema, v, r)}`); notes.push(`repeat ${p.name}`); }
  }
  if (r.chance(0.1)) query.push(r.pick(['jwt=', `jwt=${pct(Object.values(v.strings.refresh_token ?? ['x'])[0] ?? 'x')}`, '__proto__[x]=1', 'constructor=1', '%=1', 'a=%ff']));
  if (r.chance(0.01)) { query.push(`pad=${'a'.repeat(r.pick([8000, 20000, 70000]))}`); notes.push('long URL'); }
  if (query.length > 0) path += (path.includes('?') ? '&' : '?') + query.join('&');

  // Credentials: each identity the vocabulary holds, including wrong kinds in the right place.
  const headers: Record<string, string | string[]> = {};
  // Valid tokens half the time, so that a route's own handling is reached, not only the guard's.
  const names = Object.keys(v.auth);
  const identity = r.chance(0.5) && v.auth.admin && v.auth.user ? r.pick(['admin', 'user']) : r.pick(names);
  Object.assign(headers, v.auth[identity]);
  notes.push(`as ${identity}`);
  if (r.chance(0.03)) { headers['x-csrf-token'] = r.pick(['', 'wrong', '\u00ff']); notes.push('csrf header'); }
  if (r.chance(0.03)) { headers['x-original-method'] = r.pick(['POST', 'get', '', 'FOO']); }
  if (r.chance(0.02)) { headers.authorization = [String(headers.authorization ?? 'Bearer x'), 'Bearer y']; notes.push('two Authorization'); }
  if (r.chance(0.03)) { headers.origin = r.pick(['https://evil.example', 'null', 'http://127.0.0.1']); headers['sec-fetch-site'] = 'cross-site'; }

  // Body: the documented one, mutated and encoded some way (not always the documented way).
  const cts = op.body ? Object.keys(op.body) : [];
  const sendBody = op.body ? r.chance(0.92) : r.chance(0.25);
  if (sendBody) {
    const schema = op.body ? (op.body['application/json'] ?? op.body[cts[0]!]!) : {};
    const obj = generateObject(schema, v, r);
    let text: string;
    let ct: string;
    const shape = r.int(20);
    if (shape === 0) { text = r.pick(['null', '[]', '"str"', '123', 'true', '{', '{"a":1,}', "{'a':1}", '\ufeff{}', '']); notes.push('non-object body'); }
    else if (shape === 1) { text = deep(r.pick([1000, 5000]), r.chance(0.5)); notes.push('deep body'); }
    else text = r.chance(0.85) ? mutateJson(obj, r, notes) : JSON.stringify(obj);
    const choice = r.int(10);
    let bytes: Buffer;
    if (choice < 5) {
      ct = 'application/json';
      bytes = Buffer.from(text);
    } else if (choice < 7) {
      ct = 'application/x-www-form-urlencoded';
      const parsed = (() => { try { return JSON.parse(text) as unknown; } catch { return text; } })();
      bytes = Buffer.from(r.chance(0.15) ? text : safely(() => formEncode(parsed), text));
    } else if (choice < 8) {
      const boundary = `fuzz${r.int(1e6)}`;
      ct = `multipart/form-data; boundary=${boundary}`;
      const parsed = (() => { try { return JSON.parse(text) as unknown; } catch { return text; } })();
      bytes = Buffer.from(safely(() => multipartEncode(parsed, boundary), text));
    } else {
      ct = r.pick(CONTENT_TYPES);
      bytes = Buffer.from(text);
    }
    if (r.chance(0.05)) { bytes = Buffer.concat([bytes.subarray(0, Math.max(0, bytes.length - 2)), Buffer.from(r.pick([[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xe2, 0x82]])), bytes.subarray(Math.max(0, bytes.length - 2))]); notes.push('invalid UTF-8'); }
    if (!r.chance(0.05)) headers['content-type'] = ct; else notes.push('no content-type');
    notes.push(`body ${headers['content-type'] ?? ''}: ${bytes.toString('latin1').slice(0, 160)}`);
    return { method, path, headers, body: bytes, notes };
  }
  if (r.chance(0.1)) headers['content-type'] = r.pick(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);
  return { method, path, headers, notes };
}

export interface FuzzResponse { status: number; headers: http.IncomingHttpHeaders; text: string }

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

/** Sends it as it is (node:http: no re-encoding of the URL, raw bytes, custom methods). */
export function send(base: string, req: FuzzRequest): Promise<FuzzResponse> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    let c: http.ClientRequest;
    try {
      c = http.request({ host: u.hostname, port: u.port, method: req.method, path: req.path, headers: req.headers, agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
    } catch (e) {
      // node:http refuses to send it (a path or header it will not write): not the server's doing.
      resolve({ status: -1, headers: {}, text: (e as Error).message });
      return;
    }
    // node:http sends a GET's or DELETE's body with neither length nor chunking: the server would
    // read it as the next request on the connection. Say its length.
    if (req.body && c.getHeader('content-length') === undefined) c.setHeader('content-length', req.body.length);
    c.on('error', (e) => resolve({ status: -2, headers: {}, text: e.message }));
    if (req.body) c.end(req.body); else c.end();
  });
}

export function closeAgent(): void {
  agent.destroy();
}

/** What no client may ever see: stack frames, file paths, SQL, exception class names, driver texts. */
const LEAKS: [string, RegExp][] = [
  ['stack frame', /\bat .+[.:](?:ts|js|mjs|cjs):\d+|\bat (?:async )?[\w.<>]+ \(/],
  ['file path', /(?:\/(?:tmp|work|home|usr|src|node_modules|opt|var)\/[\w.-]+)|[A-Z]:\\\\/],
  ['SQL', /\b(?:SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+TABLE)\b|SQLITE_\w+|\brelation "|violates .*constraint|syntax error at or near|invalid input syntax|invalid byte sequence|unsupported Unicode escape/i],
  ['exception name', /\b(?:TypeError|RangeError|ReferenceError|SyntaxError|SqliteError|DatabaseError|AggregateError|FST_ERR_\w+|ERR_INVALID_\w+|ECONNREFUSED|Cannot read propert)/],
];

export type Family = 'api' | 'v1' | 'oauth' | 'fastapi' | 'marshmallow';

/** The API family of a path, as README "Errors" draws them (by prefix). */
export function familyOf(path: string): Family {
  const p = path.split(/[?#]/)[0]!;
  if (p.startsWith('/api/v1/') || p === '/api/v1') return 'v1';
  if (p.startsWith('/oauth/')) return 'oauth';
  // The seeds' single routes are their own family only at exactly their path.
  if (p === '/token' || p === '/login') return 'fastapi';
  if (p === '/api/login') return 'marshmallow';
  return 'api';
}

const isStr = (x: unknown): x is string => typeof x === 'string';

/** The error body's shape for its family (README "Errors"); null when it holds. */
export function shapeProblem(family: Family, status: number, body: any): string | null {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'error body is not a JSON object';
  const code = /^ERR_[A-Z_]+$/;
  switch (family) {
    case 'v1':
      return isStr(body.message) && body.data === null && isStr(body.code) && code.test(body.code) ? null : 'not {"message", "data": null, "code"}';
    case 'oauth':
      return isStr(body.error) && (body.error_description === undefined || isStr(body.error_description)) ? null : 'not {"error", "error_description"}';
    case 'fastapi':
      if (status === 422 && Array.isArray(body.detail)) return body.detail.every((d: any) => isStr(d.type) && Array.isArray(d.loc) && isStr(d.msg)) ? null : 'not FastAPI 422';
      return isStr(body.detail) && isStr(body.code) && code.test(body.code) ? null : 'not {"detail", "code"}';
    case 'marshmallow':
      if (status === 422 && body.code === undefined) return Object.values(body).every((m) => Array.isArray(m) || (m !== null && typeof m === 'object')) ? null : 'not marshmallow 422';
      return isStr(body.message) && isStr(body.code) && code.test(body.code) ? null : 'not {"message", "code"}';
    default:
      return isStr(body.detail) && isStr(body.code) && code.test(body.code) ? null : 'not {"detail", "code"}';
  }
}

/** Every rule the response breaks: 5xx, a leak, or a wrong error shape. */
export function checkResponse(req: FuzzRequest, res: FuzzResponse): string[] {
  const problems: string[] = [];
  if (res.status === -1) return problems; // node:http would not send it
  if (res.status === -2) return [`no answer (${res.text})`];
  if (res.status >= 500) problems.push(`status ${res.status}`);
  if (res.status >= 400) {
    for (const [what, re] of LEAKS) if (re.test(res.text)) problems.push(`${what} in body`);
    const ct = String(res.headers['content-type'] ?? '');
    if (req.method !== 'HEAD' && ct.includes('json')) {
      let body: unknown;
      try { body = JSON.parse(res.text); } catch { problems.push('error body is not JSON'); }
      if (body !== undefined) {
        // What Node's parser refuses (README "Errors") is answered before any URL is trusted, in
        // /api's shape, and the connection closed.
        const edge = res.headers.connection === 'close' && [400, 408, 431].includes(res.status);
        const p = shapeProblem(familyOf(req.path), res.status, body);
        if (p && !(edge && shapeProblem('api', res.status, body) === null)) problems.push(p);
      }
    } else if (req.method !== 'HEAD' && !ct.includes('html')) {
      problems.push(`error with content-type ${ct || '(none)'}`);
    }
  }
  return problems;
}
