// The node http server under Fastify, built here (Fastify's `serverFactory`) for what must happen
// before Fastify sees a request or must cost nothing per request on the hot path:
//  - the slow-client timeouts (with a serverFactory Fastify ignores its own timeout options);
//  - the headers every response carries, added as the head is written (see withHeaders) rather
//    than in a Fastify hook;
//  - the drain switch of shutdown: once on, each request is answered 503 with Retry-After and
//    `Connection: close` before routing, in the body shape of its API family;
//  - edge routes: a GET of one exact URL that a handler may answer before Fastify routes it (forward
//    auth, which a gateway sends once per proxied request); a handler that declines leaves the
//    request to Fastify, as if the edge were not there.
import { createServer, ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { FastifyServerFactory } from 'fastify';
import { WardenError } from '@warden/toolkit';
import type { Config } from '../config.js';
import { familyOfUrl, render } from './error-families.js';
import { everyResponseHeaders } from './security-headers.js';

/** What a client is told while this instance drains: retry in a second (another instance, or the restarted one). */
export const DRAIN_RETRY_AFTER_SECONDS = 1;

/** Answers the request and returns true, or returns false having written nothing (Fastify answers it). */
export type EdgeRoute = (req: IncomingMessage, res: ServerResponse) => boolean;

export interface HttpEdge {
  serverFactory: FastifyServerFactory;
  /** From now on every request is answered 503 (the instance is shutting down). */
  drain(): void;
  /** GET of exactly `url` (no query string) goes to `route` first. */
  get(url: string, route: EdgeRoute): void;
}

export function createHttpEdge(config: Pick<Config, 'connections' | 'cookies'>): HttpEdge {
  const c = config.connections;
  let draining = false;
  const Response = withHeaders(everyResponseHeaders(config), () => draining);
  const routes = new Map<string, EdgeRoute>();

  const serverFactory: FastifyServerFactory = (handler) => {
    const server = createServer({
      headersTimeout: c.headersTimeoutMs,
      requestTimeout: c.requestTimeoutMs,
      keepAliveTimeout: c.keepAliveTimeoutMs,
      // Node enforces the two limits above on this tick (default 30 s): a 10 s limit could last 40.
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(c.headersTimeoutMs / 10))),
      ServerResponse: Response,
    }, (req, res) => {
      if (draining) unavailable(req, res);
      else if (routes.size === 0 || req.method !== 'GET' || !answeredAtEdge(routes, req, res)) handler(req, res);
    });
    server.keepAliveTimeout = c.keepAliveTimeoutMs;
    // No byte either way for this long (a client gone silent mid-request or mid-response): destroyed.
    server.setTimeout(c.idleTimeoutMs);
    return server;
  };

  return {
    serverFactory,
    drain() {
      draining = true;
    },
    get(url, route) {
      routes.set(url, route);
    },
  };
}

function answeredAtEdge(routes: ReadonlyMap<string, EdgeRoute>, req: IncomingMessage, res: ServerResponse): boolean {
  const route = routes.get(req.url ?? '');
  return route !== undefined && route(req, res);
}

/**
 * A ServerResponse that adds `headers` (lower-case names) to every response head it writes,
 * unless the response set them itself. They go into the object handed to writeHead, as Fastify
 * hands over its reply's headers: a res.setHeader() per request would switch node to its slower
 * path for every head (the headers merged one by one into a dictionary-mode object).
 */
function withHeaders(headers: ReadonlyArray<readonly [string, string]>, draining: () => boolean): typeof ServerResponse {
  const writeHead = ServerResponse.prototype.writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  // A constructor function, as node's own ServerResponse is, not a class: `new` of a class deriving
  // from it goes through V8's generic derived-construction path, and node creates one per request;
  // measured, that cost forward auth a fifth of its throughput.
  function EveryResponseHeaders(this: ServerResponse, req: IncomingMessage, options?: unknown): void {
    (ServerResponse as unknown as (this: ServerResponse, req: IncomingMessage, options?: unknown) => void).call(this, req, options);
  }
  Object.setPrototypeOf(EveryResponseHeaders.prototype, ServerResponse.prototype);
  Object.setPrototypeOf(EveryResponseHeaders, ServerResponse);
  EveryResponseHeaders.prototype.writeHead = function (this: ServerResponse, statusCode: number, reason?: unknown, obj?: unknown) {
    const given = typeof reason === 'string' ? obj : (obj ?? reason);
    // Draining: the answer to a request that was in flight closes its connection too. Kept alive,
    // an idle connection held the shutdown until the keep-alive timeout (65 s behind an ALB) or
    // the cut near the grace, leaving the outbox and the storage a second to close.
    if (draining()) this.setHeader('connection', 'close');
    if (given !== null && typeof given === 'object' && !Array.isArray(given)) {
      const fields = given as OutgoingHttpHeaders;
      for (const [name, value] of headers) if (fields[name] === undefined && !this.hasHeader(name)) fields[name] = value;
    } else {
      // No header object (or raw pairs): the rare path, through node's own header list.
      for (const [name, value] of headers) if (!this.hasHeader(name) && !hasPair(given, name)) this.setHeader(name, value);
    }
    return writeHead.call(this, statusCode, reason, obj);
  } as ServerResponse['writeHead'];
  return EveryResponseHeaders as unknown as typeof ServerResponse;
}

/** Whether raw header pairs ([name, value, name, value, …]) name this (lower-case) header. */
function hasPair(pairs: unknown, name: string): boolean {
  if (!Array.isArray(pairs)) return false;
  for (let i = 0; i < pairs.length; i += 2) if (String(pairs[i]).toLowerCase() === name) return true;
  return false;
}

function unavailable(req: IncomingMessage, res: ServerResponse): void {
  const family = familyOfUrl(req.url ?? '');
  const e = render(family, new WardenError('ERR_UNAVAILABLE', 'The server is shutting down; retry the request',
    { retryAfter: DRAIN_RETRY_AFTER_SECONDS }));
  const body = family.body(e);
  const text = JSON.stringify(body);
  res.writeHead(e.status, {
    ...e.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.end(text);
}
