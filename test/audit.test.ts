// The audit log over HTTP, on SQLite and PostgreSQL: GET /api/v1/audit (administrators; filters
// type, actor, user, from, to; cursor paging), GET /api/v1/auth/events (one's own), the retention
// purge, and what each refuses.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseIsoTime } from '../src/events/audit.js';
import { purgeOldEvents } from '../src/events/retention.js';
import type { Storage } from '../src/storage/index.js';
import { testClock } from './helpers/clock.js';
import { call, startServer, type Running } from './helpers/server.js';
import { storageFactories } from './helpers/storage.js';

const PASSWORD = 'password-123';
const DAY = 86_400_000;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
type Item = { id: string; time: string; type: string; actor_id: string | null; user_id: string | null; ip: string | null; user_agent: string | null; details: Record<string, unknown> };

for (const f of (await storageFactories()).filter((x) => x.name !== 'memory')) {
  describe(`audit log over HTTP (${f.name})`, f.skip !== undefined ? { skip: f.skip } : {}, () => {
    let s: Running;
    let storage: Storage;
    let v1: string;
    const clock = testClock(Date.UTC(2030, 0, 1));
    const ids: Record<string, string> = {};
    let adminToken: string;
    let carolToken: string;

    /** A token for a user, minted with Warden's own issuer (no sign-in, so no event). */
    const tokenFor = async (name: string) => {
      const { createTokenIssuer } = await import('@warden/toolkit');
      const issuer = createTokenIssuer({ keys: s.warden.keys, accessExpiresIn: 600, refreshExpiresIn: 3600, clock });
      return issuer.createAccessToken(ids[name]!, { additionalClaims: { roles: ['user'] } });
    };
    const login = async (email: string, password = PASSWORD) => {
      const r = await call(`${v1}/auth/login`, { form: { username: email, password } });
      return r.status === 200 ? (r.json.data.access_token as string) : '';
    };
    const audit = (query: string, token = adminToken) => call(`${v1}/audit${query}`, { headers: bearer(token) });
    /** Every page of a listing, following next_cursor. */
    const pages = async (path: string, token: string): Promise<Item[][]> => {
      const out: Item[][] = [];
      let cursor: string | null = null;
      do {
        const r = await call(`${v1}${path}${path.includes('?') ? '&' : '?'}limit=3${cursor ? `&cursor=${cursor}` : ''}`, { headers: bearer(token) });
        assert.equal(r.status, 200, JSON.stringify(r.json));
        out.push(r.json.data.items);
        cursor = r.json.data.next_cursor;
      } while (cursor !== null);
      return out;
    };

    before(async () => {
      storage = await f.create({ clock });
      s = await startServer({}, { storage, clock });
      v1 = `${s.url}/api/v1`;
      // Day 0: the admin and carol sign up; day 1: carol signs in and fails once; day 2: the admin changes her roles.
      for (const [name, roles] of [['boss', ['admin']], ['carol', undefined]] as const) {
        const r = await call(`${v1}/auth/signup`, { json: { username: name, email: `${name}@example.com`, password: PASSWORD, roles } });
        ids[name] = r.json.data.id;
      }
      clock.advance(DAY);
      assert.ok(await login('carol@example.com'));
      assert.equal(await login('carol@example.com', 'wrong-password'), '');
      clock.advance(DAY);
      adminToken = await login('boss@example.com');
      const r = await call(`${v1}/users/${ids.carol}`, { method: 'PATCH', json: { roles: ['user', 'editor'] }, headers: bearer(adminToken) });
      assert.equal(r.status, 200);
      // Her token for the tests: read directly, so that signing in adds no event.
      carolToken = await tokenFor('carol');
    });
    after(async () => {
      await s.close();
      await storage.close();
      await f.cleanup();
    });

    it('lists every event newest first, and pages by cursor through all of them exactly once', async () => {
      const all = (await audit('?limit=100')).json.data;
      assert.equal(all.next_cursor, null);
      assert.deepEqual(all.items.map((e: Item) => e.type), [
        'user.roles_changed', 'signin.succeeded', 'signin.failed', 'signin.succeeded', 'user.created', 'user.created',
      ]);
      const paged = await pages('/audit', adminToken);
      assert.deepEqual(paged.map((p) => p.length), [3, 3]);
      assert.deepEqual(paged.flat().map((e) => e.id), all.items.map((e: Item) => e.id));
      const times = all.items.map((e: Item) => Date.parse(e.time));
      assert.deepEqual(times, [...times].sort((a, b) => b - a));
    });

    it('filters: type (one or several), actor, user, time range; combined, and with paging', async () => {
      const typesOf = async (q: string) => ((await audit(q)).json.data.items as Item[]).map((e) => e.type);
      assert.deepEqual(await typesOf('?type=signin.failed'), ['signin.failed']);
      assert.deepEqual(await typesOf('?type=signin.failed,user.roles_changed'), ['user.roles_changed', 'signin.failed']);
      // A family, as WEBHOOK_URLS filters take them: every signin.* event, nothing else.
      const all = await typesOf('');
      assert.deepEqual(await typesOf('?type=signin.*'), all.filter((t) => t.startsWith('signin.')));
      assert.ok((await typesOf('?type=signin.*')).length >= 2);
      assert.deepEqual(await typesOf('?type=signin.*,signin.failed'), all.filter((t) => t.startsWith('signin.')), 'a type its family holds counts once');
      assert.deepEqual(await typesOf(`?actor=${ids.boss}`), ['user.roles_changed', 'signin.succeeded', 'user.created']);
      assert.deepEqual(await typesOf(`?user=${ids.carol}`), ['user.roles_changed', 'signin.failed', 'signin.succeeded', 'user.created']);
      // A username or an email names the user too, as `warden audit --user` takes them (the console passes them on).
      assert.deepEqual(await typesOf('?user=carol'), await typesOf(`?user=${ids.carol}`));
      assert.deepEqual(await typesOf('?user=Carol%40Example.com&actor=boss'), ['user.roles_changed']);
      const nobody = await audit('?user=nobody');
      assert.equal(nobody.status, 422);
      assert.match(nobody.json.message, /names no user/);
      const day1 = new Date(Date.UTC(2030, 0, 2)).toISOString();
      const day2 = new Date(Date.UTC(2030, 0, 3)).toISOString();
      assert.deepEqual(await typesOf(`?from=${day1}&to=${day2}`), ['signin.failed', 'signin.succeeded']);
      assert.deepEqual(await typesOf(`?from=${day2}`), ['user.roles_changed', 'signin.succeeded']);
      assert.deepEqual(await typesOf(`?to=${day1}`), ['user.created', 'user.created']);
      assert.deepEqual(await typesOf(`?user=${ids.carol}&type=signin.succeeded,signin.failed&from=2030-01-02`), ['signin.failed', 'signin.succeeded']);
      const paged = await pages(`/audit?user=${ids.carol}`, adminToken);
      assert.deepEqual(paged.map((p) => p.map((e) => e.type)), [['user.roles_changed', 'signin.failed', 'signin.succeeded'], ['user.created']]);
      const roles = (await audit('?type=user.roles_changed')).json.data.items[0] as Item;
      assert.equal(roles.actor_id, ids.boss);
      assert.equal(roles.user_id, ids.carol);
      assert.deepEqual(roles.details, { from: ['user'], to: ['user', 'editor'] });
    });

    it('a user reads their own events only, newest first, paged', async () => {
      const r = await call(`${v1}/auth/events`, { headers: bearer(carolToken) });
      assert.equal(r.status, 200);
      const items = r.json.data.items as Item[];
      assert.deepEqual(items.map((e) => e.type), ['user.roles_changed', 'signin.failed', 'signin.succeeded', 'user.created']);
      assert.ok(items.every((e) => e.user_id === ids.carol));
      assert.deepEqual((await pages('/auth/events', carolToken)).flat().map((e) => e.id), items.map((e) => e.id));
      // What the administrator did shows who did it, not the administrator's address and browser.
      const [byAdmin] = items;
      assert.equal(byAdmin!.actor_id, ids.boss);
      assert.deepEqual([byAdmin!.ip, byAdmin!.user_agent], [null, null]);
      const inAudit = ((await audit('?type=user.roles_changed')).json.data.items as Item[])[0]!;
      assert.equal(inAudit.ip, '127.0.0.1', 'the audit log keeps them');
      assert.equal(items.find((e) => e.type === 'signin.failed')!.ip, '127.0.0.1', 'her own attempts keep theirs');
    });

    it('refuses: a non-administrator (403), no token (401), bad filters and cursors (422), and changes nothing', async () => {
      assert.equal((await audit('', carolToken)).status, 403);
      assert.equal((await call(`${v1}/audit`)).status, 401);
      assert.equal((await call(`${v1}/auth/events`)).status, 401);
      for (const q of ['?type=no.such.type', '?type=nosuch.*', '?type=*', '?limit=0', '?limit=101', '?limit=abc', '?from=yesterday', '?to=2030-13-45T99:00:00Z', '?from=2026-02-31', '?to=2027-02-29T10:00:00Z', '?cursor=bm9wZQ', '?cursor=%00', '?actor=a%20b', '?user=%00', '?actor=a%00b%40x', '?type=a&type=b', '?offset=50']) {
        const r = await audit(q);
        assert.equal(r.status, 422, `${q}: ${r.status} ${JSON.stringify(r.json)}`);
        assert.equal(r.json.code, 'ERR_VALIDATION');
        assert.ok(typeof r.json.message === 'string' && r.json.message.length > 0);
      }
      assert.equal((await call(`${v1}/auth/events?cursor=xyz`, { headers: bearer(carolToken) })).status, 422);
      assert.equal((await call(`${v1}/webhooks/deliveries?state=lost`, { headers: bearer(adminToken) })).status, 422);
      assert.equal((await call(`${v1}/webhooks/deliveries`, { headers: bearer(carolToken) })).status, 403);
    });

    it('retention: events older than AUDIT_RETENTION_DAYS go, in batches, and nothing younger', async () => {
      const before = (await audit('?limit=100')).json.data.items.length as number;
      // 1.5 days of retention at day 2: the day-0 sign-ups go, the rest stays.
      const deleted = await purgeOldEvents({ store: storage.events, clock, retentionMs: 1.5 * DAY, batch: 1 });
      assert.equal(deleted, 2);
      const after = (await audit('?limit=100')).json.data.items as Item[];
      assert.equal(after.length, before - 2);
      assert.ok(!after.some((e) => e.type === 'user.created'));
      assert.equal(await purgeOldEvents({ store: storage.events, clock, retentionMs: 1.5 * DAY }), 0);
    });
  });
}

