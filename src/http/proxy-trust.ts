// TRUST_PROXY as Fastify's `trustProxy`: request.ip (proxy-addr) then walks X-Forwarded-For from the
// right, past trusted hops only, and stops at the first address it does not trust.
import proxyAddr from '@fastify/proxy-addr';
import type { ProxyTrust } from '../config/parsers.js';
import { withoutPort } from '../limits/client-key.js';

type TrustProxy = false | ((address: string, hop: number) => boolean);

export function trustProxyOption(trust: ProxyTrust): TrustProxy {
  // Fastify 5.12 refuses a bare number (it trusts nothing, since a hop count cannot tell the proxy
  // from a client that connects directly); a count is the operator's statement that only the
  // proxies can reach Warden, so it becomes the function proxy-addr takes: hop 0 is the socket peer.
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  if (trust === false) return false;
  // Addresses and CIDRs: an entry a proxy wrote with its port (`10.0.0.2:443`, `[fd00::2]:443`) is
  // judged by its address, as proxy-addr alone would not (it trusts no entry that is not a bare address).
  const trusted = proxyAddr.compile(trust);
  return (address, hop) => trusted(withoutPort(address), hop);
}
