// TRUST_PROXY as Fastify's `trustProxy`: request.ip (proxy-addr) then walks X-Forwarded-For from the
// right, past trusted hops only, and stops at the first address it does not trust.
import type { ProxyTrust } from '../config/parsers.js';

type TrustProxy = false | string[] | ((address: string, hop: number) => boolean);

export function trustProxyOption(trust: ProxyTrust): TrustProxy {
  // Fastify 5.12 refuses a bare number (it trusts nothing, since a hop count cannot tell the proxy
  // from a client that connects directly); a count is the operator's statement that only the
  // proxies can reach Warden, so it becomes the function proxy-addr takes: hop 0 is the socket peer.
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return trust;
}
