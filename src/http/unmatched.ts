// Answers for requests no route takes: an unknown path, a known path with another method, a URL
// Fastify cannot route, and HTTP the parser refuses. Each in the shape of the API the URL belongs
// to (familyOfUrl), with a stable code, instead of Fastify's own `{"error", "message", "statusCode"}`.
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { detailBody, toHttpError, WardenError } from '@warden/toolkit';
import { familyOfUrl, render } from './error-families.js';

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

function answer(req: FastifyRequest, reply: FastifyReply, err: WardenError, headers: Record<string, string> = {}): number {
  const family = familyOfUrl(req.url);
  const e = render(family, err);
  void reply.code(e.status).headers({ ...e.headers, ...headers }).send(family.body(e));
  return e.status;
}

/**
 * The not-found handler: 405 with `Allow` when the path has routes for other methods (as FastAPI
 * and Flask answer), else 404. `answered` is told the status (the unmatched-route metric).
 */
export function notFoundHandler(app: FastifyInstance, answered?: (method: string, status: number, seconds: number) => void) {
  return (req: FastifyRequest, reply: FastifyReply): void => {
    const path = req.url.split('?', 1)[0]!;
    // A catch-all route (CORS_ORIGINS' preflight route, `OPTIONS *`) makes no path known.
    const allowed = METHODS.filter((m) => {
      if (m === req.method) return false;
      const route = app.findRoute({ method: m, url: path });
      return route !== null && !Object.hasOwn(route.params as object, '*');
    });
    const status = allowed.length > 0
      ? answer(req, reply, new WardenError('ERR_METHOD_NOT_ALLOWED', 'Method Not Allowed'), { allow: allowed.join(', ') })
      : answer(req, reply, new WardenError('ERR_NOT_FOUND', 'Not Found'));
    answered?.(req.method, status, reply.elapsedTime / 1000);
  };
}

/**
 * The root error handler. Fastify parses a request's body before its not-found handler runs, so a
 * URL no route takes met a malformed or oversized body there, and was answered 400 or 413 in
 * /api's shape; no route reads that body, so it is answered as any unmatched URL is (404 or 405,
 * in its family's shape). Every other error goes to `otherwise`.
 */
export function rootErrorHandler(
  notFound: (req: FastifyRequest, reply: FastifyReply) => void,
  otherwise: (err: unknown, req: FastifyRequest, reply: FastifyReply) => void,
) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply): void => {
    if (req.is404) notFound(req, reply);
    else otherwise(err, req, reply);
  };
}

/**
 * Fastify's `frameworkErrors`: a URL that does not decode is 400; a path segment longer than any
 * id (maxParamLength) names nothing, so 404. `answered` as for notFoundHandler.
 */
export function frameworkErrors(answered?: (method: string, status: number, seconds: number) => void) {
  return (error: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    const status = answer(req, reply, error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? new WardenError('ERR_NOT_FOUND', 'Not Found') : new WardenError('ERR_BAD_REQUEST', 'Malformed URL'));
    answered?.(req.method, status, reply.elapsedTime / 1000);
  };
}

/**
 * Fastify's `clientErrorHandler`: HTTP the parser refused (oversized headers, a malformed request
 * line, conflicting lengths) or a client too slow to send it. No URL can be trusted yet, so the
 * body is /api's `{"detail", "code"}`; the connection is closed, as Node does.
 */
export function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e = toHttpError(new WardenError(
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'ERR_REQUEST_TIMEOUT' : err.code === 'HPE_HEADER_OVERFLOW' ? 'ERR_HEADERS_TOO_LARGE' : 'ERR_BAD_REQUEST',
  ));
  const body = JSON.stringify(detailBody(e));
  // A HEAD's answer has no body (RFC 9110 §9.3.2): a client reads any bytes after the head as
  // garbage. The parser got past the request line when it is the headers that were too large.
  const head = (err as { rawPacket?: Buffer }).rawPacket?.subarray(0, 5).toString('latin1') === 'HEAD ';
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${e.status} ${STATUS_CODES[e.status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${head ? '' : body}`);
  }
  socket.destroy();
}
