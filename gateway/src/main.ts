// Entry point: the primary validates the configuration once and supervises; workers serve HTTP.
import cluster from 'node:cluster';
import { ConfigError, loadConfig, withDotenv } from './config.js';
import { createLogger } from './logger.js';
import { runPrimary } from './primary/primary.js';
import { runWorker } from './worker/worker.js';

function configure() {
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

const config = configure();
const logger = createLogger({
  level: config.logLevel,
  json: config.production,
  component: cluster.isPrimary ? 'primary' : `worker-${cluster.worker?.id ?? 0}`,
});

const run = cluster.isPrimary ? runPrimary : runWorker;
run(config, logger).catch((err: unknown) => {
  logger.error('fatal', { error: err instanceof Error ? err.stack : String(err) });
  process.exit(1);
});
