// A gateway worker process (node:cluster): serves HTTP from the primary's health snapshot, asks to be
// recycled after MAX_REQUESTS answers, and drains in-flight requests when told to stop.
import type { Server, ServerResponse } from 'node:http';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { closeSidecarAgents } from '../sidecar-client.js';
import { isPrimaryToWorker, type WorkerToPrimary } from '../snapshot.js';
import { createApp } from './app.js';
import { PrimaryClient } from './primary-client.js';
import { SnapshotStore } from './snapshot-store.js';
import { WorkerMetrics } from './worker-metrics.js';

export async function runWorker(config: Config, logger: Logger): Promise<void> {
  const store = new SnapshotStore();
  const metrics = new WorkerMetrics();
  metrics.listen();
  const primary = new PrimaryClient((msg: WorkerToPrimary) => process.send?.(msg) ?? false);
  let server: Server | null = null;
  let draining = false;
  const open = new Set<ServerResponse>();

  const drain = (why: string): void => {
    if (draining) return;
    draining = true;
    logger.info('worker draining', { why });
    const force = setTimeout(() => {
      logger.warn('worker drain grace period over; exiting with requests still open');
      process.exit(0);
    }, config.shutdownGraceMs + 1000);
    force.unref();
    if (server === null) process.exit(0);
    for (const res of open) if (!res.headersSent) res.setHeader('Connection', 'close');
    server.close(() => {
      void closeSidecarAgents().finally(() => process.exit(0));
    });
    server.closeIdleConnections();
  };

  process.on('message', (msg: unknown) => {
    if (!isPrimaryToWorker(msg)) return;
    if (msg.type === 'snapshot') store.update(msg.snapshot);
    else if (msg.type === 'answer') primary.onMessage(msg);
    else drain('asked by the primary');
  });
  // The primary orders shutdown; a signal sent to the whole group (Ctrl-C) must not cut requests.
  process.on('SIGINT', () => drain('SIGINT'));
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('disconnect', () => drain('primary went away'));

  await store.ready();
  const app = createApp(config, logger, store, metrics, primary);

  let answered = 0;
  let recycleAsked = false;
  server = app.listen(config.port, config.host);
  // The whole OCR exchange is bounded by TIMEOUT; node's own 300 s request timeout must not cut
  // a slow upload sooner or later than that.
  server.requestTimeout = config.timeoutMs + 30_000;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.on('request', (_req, res: ServerResponse) => {
    if (draining) res.setHeader('Connection', 'close');
    open.add(res);
    res.on('close', () => open.delete(res));
    res.on('finish', () => {
      answered += 1;
      if (config.maxRequests > 0 && answered >= config.maxRequests && !recycleAsked) {
        recycleAsked = true;
        logger.info('worker reached MAX_REQUESTS; asking to be recycled', { answered });
        process.send?.({ type: 'recycle-me' } satisfies WorkerToPrimary);
      }
      if (draining) server?.closeIdleConnections();
    });
  });
  server.on('error', (err) => {
    logger.error('worker could not listen', { error: err.message, port: config.port });
    process.exit(1);
  });
}
