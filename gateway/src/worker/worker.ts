// A gateway worker process (node:cluster): serves HTTP from the primary's health snapshot, asks to be
// recycled after MAX_REQUESTS answers, and drains in-flight requests when told to stop.
import type { Server, ServerResponse } from 'node:http';
import net from 'node:net';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { closeSidecarAgents } from '../sidecar-client.js';
import { isPrimaryToWorker, WORKER_CONTRACT_ENV, WORKER_HEARTBEAT_MS, type WorkerToPrimary } from '../ipc/messages.js';
import { type SidecarContract, parseContract } from '../ipc/sidecar-wire.js';
import { createApp } from './app.js';
import { ConnectionGuard, connectionCap, openFileLimit } from './connections.js';
import { PrimaryClient } from './primary-client.js';
import { SnapshotStore } from './snapshot-store.js';
import { WorkerMetrics } from './worker-metrics.js';

export async function runWorker(config: Config, logger: Logger): Promise<void> {
  const contract = contractFromPrimary();
  const store = new SnapshotStore();
  const metrics = new WorkerMetrics();
  metrics.listen();
  const primary = new PrimaryClient((msg: WorkerToPrimary) => process.send?.(msg) ?? false);
  let server: Server | null = null;
  let guard: ConnectionGuard | null = null;
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
    // Stop taking connections; every answer from now on says `Connection: close`; a connection is
    // closed once it is quiet (never between an answer and the next request a keep-alive client
    // has already sent); the worker exits when the last one is gone.
    for (const res of open) if (!res.headersSent) res.setHeader('Connection', 'close');
    // net.Server's close, not http.Server's: since node 19 the latter also closes every idle
    // keep-alive connection at once, racing the next request a client is sending on it.
    net.Server.prototype.close.call(server, () => {
      guard?.stop();
      void closeSidecarAgents().finally(() => process.exit(0));
    });
    guard?.drain();
  };

  process.on('message', (msg: unknown) => {
    if (!isPrimaryToWorker(msg)) return;
    if (msg.type === 'snapshot') store.update(msg.snapshot);
    else if (msg.type === 'answer') primary.onMessage(msg);
    else drain('asked by the primary');
  });
  // The primary orders shutdown; a signal sent to the whole group (Ctrl-C) must not cut requests.
  // Now that the snapshot has a listener, ask for it (the one sent at 'online' may have had none).
  process.send?.({ type: 'snapshot-please' } satisfies WorkerToPrimary);
  process.on('SIGINT', () => drain('SIGINT'));
  process.on('SIGTERM', () => drain('SIGTERM'));
  process.on('disconnect', () => drain('primary went away'));

  // The primary's watchdog replaces a worker whose event loop stops turning (WORKER_STALL_TIMEOUT).
  setInterval(() => process.send?.({ type: 'alive' } satisfies WorkerToPrimary, undefined, {}, () => undefined), WORKER_HEARTBEAT_MS).unref();

  await store.ready();
  const app = createApp(config, logger, store, metrics, primary, contract);

  let answered = 0;
  let recycleAsked = false;
  server = app.listen(config.port, config.host);
  // The whole OCR exchange is bounded by TIMEOUT; node's own 300 s request timeout must not cut
  // a slow upload sooner or later than that.
  server.requestTimeout = config.timeoutMs + 30_000;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  const fdLimit = openFileLimit();
  server.maxConnections = connectionCap(config.maxConnections, fdLimit);
  guard = new ConnectionGuard(server, config.connectionIdleTimeoutMs);
  // Before express's own listener: express may answer synchronously (/livez), after which no header
  // can be set (it threw, and the draining worker died with its connections).
  server.prependListener('request', (_req, res: ServerResponse) => {
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
    });
  });
  server.on('error', (err) => {
    logger.error('worker could not listen', { error: err.message, port: config.port });
    process.exit(1);
  });
}

/** The sidecars' contract the primary read at start (null when it could not: OCR requests answer 503). */
function contractFromPrimary(): SidecarContract | null {
  const given = process.env[WORKER_CONTRACT_ENV];
  if (given === undefined) return null;
  delete process.env[WORKER_CONTRACT_ENV];
  return parseContract(JSON.parse(given));
}
