// The console used without a mouse and without sight, in Debian's Chromium: by keyboard alone
// (Tab, Enter), with what a screen reader is given read from Chromium's accessibility tree, and
// with names written in other scripts than Latin.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Browser, type Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from './helpers/browser.js';
import { call, startServer, type Running } from './helpers/server.js';
import { startSmtp, tokenIn, type TestSmtp } from './helpers/smtp.js';
import { codeAt, fromBase32 } from './helpers/totp.js';

const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): console accessibility test not run`;

/** Chromium's accessibility tree of the page, as a screen reader gets it. */
async function axTree(page: Page) {
  const cdp = await page.context().newCDPSession(page);
  const { nodes } = await cdp.send('Accessibility.getFullAXTree');
  await cdp.detach();
  return nodes;
}

/** The text of every live region (aria-live, role=status/alert) Chromium exposes, whole. */
async function liveTexts(page: Page): Promise<string[]> {
  const nodes = await axTree(page);
  const byId = new Map(nodes.map((n) => [n.nodeId, n]));
  const text = (id: string): string => {
    const n = byId.get(id);
    if (!n) return '';
    const own = n.role?.value === 'StaticText' ? String(n.name?.value ?? '') : '';
    return own + (n.childIds ?? []).map(text).join('');
  };
  return nodes
    .filter((n) => !n.ignored && n.properties?.some((p) => p.name === 'live' && (p.value.value === 'polite' || p.value.value === 'assertive')))
    .map((n) => text(n.nodeId));
}

/**
 * Run in the page (as text: tsx would add helpers the page lacks to a compiled function): the focused
 * element's focus outline, and its contrast (WCAG 2 relative luminance) against the background it is
 * drawn on, the first opaque background among the element's ancestors.
 */
const FOCUS_RING = `(() => {
  const e = document.activeElement;
  const rgb = (c) => { const m = /rgba?\\(([^)]*)\\)/.exec(c); if (!m) return null; const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number); return { c: p.slice(0, 3), a: p.length > 3 ? p[3] : 1 }; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }; return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  let bg = [255, 255, 255];
  for (let n = e.parentElement; n; n = n.parentElement) { const b = rgb(getComputedStyle(n).backgroundColor); if (b && b.a > 0) { bg = b.c; break; } }
  const cs = getComputedStyle(e);
  const ring = rgb(cs.outlineColor).c;
  const [hi, lo] = [lum(ring), lum(bg)].sort((x, y) => y - x);
  return { name: e.tagName.toLowerCase() + ':' + (e.getAttribute('aria-label') || e.textContent || e.id).trim().slice(0, 30), style: cs.outlineStyle, width: parseFloat(cs.outlineWidth), ratio: (hi + 0.05) / (lo + 0.05) };
})()`;

/** Run in the page: the words of table cells that a line break cuts in two, and how wide the page and its tables' boxes are. */
const CUT_WORDS = `(() => {
  const cut = [];
  for (const cell of document.querySelectorAll('.table-wrap th, .table-wrap td')) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let t; (t = walker.nextNode());) {
      for (const m of t.textContent.matchAll(/[^\\s-]+-?/g)) { // a hyphen is a place to break
        const r = document.createRange();
        r.setStart(t, m.index);
        r.setEnd(t, m.index + m[0].length);
        const tops = new Set([...r.getClientRects()].map((q) => Math.round(q.top)));
        if (tops.size > 1) cut.push(m[0]);
      }
    }
  }
  const wrap = document.querySelector('.table-wrap');
  return { cut, page: [document.documentElement.scrollWidth, document.documentElement.clientWidth], box: [wrap.scrollWidth, wrap.clientWidth] };
})()`;

/** Records each element that gets the focus from now on (focusin), by id or tag. */
const watchFocus = (page: Page) => page.evaluate(() => {
  const w = window as unknown as { focusLog: string[] };
  w.focusLog = [];
  document.addEventListener('focusin', (e) => w.focusLog.push((e.target as HTMLElement).id || (e.target as HTMLElement).tagName));
});
const focusLog = (page: Page) => page.evaluate(() => (window as unknown as { focusLog: string[] }).focusLog);

describe('console accessibility, by keyboard and screen reader', { skip }, () => {
  let s: Running;
  let smtp: TestSmtp;
  let browser: Browser;

  before(async () => {
    smtp = await startSmtp();
    s = await startServer({
      DATABASE_URL: 'memory:', SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
    }, { email: { tuning: { pollMs: 50, retryBaseMs: 50, retryMaxMs: 200 } } });
    browser = await launchChromium();
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'root-password-1', roles: ['admin'] } })).status, 201);
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'nadia', email: 'nadia@example.com', password: 'nadia-password-1' } })).status, 201);
  });
  after(async () => {
    await browser?.close();
    await s?.close();
    await smtp?.close();
  });

  const newPage = async () => (await browser.newContext({ locale: 'en-US' })).newPage();
  const focused = (page: Page) => page.evaluate(() => {
    const e = document.activeElement;
    return !e || e === document.body ? 'BODY' : `${e.tagName.toLowerCase()}:${(e.textContent ?? '').trim().slice(0, 40)}`;
  });
  /** Tab until the focus is on the control named `name` (at most 40 presses). */
  const tabTo = async (page: Page, name: string) => {
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      if ((await focused(page)).endsWith(`:${name}`)) return;
    }
    assert.fail(`Tab never reached "${name}"`);
  };
  const signIn = async (page: Page, login: string, password: string) => {
    await page.goto(`${s.url}/account/signin`);
    await page.getByLabel('Email or username').fill(login);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${s.url}/account`);
    await page.locator('[data-sessions] li').first().waitFor();
  };

  it('an error for the field that has the focus (Enter pressed in it) reaches a live region', async () => {
    const page = await newPage();
    await page.goto(`${s.url}/account/signin`);
    await page.getByLabel('Email or username').focus();
    await page.keyboard.type('nadia');
    await page.keyboard.press('Tab');
    await page.keyboard.type('not-her-password');
    await watchFocus(page);
    await page.keyboard.press('Enter');
    const error = page.locator('#signin-password-error');
    await error.filter({ hasText: 'Invalid username or password' }).waitFor();
    // The focus never moved (it was on the password already), so no screen reader reads the field's
    // description again: the error must be said through a live region.
    assert.deepEqual(await focusLog(page), [], 'no focus event: the field had the focus');
    assert.ok((await liveTexts(page)).some((t) => t.includes('Invalid username or password')), 'the error is in a live region');
    await page.context().close();
  });

  it('the live regions are in the accessibility tree before anything is written to them', async () => {
    // A region that enters the tree together with its text (display:none while empty) is not
    // announced by every screen reader: it must be there, empty, first.
    const page = await newPage();
    await page.goto(`${s.url}/account/signin`);
    await page.locator('#signin-username').waitFor();
    const nodes = await axTree(page);
    const cdp = await page.context().newCDPSession(page);
    const { root } = await cdp.send('DOM.getDocument', { depth: -1 });
    const ids = async (selector: string) => (await cdp.send('DOM.querySelectorAll', { nodeId: root.nodeId, selector })).nodeIds;
    const backend = async (nodeId: number) => (await cdp.send('DOM.describeNode', { nodeId })).node.backendNodeId;
    for (const selector of ['[data-notice]', '#signin .form-error', '[data-passkey-error]']) {
      const [nodeId] = await ids(selector);
      assert.ok(nodeId, selector);
      const b = await backend(nodeId);
      const ax = nodes.find((n) => n.backendDOMNodeId === b);
      assert.ok(ax && !ax.ignored, `${selector} is in the accessibility tree while empty (${JSON.stringify(ax?.ignoredReasons?.map((r) => r.name))})`);
    }
    await page.context().close();
  });

  it('the recovery codes shown once get the focus when an authenticator app is confirmed, and a reset moves it on', async () => {
    const page = await newPage();
    await signIn(page, 'nadia', 'nadia-password-1');
    await tabTo(page, 'Set up an authenticator app');
    await page.keyboard.press('Enter');
    const secret = (await page.locator('[data-totp-secret]').filter({ hasText: /\S/ }).textContent())!;
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'totp-code');
    await page.keyboard.type(codeAt(fromBase32(secret), Date.now() / 1000));
    await page.keyboard.press('Enter');
    await page.locator('[data-recovery-codes] li').first().waitFor();
    // The form that had the focus is hidden: the focus goes to the codes, not to the page's body
    // (from where Tab went on to the next section, leaving the codes unread).
    assert.equal(await focused(page), 'h3:Your recovery codes');
    // The factor list shows "New recovery codes" once it has been read again (its own request): on
    // a loaded machine that comes after the codes, so it is waited for, the focus staying put.
    await page.locator('[data-recovery-new]').waitFor({ state: 'visible' });
    assert.equal(await focused(page), 'h3:Your recovery codes');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'button:New recovery codes', 'and on from there, in order');
    await page.context().close();

    // The console's reset page: its form, which had the focus, goes once the password is set.
    assert.equal((await call(`${s.url}/api/v1/auth/password/forgot`, { json: { email: 'nadia@example.com' } })).status, 202);
    const mail = await smtp.waitFor((m) => m.to === 'nadia@example.com' && m.subject === 'Reset your password');
    const reset = await newPage();
    await reset.goto(`${s.url}/account/reset?token=${tokenIn(mail)}`);
    await reset.locator('#reset-new_password').focus();
    await reset.keyboard.type('nadia-password-2');
    await reset.keyboard.press('Enter');
    await reset.locator('[data-notice]', { hasText: 'Your password has been changed' }).waitFor();
    assert.equal(await focused(reset), 'a:Sign in', 'the way on has the focus');
    await reset.context().close();
  });

  it('the focus outline of every control stands out 3:1 from the background it is drawn on', async () => {
    // WCAG 1.4.11: a focus indicator is information a keyboard user needs to see.
    const page = await newPage();
    await signIn(page, 'root', 'root-password-1');
    for (const path of ['/account', '/admin/users', '/account/forgot']) {
      await page.goto(`${s.url}${path}`);
      await page.locator('main h1').waitFor();
      await page.waitForLoadState('networkidle');
      const seen = new Set<string>();
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        if ((await focused(page)) === 'BODY') break;
        const ring = await page.evaluate(FOCUS_RING) as { name: string; style: string; width: number; ratio: number };
        if (seen.has(ring.name)) continue;
        seen.add(ring.name);
        assert.ok(ring.style !== 'none' && ring.width >= 2, `${path} ${ring.name}: a focus outline (${ring.style} ${ring.width}px)`);
        assert.ok(ring.ratio >= 3, `${path} ${ring.name}: its focus outline's contrast is ${ring.ratio.toFixed(2)}:1`);
      }
      assert.ok(seen.size > 5, `${path}: Tab went through its controls`);
    }
    await page.context().close();
  });

  it('on a 320 px wide screen the tables keep their words whole and scroll in their own box', async () => {
    // As README says ("a wide table scrolls in its own box"); cells that break anywhere instead
    // squeezed the audit log to a character per line ("1/2/7/./0", "Outco/me").
    const ctx = await browser.newContext({ locale: 'en-US', viewport: { width: 320, height: 640 } });
    const page = await ctx.newPage();
    await signIn(page, 'root', 'root-password-1');
    for (const path of ['/admin/audit', '/admin/users']) {
      await page.goto(`${s.url}${path}`);
      await page.locator('.table-wrap tbody tr').first().waitFor();
      const r = await page.evaluate(CUT_WORDS) as { cut: string[]; page: [number, number]; box: [number, number] };
      assert.deepEqual(r.cut, [], `${path}: words cut by a line break`);
      assert.ok(r.page[0] <= r.page[1], `${path}: the page itself does not scroll sideways (${r.page})`);
    }
    await ctx.close();
  });

  it('an administrator\'s page of a user with a right-to-left name keeps the username where the layout puts it, and is titled after the user', async () => {
    const root = await call(`${s.url}/api/v1/auth/login`, { json: { username: 'root', password: 'root-password-1' } });
    const token = (root.json as { data: { access_token: string } }).data.access_token;
    const created = await call(`${s.url}/api/v1/users`, { json: { username: '2024', email: 'sara@example.com', password: 'sara-password-1', full_name: 'سارة' }, headers: { authorization: `Bearer ${token}` } });
    assert.equal(created.status, 201);
    const id = (created.json as { data: { id: string } }).data.id;
    const page = await newPage();
    await signIn(page, 'root', 'root-password-1');
    await page.goto(`${s.url}/admin/users/${id}`);
    await page.locator('h1', { hasText: '(2024)' }).waitFor();
    // Without isolation the Arabic name and the digits after it form one right-to-left run, which
    // draws the English layout's "(2024)" to the left of the name.
    const [name, username] = await page.evaluate(`(() => {
      const h1 = document.querySelector('h1');
      const rect = (text) => {
        const walker = document.createTreeWalker(h1, NodeFilter.SHOW_TEXT);
        for (let t; (t = walker.nextNode());) {
          const at = t.textContent.indexOf(text);
          if (at < 0) continue;
          const r = document.createRange();
          r.setStart(t, at);
          r.setEnd(t, at + text.length);
          const b = r.getBoundingClientRect();
          return { left: b.left, right: b.right };
        }
        throw new Error(text + ' not in the h1');
      };
      return [rect('سارة'), rect('2024')];
    })()`) as Array<{ left: number; right: number }>;
    assert.ok(username!.left >= name!.right, `the username (${username!.left}..${username!.right}) is drawn after the name (${name!.left}..${name!.right})`);
    assert.equal((await page.title()).replace(/[\u2068\u2069]/g, ''), 'سارة (2024) · Warden', 'the title names the user (its names isolated)');
    await page.context().close();
  });

  it('the pages a mail\'s link lands on have a main landmark holding their heading', async () => {
    // Screen-reader users move by landmarks; the console's pages have one, the links' pages too.
    const page = await newPage();
    for (const path of ['/api/v1/auth/password/reset?token=x', '/api/v1/auth/verify/confirm?token=x', '/api/v1/auth/email/confirm?token=x']) {
      await page.goto(`${s.url}${path}`);
      const nodes = await axTree(page);
      const main = nodes.filter((n) => !n.ignored && n.role?.value === 'main');
      assert.equal(main.length, 1, `${path}: one main landmark`);
      assert.equal(await page.locator('main h1').count(), 1, `${path}: its heading inside it`);
    }
    await page.context().close();
  });
});