describe('AUDIT_RETENTION_DAYS', () => {
  it('defaults to 90 days and takes 1 to 36500', async () => {
    const { loadConfig } = await import('../src/config.js');
    assert.equal(loadConfig({}).audit.retentionMs, 90 * DAY);
    assert.equal(loadConfig({ AUDIT_RETENTION_DAYS: '7' }).audit.retentionMs, 7 * DAY);
    assert.throws(() => loadConfig({ AUDIT_RETENTION_DAYS: '0' }), /AUDIT_RETENTION_DAYS must be a whole number from 1 to 36500/);
  });
});

describe('warden audit (runAuditCommand, for the CLI): every matching event, newest first, as JSON lines or text', () => {
  it('streams past a page (2,500 events), filters, limits, and refuses bad arguments with usage', async () => {
    const { createMemoryStorage } = await import('../src/storage/index.js');
    const { EventLog } = await import('../src/events/log.js');
    const { runAuditCommand } = await import('../src/events/audit-export.js');
    let now = Date.UTC(2030, 0, 1);
    const storage = createMemoryStorage();
    const log = new EventLog({ store: storage.events, clock: () => now });
    for (let i = 0; i < 2500; i++) {
      now += 1000;
      await log.append(log.make(i % 5 === 0 ? 'signin.failed' : 'session.refreshed', { userId: i % 2 ? 'u-odd' : 'u-even', ip: '192.0.2.9' },
        i % 5 === 0 ? { reason: 'bad_password' } : {}));
    }
    const run = async (...argv: string[]) => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await runAuditCommand(storage.events, argv, (l) => out.push(l), (l) => err.push(l));
      return { code, out, err };
    };
    const all = await run();
    assert.equal(all.code, 0);
    assert.equal(all.out.length, 2500);
    const parsed = all.out.map((l) => JSON.parse(l) as { id: string; time: string; type: string; user_id: string });
    assert.equal(new Set(parsed.map((e) => e.id)).size, 2500, 'no event twice across pages');
    assert.ok(parsed.every((e, i) => i === 0 || e.time <= parsed[i - 1]!.time), 'newest first');
    const failed = await run('--type', 'signin.failed', '--user', 'u-even');
    assert.equal(failed.out.length, 250, 'i % 10 === 0');
    assert.ok(failed.out.every((l) => JSON.parse(l).type === 'signin.failed'));
    const ranged = await run('--from', new Date(Date.UTC(2030, 0, 1) + 1_001_000).toISOString(), '--limit', '7', '--format', 'text');
    assert.equal(ranged.out.length, 7);
    assert.match(ranged.out[0]!, /^2030-01-01T00:41:40\.000Z {2}session\.refreshed/);
    for (const bad of [['--type', 'nope'], ['--limit', '0'], ['--from', 'yesterday'], ['--format', 'xml'], ['--what']]) {
      const r = await run(...bad);
      assert.equal(r.code, 2, bad.join(' '));
      assert.match(r.err.join('\n'), /^warden audit: [\s\S]*usage: warden audit/);
    }
  });
});

describe('audit times', () => {
  it('a date-time without an offset is UTC, as a bare date is, whatever the machine\'s zone', () => {
    const tz = process.env.TZ;
    process.env.TZ = 'America/New_York'; // Node reads a change of TZ at once
    try {
      assert.equal(new Date(2026, 10, 24, 12).getTimezoneOffset(), 300, 'the zone took effect');
      assert.equal(parseIsoTime('2026-11-24T12:00'), Date.UTC(2026, 10, 24, 12));
      assert.equal(parseIsoTime('2026-11-24T12:00:00.5'), Date.UTC(2026, 10, 24, 12, 0, 0, 500));
      assert.equal(parseIsoTime('2026-11-24'), Date.UTC(2026, 10, 24));
      assert.equal(parseIsoTime('2026-11-24T12:00:00+01:00'), Date.UTC(2026, 10, 24, 11));
      assert.equal(parseIsoTime('2026-11-24T12:00Z'), Date.UTC(2026, 10, 24, 12));
    } finally {
      if (tz === undefined) delete process.env.TZ;
      else process.env.TZ = tz;
    }
  });
});
