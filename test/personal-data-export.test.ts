// The right of access: GET /api/v1/auth/me/export (the user) and GET /api/v1/users/{id}/export (an
// administrator) answer everything Warden holds about the account, as JSON, and no secret: the
// profile, every session row (an ended one too) with its IP and user agent, the authenticator app
// and the recovery codes left (not the secret, not the hashes), the mailed links (not the token),
// the devices remembered for notices, the mails waiting for the address, and the events about the
// user or by them. Over HTTP, SQLite, a real SMTP server that refuses for now (mails stay pending).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { openSqlite, prepare } from '../src/storage/sqlite-driver.js';
import { call, startServer, type Running } from './helpers/server.js';
import { startSmtp, type TestSmtp } from './helpers/smtp.js';
import { codeAt, fromBase32 } from './helpers/totp.js';

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
const from = (ip: string, ua: string) => ({ 'x-forwarded-for': ip, 'user-agent': ua });

describe('personal data export', () => {
  let s: Running;
  let smtp: TestSmtp;
  before(async () => {
    smtp = await startSmtp();
    smtp.mode = 'refuse';
    s = await startServer({
      TRUST_PROXY: '1', SMTP_URL: smtp.url, SMTP_REQUIRE_TLS: 'true', SMTP_TLS_CA_FILE: smtp.caFile, MAIL_FROM: 'Warden <no-reply@warden.test>',
      APP_URL: 'https://auth.example.test', MAIL_LIMIT_PER_ADDRESS: '0', MAIL_LIMIT_PER_IP: '0',
    });
  });
  after(async () => {
    await s.close();
    await smtp.close();
  });

  it('answers the account, sessions with addresses and agents, factors without secrets, links, pending mails and events; an administrator the same for anyone', async () => {
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'root', email: 'root@example.com', password: 'root-password-1', roles: ['admin'] } })).status, 201);
    const admin = (await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: 'root-password-1' }, headers: from('192.0.2.1', 'AdminBrowser') })).json.data.access_token as string;
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'dora', email: 'dora@example.com', password: 'dora-password-1', full_name: 'Dora Export' } })).status, 201);
    const first = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'dora', password: 'dora-password-1' }, headers: from('198.51.100.7', 'DoraPhone/1') });
    const second = await call(`${s.url}/api/v1/auth/login`, { form: { username: 'dora', password: 'dora-password-1' }, headers: from('203.0.113.9', 'DoraLaptop/2') });
    const token = second.json.data.access_token as string;
    assert.equal((await call(`${s.url}/api/v1/auth/logout?scope=local`, { method: 'POST', headers: bearer(first.json.data.access_token) })).status, 200);
    const enrol = await call(`${s.url}/api/v1/auth/mfa/totp`, { method: 'POST', headers: bearer(token) });
    const secret = enrol.json.data.secret as string;
    const confirmed = await call(`${s.url}/api/v1/auth/mfa/totp/confirm`, { json: { code: codeAt(fromBase32(secret), Math.floor(Date.now() / 1000)) }, headers: bearer(token) });
    assert.equal(confirmed.status, 200, confirmed.text);
    const id = (await s.warden.storage.users.findByLogin('dora'))!.id;
    assert.equal((await call(`${s.url}/api/v1/users/${id}`, { method: 'PATCH', json: { roles: ['user', 'editor'] }, headers: { ...bearer(admin), ...from('192.0.2.1', 'AdminBrowser') } })).status, 200);

    const r = await call(`${s.url}/api/v1/auth/me/export`, { headers: bearer(token) });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.match(r.headers.get('content-disposition') ?? '', /^attachment; filename="warden-account\.json"$/);
    assert.equal(r.json.message, 'Account data exported');
    const d = r.json.data;
    assert.deepEqual([d.user.id, d.user.username, d.user.email, d.user.full_name, d.user.roles, d.user.legacy_id, d.user.password], [id, 'dora', 'dora@example.com', 'Dora Export', ['user', 'editor'], null, { set: true, legacy: false }]);
    assert.deepEqual(d.sessions.map((x: any) => [x.ip, x.user_agent, x.ended_at !== null, x.end_reason]), [['203.0.113.9', 'DoraLaptop/2', false, null], ['198.51.100.7', 'DoraPhone/1', true, 'logout']]);
    assert.equal(d.second_factors.totp.length, 1);
    assert.ok(d.second_factors.totp[0].confirmed_at);
    assert.equal(d.second_factors.recovery_codes_remaining, 10);
    assert.deepEqual(d.email_links.map((l: any) => [l.purpose, l.email]), [['verify', 'dora@example.com']], 'the sign-up\'s verification link, not its token');
    assert.deepEqual(d.sign_in_devices.length, 2, 'the two browsers remembered for new-sign-in notices');
    assert.ok(d.pending_mails.some((m: any) => m.template === 'verify-email'), JSON.stringify(d.pending_mails));
    const types = d.events.map((e: any) => e.type);
    for (const t of ['user.created', 'signin.succeeded', 'signout', 'mfa.enrolled', 'user.roles_changed']) assert.ok(types.includes(t), `${t} in ${types.join(',')}`);
    const byAdmin = d.events.find((e: any) => e.type === 'user.roles_changed');
    assert.deepEqual([byAdmin.ip, byAdmin.user_agent], [null, null], 'the administrator\'s address is the administrator\'s');
    assert.ok(d.events.some((e: any) => e.ip === '203.0.113.9'), 'the user\'s own addresses');

    // Nothing secret: no password hash, sealed secret, recovery code hash, token hash or TOTP secret.
    const db = openSqlite(s.config.storage.databaseUrl.replace(/^sqlite:/, ''), { readonly: true });
    const secrets = [
      ...(prepare(db, 'SELECT password_hash AS v FROM users WHERE id = ?').all(id) as { v: string }[]),
      ...(prepare(db, 'SELECT sealed_secret AS v FROM totp_factors WHERE user_id = ?').all(id) as { v: string }[]),
      ...(prepare(db, 'SELECT code_hash AS v FROM recovery_codes WHERE user_id = ?').all(id) as { v: string }[]),
      ...(prepare(db, 'SELECT hash AS v FROM email_tokens WHERE user_id = ?').all(id) as { v: string }[]),
      ...(prepare(db, 'SELECT device AS v FROM sign_in_devices WHERE user_id = ?').all(id) as { v: string }[]),
      ...(prepare(db, 'SELECT refresh_jti AS v FROM sessions WHERE user_id = ?').all(id) as { v: string }[]),
    ].map((x) => x.v);
    db.close();
    assert.ok(secrets.length >= 17);
    for (const v of [...secrets, secret]) assert.ok(!r.text.includes(v), 'a secret in the export');

    // An administrator's export of the user: the same, their own address included in the event.
    const a = await call(`${s.url}/api/v1/users/${id}/export`, { headers: bearer(admin) });
    assert.equal(a.status, 200, a.text);
    assert.equal(a.json.data.user.id, id);
    assert.deepEqual(a.json.data.sessions, d.sessions);
    assert.equal(a.json.data.events.find((e: any) => e.type === 'user.roles_changed').ip, '192.0.2.1');
    // Another user's token, an unknown id.
    assert.equal((await call(`${s.url}/api/v1/users/${id}/export`, { headers: bearer(token) })).status, 403);
    const unknown = await call(`${s.url}/api/v1/users/00000000-0000-4000-8000-000000000000/export`, { headers: bearer(admin) });
    assert.deepEqual([unknown.status, unknown.json.code], [404, 'ERR_USER_NOT_FOUND']);
    assert.equal((await call(`${s.url}/api/v1/auth/me/export`)).status, 401);
  });

  it('writes the events a page at a time, those about the user and those by them merged newest first, each once: a user\'s own refreshes add thousands an hour', async () => {
    assert.equal((await call(`${s.url}/api/v1/auth/signup`, { json: { username: 'evie', email: 'evie@example.com', password: 'evie-password-1' } })).status, 201);
    const token = (await call(`${s.url}/api/v1/auth/login`, { form: { username: 'evie', password: 'evie-password-1' } })).json.data.access_token as string;
    const evie = (await s.warden.storage.users.findByLogin('evie'))!.id;
    const other = (await s.warden.storage.users.findByLogin('root'))!.id;
    // 2,600 events an hour back, beyond two of the export's pages: about her from nobody, by her
    // about herself (in both listings), by her about another account; one second apart, interleaved.
    const start = Date.now() - 3_600_000;
    const made = Array.from({ length: 2600 }, (_, i) => {
      const [actorId, userId] = i % 3 === 0 ? [null, evie] : i % 3 === 1 ? [evie, evie] : [evie, other];
      return {
        id: randomUUID(), time: start + i * 1000, type: 'session.refreshed' as const, outcome: 'success' as const, actorId, userId,
        sessionId: null, ip: '198.51.100.7', userAgent: 'EvieBrowser/1', details: {}, deliverTo: [],
      };
    });
    for (let i = 0; i < made.length; i += 500) await s.warden.storage.events.append(made.slice(i, i + 500));
    const r = await fetch(`${s.url}/api/v1/auth/me/export`, { headers: bearer(token) });
    assert.equal(r.status, 200);
    // Written as it is read, not built whole first (200,000 events took 820 MB so).
    assert.equal(r.headers.get('content-length'), null);
    assert.equal(r.headers.get('transfer-encoding'), 'chunked');
    const d = (JSON.parse(await r.text()) as { data: { events: { id: string; time: string }[]; user: { id: string } } }).data;
    assert.equal(d.user.id, evie);
    const ids = d.events.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'each event once');
    for (const e of made) assert.ok(ids.includes(e.id), 'every event made');
    assert.equal(ids.length, made.length + 2, 'and her sign-up and sign-in');
    const times = d.events.map((e) => Date.parse(e.time));
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first');
    const a = await fetch(`${s.url}/api/v1/users/${evie}/export`, { headers: bearer((await call(`${s.url}/api/v1/auth/login`, { form: { username: 'root', password: 'root-password-1' } })).json.data.access_token) });
    assert.equal(a.status, 200);
    assert.equal(a.headers.get('content-length'), null);
    assert.equal((JSON.parse(await a.text()) as { data: { events: unknown[] } }).data.events.length, made.length + 2);
  });
});
