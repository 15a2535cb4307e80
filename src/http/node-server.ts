// The node http server under Fastify, built here (Fastify's `serverFactory`) for what must happen
// before Fastify sees a request or must cost nothing per request on the hot path:
//  - the slow-client timeouts (with a serverFactory Fastify ignores its own timeout options);
//  - the headers every response carries, set on the raw response rather than in a Fastify hook;
//  - the drain switch of shutdown: once on, each request is answered 503 with Retry-After and
//    `Connection: close` before routing, in the body shape of its API family.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
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
  const headers = everyResponseHeaders(config);
  const names = headers.map(([n]) => n);
  const values = headers.map(([, v]) => v);
  let draining = false;

  const serverFactory: FastifyServerFactory = (handler) => {
    const server = createServer({
      headersTimeout: c.headersTimeoutMs,
      requestTimeout: c.requestTimeoutMs,
      keepAliveTimeout: c.keepAliveTimeoutMs,
      // Node enforces the two limits above on this tick (default 30 s): a 10 s limit could last 40.
      connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(c.headersTimeoutMs / 10))),
    }, (req, res) => {
      for (let i = 0; i < names.length; i++) res.setHeader(names[i]!, values[i]!);
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
