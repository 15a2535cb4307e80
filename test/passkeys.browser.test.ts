// Passkeys in a real browser: Debian's Chromium (playwright-core) with a virtual authenticator added
// through the DevTools Protocol (WebAuthn.enable, WebAuthn.addVirtualAuthenticator: CTAP2, internal,
// resident keys, user verification). A small page served by the test's server on http://localhost
// (a secure context; RP ID "localhost") registers a passkey, signs in with it alone, and uses it
// as the second factor after a password. Replayed assertions and a counter that did not move
// forward are refused; the owner removes it. Then the JSON exactly as WebAuthn Level 3's
// credential.toJSON() writes it (publicKeyAlgorithm, publicKey, authenticatorData, transports...)
// registers and signs in; a member of the wrong type is refused and changes nothing.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { call, startServer, type Running } from './helpers/server.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} not found (apt-get install chromium): passkey browser test not run`;

// The browser's side of the ceremonies, written against WebAuthn Level 2 (ArrayBuffers converted
// to and from base64url by hand, so no Level 3 JSON helpers are needed).
const PAGE = `<!doctype html><html><body><script>
  const dec = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4)), (c) => c.charCodeAt(0)).buffer;
  const enc = (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
  const creation = (o) => ({ ...o, challenge: dec(o.challenge), user: { ...o.user, id: dec(o.user.id) },
    excludeCredentials: (o.excludeCredentials || []).map((c) => ({ ...c, id: dec(c.id) })) });
  const request = (o) => ({ ...o, challenge: dec(o.challenge), allowCredentials: (o.allowCredentials || []).map((c) => ({ ...c, id: dec(c.id) })) });
  const asJson = (c) => {
    const r = c.response;
    const response = { clientDataJSON: enc(r.clientDataJSON) };
    if (r.attestationObject) Object.assign(response, { attestationObject: enc(r.attestationObject), transports: r.getTransports ? r.getTransports() : [] });
    if (r.authenticatorData) Object.assign(response, { authenticatorData: enc(r.authenticatorData), signature: enc(r.signature) });
    if (r.userHandle) response.userHandle = enc(r.userHandle);
    return { id: c.id, rawId: enc(c.rawId), type: c.type, response, clientExtensionResults: c.getClientExtensionResults(), authenticatorAttachment: c.authenticatorAttachment };
  };
  const post = async (path, body, headers = {}) => {
    const r = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body ?? {}) });
    return { status: r.status, body: await r.json() };
  };
  window.post = post;
  window.register = async (access) => {
    const auth = { authorization: 'Bearer ' + access };
    const options = await post('/api/v1/auth/mfa/passkeys/options', {}, auth);
    const credential = await navigator.credentials.create({ publicKey: creation(options.body.data) });
    return post('/api/v1/auth/mfa/passkeys', { response: asJson(credential), name: 'virtual authenticator' }, auth);
  };
  window.passwordless = async () => {
    const options = await post('/api/v1/auth/passkey/options');
    const assertion = asJson(await navigator.credentials.get({ publicKey: request(options.body.data) }));
    return { ...(await post('/api/v1/auth/passkey/login', { response: assertion })), assertion, options: options.body.data };
  };
  window.secondFactor = async (mfaToken) => {
    const options = await post('/api/v1/auth/mfa/webauthn/options', { mfa_token: mfaToken });
    const assertion = asJson(await navigator.credentials.get({ publicKey: request(options.body.data) }));
    return { ...(await post('/api/v1/auth/mfa/verify', { mfa_token: mfaToken, webauthn: assertion })), options: options.body.data };
  };
  // Level 3: the browser's own JSON helpers, its toJSON() sent as it is (but for the wrong copy).
  window.registerAsJson = async (access) => {
    const auth = { authorization: 'Bearer ' + access };
    const options = await post('/api/v1/auth/mfa/passkeys/options', {}, auth);
    const json = (await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.body.data) })).toJSON();
    const wrong = structuredClone(json);
    wrong.response.publicKeyAlgorithm = String(json.response.publicKeyAlgorithm);
    const refused = await post('/api/v1/auth/mfa/passkeys', { response: wrong }, auth);
    return { refused, accepted: await post('/api/v1/auth/mfa/passkeys', { response: json, name: 'as JSON' }, auth), json };
  };
  // One ceremony posted with each name in turn, until one is taken (those refused used nothing up).
  window.registerNamed = async (access, names) => {
    const auth = { authorization: 'Bearer ' + access };
    const options = await post('/api/v1/auth/mfa/passkeys/options', {}, auth);
    const json = (await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options.body.data) })).toJSON();
    const answers = [];
    for (const name of names) answers.push(await post('/api/v1/auth/mfa/passkeys', { response: json, name }, auth));
    return answers;
  };
  window.secondFactorAsJson = async (mfaToken) => {
    const options = await post('/api/v1/auth/mfa/webauthn/options', { mfa_token: mfaToken });
    const json = (await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options.body.data) })).toJSON();
    return { ...(await post('/api/v1/auth/mfa/verify', { mfa_token: mfaToken, webauthn: json })), json };
  };
</script></body></html>`;

