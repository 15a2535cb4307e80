// The default mails as a screen reader in a mail client meets them: the HTML part says its
// language, so the text is read with an English voice whatever the reader's own language is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MailTemplates, TEMPLATE_NAMES } from '../../src/mail/index.js';

describe('default mail templates', () => {
  it('every HTML part declares its language, and carries a name in another script as written', () => {
    const templates = MailTemplates.load();
    for (const name of TEMPLATE_NAMES) {
      const mail = templates.render(name, { name: 'سارة 田中 José 🚀', username: 'sara', email: 'سارة@example.com', link: 'https://auth.example.test/x?token=t', minutes: 30, days: 3 });
      assert.match(mail.html, /^<!doctype html>\n<html lang="en">/, `${name}: <html lang="en">`);
      assert.ok(mail.html.includes('سارة 田中 José 🚀') && mail.text.includes('سارة 田中 José 🚀'), `${name}: the name as written`);
    }
  });
});
