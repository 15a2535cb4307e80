// The client a per-IP limit counts: an IPv4 address as it is, an IPv6 address by its network, a /64
// by default (CLIENT_IPV6_PREFIX). One IPv6 subscriber is handed at least a /64 (RFC 6177's minimum
// for a site, and what every residential and cloud network assigns); counted per address, it would
// bring 2^64 fresh budgets of sign-in guesses, sign-ups and mails. Networks that hand each
// subscriber a /56 or a /48 (many ISPs do) would still bring 256 or 65,536: CLIENT_IPV6_PREFIX=56
// or 48 counts them as one. An IPv4-mapped address (::ffff:a.b.c.d, what a dual-stack socket
// reports for an IPv4 peer) is that IPv4 address. Sessions and events keep the full address, in
// one text per address (canonicalAddress): only the limits' keys are grouped. Written by hand:
// node:net validates addresses but has no prefix or canonical form of one, and the packages that
// do bring a whole address library for these lines.
import { isIPv4, isIPv6 } from 'node:net';

/** The eight 16-bit groups of a valid IPv6 address (without a zone), else null. */
function ipv6Groups(ip: string): number[] | null {
  if (!isIPv6(ip) || ip.includes('%')) return null;
  const [head, tail, extra] = ip.toLowerCase().split('::');
  if (extra !== undefined) return null;
  const parse = (part: string | undefined): number[] => {
    if (!part) return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        // An embedded IPv4 tail (::ffff:192.0.2.1): two groups.
        const [a, b, c, d] = g.split('.').map(Number) as [number, number, number, number];
        out.push((a << 8) | b, (c << 8) | d);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.length === 8 ? groups : null;
}

/**
 * The address in an X-Forwarded-For entry written with its source port, as some proxies write it
 * (Azure Application Gateway: `192.0.2.7:51234`, `[2001:db8::7]:51234`; RFC 7239's form, brackets
 * without a port, too): the port is not the client. Anything else is returned as it is.
 */
export function withoutPort(entry: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d{1,5})?$/.exec(entry);
  if (bracketed && isIPv6(bracketed[1]!)) return bracketed[1]!;
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(entry);
  if (v4 && isIPv4(v4[1]!)) return v4[1]!;
  return entry;
}

/** An IPv4-mapped address's IPv4 address (::ffff:a.b.c.d), else null. */
function mappedIPv4(g: readonly number[]): string | null {
  if (g[0] !== 0 || g[1] !== 0 || g[2] !== 0 || g[3] !== 0 || g[4] !== 0 || g[5] !== 0xffff) return null;
  return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
}

/**
 * One text per address, whoever wrote it: an IPv4-mapped IPv6 address as its IPv4 address (a
 * dual-stack listener's IPv4 peers), any other IPv6 address as RFC 5952 writes it (lower case, no
 * leading zeros, the longest run of two or more zero groups as `::`), its zone kept; anything else
 * as given. What sessions and events record, logs show, and the new-sign-in notice's device is.
 */
export function canonicalAddress(ip: string): string {
  const percent = ip.indexOf('%');
  const g = ipv6Groups(percent < 0 ? ip : ip.slice(0, percent));
  if (g === null || (percent >= 0 && !isIPv6(ip))) return ip;
  const zone = percent < 0 ? '' : ip.slice(percent);
  const v4 = mappedIPv4(g);
  if (v4 !== null && zone === '') return v4;
  let start = -1;
  let length = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > length) [start, length] = [i, j - i];
    i = j;
  }
  const hex = (part: readonly number[]) => part.map((n) => n.toString(16)).join(':');
  const text = length < 2 ? hex(g) : `${hex(g.slice(0, start))}::${hex(g.slice(start + length))}`;
  return text + zone;
}

/** The IPv6 network a client is counted by unless told otherwise (CLIENT_IPV6_PREFIX's default). */
export const DEFAULT_IPV6_PREFIX = 64;

/**
 * What a per-IP limit counts `ip` as (null stays null: an unknown client is not counted): an IPv6
 * address by its network of `ipv6Prefix` bits (32 to 128), written as its leading groups, the rest
 * zero, `::/<prefix>` (a /64's key is the one it always was: counts survive an upgrade).
 */
export function clientKey(ip: string | null, ipv6Prefix: number = DEFAULT_IPV6_PREFIX): string | null {
  if (ip === null || isIPv4(ip)) return ip;
  // A zone (fe80::7%eth0, as a socket reports a link-local peer) names the server's interface, not
  // the client: the address's network is the client, as any other's (one host may hold any number
  // of fe80::/64 addresses on its link).
  const percent = ip.indexOf('%');
  const g = percent >= 0 && isIPv6(ip) ? ipv6Groups(ip.slice(0, percent)) : ipv6Groups(ip);
  if (g === null) return ip; // not an address: as given
  const v4 = mappedIPv4(g);
  if (v4 !== null) return v4;
  const prefix = Math.min(128, Math.max(0, Math.trunc(ipv6Prefix)));
  const kept = Math.ceil(prefix / 16);
  const net = g.slice(0, kept).map((n, i) => {
    const bits = Math.min(16, prefix - 16 * i); // of this group inside the prefix
    return n & ((0xffff << (16 - bits)) & 0xffff);
  });
  return `${net.map((n) => n.toString(16)).join(':')}${kept < 8 ? '::' : ''}/${prefix}`;
}
