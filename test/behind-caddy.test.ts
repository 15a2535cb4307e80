// Warden's forward auth behind a real Caddy (Debian's 2.6), configured with the README's own
// snippet, in front of an application that records what reaches it:
//  - a token in the Authorization header or the cookie reaches the application with X-Auth-User
//    and X-Auth-Roles; none, a bad, an expired or a revoked one is answered by Warden's 401;
//  - a client's own X-Auth-User / X-Auth-Roles never reach the application: not beside Warden's,
//    not spelt with underscores (which gunicorn before 22 reads as the same header), not for a user
//    with no roles, for whom Warden answers an empty X-Auth-Roles that Caddy 2.9 to 2.11.1's
//    copy_headers skips (they leave the client's in place); that expansion of copy_headers runs
//    here too, written out as a reverse_proxy on Debian's Caddy;
//  - the CSRF double submit on cookie-borne unsafe methods, which Caddy names in X-Forwarded-Method.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { caddyOrSkip, startCaddy, type RunningCaddy } from './helpers/caddy.js';
import { testClock } from './helpers/clock.js';
import { call, cookieHeader, cookiesFrom, startServer, type Running } from './helpers/server.js';

/** The README's Caddyfile between `<!-- caddy-forward-auth:start -->` and `:end -->`. */
function readmeCaddyfile(): string {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const block = readme.split('<!-- caddy-forward-auth:start -->')[1]!.split('<!-- caddy-forward-auth:end -->')[0]!;
  return /```caddyfile\n([\s\S]*?)```/.exec(block)![1]!;
}

/**
 * The snippet with its forward_auth written out as the reverse_proxy that Caddy 2.9 to 2.11.1 make
 * of it (forwardauth/caddyfile.go, the `not vars` guard before each copied header; 2.11.2 also
 * deletes the client's): a header Warden answers empty is not copied, and the client's stays.
 */
function asCaddy29To2111(caddyfile: string): string {
  const written = caddyfile.replace(
    /^(\s*)forward_auth (\S+) \{\n\s*uri (\S+)\n\s*copy_headers X-Auth-User X-Auth-Roles\n\s*\}\n/m,
    (_all, indent: string, upstream: string, uri: string) => {
      const lines = [
        `reverse_proxy ${upstream} {`,
        '\tmethod GET',
        `\trewrite ${uri}`,
        '\theader_up X-Forwarded-Method {method}',
        '\theader_up X-Forwarded-Uri {uri}',
        '\t@good status 2xx',
        '\thandle_response @good {',
        ...['X-Auth-User', 'X-Auth-Roles'].flatMap((h) => [
          `\t\t@copy${h} not vars {rp.header.${h}} ""`,
          `\t\trequest_header @copy${h} ${h} {rp.header.${h}}`,
        ]),
        '\t}',
        '}',
      ];
      return lines.map((l) => `${indent}${l}\n`).join('');
    },
  );
  assert.notEqual(written, caddyfile, 'the README snippet has the forward_auth block this test rewrites');
  return written;
}

/** The token with the first character of its signature changed. */
function tampered(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  return `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`;
}

/** A token sent in the Authorization header, then in the cookies. */
function bothWays(user: { token: string; cookie: string }): Array<Record<string, string>> {
  return [{ authorization: `Bearer ${user.token}` }, { cookie: user.cookie }];
}

interface Reached {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

interface Answer {
  status: number;
  json: any;
}

/** One request with exactly these header fields (underscores and repeats kept). */
function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // Content-Length given: without it node sends a DELETE's body unframed (it chunks only POST, PUT, PATCH).
    const framing = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) };
    const req = request(url, { method, headers: { ...headers, ...framing } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        let json: any;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode!, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The values of every field a WSGI server would read as `name` (X_Auth_User, x-auth_user…: HTTP_X_AUTH_USER). */
function asWsgiReads(rawHeaders: string[], name: string): string[] {
  const key = name.toUpperCase().replaceAll('-', '_');
  const values: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i]!.toUpperCase().replaceAll('-', '_') === key) values.push(rawHeaders[i + 1]!);
  }
  return values;
}

