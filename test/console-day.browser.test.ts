// The console over a working day, in Debian's Chromium, as people use it: several tabs of one
// browser signed in at once, tokens running out while a form is open, a sign-out in one tab, a
// server that cannot answer for a moment. On SQLite, and on PostgreSQL with two instances behind
// one nginx address (sharing Redis for revocations). Time moves by the servers' test clock; the
// moments two tabs cross are made by holding one tab's request in the browser (as a slow network
// would) until the other has acted, never by waiting.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import { createRedisBus } from '../src/revocation/redis-bus.js';
import { createPostgresStorage } from '../src/storage/index.js';
import type { Storage } from '../src/storage/types.js';
import { CHROMIUM, launchChromium } from './helpers/browser.js';
import { testClock, type TestClock } from './helpers/clock.js';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy.js';
import { startNginx, nginxOrSkip, type RunningNginx } from './helpers/nginx.js';
import { REDIS_URL, redisSkip } from './helpers/redis.js';
import { call, startServer, type Running } from './helpers/server.js';
import { postgresUrlOrSkip, schemaPrefix } from './helpers/storage.js';

const chromiumSkip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): console day test not run`;
const ACCESS_LIFE = 15 * 60_000;

interface Deployment {
  /** The one address the browser uses. */
  url: string;
  clock: TestClock;
  /** Between the instances and PostgreSQL (PostgreSQL only): to make the database unreachable for a moment. */
  database?: FaultProxy;
  close(): Promise<void>;
}

/** One Warden on a SQLite file. */
async function sqliteDeployment(): Promise<Deployment> {
  const clock = testClock();
  const s = await startServer({}, { clock });
  return { url: s.url, clock, close: () => s.close() };
}

/** Two Warden instances on one PostgreSQL schema (reached through a fault proxy) and one Redis channel, behind nginx's round robin. */
async function postgresDeployment(url: string): Promise<Deployment> {
  const clock = testClock(); // both instances' clock, as synchronised clocks are
  const schema = `${schemaPrefix()}console_day_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE SCHEMA ${schema}`);
  const target = new URL(url);
  const database = await startFaultProxy({ host: target.hostname, port: Number(target.port || 5432) });
  target.host = database.address;
  const storages: Storage[] = [0, 1].map(() => createPostgresStorage(target.toString(), { schema, clock }));
  await storages[0]!.migrate();
  const channel = `${schemaPrefix()}console_day_${randomBytes(4).toString('hex')}`;
  const servers: Running[] = [];
  for (const storage of storages) servers.push(await startServer({}, { storage, clock, bus: createRedisBus(REDIS_URL, channel) }));
  const nginx: RunningNginx = await startNginx(`location / { proxy_pass http://wardens; proxy_set_header Host $http_host; }`, {
    http: `upstream wardens { ${servers.map((s) => `server ${new URL(s.url).host};`).join(' ')} }`,
  });
  return {
    url: nginx.url,
    clock,
    database,
    async close() {
      await nginx.close();
      for (const s of servers) await s.close();
      for (const s of storages) await s.close();
      await database.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    },
  };
}

/**
 * A slow link to `target`: passes every request, but holds the next GET of a given path until the
 * test releases it (a page that is slow to come while the one before stays on the screen).
 */
