/**
 * The HTTP endpoint Prometheus scrapes: GET /metrics (text exposition format) and
 * GET /healthz. Anything else is 404; methods other than GET/HEAD are 405.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CkptMetrics } from './metrics.js';

export interface MetricsServer {
  url: string; // http://host:port
  port: number;
  close(): Promise<void>;
}

export class MetricsServerError extends Error {
  override name = 'MetricsServerError';
}

export function startMetricsServer(
  metrics: CkptMetrics,
  options: { port?: number; host?: string } = {},
): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: Error) => {
        res
          .writeHead(500, { 'content-type': 'text/plain' })
          .end(`metrics failed: ${err.message}\n`);
      },
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new MetricsServerError(
          `cannot listen on ${host}:${options.port ?? 9464}: ${err.code ?? err.message}`,
          {
            cause: err,
          },
        ),
      );
    });
    server.listen(options.port ?? 9464, host, () => {
      const { port } = server.address() as AddressInfo;
      const shown = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${shown}:${port}`,
        port,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
