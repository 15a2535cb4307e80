// The second factors' configuration: MFA_ENCRYPTION_KEY's forms (never echoed), the WebAuthn
// relying party and origins, and the key TOTP secrets are sealed with when MFA_ENCRYPTION_KEY is
// unset (derived from the signing key's own material, HMAC or asymmetric).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { generateKeyPem, keyRingFromPem, keyRingFromSecret } from '@warden/toolkit';
import { deriveFromSigningKey } from '../src/accounts/index.js';
import { ConfigError, loadConfig } from '../src/config.js';

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    assert.ok(e instanceof ConfigError);
    return e.problems;
  }
};

describe('second factors: configuration', () => {
  it('defaults: issuer Warden, no required roles, 5 failures, RP localhost on this port, 100 passwordless options per client IP', () => {
    const c = loadConfig({ PORT: '9100' });
    assert.deepEqual(c.mfa, {
      issuer: 'Warden', encryptionKey: undefined, requiredRoles: undefined, maxFailures: 5, rpId: 'localhost', origins: ['http://localhost:9100'], passkeyOptionsPerIp: 100,
    });
    assert.equal(loadConfig({ PASSKEY_OPTIONS_LIMIT_PER_IP: '0' }).mfa.passkeyOptionsPerIp, Infinity);
    assert.deepEqual(loadConfig({ MFA_REQUIRED_ROLES: 'admin, ROLE_ADMIN' }).mfa.requiredRoles, ['admin', 'ROLE_ADMIN']);
  });

  it('MFA_ENCRYPTION_KEY is 32 bytes as hex or base64, and a wrong one is refused without being echoed', () => {
    const key = randomBytes(32);
    assert.deepEqual(loadConfig({ MFA_ENCRYPTION_KEY: key.toString('hex') }).mfa.encryptionKey, key);
    assert.deepEqual(loadConfig({ MFA_ENCRYPTION_KEY: key.toString('base64') }).mfa.encryptionKey, key);
    assert.deepEqual(loadConfig({ MFA_ENCRYPTION_KEY: key.toString('base64url') }).mfa.encryptionKey, key);
    for (const bad of ['hunter2-secret', key.subarray(0, 16).toString('hex'), randomBytes(48).toString('base64')]) {
      const p = problems({ MFA_ENCRYPTION_KEY: bad });
      assert.equal(p.length, 1);
      assert.match(p[0]!, /^MFA_ENCRYPTION_KEY must be 32 bytes/);
      assert.ok(!p[0]!.includes(bad));
    }
  });

  it('WebAuthn: the RP id is a domain, and every origin must sit on it', () => {
    assert.deepEqual(problems({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://example.com,https://app.example.com:8443' }), []);
    assert.match(problems({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://example.com.evil.test' }).join(), /is not on WEBAUTHN_RP_ID/);
    assert.match(problems({ WEBAUTHN_RP_ID: 'example.com', WEBAUTHN_ORIGINS: 'https://notexample.com' }).join(), /is not on WEBAUTHN_RP_ID/);
    assert.match(problems({ WEBAUTHN_ORIGINS: 'http://localhost:8000/app' }).join(), /^WEBAUTHN_ORIGINS must be a comma-separated list of origins/);
    assert.match(problems({ WEBAUTHN_ORIGINS: 'ftp://localhost' }).join(), /^WEBAUTHN_ORIGINS must be/);
    assert.match(problems({ WEBAUTHN_RP_ID: '127.0.0.1' }).join(), /^WEBAUTHN_RP_ID must be a domain name/);
    assert.equal(loadConfig({ WEBAUTHN_RP_ID: 'Example.COM', WEBAUTHN_ORIGINS: 'https://example.com' }).mfa.rpId, 'example.com');
    // A refused PORT is named once, not again through the origin built from it.
    assert.deepEqual(problems({ PORT: '99999' }), ['PORT must be a whole number from 0 to 65535 (got "99999")']);
  });

  it('unset, the sealing key comes from the signing key\'s material: the same key, the same result; another, another', () => {
    const a = deriveFromSigningKey(keyRingFromSecret('a'.repeat(40), 'HS256').signer.privateKey!);
    assert.equal(a.length, 32);
    assert.deepEqual(deriveFromSigningKey(keyRingFromSecret('a'.repeat(40), 'HS512').signer.privateKey!), a, 'the secret, not the algorithm');
    assert.notDeepEqual(deriveFromSigningKey(keyRingFromSecret('b'.repeat(40), 'HS256').signer.privateKey!), a);
    assert.ok(!a.includes(Buffer.from('a'.repeat(40))));
    for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
      const { privateKeyPem } = generateKeyPem(alg);
      const k = deriveFromSigningKey(keyRingFromPem({ privateKeyPem, alg }).signer.privateKey!);
      assert.equal(k.length, 32, alg);
      assert.deepEqual(deriveFromSigningKey(keyRingFromPem({ privateKeyPem, alg }).signer.privateKey!), k, `${alg}: stable across restarts`);
    }
  });
});