async function slowLink(target: string): Promise<{
  url: string;
  holdNext(path: string): Promise<() => void>;
  /** "METHOD path status" of each request answered so far, once none is on its way. */
  answered(): Promise<string[]>;
  close(): Promise<void>;
}> {
  let hold: { path: string; caught: (release: () => void) => void } | undefined;
  const answered: string[] = [];
  let open = 0;
  let idle: (() => void) | undefined;
  const server = createServer((req, res) => {
    open++;
    res.on('close', () => {
      if (--open === 0) idle?.();
    });
    const pass = () => {
      const upstream = request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (answer) => {
        answered.push(`${req.method} ${req.url} ${answer.statusCode}`);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    };
    if (hold && req.method === 'GET' && req.url === hold.path) {
      const { caught } = hold;
      hold = undefined;
      caught(pass);
    } else pass();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    holdNext: (path) => new Promise((caught) => (hold = { path, caught })),
    answered: () => new Promise((resolve) => {
      if (open === 0) resolve([...answered]);
      else idle = () => resolve([...answered]);
    }),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

const { url: postgresUrl, skip: postgresSkip } = await postgresUrlOrSkip();
const sharedSkip = postgresSkip ?? (await redisSkip()) ?? nginxOrSkip();

for (const [name, deploy, skip] of [
  ['SQLite', sqliteDeployment, undefined],
  ['PostgreSQL, two instances behind nginx', () => postgresDeployment(postgresUrl!), sharedSkip],
] as const) {
  describe(`console over a working day: ${name}`, { skip: chromiumSkip ?? skip }, () => {
    let d: Deployment;
    let browser: Browser;
    let n = 0;
    before(async () => {
      d = await deploy();
      browser = await launchChromium();
    });
    after(async () => {
      await browser?.close();
      await d?.close();
    });

    /** A new user of their own (the first one is the administrator), signed in in a new browser: its first tab on /account. */
    async function signedIn(): Promise<{ ctx: BrowserContext; page: Page; username: string }> {
      const username = `user${++n}`;
      const password = `${username}-password-1`;
      const signup = await call(`${d.url}/api/v1/auth/signup`, { json: { username, email: `${username}@example.com`, password } });
      assert.equal(signup.status, 201, signup.text);
      const ctx = await browser.newContext({ locale: 'en-US' });
      const page = await ctx.newPage();
      await page.goto(`${d.url}/account/signin?next=%2Faccount`);
      await page.getByLabel('Email or username').fill(username);
      await page.getByLabel('Password', { exact: true }).fill(password);
      await page.keyboard.press('Enter');
      await page.waitForURL(`${d.url}/account`);
      await page.locator('[data-sessions] li').first().waitFor();
      return { ctx, page, username };
    }

    /** The user's profile, read through a sign-in of its own. */
    async function profile(username: string): Promise<{ full_name?: string }> {
      const login = await call(`${d.url}/api/v1/auth/login`, { form: { username, password: `${username}-password-1` } });
      assert.equal(login.status, 200, login.text);
      return (await call(`${d.url}/api/v1/auth/me`, { headers: { authorization: `Bearer ${login.json.data.access_token}` } })).json.data;
    }

    /** Another tab of the same browser on `path`, loaded. */
    async function tab(ctx: BrowserContext, path: string): Promise<Page> {
      const page = await ctx.newPage();
      await page.goto(`${d.url}${path}`);
      await page.locator('[data-sessions] li').first().waitFor();
      return page;
    }

    /** Holds the first request to `pattern` of `page` (later ones pass): `held` resolves with it once it is held. */
    async function holdFirst(page: Page, pattern: string): Promise<{ held: Promise<Route> }> {
      let first = true;
      let held!: (r: Route) => void;
      const caught = new Promise<Route>((resolve) => (held = resolve));
      await page.route(pattern, (route) => {
        if (first) {
          first = false;
          held(route);
        } else void route.continue();
      });
      return { held: caught };
    }

    /** Where a page action ended: the sign-in page, or a notice on the page. */
    async function outcome(page: Page): Promise<string> {
      await Promise.race([page.waitForURL(/\/account\/signin/), page.locator('[data-notice]:not(:empty)').waitFor()]);
      return page.url().includes('/account/signin') ? `signed out: ${page.url()}` : await page.locator('[data-notice]').textContent() ?? '';
    }

    it('two tabs refreshing at once: the one whose refresh left after the other\'s rotation stays signed in, its change saved', async () => {
      const { ctx, page: a, username } = await signedIn();
      const b = await tab(ctx, '/account');
      d.clock.advance(ACCESS_LIFE + 60_000); // both tabs' access token has run out
      // Tab A's refresh is on the wire (a slow link) while tab B refreshes: A's request leaves with
      // the cookies B's rotation set and the CSRF value A read before.
      const { held } = await holdFirst(a, '**/api/v1/auth/refresh');
      await a.getByLabel('Full name').fill('Ada Lovelace');
      await a.getByRole('button', { name: 'Save name' }).click();
      const route = await held;
      await b.reload();
      await b.locator('[data-sessions] li').first().waitFor();
      await route.continue();
      assert.equal(await outcome(a), 'Your name has been saved.');
      assert.equal((await profile(username)).full_name, 'Ada Lovelace');
      await b.reload();
      await b.locator('[data-fact="full_name"]', { hasText: 'Ada Lovelace' }).waitFor(); // and tab B is still in
      await ctx.close();
    });

    it('a refresh the server cannot answer (its database unreachable) is not taken for a sign-out: the page says so, and the next try works', async (t) => {
      if (!d.database) return t.skip('PostgreSQL only: a SQLite file cannot be made unreachable');
      const { ctx, page } = await signedIn();
      d.clock.advance(ACCESS_LIFE + 60_000);
      await d.database.down();
      try {
        await page.getByLabel('Full name').fill('Grace Hopper');
        await page.getByRole('button', { name: 'Save name' }).click();
        await Promise.race([page.waitForURL(/\/account\/signin/), page.locator('#name [data-error-for=""]:not(:empty)').waitFor()]);
        assert.equal(page.url(), `${d.url}/account`, 'not sent to sign in: the session has not ended');
        assert.match(await page.locator('#name [data-error-for=""]').textContent() ?? '', /unavailable|try again|retry/i);
        assert.equal(await page.getByLabel('Full name').inputValue(), 'Grace Hopper', 'the input is kept');
      } finally {
        await d.database.heal();
      }
      await page.getByRole('button', { name: 'Save name' }).click();
      assert.equal(await outcome(page), 'Your name has been saved.');
      await ctx.close();
    });

    it('signed out in one tab: the other tab\'s next action lands on the sign-in page saying the session ended, then comes back', async () => {
      const { ctx, page: a, username } = await signedIn();
      const b = await tab(ctx, '/account');
      await a.getByRole('button', { name: 'Sign out', exact: true }).click();
      await a.waitForURL(/\/account\/signin/);
      await b.getByLabel('Full name').fill('Typed before lunch');
      await b.getByRole('button', { name: 'Save name' }).click();
      await b.waitForURL(/\/account\/signin/);
      assert.equal(await b.locator('[data-notice]').textContent(), 'Your session has ended. Sign in again.', 'a word of why, not a bare sign-in page');
      await b.getByLabel('Email or username').fill(username);
      await b.getByLabel('Password', { exact: true }).fill(`${username}-password-1`);
      await b.keyboard.press('Enter');
      await b.waitForURL(`${d.url}/account`);
      await ctx.close();
    });

    it('a sign-in submitted again while the next page loads (Enter pressed twice on a slow link) opens one session', async () => {
      const username = `user${++n}`;
      const password = `${username}-password-1`;
      assert.equal((await call(`${d.url}/api/v1/auth/signup`, { json: { username, email: `${username}@example.com`, password } })).status, 201);
      const slow = await slowLink(d.url);
      const ctx = await browser.newContext({ locale: 'en-US' });
      try {
        const page = await ctx.newPage();
        await page.goto(`${slow.url}/account/signin?next=%2Faccount`);
        await page.getByLabel('Email or username').fill(username);
        await page.getByLabel('Password', { exact: true }).fill(password);
        // The password is right; the account page is slow to come.
        const held = slow.holdNext('/account');
        await page.keyboard.press('Enter');
        const release = await held;
        // The sign-in page is still on the screen, its button within reach: Enter again. (DevTools
        // holds its commands to a page while the page's navigation is pending, so the test cannot
        // look at the button now; the link says whether a second sign-in went.)
        await page.keyboard.press('Enter');
        release();
        await page.waitForURL(`${slow.url}/account`);
        await page.locator('[data-sessions] li').first().waitFor();
        const logins = (await slow.answered()).filter((line) => line.startsWith('POST /api/v1/auth/login '));
        assert.deepEqual(logins, ['POST /api/v1/auth/login 200'], 'one sign-in, one session');
      } finally {
        await ctx.close();
        await slow.close();
      }
    });

    it('a double click on "Sign out this session" ends it once and says so, not "Session not found"', async () => {
      const { ctx, page, username } = await signedIn();
      // Another device of theirs.
      assert.equal((await call(`${d.url}/api/v1/auth/login`, { form: { username, password: `${username}-password-1` } })).status, 200);
      await page.reload();
      await page.locator('[data-sessions] li').nth(1).waitFor();
      const ends: string[] = [];
      page.on('request', (r) => { if (r.method() === 'DELETE') ends.push(new URL(r.url()).pathname); });
      await page.getByRole('button', { name: /^Sign out this session/ }).dblclick();
      await page.locator('[data-sessions] li').nth(1).waitFor({ state: 'detached' });
      assert.equal(ends.length, 1, `one request to end it: ${ends.join(', ')}`);
      assert.equal(await page.locator('[data-notice]').textContent(), 'The session has been signed out.');
      await ctx.close();
    });
  });
}
