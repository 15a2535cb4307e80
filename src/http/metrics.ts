// Prometheus metrics over HTTP: every route records its responses (method, status, latency) through
// an onResponse hook attached when the route is registered, so its labels are resolved once and a
// request pays for one histogram observation; `/metrics` answers the text exposition, on the
// public port or, with METRICS_PORT, on a port of its own.
import { createServer, type Server } from 'node:http';
import type { FastifyInstance, onResponseHookHandler, RouteOptions } from 'fastify';
import type { WardenMetrics } from '../metrics/metrics.js';

/** The route label of requests that matched no route (their URLs are unbounded). */
export const UNMATCHED_ROUTE = '(unmatched)';

/** Records every route registered from now on. Call before registering routes. */
export function recordRoutes(app: FastifyInstance, metrics: WardenMetrics): void {
  app.addHook('onRoute', (route: RouteOptions) => {
    const record = metrics.route(route.url ?? UNMATCHED_ROUTE);
    const hook: onResponseHookHandler = function recordResponse(req, reply, done) {
      record(req.method, reply.statusCode, reply.elapsedTime / 1000);
      done();
    };
    const existing = route.onResponse;
    route.onResponse = existing === undefined ? [hook] : [...(Array.isArray(existing) ? existing : [existing]), hook];
  });
}

/** GET /metrics on this app (hidden from the OpenAPI document). */
export function metricsRoute(app: FastifyInstance, metrics: WardenMetrics): void {
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const text = await metrics.text();
    return reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(text);
  });
}

/** A server answering only GET /metrics, for METRICS_PORT. */
export function metricsServer(metrics: WardenMetrics): Server {
  return createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' }).end(text),
      () => res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
}
