// The email variables: parsed into the units their consumers use, and the checks across them.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

const SECRET = { SECRET_KEY: 'a-production-secret-of-at-least-32-bytes!!' };
const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
  return [];
};

it('defaults: mail off until configured, 30-minute reset links, limits of 5 per address and 20 per IP an hour', () => {
  const c = loadConfig({});
  assert.equal(c.mail.smtpUrl, undefined);
  assert.equal(c.email.resetTtlMs, 30 * 60_000);
  assert.equal(c.email.verifyTtlMs, 3 * 86_400_000);
  assert.deepEqual([c.email.maxPerAddress, c.email.maxPerIp, c.email.windowMs], [5, 20, 3600_000]);
  assert.equal(c.email.requireVerified, false);
  assert.equal(c.email.notifyNewSignIn, true);
  assert.equal(loadConfig({ MAIL_LIMIT_PER_IP: '0' }).email.maxPerIp, Infinity);
});

it('refuses a bad SMTP_URL without echoing it, and a From with a line break', () => {
  const bad = problems({ SMTP_URL: 'http://user:hunter2@mail.example.com' });
  assert.equal(bad.length, 1);
  assert.match(bad[0]!, /^SMTP_URL must start with smtp:\/\/ or smtps:\/\//);
  assert.doesNotMatch(bad[0]!, /hunter2/);
  assert.match(problems({ MAIL_FROM: 'a@example.com\r\nBcc: x@example.com' })[0]!, /^MAIL_FROM/);
  assert.deepEqual(problems({ MAIL_FROM: 'Example <no-reply@example.com>' }), []);
  assert.match(problems({ PASSWORD_RESET_MINUTES: '0' })[0]!, /^PASSWORD_RESET_MINUTES must be a whole number from 5 to 1440/);
});

it('production with SMTP_URL needs MAIL_FROM and APP_URL; REQUIRE_EMAIL_VERIFICATION needs SMTP_URL', () => {
  const prod = { NODE_ENV: 'production', ...SECRET };
  assert.deepEqual(problems({ ...prod, SMTP_URL: 'smtp://mail.example.com' }), [
    'MAIL_FROM and APP_URL must be set with SMTP_URL when NODE_ENV=production (mails need a real sender and links)',
  ]);
  assert.deepEqual(problems({ ...prod, SMTP_URL: 'smtps://mail.example.com', MAIL_FROM: 'no-reply@example.com', APP_URL: 'https://auth.example.com' }), []);
  assert.match(problems({ ...prod, REQUIRE_EMAIL_VERIFICATION: 'true' })[0]!, /REQUIRE_EMAIL_VERIFICATION=true needs SMTP_URL/);
  assert.deepEqual(problems({ REQUIRE_EMAIL_VERIFICATION: 'true' }), [], 'development writes mails to a folder');
});
