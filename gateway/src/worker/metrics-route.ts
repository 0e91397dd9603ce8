// GET /metrics in a worker: asks the primary (over cluster IPC) for the metrics of every worker,
// summed, plus the primary's sidecar gauges; and the middleware counting this worker's requests.
import type { NextFunction, Request, Response } from 'express';
import { ServiceUnavailable } from '../api/errors.js';
import type { PrimaryClient } from './primary-client.js';
import { contextOf } from './request-context.js';
import { METRICS_CONTENT_TYPE, type WorkerMetrics } from './worker-metrics.js';

export function metricsRoute(client: PrimaryClient) {
  return async (_req: Request, res: Response): Promise<void> => {
    let text: string;
    try {
      text = await client.request('metrics');
    } catch (err) {
      throw new ServiceUnavailable(`Metrics could not be collected: ${err instanceof Error ? err.message : String(err)}.`, 5);
    }
    res.type(METRICS_CONTENT_TYPE).send(text);
  };
}

/**
 * Counts every answered request once it is sent (or the client went away: 499), and the requests
 * in flight meanwhile. Labels are the route pattern (never the raw path) and the service only once
 * it was found enabled.
 */
export function observeRequests(metrics: WorkerMetrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    metrics.inFlight.inc();
    res.on('close', () => {
      metrics.inFlight.dec();
      const ctx = contextOf(res);
      const route = routeLabel(req.path);
      const service = typeof ctx.access.service === 'string' ? ctx.access.service : '';
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.requests.inc({ route, service, status: String(status) });
      metrics.duration.observe({ route, service }, (performance.now() - ctx.startedAt) / 1000);
    });
    next();
  };
}

const FIXED_ROUTES = new Set(['/health', '/services', '/livez', '/readyz', '/metrics', '/openapi.json', '/docs']);

/** The route pattern of a path, from a fixed set (known even when auth answered before routing). */
export function routeLabel(path: string): string {
  if (/^\/ocr\/[^/]+\/?$/.test(path)) return '/ocr/{service}';
  // A job id is 32 hex digits; no service is named so.
  if (/^\/jobs\/[0-9a-f]{32}$/.test(path)) return '/jobs/{id}';
  if (/^\/jobs\/[^/]+\/result$/.test(path)) return '/jobs/{id}/result';
  if (/^\/jobs\/[^/]+$/.test(path)) return '/jobs/{service}';
  if (FIXED_ROUTES.has(path)) return path;
  if (path.startsWith('/docs/')) return '/docs';
  return 'unmatched';
}
