// The console's pages over HTTP: shells with a strict CSP, their assets, and the switches that turn
// the console (or only its admin part) off. What the pages do in a browser is test/console-browser.test.ts.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { STATIC_DIR } from '../src/console/assets.js';
import { call, startServer, type Running } from './helpers/server.js';

const PAGES = ['/account', '/account/signin', '/account/forgot', '/account/reset?token=abc', '/admin', '/admin/users', '/admin/users/new', '/admin/users/invite', '/admin/users/some-id', '/admin/audit'];

describe('console pages', () => {
  let s: Running;
  before(async () => { s = await startServer({ DATABASE_URL: 'memory:' }); });
  after(async () => { await s?.close(); });

  it('serves every page as HTML with a CSP that allows no inline script, no eval and no framing', async () => {
    for (const path of PAGES) {
      const r = await call(`${s.url}${path}`);
      assert.equal(r.status, 200, path);
      assert.match(r.headers.get('content-type')!, /^text\/html/);
      const csp = r.headers.get('content-security-policy')!;
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(r.headers.get('x-frame-options'), 'DENY');
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.doesNotMatch(r.text, /<script(?![^>]*\bsrc=)/, `${path}: no inline script`);
      assert.doesNotMatch(r.text, /\sstyle=|\son[a-z]+=/i, `${path}: no inline style or handler`);
      assert.equal([...r.text.matchAll(/<script type="module" src="\/console\/static\/(account|admin)\.js"><\/script>/g)].length, 1, `${path}: one module`);
    }
  });

  it('puts the settings the script needs in data attributes and escapes what the address brings', async () => {
    const r = await call(`${s.url}/account/reset?token=${encodeURIComponent('"><script>alert(1)</script>')}`);
    assert.doesNotMatch(r.text, /<script>alert/);
    assert.match(r.text, /value="&quot;&gt;&lt;script&gt;alert\(1\)&lt;\/script&gt;"/);
    assert.match(r.text, /data-csrf-cookie="csrf_access_token"/);
    assert.match(r.text, /data-csrf-header="X-CSRF-TOKEN"/);
    const user = await call(`${s.url}/admin/users/${encodeURIComponent('<b>')}`);
    assert.match(user.text, /data-user-id="&lt;b&gt;"/);
  });

  it('labels every input and gives it an error slot', async () => {
    for (const path of PAGES) {
      const { text } = await call(`${s.url}${path}`);
      for (const m of text.matchAll(/<(input|select) id="([^"]+)"[^>]*>/g)) {
        assert.ok(text.includes(`<label for="${m[2]}">`), `${path}: #${m[2]} has a label`);
        assert.ok(text.includes(`id="${m[2]}-error"`), `${path}: #${m[2]} has an error slot`);
      }
    }
  });

  it('serves each static file with its type and an ETag, 304 when unchanged, 404 for anything else', async () => {
    for (const name of readdirSync(STATIC_DIR)) {
      const r = await call(`${s.url}/console/static/${name}`);
      assert.equal(r.status, 200, name);
      assert.match(r.headers.get('content-type')!, name.endsWith('.js') ? /^text\/javascript/ : /^text\/css/);
      const again = await call(`${s.url}/console/static/${name}`, { headers: { 'if-none-match': r.headers.get('etag')! } });
      assert.equal(again.status, 304);
    }
    for (const bad of ['nope.js', '..%2fassets.ts', '%2e%2e%2f%2e%2e%2fpackage.json', 'api.js%00']) {
      assert.equal((await call(`${s.url}/console/static/${bad}`)).status, 404, bad);
    }
  });

  it('leaves the API documentation without console routes', async () => {
    const doc = (await call(`${s.url}/openapi.json`)).json;
    assert.deepEqual(Object.keys(doc.paths).filter((p) => p.startsWith('/account') || p.startsWith('/admin') || p.startsWith('/console')), []);
  });
});

describe('console switches', () => {
  it('ADMIN_CONSOLE_ENABLED=false keeps /account and removes /admin', async () => {
    const s = await startServer({ DATABASE_URL: 'memory:', ADMIN_CONSOLE_ENABLED: 'false' });
    try {
      assert.equal((await call(`${s.url}/account`)).status, 200);
      assert.doesNotMatch((await call(`${s.url}/account`)).text, /href="\/admin"/);
      for (const path of ['/admin', '/admin/users', '/admin/users/new', '/admin/users/invite', '/admin/users/x', '/admin/audit', '/console/static/admin.js']) assert.equal((await call(`${s.url}${path}`)).status, 404, path);
      for (const path of ['/console/static/account.js', '/console/static/api.js']) assert.equal((await call(`${s.url}${path}`)).status, 200, path);
    } finally {
      await s.close();
    }
  });

  it('CONSOLE_ENABLED=false serves no page and no asset', async () => {
    const s = await startServer({ DATABASE_URL: 'memory:', CONSOLE_ENABLED: 'false' });
    try {
      for (const path of [...PAGES, '/console/static/api.js']) assert.equal((await call(`${s.url}${path}`)).status, 404, path);
      assert.equal((await call(`${s.url}/health`)).status, 200);
    } finally {
      await s.close();
    }
  });
});