type Result = { status: number; body: any; assertion?: unknown; options?: any };
const claims = (token: string) => JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('browser: passkeys in Chromium with a virtual authenticator', { skip }, () => {
  let s: Running;
  let context: BrowserContext;
  let page: Page;
  let profile: string;
  let authenticatorId: string;
  const run = <T = Result>(fn: string, ...args: unknown[]): Promise<T> =>
    page.evaluate(([name, a]) => (window as unknown as Record<string, (...x: unknown[]) => Promise<unknown>>)[name as string]!(...(a as unknown[])), [fn, args] as const) as Promise<T>;

  before(async () => {
    const port = await freePort();
    s = await startServer({ WEBAUTHN_RP_ID: 'localhost', WEBAUTHN_ORIGINS: `http://localhost:${port}` }, {
      port,
      routes: (app) => app.get('/passkey-page', { schema: { hide: true } }, (_req, reply) => void reply.type('text/html').send(PAGE)),
    });
    profile = mkdtempSync(join(tmpdir(), 'warden-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = context.pages()[0] ?? (await context.newPage());
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    ({ authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    }));
    await page.goto(`http://localhost:${port}/passkey-page`);
  });
  after(async () => {
    await context?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
    await s?.close();
  });

  it('registers a passkey, signs in with it alone, uses it after a password, refuses replays and a cloned counter, and lets its owner remove it', async () => {
    const signup = await call(`${s.url}/api/auth/signup`, { json: { username: 'pat', email: 'pat@example.com', password: 'password-123' } });
    assert.equal(signup.status, 201);
    const first = await call(`${s.url}/api/auth/signin`, { json: { username: 'pat', password: 'password-123' } });
    assert.equal(first.status, 200);

    // Registration, with a fresh token: the first factor comes with recovery codes.
    const reg = await run('register', first.json.access_token);
    assert.equal(reg.status, 201, JSON.stringify(reg.body));
    assert.equal(reg.body.data.recovery_codes.length, 10);
    assert.deepEqual([reg.body.data.passkey.type, reg.body.data.passkey.name, reg.body.data.passkey.device_type], ['webauthn', 'virtual authenticator', 'singleDevice']);
    const credentialId = reg.body.data.passkey.id as string;
    const cdp = await context.newCDPSession(page);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    assert.equal(credentials.length, 1);
    assert.equal(credentials[0]!.isResidentCredential, true, 'a discoverable credential');
    assert.equal(Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url'), credentialId);

    // Passwordless: a discoverable passkey with user verification is two factors.
    const alone = await run('passwordless');
    assert.equal(alone.status, 200, JSON.stringify(alone.body));
    assert.deepEqual(alone.options.allowCredentials ?? [], [], 'no hint of which accounts exist');
    assert.equal(alone.options.userVerification, 'required');
    const aloneClaims = claims(alone.body.data.access_token);
    assert.deepEqual([aloneClaims.amr, aloneClaims.acr, aloneClaims.fresh], [['hwk', 'mfa'], 'aal2', true]);
    assert.equal(aloneClaims.sub, signup.json.id);
    const stored = await s.warden.storage.factors.getPasskey(credentialId);
    assert.ok(stored && stored.signCount > 0, 'the counter the authenticator reported is kept');

    // The same assertion again: its challenge was used.
    const replay = await run('post', '/api/v1/auth/passkey/login', { response: alone.assertion });
    assert.deepEqual([replay.status, replay.body.code], [401, 'ERR_PASSKEY_INVALID']);

    // As the second factor after a password.
    const password = await call(`${s.url}/api/auth/signin`, { json: { username: 'pat', password: 'password-123' } });
    assert.equal(password.json.mfa_required, true);
    assert.deepEqual(password.json.methods, ['webauthn', 'recovery_code']);
    const second = await run('secondFactor', password.json.mfa_token);
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.deepEqual(second.options.allowCredentials.map((c: { id: string }) => c.id), [credentialId]);
    const strong = second.body.data.access_token as string;
    assert.deepEqual([claims(strong).amr, claims(strong).acr], [['pwd', 'hwk', 'mfa'], 'aal2']);
    const listed = await call(`${s.url}/api/v1/auth/mfa/factors`, { headers: { authorization: `Bearer ${strong}` } });
    assert.deepEqual(listed.json.data.factors.map((f: { id: string }) => f.id), [credentialId]);

    // A counter behind the stored one means a cloned authenticator: refused.
    const now = (await s.warden.storage.factors.getPasskey(credentialId))!;
    assert.ok(await s.warden.storage.factors.usePasskey(credentialId, now.signCount, now.signCount + 1000, now.backedUp, Date.now()));
    const clone = await run('passwordless');
    assert.deepEqual([clone.status, clone.body.code], [401, 'ERR_PASSKEY_INVALID']);

    // The owner removes it (fresh token with a second factor); it no longer signs in.
    const removed = await call(`${s.url}/api/v1/auth/mfa/factors/${credentialId}`, { method: 'DELETE', headers: { authorization: `Bearer ${strong}` } });
    assert.equal(removed.status, 200);
    await s.warden.storage.factors.getPasskey(credentialId).then((p) => assert.equal(p, null));
    const gone = await run('passwordless');
    assert.deepEqual([gone.status, gone.body.code], [401, 'ERR_PASSKEY_INVALID']);
    assert.equal((await call(`${s.url}/api/auth/signin`, { json: { username: 'pat', password: 'password-123' } })).json.mfa_required, undefined);
  });

  it('takes credential.toJSON() as the browser writes it (WebAuthn Level 3); a member of the wrong type is a 422 that uses nothing up', async () => {
    assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'quinn', email: 'quinn@example.com', password: 'password-123' } })).status, 201);
    const fresh = (await call(`${s.url}/api/auth/signin`, { json: { username: 'quinn', password: 'password-123' } })).json.access_token as string;
    const reg = await run<{ refused: Result; accepted: Result; json: any }>('registerAsJson', fresh);
    // What Chromium's toJSON() adds beyond Level 2's members is all there, and taken.
    assert.deepEqual(Object.keys(reg.json.response).sort(), ['attestationObject', 'authenticatorData', 'clientDataJSON', 'publicKey', 'publicKeyAlgorithm', 'transports']);
    assert.equal(typeof reg.json.response.publicKeyAlgorithm, 'number');
    assert.deepEqual([reg.refused.status, reg.refused.body.code, reg.refused.body.field], [422, 'ERR_VALIDATION', 'response'], JSON.stringify(reg.refused.body));
    assert.match(reg.refused.body.message, /response\.publicKeyAlgorithm: must be an integer/);
    assert.equal(reg.accepted.status, 201, JSON.stringify(reg.accepted.body));
    assert.equal(reg.accepted.body.data.passkey.name, 'as JSON');

    const password = await call(`${s.url}/api/auth/signin`, { json: { username: 'quinn', password: 'password-123' } });
    const second = await run<Result & { json: any }>('secondFactorAsJson', password.json.mfa_token);
    assert.ok('authenticatorAttachment' in second.json && 'clientExtensionResults' in second.json, Object.keys(second.json).join());
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.deepEqual(claims(second.body.data.access_token).amr, ['pwd', 'hwk', 'mfa']);
  });

  it('a passkey name holding NUL, another control character or a bidirectional override is a 422 naming it, before the ceremony is used', async () => {
    // PostgreSQL text cannot hold NUL: such a name was a 500 there (and stored as sent on SQLite).
    assert.equal((await call(`${s.url}/api/auth/signup`, { json: { username: 'nell', email: 'nell@example.com', password: 'password-123' } })).status, 201);
    const fresh = (await call(`${s.url}/api/auth/signin`, { json: { username: 'nell', password: 'password-123' } })).json.access_token as string;
    // An override makes a label read otherwise than written in the list of passkeys, as a full name would.
    const [nul, bell, bidi, good] = await run<Result[]>('registerNamed', fresh, ['my\u0000key', 'my\u0007key', 'my\u202eyek', '  my key  ']);
    for (const r of [nul!, bell!, bidi!]) assert.deepEqual([r.status, r.body.code, r.body.field], [422, 'ERR_VALIDATION', 'name'], JSON.stringify(r.body));
    assert.equal(good!.status, 201, JSON.stringify(good!.body));
    assert.equal(good!.body.data.passkey.name, 'my key');
  });
});
