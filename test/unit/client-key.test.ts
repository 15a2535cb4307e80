// What a per-IP limit counts a client as: IPv4 as it is, IPv6 by its /64 (or CLIENT_IPV6_PREFIX's network), an IPv4-mapped address
// as the IPv4 one; one network however its address is written.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonicalAddress, clientKey, withoutPort } from '../../src/limits/client-key.js';

describe('clientKey', () => {
  it('groups IPv6 by /64 whatever the spelling, maps IPv4-mapped to IPv4, and leaves the rest as given', () => {
    for (const [ip, key] of [
      ['192.0.2.1', '192.0.2.1'],
      ['2001:db8:1:2::1', '2001:db8:1:2::/64'],
      ['2001:0DB8:0001:0002:aaaa:bbbb:cccc:dddd', '2001:db8:1:2::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['::', '0:0:0:0::/64'],
      ['fe80::1:2:3:4', 'fe80:0:0:0::/64'],
      ['::ffff:192.0.2.7', '192.0.2.7'],
      ['::FFFF:c000:0207', '192.0.2.7'],
      ['64:ff9b::192.0.2.7', '64:ff9b:0:0::/64'], // NAT64: many IPv4 clients behind one /64, as a NAT's
      ['1:2:3:4:5:6:7::', '1:2:3:4::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'], // the zone names the server's interface, not the client
      ['FE80::2:1%2', 'fe80:0:0:0::/64'],
      ['fe80::1%', 'fe80::1%'], // not an address
      ['not-an-ip', 'not-an-ip'],
    ] as const) {
      assert.equal(clientKey(ip), key, ip);
    }
    assert.equal(clientKey(null), null);
  });

  it('groups IPv6 by the network CLIENT_IPV6_PREFIX names: its leading bits kept, the rest zero; IPv4 untouched', () => {
    for (const [ip, prefix, key] of [
      ['2001:db8:1:2ff:aaaa::2', 56, '2001:db8:1:200::/56'],
      ['2001:db8:1:200::1', 56, '2001:db8:1:200::/56'],
      ['2001:db8:1:300::1', 56, '2001:db8:1:300::/56'],
      ['2001:db8:1:2ff::1', 48, '2001:db8:1::/48'],
      ['2001:db8:ffff:2ff::1', 33, '2001:db8:8000::/33'],
      ['2001:db8:1:2::1', 64, '2001:db8:1:2::/64'], // the key a /64 always had
      ['2001:db8:1:2::1', 65, '2001:db8:1:2:0::/65'],
      ['2001:db8:1:2:ffff::1', 65, '2001:db8:1:2:8000::/65'],
      ['2001:DB8::7', 128, '2001:db8:0:0:0:0:0:7/128'],
      ['2001:db8::8', 128, '2001:db8:0:0:0:0:0:8/128'],
      ['fe80::1%eth0', 32, 'fe80:0::/32'],
      ['::ffff:192.0.2.7', 48, '192.0.2.7'],
      ['192.0.2.1', 48, '192.0.2.1'],
    ] as const) {
      assert.equal(clientKey(ip, prefix), key, `${ip} /${prefix}`);
    }
  });

  it('reads an X-Forwarded-For entry written with its port as its address; leaves anything else as it is', () => {
    for (const [entry, address] of [
      ['192.0.2.7:51234', '192.0.2.7'],
      ['[2001:db8::7]:51234', '2001:db8::7'],
      ['[2001:db8::7]', '2001:db8::7'],
      ['192.0.2.7', '192.0.2.7'],
      ['2001:db8::7', '2001:db8::7'],
      ['::ffff:192.0.2.7', '::ffff:192.0.2.7'],
      ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'], // eight groups: no port to take
      ['192.0.2.300:80', '192.0.2.300:80'],
      ['[not-an-ip]:80', '[not-an-ip]:80'],
      ['[2001:db8::7]:port', '[2001:db8::7]:port'],
      ['unknown', 'unknown'],
    ] as const) {
      assert.equal(withoutPort(entry), address, entry);
    }
  });

  it('writes each address one way: IPv4-mapped as IPv4, IPv6 as RFC 5952 does, the rest as given', () => {
    for (const [ip, text] of [
      ['192.0.2.1', '192.0.2.1'],
      ['::ffff:192.0.2.7', '192.0.2.7'],
      ['::FFFF:C000:0207', '192.0.2.7'],
      ['0:0:0:0:0:ffff:c000:207', '192.0.2.7'],
      ['2001:DB8::1', '2001:db8::1'],
      ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // equal runs: the first
      ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'], // the longest run
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // one zero group is not compressed
      ['0:0:0:0:0:0:0:0', '::'],
      ['0:0:0:0:0:0:0:1', '::1'],
      ['1:0:0:0:0:0:0:0', '1::'],
      ['::ffff:0:0', '0.0.0.0'],
      ['64:ff9b::192.0.2.7', '64:ff9b::c000:207'],
      ['FE80::1%eth0', 'fe80::1%eth0'],
      ['fe80:0:0:0:0:0:0:1%eth0', 'fe80::1%eth0'],
      ['fe80::1%', 'fe80::1%'],
      ['not-an-ip', 'not-an-ip'],
      ['', ''],
    ] as const) {
      assert.equal(canonicalAddress(ip), text, ip);
      assert.equal(canonicalAddress(text), text, `${text} is its own text`);
    }
  });
});
