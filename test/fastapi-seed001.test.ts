// Seed 001's FastAPI service as its author wrote it (Debian's python3-fastapi), given Warden's
// tokens: OAuth2PasswordBearer(tokenUrl="token") and a get_current_user decoding with the shared
// SECRET_KEY through python-jose (the seed's import) or PyJWT. Its protected route answers the user
// of a Warden access token; an expired token, a token of another key (and, with the line README's
// "Seed 001" section adds, a refresh token) get FastAPI's 401 "Could not validate credentials".
// Its own OpenAPI's password flow leads to a URL where Warden's /token answers what FastAPI's docs
// "Authorize" sends and expects; and in Chromium, that Authorize works from the service's own
// origin when its tokenUrl names Warden and CORS_ORIGINS names the service.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { BrowserContext, Request } from 'playwright-core';
import { CHROMIUM, headlessContext, swaggerAuthorize, swaggerTryGet } from './helpers/browser.js';
import { freePort } from './helpers/child-warden.js';
import { testClock } from './helpers/clock.js';
import { pythonMissing, PYTHON } from './helpers/python.js';
import { call, startServer, TEST_SECRET, type Running } from './helpers/server.js';

const script = new URL('./interop/fastapi_seed001.py', import.meta.url).pathname;
const run = promisify(execFile);

interface Answer { status: number; body: { id?: string; roles?: string[]; detail?: string }; www_authenticate: string | null }

/** GET /users/me of the seed's service (FastAPI's TestClient) with each token; '-' sends none. */
async function usersMe(tokens: string[], env: Record<string, string>): Promise<Answer[]> {
  const { stdout } = await run(PYTHON, [script, 'call', ...tokens], { env: { ...process.env, SECRET_KEY: TEST_SECRET, ...env }, timeout: 30_000 });
  return JSON.parse(stdout);
}

const COULD_NOT = { status: 401, body: { detail: 'Could not validate credentials' }, www_authenticate: 'Bearer' };

const fastapiSkip = pythonMissing('import fastapi, httpx; from fastapi.testclient import TestClient', 'python3-fastapi python3-httpx', 'seed 001\'s FastAPI service not checked');
const decoders = [
  ['jose', pythonMissing('from jose import JWTError, jwt', 'python3-jose', 'the seed\'s python-jose decode in FastAPI not checked')],
  ['pyjwt', pythonMissing('import jwt', 'python3-jwt', 'the PyJWT decode in FastAPI not checked')],
] as const;

