// The node http server under Fastify, built here (Fastify's `serverFactory`) for what must happen
// before Fastify sees a request or must cost nothing per request on the hot path:
//  - the slow-client timeouts (with a serverFactory Fastify ignores its own timeout options);
//  - the headers every response carries, added as the head is written (see withHeaders) rather
//    than in a Fastify hook;
//  - the drain switch of shutdown: once on, each request is answered 503 with Retry-After and
//    `Connection: close` before routing, in the body shape of its API family.
import { createServer, ServerResponse, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import type { FastifyServerFactory } from 'fastify';
import { detailBody, envelopeBody, toHttpError, WardenError } from '@warden/toolkit';
import type { Config } from '../config.js';
import { everyResponseHeaders } from './security-headers.js';

/** What a client is told while this instance drains: retry in a second (another instance, or the restarted one). */
export const DRAIN_RETRY_AFTER_SECONDS = 1;

export interface HttpEdge {
  serverFactory: FastifyServerFactory;
  /** From now on every request is answered 503 (the instance is shutting down). */
  drain(): void;
}

export function createHttpEdge(config: Pick<Config, 'connections' | 'cookies'>): HttpEdge {
  const c = config.connections;
  const Response = withHeaders(everyResponseHeaders(config));
  let draining = false;

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
      else handler(req, res);
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
  };
}

/**
 * A ServerResponse that adds `headers` (lower-case names) to every response head it writes,
 * unless the response set them itself. They go into the object handed to writeHead, as Fastify
 * hands over its reply's headers: a res.setHeader() per request would switch node to its slower
 * path for every head (the headers merged one by one into a dictionary-mode object).
 */
function withHeaders(headers: ReadonlyArray<readonly [string, string]>): typeof ServerResponse {
  const writeHead = ServerResponse.prototype.writeHead as (this: ServerResponse, ...args: unknown[]) => ServerResponse;
  class EveryResponseHeaders extends ServerResponse {}
  EveryResponseHeaders.prototype.writeHead = function (this: ServerResponse, statusCode: number, reason?: unknown, obj?: unknown) {
    const given = typeof reason === 'string' ? obj : (obj ?? reason);
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
  const e = toHttpError(new WardenError('ERR_UNAVAILABLE', 'The server is shutting down; retry the request',
    { retryAfter: DRAIN_RETRY_AFTER_SECONDS }));
  const url = req.url ?? '';
  const body = url.startsWith('/oauth/') ? { error: 'server_error', error_description: e.message }
    : url.startsWith('/api/v1/') ? envelopeBody(e)
    : detailBody(e);
  const text = JSON.stringify(body);
  res.writeHead(e.status, {
    ...e.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    connection: 'close',
  });
  res.end(text);
}
