// Entry point: the primary validates the configuration once and supervises; workers serve HTTP.
// Each side imports only its own modules: a worker never loads the supervisor (execa), the
// configuration schema (zod, dotenv) or the OpenAPI generator, which keeps every extra worker small.
import cluster from 'node:cluster';
import type { Config } from './config.js';
import { createLogger } from './logger.js';
import { WORKER_CONFIG_ENV } from './ipc/messages.js';

async function configure(): Promise<Config> {
  if (cluster.isWorker) {
    const given = process.env[WORKER_CONFIG_ENV];
    if (given !== undefined) {
      delete process.env[WORKER_CONFIG_ENV];
      return JSON.parse(given) as Config;
    }
  }
  const { ConfigError, loadConfig, withDotenv } = await import('./config.js');
  try {
    if (cluster.isPrimary) {
      // Workers and sidecars inherit the environment, dotenv values included; the real one wins.
      const merged = withDotenv(process.env);
      for (const [k, v] of Object.entries(merged)) if (process.env[k] === undefined && v !== undefined) process.env[k] = v;
    }
    return loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

// `ps -ef | grep mdso-ocr` shows the primary, its workers and (titled by themselves) the sidecars.
process.title = cluster.isPrimary ? 'mdso-ocr:primary' : 'mdso-ocr:worker';

const config = await configure();
const logger = createLogger({
  level: config.logLevel,
  json: config.production,
  component: cluster.isPrimary ? 'primary' : `worker-${cluster.worker?.id ?? 0}`,
});

const run = cluster.isPrimary ? (await import('./primary/primary.js')).runPrimary : (await import('./worker/worker.js')).runWorker;
run(config, logger).catch((err: unknown) => {
  logger.error('fatal', { error: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
