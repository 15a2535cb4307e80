// Forward auth answered at the HTTP edge (http/forward-auth.ts): a GET of exactly
// /api/v1/auth/verify that passes the guard is answered before Fastify routes it; everything else
// is Fastify's. Each case is asked twice over real HTTP, once at the edge's URL and once with a query
// string (which the edge never takes), and the two answers must be the same.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { call, startServer, type Running } from './helpers/server.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request with exactly these headers (fetch would add its own, Origin-free but not body-free). */
function ask(url: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'GET', headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** The parts of an answer both paths must agree on (the date differs by nature). */
const comparable = (a: Answer) => {
  const { date: _date, ...headers } = a.headers;
  return { status: a.status, headers, body: a.body };
};

describe('forward auth at the HTTP edge', () => {
  let s: Running;
  let verifyUrl: string;
  // Requests that reached Fastify's routing (its onRequest hooks), by URL.
  const routed: string[] = [];
  let user: { token: string; refresh: string; cookie: string; csrf: string };

  before(async () => {
    s = await startServer({}, {
      routes: (app) => app.addHook('onRequest', (req, _reply, done) => {
        routed.push(req.url);
        done();
      }),
    });
    verifyUrl = `${s.url}/api/v1/auth/verify`;
    await call(`${s.url}/api/auth/signup`, { json: { username: 'edge', email: 'edge@example.com', password: 'password-123' } });
    const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'edge', password: 'password-123' } });
    assert.equal(r.status, 200);
    const cookies = Object.fromEntries(r.headers.getSetCookie().map((c) => c.split(';')[0]!.split('=') as [string, string]));
    user = {
      token: r.json.access_token, refresh: r.json.refresh_token,
      cookie: `access_token_cookie=${cookies.access_token_cookie}`, csrf: cookies.csrf_access_token!,
    };
  });
  after(() => s.close());

  /** The same request at the edge's URL and through Fastify; returns both, and whether the first was routed by Fastify. */
  async function both(headers: Record<string, string>, body?: string): Promise<{ edge: Answer; fastify: Answer; routedByFastify: boolean }> {
    routed.length = 0;
    const edge = await ask(verifyUrl, headers, body);
    const routedByFastify = routed.length > 0;
    const fastify = await ask(`${verifyUrl}?via=fastify`, headers, body);
    assert.equal(routed.at(-1), '/api/v1/auth/verify?via=fastify', 'a query string goes through Fastify');
    return { edge, fastify, routedByFastify };
  }

  it('a good Bearer token: 200 at the edge, with the same headers and empty body as the Fastify route', async () => {
    const r = await both({ authorization: `Bearer ${user.token}` });
    assert.equal(r.routedByFastify, false, 'answered before Fastify');
    assert.equal(r.edge.status, 200);
    assert.match(String(r.edge.headers['x-auth-user']), /^[0-9a-f-]{36}$/);
    assert.equal(r.edge.headers['x-auth-roles'], 'user');
    assert.equal(r.edge.headers['x-content-type-options'], 'nosniff');
    assert.deepEqual(comparable(r.edge), comparable(r.fastify));
  });

  it('a cookie token for a proxied POST: refused without the CSRF value, 200 with it, on both paths alike', async () => {
    for (const method of ['x-forwarded-method', 'x-original-method']) {
      const refused = await both({ cookie: user.cookie, [method]: 'POST' });
      assert.equal(refused.routedByFastify, true, 'a refusal is the route\'s to answer');
      assert.equal(refused.edge.status, 401);
      assert.deepEqual(comparable(refused.edge), comparable(refused.fastify));
      const allowed = await both({ cookie: user.cookie, [method]: 'POST', 'x-csrf-token': user.csrf });
      assert.equal(allowed.routedByFastify, false);
      assert.equal(allowed.edge.status, 200);
      assert.deepEqual(comparable(allowed.edge), comparable(allowed.fastify));
    }
    // A cookie-borne GET needs no CSRF value.
    const get = await both({ cookie: user.cookie });
    assert.equal(get.edge.status, 200);
    assert.deepEqual(comparable(get.edge), comparable(get.fastify));
    // Anything but a safe method stands for an unsafe one: two headers joined, an extension method.
    for (const forwarded of ['GET, POST', 'PURGE', 'post ']) {
      const r = await both({ cookie: user.cookie, 'x-original-method': forwarded });
      assert.equal(r.edge.status, 401, forwarded);
      assert.deepEqual(comparable(r.edge), comparable(r.fastify));
    }
    for (const forwarded of ['head', 'OPTIONS']) assert.equal((await both({ cookie: user.cookie, 'x-forwarded-method': forwarded })).edge.status, 200, forwarded);
  });

  it('every refusal is answered by the Fastify route, exactly as through it', async () => {
    const cases: Array<[string, Record<string, string>, number]> = [
      ['no token', {}, 401],
      ['not a JWT', { authorization: 'Bearer x.y.z' }, 401],
      ['a malformed header', { authorization: 'Basic abc' }, 401],
      ['a refresh token', { authorization: `Bearer ${user.refresh}` }, 401],
      ['a forged signature', { authorization: `Bearer ${user.token.slice(0, -4)}AAAA` }, 401],
    ];
    for (const [what, headers, status] of cases) {
      const r = await both(headers);
      assert.equal(r.routedByFastify, true, what);
      assert.equal(r.edge.status, status, what);
      assert.deepEqual(comparable(r.edge), comparable(r.fastify), what);
    }
  });

  it('a revoked token is refused at once on both paths (the edge checks revocation too)', async () => {
    await call(`${s.url}/api/auth/signup`, { json: { username: 'gone', email: 'gone@example.com', password: 'password-123' } });
    const r = await call(`${s.url}/api/auth/signin`, { json: { username: 'gone', password: 'password-123' } });
    const headers = { authorization: `Bearer ${r.json.access_token}` };
    assert.equal((await both(headers)).edge.status, 200);
    assert.equal((await call(`${s.url}/api/v1/auth/logout`, { method: 'POST', headers })).status, 200);
    const after = await both(headers);
    assert.equal(after.routedByFastify, true);
    assert.equal(after.edge.status, 401);
    assert.deepEqual(comparable(after.edge), comparable(after.fastify));
  });

  it('a token whose sub or roles no header carries as they are is 401 on both paths, and the server lives on', async () => {
    // Minted by another holder of the key (a service of the migration, say): Node cannot write
    // "张伟" in a header, which threw out of the edge's writeHead and ended the process.
    const { createTokenIssuer } = await import('../toolkit/src/tokens/issue.js');
    const mint = createTokenIssuer({ keys: s.warden.keys, accessExpiresIn: 900, refreshExpiresIn: 3600 });
    const minted = [
      mint.createAccessToken('张伟'), mint.createAccessToken('Zoë'), mint.createAccessToken('a\u0007b'), mint.createAccessToken(' alice'),
      mint.createAccessToken('alice', { additionalClaims: { roles: ['admin\r\nx-injected: 1'] } }),
    ];
    for (const token of minted) {
      const r = await both({ authorization: `Bearer ${token}` });
      assert.equal(r.routedByFastify, true);
      assert.deepEqual([r.edge.status, JSON.parse(r.edge.body).code], [401, 'ERR_JWT_CLAIM_INVALID'], r.edge.body);
      assert.equal(r.edge.headers['x-auth-user'], undefined);
      assert.deepEqual(comparable(r.edge), comparable(r.fastify));
    }
    const fine = await both({ authorization: `Bearer ${mint.createAccessToken('service account-7')}` });
    assert.deepEqual([fine.edge.status, fine.edge.headers['x-auth-user'], fine.routedByFastify], [200, 'service account-7', false]);
    assert.equal((await ask(verifyUrl, { authorization: `Bearer ${user.token}` })).status, 200, 'still serving');
  });

  it('a role that must use a second factor is refused without one, through the route', async () => {
    const strict = await startServer({ MFA_REQUIRED_ROLES: 'user' });
    try {
      await call(`${strict.url}/api/auth/signup`, { json: { username: 'aud', email: 'aud@example.com', password: 'password-123' } });
      const signed = await call(`${strict.url}/api/auth/signin`, { json: { username: 'aud', password: 'password-123' } });
      const headers = { authorization: `Bearer ${signed.json.access_token}` };
      const edge = await ask(`${strict.url}/api/v1/auth/verify`, headers);
      const fastify = await ask(`${strict.url}/api/v1/auth/verify?via=fastify`, headers);
      assert.equal(edge.status, 403);
      assert.deepEqual(comparable(edge), comparable(fastify));
    } finally {
      await strict.close();
    }
  });

  it('a browser\'s Origin, a request body and HEAD go through Fastify, with the same answer', async () => {
    const bearer = { authorization: `Bearer ${user.token}` };
    const withOrigin = await both({ ...bearer, origin: 'https://app.example' });
    assert.equal(withOrigin.routedByFastify, true);
    assert.deepEqual(comparable(withOrigin.edge), comparable(withOrigin.fastify));
    const withBody = await both({ ...bearer, 'content-type': 'application/json', 'content-length': '7' }, '{"a":1}');
    assert.equal(withBody.routedByFastify, true);
    assert.equal(withBody.edge.status, withBody.fastify.status);
    routed.length = 0;
    const head = await new Promise<number>((resolve, reject) => {
      request(verifyUrl, { method: 'HEAD', headers: bearer }, (res) => resolve(res.statusCode!)).on('error', reject).end();
    });
    assert.equal(head, 200);
    assert.equal(routed.length, 1);
  });

  it('edge answers are counted in /metrics under the route, as Fastify\'s are', async () => {
    const series = async () => {
      const text = (await call(`${s.url}/metrics`)).text;
      const line = text.split('\n').find((l) => l.startsWith('warden_http_request_duration_seconds_count{') && l.includes('route="/api/v1/auth/verify"') && l.includes('status="200"'));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    const before = await series();
    routed.length = 0;
    for (let i = 0; i < 5; i++) assert.equal((await ask(verifyUrl, { authorization: `Bearer ${user.token}` })).status, 200);
    assert.equal(routed.length, 0);
    assert.equal(await series(), before + 5);
  });
});