describe('forward auth behind Caddy, configured as the README says', { skip: caddyOrSkip() }, () => {
  const clock = testClock();
  let warden: Running;
  let app: Server;
  let caddy: RunningCaddy;
  let caddy29: RunningCaddy;
  const reached: Reached[] = [];

  before(async () => {
    warden = await startServer({ TRUST_PROXY: '1' }, { clock });
    app = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        reached.push({ method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body });
        res.end('app');
      });
    });
    await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
    const appAddress = app.address();
    const appPort = typeof appAddress === 'object' && appAddress ? appAddress.port : 0;
    const site = readmeCaddyfile()
      .replaceAll('warden:8000', new URL(warden.url).host)
      .replaceAll('app:3000', `127.0.0.1:${appPort}`);
    caddy = await startCaddy(site);
    caddy29 = await startCaddy(asCaddy29To2111(site));
  });
  after(async () => {
    await caddy29?.close();
    await caddy?.close();
    await new Promise((resolve) => app?.close(resolve));
    await warden?.close();
  });

  /** Signs up (with these roles, or the default ones) and in through Caddy. */
  async function signIn(user: string, roles?: string[]): Promise<{ cookie: string; csrf: string; token: string; sub: string }> {
    const up = await call(`${caddy.url}/api/auth/signup`, { json: { username: user, email: `${user}@example.com`, password: 'password-123', ...(roles && { roles }) } });
    assert.equal(up.status, 201);
    const r = await call(`${caddy.url}/api/auth/signin`, { json: { username: user, password: 'password-123' } });
    assert.equal(r.status, 200);
    const cookies = cookiesFrom(r.headers);
    const sub = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url').toString()).sub;
    return { cookie: cookieHeader(cookies), csrf: cookies.csrf_access_token!, token: r.json.access_token, sub };
  }

  it('a token in the header or the cookie reaches the app with its user and roles; none, a bad, an expired or a revoked one is Warden\'s 401', async () => {
    const user = await signIn('reader');
    const { token, sub } = user;
    const url = `${caddy.url}/app/orders?page=2`;

    reached.length = 0;
    for (const headers of bothWays(user)) {
      assert.equal((await send(url, 'GET', headers)).status, 200, Object.keys(headers)[0]);
    }
    assert.deepEqual(reached.map((r) => [r.method, r.url, r.headers['x-auth-user'], r.headers['x-auth-roles']]), [
      ['GET', '/app/orders?page=2', sub, 'user'],
      ['GET', '/app/orders?page=2', sub, 'user'],
    ]);

    reached.length = 0;
    const refusals: Array<[Record<string, string>, string]> = [
      [{}, 'ERR_JWT_MISSING'],
      [{ authorization: 'Bearer x.y.z' }, 'ERR_JWT_MALFORMED'],
      [{ authorization: `Bearer ${tampered(token)}` }, 'ERR_JWT_SIGNATURE_INVALID'],
    ];
    for (const [headers, code] of refusals) {
      const r = await send(url, 'GET', headers);
      assert.deepEqual([r.status, r.json?.code], [401, code], JSON.stringify(headers));
    }
    await clock.during(16 * 60_000, async () => {
      for (const headers of bothWays(user)) {
        const r = await send(url, 'GET', headers);
        assert.deepEqual([r.status, r.json?.code], [401, 'ERR_JWT_EXPIRED']);
      }
    });
    const out = await call(`${caddy.url}/api/auth/signout`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(out.status, 200);
    for (const headers of bothWays(user)) {
      const r = await send(url, 'GET', headers);
      assert.deepEqual([r.status, r.json?.code], [401, 'ERR_JWT_REVOKED']);
    }
    assert.equal(reached.length, 0, 'nothing refused reached the app');
  });

  it('a client\'s own X-Auth-User and X-Auth-Roles never reach the app, in any spelling, for a user with roles or with none', async () => {
    const withRoles = await signIn('plain');
    const noRoles = await signIn('roleless', []);
    const forged = {
      'X-Auth-User': 'someone-else', 'X-Auth-Roles': 'admin',
      'X_Auth_User': 'someone-else', 'X_Auth_Roles': 'admin',
      'x-auth_roles': 'admin', 'X_AUTH-ROLES': 'admin',
    };
    for (const [gateway, proxy] of [['Caddy as installed', caddy], ['Caddy 2.9-2.11.1\'s copy_headers', caddy29]] as const) {
      for (const [who, user, roles] of [['with roles', withRoles, ['user']], ['with none', noRoles, []]] as const) {
        for (const credentials of bothWays(user)) {
          reached.length = 0;
          const r = await send(`${proxy.url}/app/me`, 'GET', { ...forged, ...credentials });
          const what = `${gateway}, a user ${who}, ${Object.keys(credentials)[0]}`;
          assert.equal(r.status, 200, what);
          const raw = reached[0]!.rawHeaders;
          assert.deepEqual(asWsgiReads(raw, 'X-Auth-User'), [user.sub], what);
          // No roles: no header (nginx, Caddy from 2.9) or an empty one (Caddy 2.6).
          assert.deepEqual(asWsgiReads(raw, 'X-Auth-Roles').filter((v) => v !== ''), roles.length === 0 ? [] : [roles.join(',')], what);
        }
      }
    }
  });

  it('a cookie-borne POST, PUT, PATCH or DELETE needs X-CSRF-TOKEN, which no X-Forwarded-Method or X-Original-Method of the client waives', async () => {
    const { cookie, csrf, token, sub } = await signIn('writer');
    const url = `${caddy.url}/app/orders`;
    reached.length = 0;
    const refused: Array<[string, Record<string, string>, string]> = [
      ['POST', { cookie }, 'ERR_CSRF_MISSING'],
      ['POST', { cookie, 'x-csrf-token': 'not-the-value' }, 'ERR_CSRF_MISMATCH'],
      ['POST', { cookie, 'x-forwarded-method': 'GET' }, 'ERR_CSRF_MISSING'],
      ['POST', { cookie, 'x-original-method': 'GET' }, 'ERR_CSRF_MISSING'],
      ['PUT', { cookie }, 'ERR_CSRF_MISSING'],
      ['PATCH', { cookie }, 'ERR_CSRF_MISSING'],
      ['DELETE', { cookie }, 'ERR_CSRF_MISSING'],
    ];
    for (const [method, headers, code] of refused) {
      const r = await send(url, method, headers, '{"item":1}');
      assert.deepEqual([r.status, r.json?.code], [401, code], `${method} ${JSON.stringify(Object.keys(headers))}`);
    }
    assert.equal(reached.length, 0, 'nothing refused reached the app');

    assert.equal((await send(url, 'POST', { cookie, 'x-csrf-token': csrf }, '{"item":1}')).status, 200);
    assert.equal((await send(url, 'DELETE', { cookie, 'x-csrf-token': csrf })).status, 200);
    assert.equal((await send(url, 'POST', { authorization: `Bearer ${token}` }, '{"item":2}')).status, 200, 'a Bearer token is not CSRF-prone');
    assert.equal((await send(url, 'HEAD', { cookie })).status, 200, 'a safe method needs no CSRF value');
    assert.deepEqual(reached.map((r) => [r.method, r.body, r.headers['x-auth-user']]), [
      ['POST', '{"item":1}', sub], ['DELETE', '', sub], ['POST', '{"item":2}', sub], ['HEAD', '', sub],
    ], 'the body reaches the app whole (Warden is asked with a GET without it)');
  });

  it('TRUST_PROXY=1 behind Caddy: the session IP is the address Caddy saw, whatever X-Forwarded-For the client sends', async () => {
    await call(`${caddy.url}/api/auth/signup`, { json: { username: 'forger', email: 'forger@example.com', password: 'password-123' } });
    const login = await call(`${caddy.url}/api/v1/auth/login`, {
      form: { username: 'forger@example.com', password: 'password-123' }, headers: { 'x-forwarded-for': '6.6.6.6' },
    });
    assert.equal(login.status, 200);
    const listed = await call(`${caddy.url}/api/v1/auth/sessions`, { headers: { authorization: `Bearer ${login.json.data.access_token}` } });
    assert.deepEqual(listed.json.data.map((s: { ip: string }) => s.ip), ['127.0.0.1']);
  });
});
