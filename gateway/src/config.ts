// Configuration: every setting of the gateway in one object, read from the environment (and dotenv
// files, the real environment winning) and validated once at start-up.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';
import { projectRoot } from './paths.js';
import { KNOWN_SERVICES, type ServiceName, isKnownService } from './services.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface ServiceSettings {
  name: ServiceName;
  /** CUDA_VISIBLE_DEVICES for this service's sidecar (per-service override or the global value). */
  cudaVisibleDevices: string | undefined;
  /** Interpreter for this service's sidecar: <SERVICE>_PYTHON, else .venv-<service>, else PYTHON. */
  python: string;
}

export interface Config {
  nodeEnv: string;
  production: boolean;
  host: string;
  port: number;
  workers: number;
  /** Accepted API keys (several for rotation). Empty only before `ensureApiKeys`. */
  apiKeys: string[];
  /** True when no key was configured and one was generated for this run. */
  apiKeyGenerated: boolean;
  services: ServiceSettings[];
  timeoutMs: number;
  logLevel: LogLevel;
  maxRequests: number;
  maxUploadBytes: number;
  maxPages: number;
  healthPollMs: number;
  healthFailuresBeforeRestart: number;
  sidecarStartupTimeoutMs: number;
  sidecarMaxRestarts: number;
  sidecarRestartWindowMs: number;
  sidecarBackoffInitialMs: number;
  sidecarBackoffMaxMs: number;
  shutdownGraceMs: number;
  /** Client connections one worker holds at most (also bounded by its open-file limit). */
  maxConnections: number;
  /** An upload is cut (408) when less than uploadMinBytesPerS × this arrives in any such window. */
  uploadRateWindowMs: number;
  uploadMinBytesPerS: number;
  /** A connection that sends no request for this long is closed. */
  connectionIdleTimeoutMs: number;
  /** A worker whose event loop has not turned for this long is killed and replaced (0: never). */
  workerStallTimeoutMs: number;
  /** Directory holding the sidecars' Unix sockets (mode 0700). Empty: a fresh private one per start. */
  runDir: string;
  sidecarPath: string;
  /** GET /metrics answers without an API key (a scraper on a private network). */
  metricsPublic: boolean;
  /** Warnings to log once the logger exists (e.g. WORKER_CLASS ignored). */
  warnings: string[];
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' }))
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const LOG_LEVELS = { error: 'error', warn: 'warn', warning: 'warn', info: 'info', debug: 'debug' } as const;

// One entry per variable: its default (as the string a user would write) and its validator.
const schema = z.object({
  NODE_ENV: z.string().default('development'),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  PORT: intIn(1, 65535).default(8000),
  WORKERS: intIn(1, 64).default(1),
  API_KEY: z.string().default(''),
  ENABLED_SERVICES: z.string().default('hybrid'),
  TIMEOUT: intIn(1, 86_400).default(300),
  LOG_LEVEL: z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(Object.keys(LOG_LEVELS) as [keyof typeof LOG_LEVELS], { error: 'must be one of error, warn, info, debug' }))
    .default('info'),
  MAX_REQUESTS: intIn(0, 10_000_000).default(0),
  MAX_UPLOAD_MB: intIn(1, 10_240).default(100),
  MAX_PAGES: intIn(1, 100_000).default(200),
  HEALTH_POLL_MS: intIn(100, 600_000).default(2000),
  HEALTH_FAILURES_BEFORE_RESTART: intIn(0, 1000).default(5),
  SIDECAR_STARTUP_TIMEOUT: intIn(1, 7200).default(600),
  SIDECAR_MAX_RESTARTS: intIn(1, 1000).default(5),
  SIDECAR_RESTART_WINDOW: intIn(1, 86_400).default(300),
  SIDECAR_BACKOFF_MS: intIn(10, 600_000).default(500),
  SIDECAR_BACKOFF_MAX_MS: intIn(10, 3_600_000).default(30_000),
  SHUTDOWN_GRACE: intIn(0, 86_400).default(30),
  WORKER_STALL_TIMEOUT: intIn(0, 3600).default(30),
  UPLOAD_RATE_WINDOW: intIn(1, 3600).default(30),
  UPLOAD_MIN_RATE: intIn(0, 1_000_000_000).default(1024),
  MAX_CONNECTIONS: intIn(1, 1_000_000).default(4096),
  CONNECTION_IDLE_TIMEOUT: intIn(1, 3600).default(30),
  RUN_DIR: z.string().default(''),
  PYTHON: z.string().default(''),
  METRICS_PUBLIC: bool.default(false),
  CUDA_VISIBLE_DEVICES: z.string().optional(),
  WORKER_CLASS: z.string().optional(),
});

type Env = Record<string, string | undefined>;

