// The worker's express application: request id, security headers, access log, auth, routes, and
// the single error-mapping middleware.
import express, { type Express } from 'express';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { apiKeyAuth } from './auth.js';
import { errorHandler, notFound } from './error-handler.js';
import { ocrRoute } from './ocr-route.js';
import { accessLog, requestContext, securityHeaders } from './request-context.js';
import type { SnapshotStore } from './snapshot-store.js';
import { healthRoute, livezRoute, readyzRoute, servicesRoute } from './status-routes.js';

export function createApp(config: Config, logger: Logger, store: SnapshotStore): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(requestContext(logger));
  app.use(securityHeaders);
  app.use(accessLog());

  app.get('/livez', livezRoute);
  app.get('/readyz', readyzRoute(store));

  app.use(apiKeyAuth(config.apiKeys));
  app.get('/health', healthRoute(config, store));
  app.get('/services', servicesRoute(store));
  app.post('/ocr/:service', ...ocrRoute(config, store));

  app.use(notFound);
  app.use(errorHandler);
  return app;
}
