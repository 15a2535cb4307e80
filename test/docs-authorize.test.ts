// /docs as a FastAPI user knows it, in a real browser (Debian's Chromium driven by playwright-core):
// Swagger UI's Authorize dialog asks for username and password (the oauth2 password flow with
// tokenUrl /token), obtains the token, and "Try it out" on GET /api/v1/auth/me sends it and shows
// 200 with the profile.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Request } from 'playwright-core';
import { CHROMIUM, headlessContext, swaggerAuthorize, swaggerTryGet } from './helpers/browser.js';
import { call, startServer, type Running } from './helpers/server.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): Swagger UI Authorize test not run`;

describe('browser: /docs Authorize with username and password, then Try it out', { skip }, () => {
  let s: Running;
  let context: BrowserContext;
  const profile = mkdtempSync(join(tmpdir(), 'warden-chromium-'));
  before(async () => {
    s = await startServer();
    const r = await call(`${s.url}/api/auth/signup`, { json: { username: 'swagger', email: 'swagger@example.com', password: 'swagger-password', full_name: 'Swagger User' } });
    assert.equal(r.status, 201);
    context = await headlessContext(profile);
  });
  after(async () => {
    await context?.close();
    await s?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('the dialog takes username and password; the token then goes with GET /api/v1/auth/me', async () => {
    const page = await context.newPage();
    const requests: Request[] = [];
    page.on('request', (r) => requests.push(r));
    await page.goto(`${s.url}/docs`);

    // Swagger UI swaps the form for "Authorized" and a Logout button once /token answered.
    await swaggerAuthorize(page, 'swagger', 'swagger-password');

    const tokenRequest = requests.find((r) => r.url() === `${s.url}/token`);
    assert.ok(tokenRequest, 'the dialog posted to /token');
    assert.equal(tokenRequest.method(), 'POST');
    const form = new URLSearchParams(tokenRequest.postData() ?? '');
    assert.equal(form.get('username'), 'swagger');
    assert.equal(form.get('grant_type'), 'password');

    const shown = await swaggerTryGet(page, '/api/v1/auth/me');
    assert.equal(shown.status, '200');
    const json = JSON.parse(shown.body ?? '');
    assert.equal(json.message, 'User profile retrieved');
    assert.equal(json.data.email, 'swagger@example.com');
    assert.equal(json.data.full_name, 'Swagger User');

    const meRequest = requests.find((r) => r.url() === `${s.url}/api/v1/auth/me`);
    assert.match((await meRequest!.allHeaders()).authorization ?? '', /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    // A public operation carries no lock.
    const signin = page.locator('.opblock-post', { has: page.locator('.opblock-summary-path[data-path="/api/auth/signin"]') });
    assert.equal(await signin.locator('.authorization__btn').count(), 0);
    const me = page.locator('.opblock-get', { has: page.locator('.opblock-summary-path[data-path="/api/v1/auth/me"]') });
    assert.equal(await me.locator('.authorization__btn').count(), 1);
  });
});
