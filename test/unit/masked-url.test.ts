// maskedUrl: what a log line or the CLI prints of a URL setting. Every password goes, whatever it
// holds; the rest stays readable.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maskedUrl } from '../../src/storage/database-url.js';

describe('maskedUrl', () => {
  it('hides a password, whatever characters it holds, and keeps user, host, port and path', () => {
    const cases: [string, string][] = [
      ['postgres://app:secret@db.internal:5432/app', 'postgres://app:***@db.internal:5432/app'],
      ['postgres://app:p@ss@w0rd@db/app', 'postgres://app:***@db/app'],
      ['redis://default:two words tail@127.0.0.1:6379', 'redis://default:***@127.0.0.1:6379'],
      // base64 with "/" (and "?", "#"): no driver reads such a URL, and a warning would quote it whole
      ['redis://:ab/cd+ef==@redis:6379', 'redis://:***@redis:6379'],
      ['smtp://mailer:a?b#c@mail.internal:587', 'smtp://mailer:***@mail.internal:587'],
      ['postgres://app:pw@db/app?options=-c%20a@b', 'postgres://app:***@db/app?options=-c%20a@b'],
      ['postgres://app@db/app', 'postgres://app@db/app'],
      ['https://hooks.example.com/in/@team', 'https://hooks.example.com/in/@team'],
      ['sqlite:/srv/warden.db', 'sqlite:/srv/warden.db'],
    ];
    for (const [given, shown] of cases) assert.equal(maskedUrl(given), shown, given);
  });

  it('masks each URL of a list on its own, and credentials in queries', () => {
    assert.equal(
      maskedUrl('https://hooks.example.com/in https://u:h@tail@siem.example.com/x|signin.*,https://a:b/c@d.example/y'),
      'https://hooks.example.com/in https://u:***@siem.example.com/x|signin.*,https://a:***@d.example/y',
    );
    assert.equal(maskedUrl('https://h.example/in?token=abc&x=1;api_key=k|signin.*'), 'https://h.example/in?token=***&x=1;api_key=***|signin.*');
    assert.equal(maskedUrl('postgres://db/app?sslmode=require&password=s3cret'), 'postgres://db/app?sslmode=require&password=***');
  });

  it('leaves what holds no URL as it is, a long run of letters included', () => {
    const letters = 'a'.repeat(100_000);
    assert.equal(maskedUrl(letters), letters);
    const query = `?${'a=b&'.repeat(25_000)}`;
    assert.equal(maskedUrl(query), query);
  });
});
