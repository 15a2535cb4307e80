// Shutdown within SHUTDOWN_GRACE_SECONDS whatever clients do. Draining answers every new request
// 503 (node-server.ts); Fastify's close stops listening and closes idle connections at once, then
// waits for requests in flight; what is still open near the end of the grace (a client trickling a
// body, a stuck download) is cut, leaving the rest of the grace for storage and the bus to close.
import type { FastifyInstance } from 'fastify';
import type { HttpEdge } from './node-server.js';

/** When open connections are cut: the grace less a reserve (a second at most) for closing the rest. */
export function cutConnectionsAfter(graceMs: number): number {
  return graceMs - Math.min(1000, graceMs / 4);
}

export async function closeHttp(
  app: FastifyInstance, edge: HttpEdge, graceMs: number, log: { warn(obj: object, msg: string): void },
): Promise<void> {
  edge.drain();
  const cut = setTimeout(() => {
    log.warn({ graceSeconds: graceMs / 1000 }, 'shutdown: closing the connections still open');
    app.server.closeAllConnections();
  }, cutConnectionsAfter(graceMs));
  try {
    await app.close();
  } finally {
    clearTimeout(cut);
  }
}
