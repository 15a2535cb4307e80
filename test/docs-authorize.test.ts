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
import { CHROMIUM, headlessContext } from './helpers/browser.js';
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

    await page.locator('.auth-wrapper button.authorize').click();
    const dialog = page.locator('.modal-ux');
    await dialog.locator('#oauth_username').fill('swagger');
    await dialog.locator('#oauth_password').fill('swagger-password');
    await dialog.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click();
    // Swagger UI swaps the form for "Authorized" and a Logout button once /token answered.
    await dialog.locator('button.modal-btn.auth', { hasText: 'Logout' }).first().waitFor({ timeout: 15_000 });
    await dialog.locator('button.btn-done').first().click();

    const tokenRequest = requests.find((r) => r.url() === `${s.url}/token`);
    assert.ok(tokenRequest, 'the dialog posted to /token');
    assert.equal(tokenRequest.method(), 'POST');
    const form = new URLSearchParams(tokenRequest.postData() ?? '');
    assert.equal(form.get('username'), 'swagger');
    assert.equal(form.get('grant_type'), 'password');

    const op = page.locator('.opblock-get', { has: page.locator('.opblock-summary-path[data-path="/api/v1/auth/me"]') });
    await op.locator('.opblock-summary').click();
    await op.locator('button.try-out__btn').click();
    await op.locator('button.execute').click();
    const status = op.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor({ timeout: 15_000 });
    assert.equal((await status.textContent())?.trim(), '200');
    const body = await op.locator('.live-responses-table tr.response .response-col_description pre').first().textContent();
    const json = JSON.parse(body ?? '');
    assert.equal(json.message, 'User profile retrieved');
    assert.equal(json.data.email, 'swagger@example.com');
    assert.equal(json.data.full_name, 'Swagger User');

    const meRequest = requests.find((r) => r.url() === `${s.url}/api/v1/auth/me`);
    assert.match((await meRequest!.allHeaders()).authorization ?? '', /^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    // A public operation carries no lock.
    const signin = page.locator('.opblock-post', { has: page.locator('.opblock-summary-path[data-path="/api/auth/signin"]') });
    assert.equal(await signin.locator('.authorization__btn').count(), 0);
    assert.equal(await op.locator('.authorization__btn').count(), 1);
  });
});
