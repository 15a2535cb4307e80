// Small reusable readers of one environment value each. A parser gets the value as written
// (already trimmed unless its setting says otherwise) and returns it in the unit its consumer uses,
// or throws Invalid with what the variable expects; the loader prefixes the variable's name.
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { EVENT_TYPES } from '../events/records.js';
import proxyAddr from '@fastify/proxy-addr';

export type Parser<T> = (raw: string) => T;

/** A value the parser refuses; `message` completes "<NAME> ..." (e.g. "must be true or false"). */
export class Invalid extends Error {}

const got = (raw: string): string => ` (got "${raw}")`;

/** "a, b or c" */
function alternatives(values: readonly string[]): string {
  return values.length < 2 ? values.join('') : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`;
}

export const text: Parser<string> = (raw) => raw;

/** What `warden import --legacy-prefix` takes: no ':' (NAME:ID splits one way only), 1 to 32 characters. */
export const legacyPrefix: Parser<string> = (raw) => {
  if (!/^[A-Za-z0-9_.-]{1,32}$/.test(raw)) throw new Invalid(`must be 1 to 32 letters, digits, "_", "." or "-", as warden import --legacy-prefix${got(raw)}`);
  return raw;
};

export function int(min: number, max: number): Parser<number> {
  return (raw) => {
    const n = Number(raw);
    if (raw === '' || !Number.isInteger(n) || n < min || n > max) {
      throw new Invalid(`must be a whole number from ${min} to ${max}${got(raw)}`);
    }
    return n;
  };
}

/** A whole number of `unit`s (bounds in that unit), returned in seconds or milliseconds. */
const UNIT_SECONDS = { seconds: 1, minutes: 60, hours: 3600, days: 86_400 } as const;

export function duration(unit: keyof typeof UNIT_SECONDS, min: number, max: number, into: 's' | 'ms'): Parser<number> {
  const seconds = UNIT_SECONDS[unit];
  const factor = into === 'ms' ? seconds * 1000 : seconds;
  const whole = int(min, max);
  return (raw) => whole(raw) * factor;
}

/** A count where 0 means "no limit", returned as Infinity so that consumers compare without a special case. */
export function limit(max: number): Parser<number> {
  const whole = int(0, max);
  return (raw) => whole(raw) || Number.POSITIVE_INFINITY;
}

export const bool: Parser<boolean> = (raw) => {
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new Invalid(`must be true or false${got(raw)}`);
};

export function oneOf<const V extends string>(values: readonly V[], o: { ignoreCase?: boolean } = {}): Parser<V> {
  return (raw) => {
    const v = o.ignoreCase ? raw.toLowerCase() : raw;
    if ((values as readonly string[]).includes(v)) return v as V;
    throw new Invalid(`must be ${alternatives(values)}${got(v)}`);
  };
}

/** Comma-separated; blanks between commas are dropped. */
export const list: Parser<string[]> = (raw) => raw.split(',').map((s) => s.trim()).filter(Boolean);

/** A non-empty comma-separated list drawn from `values`, in the order given. */
export function listOf<const V extends string>(values: readonly V[]): Parser<V[]> {
  return (raw) => {
    const items = list(raw);
    if (items.length === 0 || items.some((i) => !(values as readonly string[]).includes(i))) {
      throw new Invalid(`must be a comma-separated list of ${values.join(', ')}${got(raw)}`);
    }
    return items as V[];
  };
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/; // RFC 9110 token: header and cookie names

export function token(what: 'header name' | 'cookie name'): Parser<string> {
  return (raw) => {
    if (!TOKEN.test(raw)) throw new Invalid(`must be a valid ${what}${got(raw)}`);
    return raw;
  };
}

const HOST_NAME = /^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

/** A host name or an IP address, as `listen` takes it. */
export const host: Parser<string> = (raw) => {
  if (isIP(raw) === 0 && !HOST_NAME.test(raw)) throw new Invalid(`must be a host name or an IP address${got(raw)}`);
  return raw;
};

/** A cookie Domain: a host name, optionally with a leading dot. Written into Set-Cookie as is. */
export const cookieDomain: Parser<string> = (raw) => {
  if (!HOST_NAME.test(raw.startsWith('.') ? raw.slice(1) : raw)) {
    throw new Invalid(`must be a host name such as example.com${got(raw)}`);
  }
  return raw;
};

/** A URL with one of these schemes; the value is never echoed, since it may hold a password. */
export function url(schemes: readonly string[]): Parser<string> {
  return (raw) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(raw);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !schemes.includes(parsed.protocol.slice(0, -1))) {
      throw new Invalid(`must start with ${alternatives(schemes.map((s) => `${s}://`))}`);
    }
    return raw;
  };
}

/** A folder, resolved against the working directory at start. */
export const directory: Parser<string> = (raw) => resolve(raw);

export const existingFile: Parser<string> = (raw) => {
  if (!existsSync(raw)) throw new Invalid(`points to "${raw}", which does not exist`);
  return raw;
};

/** Wraps a parser that throws plain Errors starting with the variable's name (e.g. one owned by another module). */
export function delegate<T>(name: string, parse: (raw: string) => T): Parser<T> {
  return (raw) => {
    try {
      return parse(raw);
    } catch (e) {
      const message = (e as Error).message;
      throw new Invalid(message.startsWith(`${name} `) ? message.slice(name.length + 1) : message);
    }
  };
}

/**
 * WEBHOOK_URLS: endpoints separated by spaces, each `URL` (every event) or `URL|filter`, the filter
 * a comma list of event types and `prefix.*` patterns. URLs are never echoed (they may hold a token).
 */
export const webhookEndpoints: Parser<{ url: string; filter: string[] | null }[]> = (raw) => {
  const endpoints = raw.split(/\s+/).filter(Boolean).map((entry, i) => {
    const bar = entry.indexOf('|');
    const address = bar < 0 ? entry : entry.slice(0, bar);
    let parsed: URL | undefined;
    try {
      parsed = new URL(address);
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
      throw new Invalid(`entry ${i + 1} must start with an http:// or https:// URL`);
    }
    if (bar < 0) return { url: address, filter: null };
    const filter = list(entry.slice(bar + 1));
    const known = new Set<string>(EVENT_TYPES);
    const bad = filter.find((f) => !(known.has(f) || (f.endsWith('.*') && EVENT_TYPES.some((t) => t.startsWith(f.slice(0, -1))))));
    if (filter.length === 0 || bad !== undefined) {
      throw new Invalid(`entry ${i + 1}: the filter after "|" must list event types or prefixes such as user.* (${bad === undefined ? 'it is empty' : `"${bad}" matches no event type`})`);
    }
    return { url: address, filter };
  });
  if (endpoints.length === 0) throw new Invalid('must list at least one URL');
  return endpoints;
};

