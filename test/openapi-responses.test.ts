// Every answer of a broad walk of the API, successes and refusals, checked against /openapi.json as
// a client generated from it reads it (openapi-typescript, openapi-fetch, orval): the status is one
// the operation lists; the media type is the one it declares (JSON, the pages' HTML, or no body);
// the body validates against the declared schema (ajv, formats on), with no member the schema does
// not name (a typed client cannot read one); and the headers a client acts on (WWW-Authenticate,
// Retry-After, Set-Cookie, Allow, Location) are declared for that status; and a JSON body a route
// accepted fits the request body it declares (a typed client could not send another). Every
// operation of the document is called at least once, so a new route must join the walk.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv, type ValidateFunction } from 'ajv';
import formats from 'ajv-formats';
import { openSqlite } from '../src/storage/sqlite-driver.js';
import { testClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { startSmtp, tokenIn, type Delivered, type TestSmtp } from './helpers/smtp.js';
import { codeAt, secretOf } from './helpers/totp.js';

type Json = Record<string, any>;
const PASSWORD = 'password-123';
const FORM = 'application/x-www-form-urlencoded';

/** The schema with every object that names its members closed to others: a member the document does not name fails. */
function closed(s: unknown): unknown {
  if (Array.isArray(s)) return s.map(closed);
  if (s === null || typeof s !== 'object') return s;
  const o = s as Json;
  const out: Json = {};
  for (const [k, v] of Object.entries(o)) {
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, x]) => [p, closed(x)])) : closed(v);
  }
  if (o.type === 'object' && o.properties !== undefined && o.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

class Conformance {
  readonly problems: string[] = [];
  readonly called = new Set<string>();
  private readonly ajv = new Ajv({ strict: false, allErrors: true });
  private readonly compiled = new Map<string, ValidateFunction>();
  private readonly templates: [string, RegExp][];

  constructor(readonly doc: { paths: Record<string, Record<string, Json>> }) {
    formats.default(this.ajv);
    this.ajv.addFormat('password', true);
    this.templates = Object.keys(doc.paths).map((t) => [t, new RegExp(`^${t.replace(/\./g, '\\.').replace(/\{[^}]+\}/g, '[^/]+')}$`)]);
  }

  private validator(key: string, schema: unknown): ValidateFunction {
    const known = this.compiled.get(key);
    if (known !== undefined) return known;
    const validate = this.ajv.compile(closed(schema ?? {}) as Json);
    this.compiled.set(key, validate);
    return validate;
  }

  /**
   * Checks one answer against the operation the document gives its method and path; and a JSON
   * body the route accepted (2xx) against the request body the operation declares.
   */
  check(method: string, url: string, status: number, headers: Headers, text: string, sent?: unknown): void {
    const path = new URL(url).pathname;
    // A literal path before the templates it also fits (/users/invite before /users/{id}), as
    // OpenAPI and Fastify's router both match.
    const template = path in this.doc.paths ? path : this.templates.find(([, re]) => re.test(path))?.[0];
    const op = template === undefined ? undefined : this.doc.paths[template]![method.toLowerCase()];
    const at = `${method} ${template ?? path} -> ${status}`;
    if (op === undefined) return void this.problems.push(`${at}: no operation in the document`);
    this.called.add(`${method} ${template}`);
    if (sent !== undefined && status < 300) {
      const schema = op.requestBody?.content?.['application/json']?.schema;
      if (schema === undefined) this.problems.push(`${at}: accepted a JSON body the document does not declare`);
      else {
        const validate = this.validator(`${method} ${template} request`, schema);
        if (!validate(sent)) this.problems.push(`${at}: accepted a body its request schema refuses: ${this.ajv.errorsText(validate.errors)}`);
      }
    }
    const r = op.responses[String(status)];
    if (r === undefined) return void this.problems.push(`${at}: status not documented: ${text.slice(0, 160)}`);
    const media = (headers.get('content-type') ?? '').split(';')[0]!.trim();
    const content = r.content as Json | undefined;
    if (content === undefined) {
      if (text !== '') this.problems.push(`${at}: a body (${media}) where the document declares none`);
    } else if (!(media in content)) {
      this.problems.push(`${at}: ${media || 'no media type'} where the document declares ${Object.keys(content).join(', ')}`);
    } else if (media.endsWith('json')) {
      const validate = this.validator(`${method} ${template} ${status} ${media}`, content[media].schema);
      if (!validate(JSON.parse(text))) this.problems.push(`${at}: ${this.ajv.errorsText(validate.errors)}: ${text.slice(0, 200)}`);
    }
    const declared = (r.headers ?? {}) as Json;
    for (const h of ['www-authenticate', 'retry-after', 'set-cookie', 'allow', 'location']) {
      if (headers.has(h) && !(h in declared)) this.problems.push(`${at}: sends ${h} the document does not declare`);
    }
  }
}

describe('every answer conforms to /openapi.json', () => {
  let smtp: TestSmtp;
  let s: Running;
  let c: Conformance;
  const clock = testClock();
  const n = randomBytes(3).toString('hex');

  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
      APP_URL: 'https://auth.example.test', ACCOUNT_SELF_DELETE: 'true', SIGNIN_MAX_FAILURES: '3', DATABASE_QUERY_TIMEOUT_MS: '200',
      WEBHOOK_URLS: 'http://127.0.0.1:9/hook', WEBHOOK_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    }, { clock, email: { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } } });
    c = new Conformance((await call(`${s.url}/openapi.json`)).json);
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });

  /** One request, its answer checked; the parsed body back. */
  async function req(method: string, path: string, o: { token?: string; json?: unknown; form?: Record<string, string>; body?: BodyInit; type?: string } = {}) {
    const headers: Record<string, string> = {};
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
    let body = o.body;
    if (o.json !== undefined) [headers['content-type'], body] = ['application/json', JSON.stringify(o.json)];
    if (o.form !== undefined) [headers['content-type'], body] = [FORM, new URLSearchParams(o.form).toString()];
    if (o.type !== undefined) headers['content-type'] = o.type;
    const res = await fetch(`${s.url}${path}`, { method, headers, body, redirect: 'manual' });
    const text = await res.text();
    c.check(method, `${s.url}${path}`, res.status, res.headers, text, o.json);
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json };
  }
  const mail = (to: string, subject: string) => smtp.waitFor((m: Delivered) => m.to === to && m.subject === subject);

  it('a walk of every operation: successes and refusals', async () => {
    const admin = { username: `adm${n}`, email: `adm${n}@example.com` };
    const user = { username: `usr${n}`, email: `usr${n}@example.com` };
    // Sign-up and sign-in, in every family.
    assert.equal((await req('POST', '/api/auth/signup', { json: { ...admin, password: PASSWORD, roles: ['admin'] } })).status, 201);
    const created = await req('POST', '/api/v1/auth/signup', { form: { ...user, password: PASSWORD, full_name: 'U' } });
    const userId = created.json.data.id as string;
    const adm = (await req('POST', '/api/auth/signin', { json: { username: admin.username, password: PASSWORD } })).json.access_token as string;
    await req('POST', '/api/auth/signin', { form: { username: user.email, password: PASSWORD } });
    const login = await req('POST', '/api/v1/auth/login', { form: { username: user.email, password: PASSWORD } });
    let tok = login.json.data.access_token as string;
    const multipart = new FormData();
    multipart.set('username', user.email);
    multipart.set('password', PASSWORD);
    await req('POST', '/api/v1/auth/login', { body: multipart });
    await req('POST', '/token', { form: { username: user.email, password: PASSWORD, grant_type: 'password' } });
    await req('POST', '/login', { json: { email: user.email, password: PASSWORD, username: user.username } });
    await req('POST', '/api/login', { json: { email: user.email, password: PASSWORD } });
    const grant = await req('POST', '/oauth/token', { form: { grant_type: 'password', username: user.email, password: PASSWORD } });
    const rotated = await req('POST', '/oauth/token', { form: { grant_type: 'refresh_token', refresh_token: grant.json.refresh_token } });
    await req('POST', '/oauth/revoke', { form: { token: rotated.json.refresh_token, token_type_hint: 'refresh_token' } });
    const refreshed = await req('POST', '/api/auth/refresh', { json: { refresh_token: login.json.data.refresh_token } });
    await req('POST', `/api/v1/auth/refresh?refresh_token=${refreshed.json.refresh_token}`);

    // The account itself.
    await req('GET', '/api/v1/auth/me', { token: tok });
    await req('PATCH', '/api/v1/auth/me', { token: tok, json: { full_name: null } });
    await req('GET', '/api/v1/auth/me/export', { token: tok });
    const own = await req('GET', '/api/v1/auth/sessions?limit=10', { token: tok });
    const other = (own.json.data as { id: string; current: boolean }[]).find((x) => !x.current)!;
    await req('DELETE', `/api/v1/auth/sessions/${other.id}`, { token: tok });
    await req('GET', '/api/v1/auth/verify', { token: tok });
    await req('GET', '/api/v1/auth/events?limit=5', { token: tok });
    await req('POST', '/api/v1/auth/verify/request', { token: tok });
    const verify = tokenIn(await mail(user.email, 'Confirm your email address'));
    await req('GET', `/api/v1/auth/verify/confirm?token=${verify}`);
    await req('POST', '/api/v1/auth/verify', { json: { token: verify } });
    await req('POST', '/api/v1/auth/password', { token: tok, json: { current_password: PASSWORD, new_password: 'password-456' } });
    await req('POST', '/api/v1/auth/password/forgot', { json: { email: user.email } });
    const reset = tokenIn(await mail(user.email, 'Reset your password'));
    await req('GET', `/api/v1/auth/password/reset?token=${reset}`);
    await req('POST', '/api/v1/auth/password/reset', { json: { token: reset, new_password: PASSWORD } });
    tok = (await req('POST', '/api/v1/auth/login', { json: { username: user.email, password: PASSWORD } })).json.data.access_token;
    const moved = `moved${n}@example.com`;
    await req('POST', '/api/v1/auth/email', { token: tok, json: { new_email: moved } });
    const change = tokenIn(await mail(moved, 'Confirm your new email address'));
    await req('GET', `/api/v1/auth/email/confirm?token=${change}`);
    await req('POST', '/api/v1/auth/email/confirm', { json: { token: change } });

    // Second factors.
    tok = (await req('POST', '/api/v1/auth/login', { json: { username: moved, password: PASSWORD } })).json.data.access_token;
    const totp = await req('POST', '/api/v1/auth/mfa/totp', { token: tok });
    const secret = secretOf(totp.json.data.otpauth_uri);
    const codes = (await req('POST', '/api/v1/auth/mfa/totp/confirm', { token: tok, json: { code: codeAt(secret, clock() / 1000) } })).json.data.recovery_codes as string[];
    for (const [path, body] of [['/api/auth/signin', { json: { username: moved, password: PASSWORD } }], ['/token', { form: { username: moved, password: PASSWORD } }],
      ['/login', { json: { email: moved, password: PASSWORD } }], ['/api/login', { json: { email: moved, password: PASSWORD } }],
      ['/oauth/token', { form: { grant_type: 'password', username: moved, password: PASSWORD } }]] as const) await req('POST', path, body);
    const step = await req('POST', '/api/v1/auth/login', { json: { username: moved, password: PASSWORD } });
    await req('POST', '/api/v1/auth/mfa/webauthn/options', { json: { mfa_token: step.json.data.mfa_token } });
    await req('POST', '/api/v1/auth/mfa/verify', { json: { mfa_token: step.json.data.mfa_token, code: '000000' } });
    clock.advance(30_000);
    tok = (await req('POST', '/api/v1/auth/mfa/verify', { json: { mfa_token: step.json.data.mfa_token, code: codeAt(secret, clock() / 1000) } })).json.data.access_token;
    await req('POST', '/api/v1/auth/mfa/recovery-codes', { token: tok });
    await req('POST', '/api/v1/auth/mfa/passkeys/options', { token: tok });
    await req('POST', '/api/v1/auth/mfa/passkeys', { token: tok, json: { response: { id: 'x', rawId: 'x', type: 'public-key', response: {} } } });
    await req('POST', '/api/v1/auth/passkey/options');
    await req('POST', '/api/v1/auth/passkey/login', { json: { response: { id: 'x', rawId: 'x', type: 'public-key', response: {} } } });
    const factors = await req('GET', '/api/v1/auth/mfa/factors', { token: tok });
    await req('DELETE', `/api/v1/auth/mfa/factors/${factors.json.data.factors[0].id}`, { token: tok });
    await req('POST', '/api/v1/auth/mfa/verify', { json: { mfa_token: step.json.data.mfa_token, recovery_code: codes[0] } });

    // Administration.
    await req('GET', '/api/users?limit=5', { token: adm });
    await req('GET', `/api/v1/users?email=${n}&active=true&verified=true&legacy=false&role=user&limit=5`, { token: adm });
    await req('GET', '/api/v1/overview', { token: adm });
    await req('GET', `/api/v1/users/${userId}`, { token: adm });
    await req('PATCH', `/api/v1/users/${userId}`, { token: adm, json: { full_name: null, roles: ['user', 'editor'], email: `again${n}@example.com`, email_verified: true } });
    const theirs = await req('GET', `/api/v1/users/${userId}/sessions`, { token: adm });
    await req('DELETE', `/api/v1/users/${userId}/sessions/${theirs.json.data[0].id}`, { token: adm });
    await req('GET', `/api/v1/users/${userId}/factors`, { token: adm });
    await req('GET', `/api/v1/users/${userId}/export`, { token: adm });
    await req('DELETE', `/api/v1/users/${userId}/factors`, { token: adm });
    await req('POST', `/api/v1/users/${userId}/password-reset`, { token: adm });
    const invited = await req('POST', '/api/v1/users/invite', { token: adm, json: { email: `inv${n}@example.com`, roles: ['user'] } });
    const first = await mail(`inv${n}@example.com`, 'You are invited: choose your password');
    await req('POST', `/api/v1/users/${invited.json.data.id}/invite`, { token: adm });
    const invitation = tokenIn(await smtp.waitFor((m: Delivered) => m.to === `inv${n}@example.com` && m !== first));
    await req('GET', `/api/v1/auth/invite/accept?token=${invitation}`);
    await req('POST', '/api/v1/auth/invite/accept', { json: { token: invitation, new_password: PASSWORD } });
    await req('POST', `/api/v1/users/${invited.json.data.id}/invite`, { token: adm });
    await req('POST', '/api/v1/users/invite', { token: adm, json: { email: `inv${n}@example.com` } });
    await req('POST', '/api/v1/users/invite', { token: adm, json: { email: 'not an address', password: 'x' } });
    const bob = await req('POST', '/api/v1/users', { token: adm, json: { username: `bob${n}`, email: `bob${n}@example.com`, password: PASSWORD } });
    const bobTok = (await req('POST', '/api/v1/auth/login', { json: { username: `bob${n}`, password: PASSWORD } })).json.data.access_token;
    await req('DELETE', '/api/v1/auth/me', { token: bobTok, json: { current_password: PASSWORD } });
    await req('DELETE', `/api/v1/users/${bob.json.data.id}`, { token: adm });
    await req('DELETE', `/api/v1/users/${userId}`, { token: adm });
    await req('GET', '/api/v1/audit?limit=5', { token: adm });
    await req('GET', '/api/v1/webhooks/deliveries?limit=5', { token: adm });
    for (const path of ['/.well-known/jwks.json', '/health', '/ready']) await req('GET', path);
    const mine = (await req('POST', '/api/auth/signin', { json: { username: admin.username, password: PASSWORD } })).json.access_token;
    await req('POST', '/api/v1/auth/logout?scope=others', { token: mine });
    await req('POST', '/api/v1/auth/logout', { token: (await req('POST', '/api/auth/signin', { json: { username: admin.username, password: PASSWORD } })).json.access_token });
    const last = (await req('POST', '/api/auth/signin', { json: { username: admin.username, password: PASSWORD } })).json.access_token;

    // Refusals: no token, a malformed or expired one, the wrong role, unknown ids, conflicts, bad bodies.
    const guarded = [['GET', '/api/users'], ['GET', '/api/v1/auth/me'], ['GET', '/api/v1/auth/sessions'], ['POST', '/api/auth/signout'], ['GET', '/api/v1/auth/verify'], ['POST', '/api/v1/auth/refresh']];
    for (const [method, path] of guarded) {
      await req(method!, path!);
      await req(method!, path!, { token: 'a.b.c' });
      await clock.during(3600_000, () => req(method!, path!, { token: last }));
    }
    const plain = (await req('POST', '/api/v1/auth/signup', { json: { username: `pln${n}`, email: `pln${n}@example.com`, password: PASSWORD } })).json.data;
    const plainTok = (await req('POST', '/api/auth/signin', { json: { username: plain.username, password: PASSWORD } })).json.access_token;
    await req('GET', '/api/v1/users', { token: plainTok });
    await req('GET', '/api/v1/users/00000000-0000-7000-8000-000000000000', { token: last });
    await req('DELETE', '/api/v1/auth/sessions/00000000-0000-7000-8000-000000000000', { token: last });
    await req('POST', '/api/auth/signup', { json: { username: plain.username, email: `x${n}@example.com`, password: PASSWORD } });
    await req('POST', '/api/v1/auth/signup', { json: { username: 'x', email: 'not an address', password: 'short' } });
    await req('PATCH', `/api/v1/users/${plain.id}`, { token: last, json: { is_active: 'no', email: 'nope' } });
    await req('GET', '/api/users?limit=0', { token: last });
    await req('GET', '/api/v1/audit?offset=1', { token: last });
    await req('POST', '/api/v1/auth/logout?scope=all', { token: last });
    for (const path of ['/api/auth/signin', '/api/v1/auth/login', '/token', '/login', '/api/login', '/oauth/token', '/api/v1/auth/mfa/verify']) {
      await req('POST', path, { body: 'x', type: 'text/plain' });
      await req('POST', path, { body: '{bad', type: 'application/json' });
      await req('POST', path, { json: [] });
      await req('POST', path, { json: { username: 1, email: 2, password: 3, extra: 4 } });
      await req('POST', path, { json: { pad: 'x'.repeat(20_000) } });
    }
    for (const path of ['/api/v1/auth/password/reset', '/api/v1/auth/verify/confirm', '/api/v1/auth/email/confirm', '/api/v1/auth/invite/accept']) {
      await req('GET', path);
      await req('GET', `${path}?token=nope`);
    }
    for (let i = 0; i < 4; i++) {
      await req('POST', '/api/auth/signin', { json: { username: plain.username, password: 'wrong-password' } });
      await req('POST', '/oauth/token', { form: { grant_type: 'password', username: plain.email, password: 'wrong-password' } });
    }
    // The database does not answer in time: another connection holds SQLite's write lock.
    const db = openSqlite(join(s.config.server.dataDir, 'warden.db'));
    try {
      db.exec('BEGIN IMMEDIATE');
      await req('POST', '/api/v1/auth/signup', { json: { username: `lck${n}`, email: `lck${n}@example.com`, password: PASSWORD } });
      await req('POST', '/api/v1/auth/logout?scope=global', { token: plainTok });
    } finally {
      db.exec('ROLLBACK');
      db.close();
    }
    await req('POST', '/api/auth/signout', { token: last });

    assert.deepEqual(c.problems, []);
    const never = Object.entries(c.doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)).filter((k) => !c.called.has(k));
    assert.deepEqual(never, [], 'operations the walk never called');
  });
});
