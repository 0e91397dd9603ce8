// The primary process: prepares the private socket directory, starts one supervised sidecar per
// enabled service, waits for them to settle, forks the workers, keeps them fed with health
// snapshots, and shuts everything down in order on SIGTERM/SIGINT.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { JobRequest } from '../ipc/job-messages.js';
import { type PrimaryQuestion, type PrimaryToWorker, WORKER_CONFIG_ENV, WORKER_CONTRACT_ENV } from '../ipc/messages.js';
import type { SidecarContract } from '../ipc/sidecar-wire.js';
import { mainInterpreter, readSidecarContract } from '../sidecar-contract.js';
import { CallbackSender } from '../jobs/callbacks.js';
import { createJobEngine } from '../jobs/create-engine.js';
import { DataDirInUse, claimDataDir } from '../jobs/data-dir-claim.js';
import { type JobEngine, answerJobRequest } from '../jobs/job-engine.js';
import { JobMetrics } from '../jobs/job-metrics.js';
import { HealthPoller } from './health-poller.js';
import { PrimaryMetrics, buildInfo } from './metrics.js';
import { RemotePeers } from './remote-peers.js';
import { SidecarSupervisor } from './sidecar-supervisor.js';
import { WorkerPool } from './worker-pool.js';

export async function runPrimary(config: Config, logger: Logger): Promise<void> {
  for (const warning of config.warnings) logger.warn(warning);
  let releaseDataDir: () => void;
  try {
    releaseDataDir = claimDataDir(config.jobs.dataDir);
  } catch (err) {
    if (!(err instanceof DataDirInUse)) throw err;
    // Before any sidecar starts: one line, as for a configuration error.
    logger.error(err.message);
    process.exit(2);
  }

  const workerEnv: Record<string, string> = {};
  if (config.apiKeys.length === 0) {
    // Only outside production (config refuses production without a key): the quickstart just works.
    const key = randomBytes(24).toString('base64url');
    config.apiKeys = [{ name: 'generated', key }];
    workerEnv.API_KEY = key;
    process.stdout.write(`\nNo API_KEY is set: this run accepts the generated key\n\n    x-api-key: ${key}\n\nSet API_KEY in .env to choose your own.\n\n`);
  }

  const runDir = prepareRunDir(config.runDir);
  workerEnv.RUN_DIR = runDir;
  // The workers take this Config as it is (generated key and run directory included).
  workerEnv[WORKER_CONFIG_ENV] = JSON.stringify({ ...config, runDir });
  const build = buildInfo();
  logger.info('starting', {
    services: config.services.map((s) => s.name),
    remote_services: Object.fromEntries(config.remoteServices.map((r) => [r.name, r.url])),
    workers: config.workers,
    port: config.port,
    ...build,
  });

  // Read while the sidecars load. Without it the gateway still runs (with a broken Python the sidecars
  // fail too, and /health says so), but it can check no option and describe no service.
  const python = mainInterpreter(config.python);
  const contractRead: Promise<SidecarContract | null> = readSidecarContract(python).catch((err: unknown) => {
    logger.error('the sidecars\' contract could not be read: OCR requests answer 503 and /openapi.json cannot be built', {
      python,
      error: err instanceof Error ? err.message : String(err),
    });
    return null;
  });

  const supervisors = config.services.map((s) => new SidecarSupervisor(s, config, runDir, logger));
  let pool: WorkerPool | null = null;
  const remotes = config.remoteServices.length > 0 ? new RemotePeers(config.remoteServices, logger) : null;
  const poller = new HealthPoller(supervisors, config.healthPollMs, (snapshot) => pool?.broadcast({ type: 'snapshot', snapshot }), remotes);
  let jobs: JobEngine | null = null;
  const current = (): PrimaryToWorker => ({ type: 'snapshot', snapshot: poller.snapshot() });

  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down: draining requests', { signal, grace_s: config.shutdownGraceMs / 1000 });
    await pool?.stop(config.shutdownGraceMs);
    await jobs?.close().catch((err: unknown) => logger.warn('job engine did not close cleanly', { error: err instanceof Error ? err.message : String(err) }));
    releaseDataDir();
    poller.stop();
    await Promise.all(supervisors.map((s) => s.stop()));
    if (config.runDir === '') rmSync(runDir, { recursive: true, force: true });
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  for (const s of supervisors) s.start();
  await Promise.all(supervisors.map((s) => s.settled()));
  const contract = await contractRead;
  if (stopping) return;
  if (contract !== null) workerEnv[WORKER_CONTRACT_ENV] = JSON.stringify(contract);
  // The workers' first snapshot already says whether each peer answers (bounded by the poll's timeout).
  if (remotes !== null) await poller.pollOnce();
  if (stopping) return;
  poller.start();

  const metrics = new PrimaryMetrics(
    () => poller.snapshot(),
    () => Object.values(cluster.workers ?? {}).filter((w) => w !== undefined && !w.isDead()).length,
    build,
  );
  // The OpenAPI document is built here, once, on the first request for it: workers do not load
  // its generator (zod's JSON Schema export).
  let openapi: Promise<string> | null = null;
  const answer = (what: PrimaryQuestion): Promise<string> => {
    if (what === 'metrics') return metrics.text();
    if (contract === null) return Promise.reject(new Error("the sidecars' contract could not be read at start (see the gateway log)"));
    openapi ??= import('../api/openapi.js')
      .then(({ buildOpenApi }) => JSON.stringify(buildOpenApi(config, contract)))
      .catch((err: unknown) => {
        openapi = null;
        throw err;
      });
    return openapi;
  };
  // The jobs run here, beside the sidecars they talk to; the workers submit and read them over IPC.
  const jobMetrics = new JobMetrics(metrics.registry, () => jobs?.counts() ?? Promise.reject(new Error('no job engine')));
  jobs = await createJobEngine({
    settings: config.jobs,
    sidecarOf: (service) => poller.snapshot().services.find((s) => s.name === service),
    callbacks: new CallbackSender(config.jobs.callbackSecret, config.jobs.callbackAllowedHosts, logger.child({ component: 'jobs' })),
    logger: logger.child({ component: 'jobs' }),
    metrics: jobMetrics,
  }, config.services.map((s) => s.name));
  if (stopping) return;
  const engine = jobs;
  const answerJob = (request: JobRequest): Promise<string> =>
    answerJobRequest(engine, request, (err) => logger.error('job request failed', { op: request.op, error: err instanceof Error ? err.stack : String(err) }));
  pool = new WorkerPool(config.workers, config.workerStallTimeoutMs, workerEnv, logger, current, answer, answerJob);
  pool.start();
  const states = Object.fromEntries(supervisors.map((s) => [s.name, s.status().state]));
  const remoteStates = Object.fromEntries((remotes?.status() ?? []).map((r) => [r.name, r.state]));
  logger.info(`listening on http://${config.host}:${config.port}`, { sidecars: states, ...(remotes === null ? {} : { remote: remoteStates }) });
}

/**
 * The sockets' directory: RUN_DIR, else a fresh private one under the runtime directory systemd gives
 * the service (RuntimeDirectory= sets RUNTIME_DIRECTORY) or the user's XDG_RUNTIME_DIR, which temp
 * cleaners do not touch; the system temp dir only when neither exists (a sidecar whose socket file is
 * removed there is restarted, see sidecar-supervisor.ts).
 */
export function runDirBase(env: NodeJS.ProcessEnv = process.env): string {
  for (const candidate of [env.RUNTIME_DIRECTORY?.split(':')[0], env.XDG_RUNTIME_DIR]) {
    if (candidate !== undefined && candidate !== '' && isWritableDir(candidate)) return candidate;
  }
  return os.tmpdir();
}

function isWritableDir(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function prepareRunDir(configured: string): string {
  if (configured === '') return mkdtempSync(path.join(runDirBase(), 'mdso-ocr-'));
  mkdirSync(configured, { recursive: true, mode: 0o700 });
  // Sockets are reachable by the service's user only.
  chmodSync(configured, 0o700);
  return configured;
}
