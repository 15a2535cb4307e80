// The signature algorithms a new passkey may use do not depend on the Node it was registered on.
// @simplewebauthn/server puts ML-DSA-44 first among them when the runtime's Web Crypto says it can
// verify it (SubtleCrypto.supports, Node 24; not Node 20 or 22): Chromium's authenticator then made
// an ML-DSA key, whose 2,420-byte signatures the shape check refused at every sign-in (it allowed
// 2,048 characters), and which an instance on Node 20 or 22 (a rolling upgrade, a rollback) could
// not verify at all. On Node 20 and 22 this file gives the runtime the answer Node 24 gives.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { credentialShape, Passkeys } from '../../src/accounts/factors/passkeys.js';
import { createMemoryStorage } from '../../src/storage/index.js';

const subtle = globalThis.SubtleCrypto as unknown as { supports?: (op: string, alg: unknown) => boolean };
const own = Object.getOwnPropertyDescriptor(subtle, 'supports');
// Before anything asks the library (it remembers the first answer for the life of the process).
if (typeof subtle.supports !== 'function') subtle.supports = (op, alg) => op === 'verify' && alg === 'ML-DSA-44';

describe('passkey signature algorithms on a runtime that verifies ML-DSA-44', () => {
  after(() => {
    if (own === undefined) delete subtle.supports;
  });

  it('the runtime says it can (else this file proves nothing)', () => {
    assert.equal(subtle.supports!('verify', 'ML-DSA-44'), true);
  });

  it('a registration offers EdDSA, ES256 and RS256 only: what every Node Warden runs on verifies', async () => {
    const storage = createMemoryStorage();
    const passkeys = new Passkeys({ storage, clock: Date.now, settings: { rpId: 'example.com', rpName: 'Warden', origins: ['https://example.com'] } });
    const user = await storage.users.create({ id: 'u1', username: 'kim', email: 'kim@example.com', fullName: null, roles: ['user'], isActive: true, passwordHash: 'none' });
    const options = await passkeys.registrationOptions(user, []);
    assert.deepEqual(options.pubKeyCredParams, [{ alg: -8, type: 'public-key' }, { alg: -7, type: 'public-key' }, { alg: -257, type: 'public-key' }]);
  });

  it('an assertion with an ML-DSA signature (a passkey made before) passes the shape check: ML-DSA-44\'s 2,420 bytes, ML-DSA-87\'s 4,627', () => {
    for (const bytes of [2420, 4627]) {
      const r = credentialShape({
        id: 'cred', rawId: 'cred', type: 'public-key', clientExtensionResults: {},
        response: { clientDataJSON: 'e30', authenticatorData: 'A'.repeat(50), signature: Buffer.alloc(bytes, 7).toString('base64url') },
      });
      assert.ok('credential' in r, `${bytes} bytes: ${JSON.stringify(r)}`);
    }
  });
});