describe('seed 001\'s FastAPI service (OAuth2PasswordBearer, get_current_user) given Warden\'s tokens', { skip: fastapiSkip }, () => {
  let s: Running;
  let other: Running;
  let userId: string;
  const clock = testClock();
  // Swagger UI's password flow (the "basic" client credentials location, its default): what it posts.
  const swaggerHeaders = {
    accept: 'application/json, text/plain, */*', 'content-type': 'application/x-www-form-urlencoded',
    'x-requested-with': 'XMLHttpRequest', authorization: `Basic ${Buffer.from(':').toString('base64')}`,
  };
  const formToken = async (server: Running) => {
    const r = await call(`${server.url}/token`, { form: { username: 'johndoe', password: 'secret-password' } });
    assert.equal(r.status, 200);
    return r.json as { access_token: string; refresh_token: string; token_type: string };
  };

  before(async () => {
    s = await startServer({}, { clock });
    // A Warden with another SECRET_KEY: its tokens are signed with a key the service does not hold.
    other = await startServer({ SECRET_KEY: 'another-secret-that-is-at-least-32-bytes-long' });
    for (const w of [s, other]) {
      const r = await call(`${w.url}/api/auth/signup`, { json: { username: 'johndoe', email: 'johndoe@example.com', password: 'secret-password' } });
      assert.equal(r.status, 201);
      if (w === s) userId = r.json.id;
    }
  });
  after(async () => {
    await s.close();
    await other.close();
  });

  for (const [decoder, skip] of decoders) {
    it(`${decoder}: the protected route answers the user; expired, another key's or no token: 401 (refresh tokens: see the README)`, { skip }, async () => {
      const fresh = await formToken(s);
      // Issued 16 minutes ago by Warden's clock: expired by the real one the service reads.
      const expired = await clock.during(-16 * 60_000, () => formToken(s));
      const foreign = await formToken(other);
      const asWritten = await usersMe([fresh.access_token, expired.access_token, foreign.access_token, '-', fresh.refresh_token], { DECODER: decoder });
      assert.deepEqual(asWritten[0], { status: 200, body: { id: userId, roles: ['user'] }, www_authenticate: null });
      assert.deepEqual(asWritten[1], COULD_NOT, 'expired');
      assert.deepEqual(asWritten[2], COULD_NOT, 'signed with another key');
      assert.deepEqual(asWritten[3], { status: 401, body: { detail: 'Not authenticated' }, www_authenticate: 'Bearer' });
      // As the README warns: reading "sub" alone lets a refresh token (same key, 30 days) through...
      assert.equal(asWritten[4]!.status, 200);
      assert.equal(asWritten[4]!.body.id, userId);
      // ...and the line it says to add refuses it, the access token still passing.
      const accessOnly = await usersMe([fresh.refresh_token, fresh.access_token], { DECODER: decoder, ACCESS_ONLY: '1' });
      assert.deepEqual(accessOnly[0], COULD_NOT, 'a refresh token');
      assert.equal(accessOnly[1]!.status, 200);
    });
  }

  it('its OpenAPI\'s password flow (tokenUrl "token", beside /docs) leads to Warden\'s /token, which answers Swagger UI\'s Authorize', async () => {
    const { stdout } = await run(PYTHON, [script, 'openapi'], { env: { ...process.env, SECRET_KEY: TEST_SECRET }, timeout: 30_000 });
    const doc = JSON.parse(stdout);
    const [name, scheme] = Object.entries(doc.components.securitySchemes as Record<string, { type: string; flows: { password: { tokenUrl: string } } }>)[0]!;
    assert.equal(scheme.type, 'oauth2');
    assert.deepEqual(doc.paths['/users/me'].get.security, [{ [name]: [] }]);
    // Swagger UI resolves a relative tokenUrl against the page: the service served on Warden's
    // origin (one host, a proxy routing /token to Warden) posts to Warden's /token.
    const tokenUrl = new URL(scheme.flows.password.tokenUrl, `${s.url}/docs`).href;
    assert.equal(tokenUrl, `${s.url}/token`);
    const r = await call(tokenUrl, { body: 'grant_type=password&username=johndoe&password=secret-password', headers: swaggerHeaders });
    assert.equal(r.status, 200, r.text);
    assert.match(r.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(r.json.error, undefined, 'Swagger UI takes an "error" member as a failed Authorize');
    assert.equal(typeof r.json.access_token, 'string');
    assert.equal(r.json.token_type.toLowerCase(), 'bearer', 'Swagger UI then sends "Bearer <access_token>"');
    const [me] = await usersMe([r.json.access_token], {});
    assert.deepEqual(me, { status: 200, body: { id: userId, roles: ['user'] }, www_authenticate: null });
    // A wrong password is a failed Authorize (not a 2xx), which Swagger UI shows.
    const wrong = await call(tokenUrl, { body: 'grant_type=password&username=johndoe&password=not-it', headers: swaggerHeaders });
    assert.equal(wrong.status, 401);
  });
});

const browserSkip = fastapiSkip
  ?? pythonMissing('import uvicorn', 'python3-uvicorn', 'seed 001\'s FastAPI docs in a browser not checked')
  ?? pythonMissing('from jose import jwt', 'python3-jose', 'seed 001\'s FastAPI docs in a browser not checked')
  ?? (existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): seed 001's FastAPI docs in a browser not checked`);

describe('browser: the FastAPI service\'s own /docs (its origin) authorizes at Warden\'s /token, then Try it out', { skip: browserSkip }, () => {
  let s: Running;
  let service: string;
  let uvicorn: ChildProcess | undefined;
  let output = '';
  let context: BrowserContext;
  const profile = mkdtempSync(join(tmpdir(), 'warden-chromium-'));
  before(async () => {
    const port = await freePort();
    service = `http://127.0.0.1:${port}`;
    s = await startServer({ CORS_ORIGINS: service });
    assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'johndoe', email: 'johndoe@example.com', password: 'secret-password' } })).status, 201);
    uvicorn = spawn(PYTHON, [script, 'serve', String(port)], {
      env: {
        ...process.env, SECRET_KEY: TEST_SECRET, TOKEN_URL: `${s.url}/token`,
        // FastAPI's page loads Swagger UI from a CDN; offline, the same files come from Warden's /docs.
        SWAGGER_JS_URL: `${s.url}/docs/static/swagger-ui-bundle.js`, SWAGGER_CSS_URL: `${s.url}/docs/static/swagger-ui.css`,
        SWAGGER_FAVICON_URL: `${s.url}/docs/static/favicon-32x32.png`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    uvicorn.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    uvicorn.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (uvicorn.exitCode !== null) throw new Error(`uvicorn exited (${uvicorn.exitCode}):\n${output}`);
      try {
        if ((await fetch(`${service}/openapi.json`)).ok) break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) throw new Error(`uvicorn did not answer within 30 s:\n${output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    context = await headlessContext(profile);
  });
  after(async () => {
    await context?.close();
    if (uvicorn && uvicorn.exitCode === null && uvicorn.signalCode === null) {
      const exited = new Promise((r) => uvicorn!.once('exit', r));
      uvicorn.kill('SIGTERM');
      await exited;
    }
    await s?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('Authorize posts to Warden across origins and gets the token; GET /users/me with it answers the user', async () => {
    const page = await context.newPage();
    const requests: Request[] = [];
    const console: string[] = [];
    page.on('request', (r) => requests.push(r));
    page.on('console', (m) => console.push(m.text()));
    await page.goto(`${service}/docs`);

    // Closed once it shows Logout (the token came); an error line when the browser or Warden refused.
    await swaggerAuthorize(page, 'johndoe', 'secret-password', () => console.join(' | '));

    const tokenRequest = requests.find((r) => r.url() === `${s.url}/token` && r.method() === 'POST');
    assert.ok(tokenRequest, 'the dialog posted to Warden\'s /token');
    assert.equal((await tokenRequest.allHeaders())['x-requested-with'], 'XMLHttpRequest');

    const shown = await swaggerTryGet(page, '/users/me');
    assert.equal(shown.status, '200');
    const body = JSON.parse(shown.body ?? '');
    const user = await s.warden.storage.users.findByLogin('johndoe');
    assert.deepEqual(body, { id: user!.id, roles: ['user'] });
    const meRequest = requests.find((r) => r.url() === `${service}/users/me`);
    assert.match((await meRequest!.allHeaders()).authorization ?? '', /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
  });
});
