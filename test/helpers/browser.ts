// Debian's Chromium for the browser tests, driven by playwright-core (never a downloaded browser).
import assert from 'node:assert/strict';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Kept quiet: no network of its own, no updates, no sync. */
const QUIET = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A headless Chromium with its own profile folder. */
export function headlessContext(profile: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ['--headless', ...QUIET] });
}

/** A headless Chromium whose every context is a fresh profile of its own. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: QUIET });
}

/**
 * Swagger UI's Authorize dialog on the open /docs page: the oauth2 password flow's username and
 * password applied, then closed once it shows Logout (the token came); an error line in the dialog
 * fails, with `context` (say, the page's console) in the message.
 */
export async function swaggerAuthorize(page: Page, username: string, password: string, context: () => string = () => ''): Promise<void> {
  await page.locator('.auth-wrapper button.authorize').click();
  const dialog = page.locator('.modal-ux');
  await dialog.locator('#oauth_username').fill(username);
  await dialog.locator('#oauth_password').fill(password);
  await dialog.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click();
  const done = dialog.locator('button.modal-btn.auth', { hasText: 'Logout' }).first();
  const failed = dialog.locator('.errors');
  await Promise.race([done.waitFor({ timeout: 15_000 }), failed.waitFor({ timeout: 15_000 })]);
  assert.equal(await failed.count(), 0, `Authorize failed: ${await failed.allTextContents()} ${context()}`);
  await dialog.locator('button.btn-done').first().click();
}

/** "Try it out" on the GET operation of `path` on the open /docs page: the status and body shown. */
export async function swaggerTryGet(page: Page, path: string): Promise<{ status: string | undefined; body: string | null }> {
  const op = page.locator('.opblock-get', { has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
  await op.locator('.opblock-summary').click();
  await op.locator('button.try-out__btn').click();
  await op.locator('button.execute').click();
  const status = op.locator('.live-responses-table tr.response .response-col_status').first();
  await status.waitFor({ timeout: 15_000 });
  return {
    status: (await status.textContent())?.trim(),
    body: await op.locator('.live-responses-table tr.response .response-col_description pre').first().textContent(),
  };
}
