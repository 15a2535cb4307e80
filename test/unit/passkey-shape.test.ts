// The shape check of a browser's WebAuthn answer (credentialShape): the JSON WebAuthn Level 3's
// credential.toJSON() writes, for a registration and for an authentication, is taken whole; every
// member is typed and bounded, and an unknown or mistyped one is refused by name before anything
// (a challenge, the library) is touched.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { credentialShape } from '../../src/accounts/factors/passkeys.js';

const b64 = (n: number) => 'A'.repeat(n);
/** A registration as Chromium's toJSON() writes it. */
const registration = () => ({
  id: 'cred-Id_1', rawId: 'cred-Id_1', type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: { credProps: { rk: true } },
  response: {
    clientDataJSON: b64(200), attestationObject: b64(400), authenticatorData: b64(200), transports: ['internal', 'hybrid'],
    publicKey: b64(120), publicKeyAlgorithm: -7,
  },
});
/** An authentication as toJSON() writes it; a discoverable credential's user handle, or null. */
const authentication = (userHandle: string | null) => ({
  id: 'cred-Id_1', rawId: 'cred-Id_1', type: 'public-key', authenticatorAttachment: null, clientExtensionResults: {},
  response: { clientDataJSON: b64(200), authenticatorData: b64(50), signature: b64(96), userHandle },
});

type Mutate = (c: any) => void;

describe('credentialShape', () => {
  it('takes the whole of toJSON(): a registration with Level 3\'s members, an authentication with or without a user handle', () => {
    for (const c of [registration(), authentication('dXNlcg'), authentication(null)]) {
      const r = credentialShape(c);
      assert.ok('credential' in r, JSON.stringify(r));
      assert.deepEqual(r.credential, c, 'passed on as it came');
    }
    // Level 2's members written by hand (no rawId, no extensions): defaults filled in.
    const r = credentialShape({ id: 'abc', type: 'public-key', response: { clientDataJSON: 'e30' } });
    assert.ok('credential' in r);
    assert.deepEqual([r.credential.rawId, r.credential.clientExtensionResults], ['abc', {}]);
  });

  it('refuses a member of the wrong type, too large, or unknown, naming it', () => {
    const cases: Array<[string, Mutate, RegExp]> = [
      ['algorithm as text', (c) => (c.response.publicKeyAlgorithm = '-7'), /^response\.publicKeyAlgorithm: must be an integer/],
      ['algorithm not whole', (c) => (c.response.publicKeyAlgorithm = 1.5), /^response\.publicKeyAlgorithm: must be an integer/],
      ['transports as text', (c) => (c.response.transports = 'usb'), /^response\.transports: /],
      ['too many transports', (c) => (c.response.transports = Array(17).fill('usb')), /^response\.transports: /],
      ['a transport that is no name', (c) => (c.response.transports = ['USB!']), /^response\.transports: /],
      ['public key not base64url', (c) => (c.response.publicKey = 'a+b/c='), /^response\.publicKey: must be base64url/],
      ['client data too large', (c) => (c.response.clientDataJSON = b64(8193)), /^response\.clientDataJSON: must be base64url, at most 8192/],
      ['an empty attestation', (c) => (c.response.attestationObject = ''), /^response\.attestationObject: /],
      ['an id too long', (c) => ((c.id = b64(1401)), (c.rawId = c.id)), /^id: /],
      ['another type', (c) => (c.type = 'password'), /^type: must be one of public-key/],
      ['an attachment that is none', (c) => (c.authenticatorAttachment = 'usb'), /^authenticatorAttachment: /],
      ['extensions as a list', (c) => (c.clientExtensionResults = []), /^clientExtensionResults: must be an object/],
      ['extensions too large', (c) => (c.clientExtensionResults = { big: 'x'.repeat(5000) }), /^clientExtensionResults: /],
      ['an unknown member of the response', (c) => (c.response.extra = 'x'), /^response\.extra: is not a member/],
      ['an unknown member', (c) => (c.__proto_x = 1), /^__proto_x: is not a member/],
      ['a user handle as a number', (c) => (c.response.userHandle = 7), /^response\.userHandle: /],
      ['a signature too long', (c) => (c.response.signature = b64(8193)), /^response\.signature: must be base64url, at most 8192/],
    ];
    for (const [name, mutate, message] of cases) {
      const c = registration();
      mutate(c);
      const r = credentialShape(c);
      assert.ok('problem' in r, `${name}: refused`);
      assert.match(r.problem, message, name);
    }
  });

  it('refuses what is not a credential at all', () => {
    for (const v of [null, 'x', [], {}, { id: 'a', type: 'public-key' }, { id: 'a', type: 'public-key', response: [] }, { id: 'a', type: 'public-key', response: {} }]) {
      assert.ok('problem' in credentialShape(v), JSON.stringify(v));
    }
  });
});