/** Reads dotenv files into a copy of `env` without overriding what is already set. */
export function withDotenv(env: Env, root = projectRoot()): Env {
  const merged: Env = { ...env };
  const files = env.DOTENV_CONFIG_PATH ? [env.DOTENV_CONFIG_PATH] : [path.join(root, '.env')];
  for (const file of files) {
    if (!existsSync(file)) continue;
    const parsed = dotenv.parse(readFileSync(file, 'utf8'));
    for (const [key, value] of Object.entries(parsed)) {
      if (merged[key] === undefined) merged[key] = value;
    }
  }
  return merged;
}

/** Validates `env` into a Config; throws ConfigError with one line naming the bad variable. */
export function loadConfig(env: Env): Config {
  // Empty strings mean "unset" (as docker-compose writes `FOO=`), so defaults apply.
  const cleaned: Env = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value;
  }
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const issue = result.error.issues[0];
    const variable = String(issue?.path[0] ?? 'configuration');
    const got = cleaned[variable];
    throw new ConfigError(
      `Invalid configuration: ${variable} ${issue?.message ?? 'is invalid'}${got === undefined ? '' : ` (got ${JSON.stringify(got)})`}`,
    );
  }
  const v = result.data;
  const warnings: string[] = [];
  if (v.WORKER_CLASS !== undefined) {
    warnings.push(`WORKER_CLASS=${v.WORKER_CLASS} is a gunicorn setting and is ignored: workers are node:cluster processes`);
  }

  const names = v.ENABLED_SERVICES.split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (names.length === 0) throw new ConfigError('Invalid configuration: ENABLED_SERVICES must name at least one service');
  const root = projectRoot();
  const venvPython = path.join(root, '.venv', 'bin', 'python');
  const python = v.PYTHON !== '' ? v.PYTHON : existsSync(venvPython) ? venvPython : 'python3';
  const services: ServiceSettings[] = [];
  for (const name of names) {
    if (!isKnownService(name)) {
      throw new ConfigError(
        `Invalid configuration: ENABLED_SERVICES names unknown service ${JSON.stringify(name)} (known: ${KNOWN_SERVICES.join(', ')})`,
      );
    }
    if (services.some((s) => s.name === name)) continue;
    const override = env[`${name.toUpperCase()}_CUDA_VISIBLE_DEVICES`];
    const ownPython = env[`${name.toUpperCase()}_PYTHON`]?.trim();
    // A service whose dependencies conflict with the others' (marker) gets its own venv.
    const serviceVenv = path.join(root, `.venv-${name}`, 'bin', 'python');
    services.push({
      name,
      cudaVisibleDevices: override !== undefined && override.trim() !== '' ? override.trim() : v.CUDA_VISIBLE_DEVICES,
      python: ownPython !== undefined && ownPython !== '' ? ownPython : existsSync(serviceVenv) ? serviceVenv : python,
    });
  }

  const production = v.NODE_ENV === 'production';
  const apiKeys = v.API_KEY.split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  if (apiKeys.length === 0 && production) {
    throw new ConfigError('Invalid configuration: API_KEY must be set when NODE_ENV=production (comma-separate several keys for rotation)');
  }
  if (v.SIDECAR_BACKOFF_MAX_MS < v.SIDECAR_BACKOFF_MS) {
    throw new ConfigError('Invalid configuration: SIDECAR_BACKOFF_MAX_MS must be at least SIDECAR_BACKOFF_MS');
  }

  return {
    nodeEnv: v.NODE_ENV,
    production,
    host: v.HOST,
    port: v.PORT,
    workers: v.WORKERS,
    apiKeys,
    apiKeyGenerated: false,
    services,
    timeoutMs: v.TIMEOUT * 1000,
    logLevel: LOG_LEVELS[v.LOG_LEVEL],
    maxRequests: v.MAX_REQUESTS,
    maxUploadBytes: v.MAX_UPLOAD_MB * 1024 * 1024,
    maxPages: v.MAX_PAGES,
    healthPollMs: v.HEALTH_POLL_MS,
    healthFailuresBeforeRestart: v.HEALTH_FAILURES_BEFORE_RESTART,
    sidecarStartupTimeoutMs: v.SIDECAR_STARTUP_TIMEOUT * 1000,
    sidecarMaxRestarts: v.SIDECAR_MAX_RESTARTS,
    sidecarRestartWindowMs: v.SIDECAR_RESTART_WINDOW * 1000,
    sidecarBackoffInitialMs: v.SIDECAR_BACKOFF_MS,
    sidecarBackoffMaxMs: v.SIDECAR_BACKOFF_MAX_MS,
    shutdownGraceMs: v.SHUTDOWN_GRACE * 1000,
    workerStallTimeoutMs: v.WORKER_STALL_TIMEOUT * 1000,
    maxConnections: v.MAX_CONNECTIONS,
    uploadRateWindowMs: v.UPLOAD_RATE_WINDOW * 1000,
    uploadMinBytesPerS: v.UPLOAD_MIN_RATE,
    connectionIdleTimeoutMs: v.CONNECTION_IDLE_TIMEOUT * 1000,
    runDir: v.RUN_DIR,
    sidecarPath: path.join(root, 'sidecars'),
    metricsPublic: v.METRICS_PUBLIC,
    warnings,
  };
}
