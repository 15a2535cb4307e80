// Which webhook endpoints get which events. WEBHOOK_URLS lists endpoints separated by spaces, each
// `URL` (every event) or `URL|filter`, the filter a comma list of event types or prefixes such as
// `user.*` (see the README). Parsed and checked at start (src/config/parsers.ts).
import type { EventType } from '../records.js';

export interface WebhookEndpoint {
  url: string;
  /** Event types or `prefix.*` patterns; null: every event. */
  filter: readonly string[] | null;
}

function matches(filter: readonly string[] | null, type: EventType): boolean {
  if (filter === null) return true;
  return filter.some((f) => (f.endsWith('.*') ? type.startsWith(f.slice(0, -1)) : f === type));
}

/**
 * The endpoint as a delivery row names it: the URL without its `user:password@`. The credentials
 * are the configuration's, attached when a delivery is sent: a row holding them went on naming the
 * old password after WEBHOOK_URLS changed it, matched no configured endpoint, and was given up
 * undelivered a day later (and every row, and so every database dump, held the password).
 */
export function endpointKey(url: string): string {
  try {
    const u = new URL(url);
    if (u.username === '' && u.password === '') return url;
    u.username = '';
    u.password = '';
    return u.href;
  } catch {
    return url;
  }
}

/** The endpoints (as delivery rows name them, endpointKey) each event type goes to, computed once per type. */
export function webhookRouter(endpoints: readonly WebhookEndpoint[]): (type: EventType) => readonly string[] {
  const cache = new Map<EventType, readonly string[]>();
  return (type) => {
    let urls = cache.get(type);
    if (urls === undefined) {
      urls = [...new Set(endpoints.filter((e) => matches(e.filter, type)).map((e) => endpointKey(e.url)))];
      cache.set(type, urls);
    }
    return urls;
  };
}

/** An endpoint as logs and the deliveries API show it: no credentials, no query string. */
export function shownEndpoint(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

/**
 * A failure as the logs and the deliveries API show it: every URL in it as shownEndpoint shows one,
 * whatever form fetch quoted it in. The worker writes failures so; the API reads them so too, as
 * rows an older Warden wrote may quote an endpoint with its `user:password@` or its query.
 */
export function shownFailure(text: string): string {
  return text.replace(/\bhttps?:\/\/[^\s"'<>]+/gi, (url) => shownEndpoint(url));
}

/**
 * What fetch is given for an endpoint: fetch refuses a URL holding `user:password@` (and its error
 * message quotes the whole URL, password included), so the credentials travel as HTTP Basic
 * authentication, as curl and receivers expect of such a URL, and the URL goes without them.
 */
export function requestTarget(endpoint: string): { url: string; authorization?: string } {
  const u = new URL(endpoint);
  if (u.username === '' && u.password === '') return { url: endpoint };
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  };
  const credentials = `${decode(u.username)}:${decode(u.password)}`;
  u.username = '';
  u.password = '';
  return { url: u.href, authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
}
