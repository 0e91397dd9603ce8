// The worker's express application: request id, security headers, access log, metrics, open routes
// (probes, API docs), auth, routes (OCR, durable jobs), and the single error-mapping middleware.
import express, { type Express } from 'express';
import type { Config } from '../config.js';
import type { SidecarContract } from '../ipc/sidecar-wire.js';
import type { Logger } from '../logger.js';
import { apiKeyAuth } from './auth.js';
import { docsRouter } from './docs-routes.js';
import { errorHandler, notFound } from './error-handler.js';
import { jobsRouter } from './jobs-route.js';
import { metricsRoute, observeRequests } from './metrics-route.js';
import { ocrRoute } from './ocr-route.js';
import { remoteRoute } from './remote-route.js';
import type { PrimaryClient } from './primary-client.js';
import { accessLog, requestContext, securityHeaders } from './request-context.js';
import type { SnapshotStore } from './snapshot-store.js';
import { healthRoute, livezRoute, readyzRoute, servicesRoute } from './status-routes.js';
import type { WorkerMetrics } from './worker-metrics.js';

export function createApp(
  config: Config,
  logger: Logger,
  store: SnapshotStore,
  metrics: WorkerMetrics,
  primary: PrimaryClient,
  contract: SidecarContract | null,
): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  // One spelling per route: `/OCR/tesseract` and `/ocr/tesseract/` are 404, like an unknown route
  // (and an encoded service name, see ocr-route.ts). Documented in README (API).
  app.set('case sensitive routing', true);
  app.set('strict routing', true);
  // The access log's client address: X-Forwarded-For counts only from the proxies TRUST_PROXY names.
  app.set('trust proxy', config.trustProxy);
  app.use(requestContext(logger));
  app.use(securityHeaders());
  app.use(accessLog());
  app.use(observeRequests(metrics));

  app.get('/livez', livezRoute);
  // Browsers opening /docs ask for it: no icon, and no 401 for it either.
  app.get('/favicon.ico', (_req, res) => void res.status(204).end());
  app.get('/readyz', readyzRoute(store));
  // The API's description reveals no data: open, like the probes.
  app.use(docsRouter(primary));
  if (config.metricsPublic) app.get('/metrics', metricsRoute(primary));

  app.use(apiKeyAuth(config.apiKeys));
  if (!config.metricsPublic) app.get('/metrics', metricsRoute(primary));
  app.get('/health', healthRoute(config, store));
  app.get('/services', servicesRoute(store));
  // A remote service's requests are proxied to its peer; the local route takes the others.
  app.post('/ocr/:service', remoteRoute(config, store, metrics), ...ocrRoute(config, store, metrics, contract));
  app.use(jobsRouter(config, store, primary, contract));

  app.use(notFound);
  app.use(errorHandler);
  return app;
}