/** The Standard Webhooks key sizes. */
const WEBHOOK_KEY_BYTES = [24, 64] as const;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** WEBHOOK_SECRET: base64 after an optional `whsec_` prefix (Standard Webhooks), 24 to 64 bytes; the key. Never echoed. */
export const webhookSecret: Parser<Buffer> = (raw) => {
  const text = raw.startsWith('whsec_') ? raw.slice('whsec_'.length) : raw;
  const example = 'e.g. whsec_$(openssl rand -base64 32)';
  if (text === '' || !BASE64.test(text)) throw new Invalid(`must be base64 after an optional "whsec_" prefix (${example})`);
  const key = Buffer.from(text, 'base64');
  if (key.length < WEBHOOK_KEY_BYTES[0] || key.length > WEBHOOK_KEY_BYTES[1]) {
    throw new Invalid(`must decode to ${WEBHOOK_KEY_BYTES[0]} to ${WEBHOOK_KEY_BYTES[1]} bytes, got ${key.length} (${example})`);
  }
  return key;
};

/** CORS_ORIGINS: exact origins (scheme, host and port; no path), comma-separated; never `*`. */
export const corsOrigins: Parser<string[]> = (raw) => {
  const items = list(raw);
  if (items.length === 0) throw new Invalid('must list at least one origin');
  for (const o of items) {
    if (o === '*' || o === 'null') throw new Invalid(`must list exact origins: "${o}" would let any page call the API with the user's cookies`);
    let origin: string | undefined;
    try {
      origin = new URL(o).origin;
    } catch {
      origin = undefined;
    }
    if (origin !== o || !/^https?:/.test(o)) throw new Invalid(`must list origins written as https://host[:port], without a path or a trailing slash${got(o)}`);
  }
  return items;
};

/** A domain name (no IP, no port), lower-cased: a WebAuthn relying party id. */
export const domain: Parser<string> = (raw) => {
  if (!HOST_NAME.test(raw) || /^[0-9.]+$/.test(raw)) throw new Invalid(`must be a domain name such as example.com or localhost${got(raw)}`);
  return raw.toLowerCase();
};

/** Comma-separated web origins (`https://host[:port]`, nothing after), as browsers write them. */
export const origins: Parser<string[]> = (raw) => {
  const items = list(raw);
  const bad = items.find((o) => {
    try {
      const u = new URL(o);
      return (u.protocol !== 'https:' && u.protocol !== 'http:') || u.origin !== o;
    } catch {
      return true;
    }
  });
  if (items.length === 0 || bad !== undefined) {
    throw new Invalid(`must be a comma-separated list of origins such as https://example.com or http://localhost:8000${bad ? got(bad) : ''}`);
  }
  return items;
};

/** A 256-bit key, as 64 hex digits or base64; the value is never echoed. */
export const key256: Parser<Buffer> = (raw) => {
  if (/^[0-9a-fA-F]{64}$/.test(raw)) return Buffer.from(raw, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(raw)) return Buffer.from(raw, 'base64');
  throw new Invalid('must be 32 bytes written as 64 hex digits or base64 (generate one with: openssl rand -base64 32)');
};

/** Which proxies' `X-Forwarded-For` entries to believe: none (false), a hop count, or their addresses. */
export type ProxyTrust = false | number | string[];

/**
 * TRUST_PROXY: `false`, a hop count, or addresses/CIDRs (and proxy-addr's names loopback, linklocal,
 * uniquelocal), checked by the same parser Fastify will use. `true` is refused: it would believe the
 * left-most entry, which the client writes.
 */
export const proxyTrust: Parser<ProxyTrust> = (raw) => {
  const expects = 'must be false, the number of proxies in front of Warden (e.g. 1), or their addresses/CIDRs (e.g. 10.0.0.0/8,loopback)';
  if (/^(false|no|off)$/i.test(raw)) return false;
  if (/^(true|yes|on)$/i.test(raw)) {
    throw new Invalid(`${expects}; true is refused because it believes any X-Forwarded-For a client writes${got(raw)}`);
  }
  if (/^\d+$/.test(raw)) return int(0, 32)(raw) || false;
  const items = list(raw);
  try {
    proxyAddr.compile(items);
  } catch {
    throw new Invalid(`${expects}${got(raw)}`);
  }
  if (items.length === 0) throw new Invalid(`${expects}${got(raw)}`);
  return items;
};
