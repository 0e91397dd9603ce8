// Configuration: every setting of the gateway in one object, read from the environment (and dotenv
// files, the real environment winning) and validated once at start-up.
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import dotenv from 'dotenv';
import { z } from 'zod';
import { projectRoot } from './paths.js';
import { BadEnabledServices, KNOWN_SERVICES, NO_LOCAL_SERVICES, type ServiceName, enabledServices } from './services.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

export interface ServiceSettings {
  name: ServiceName;
  /** CUDA_VISIBLE_DEVICES for this service's sidecar (per-service override or the global value). */
  cudaVisibleDevices: string | undefined;
  /** <SERVICE>_PYTHON, the interpreter for this service's sidecar; undefined: the supervisor finds one. */
  python: string | undefined;
}

/**
 * A service served by another gateway (REMOTE_SERVICES): its POST /ocr/{service} requests are proxied
 * there and the primary polls that gateway's /health.
 */
export interface RemoteServiceSettings {
  name: ServiceName;
  /** The peer gateway's base URL: origin and an optional path prefix, no credentials, query or trailing slash. */
  url: string;
  /** The x-api-key sent to the peer (<SERVICE>_REMOTE_API_KEY, else REMOTE_API_KEY); never logged, never a client's. */
  apiKey: string;
}

/** An accepted API key and the name logs give it (never the key itself). */
export interface ApiKey {
  name: string;
  key: string;
}

/** express's `trust proxy`: false (the socket's address), a hop count, or trusted addresses/CIDRs. */
export type TrustProxy = false | number | string[];

export interface Config {
  nodeEnv: string;
  production: boolean;
  host: string;
  port: number;
  workers: number;
  /** Accepted API keys (several for rotation), named for the logs. Empty only before the primary generates one. */
  apiKeys: ApiKey[];
  /** Local services (ENABLED_SERVICES), each run by a sidecar of this gateway; empty on a front box (`none`). */
  services: ServiceSettings[];
  /** Services proxied to peer gateways (REMOTE_SERVICES), in that order. */
  remoteServices: RemoteServiceSettings[];
  /** PYTHON: the sidecars' interpreter when a service names none ('': the supervisor finds one). */
  python: string;
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
  /** GET /metrics answers without an API key (a scraper on a private network). */
  metricsPublic: boolean;
  /** Whose X-Forwarded-For gives the client's address (access log); false: the socket's address. */
  trustProxy: TrustProxy;
  /** Durable jobs (POST /jobs/{service}): their engine, storage and callbacks. */
  jobs: JobSettings;
  /** Warnings to log once the logger exists (e.g. WORKER_CLASS ignored). */
  warnings: string[];
}

/** The JOB_* variables and REDIS_URL, in the units the gateway counts in. */
export interface JobSettings {
  /** REDIS_URL: '' runs jobs on this box (embedded engine, not durable across a restart); else BullMQ on Redis. */
  redisUrl: string;
  /** JOB_TTL: how long a finished job's status, result and files are kept. */
  ttlMs: number;
  /** JOB_DATA_DIR: where uploads are spooled (and, embedded, where jobs and results live). */
  dataDir: string;
  /** JOB_CALLBACK_SECRET: the HMAC-SHA256 key of callbacks; '' refuses callback_url. */
  callbackSecret: string;
  /** JOB_CALLBACK_ALLOWED_HOSTS: host names, addresses or CIDRs a callback may reach besides public addresses. */
  callbackAllowedHosts: string[];
  /** JOB_REDIS_MAX_BYTES: Redis memory the jobs may fill; beyond, 503 + Retry-After. */
  redisMaxBytes: number;
  /** JOB_CONCURRENCY: jobs one box runs at once per service. */
  concurrency: number;
  /** JOB_TIMEOUT: how long one job may run (its sidecar deadline). */
  timeoutMs: number;
  /** JOB_STALL_TIMEOUT: a running job whose box stops renewing its lock this long is run again elsewhere (Redis). */
  stallTimeoutMs: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** sidecars/mdso_sidecar/settings.json: what the sidecars' settings.py reads too (booleans, shared variables). */
export const SHARED_SETTINGS_FILE = path.join(projectRoot(), 'sidecars', 'mdso_sidecar', 'settings.json');

const bounds = z.object({ default: z.number().int(), min: z.number().int(), max: z.number().int() }).strict();
const sharedSettingsSchema = z.object({
  booleans: z.object({ true: z.array(z.string()).min(1), false: z.array(z.string()).min(1) }).strict(),
  messages: z.object({ boolean: z.string(), whole_number: z.string(), choice: z.string() }).strict(),
  variables: z
    .object({
      LOG_LEVEL: z
        .object({
          default: z.enum(['error', 'warn', 'info', 'debug']),
          choices: z.array(z.enum(['error', 'warn', 'info', 'debug'])).min(1),
          aliases: z.record(z.string(), z.enum(['error', 'warn', 'info', 'debug'])),
        })
        .strict(),
      MAX_UPLOAD_MB: bounds,
      MAX_PAGES: bounds,
    })
    .strict(),
});

export type SharedSettings = z.infer<typeof sharedSettingsSchema>;

/** Reads and checks the shared settings file; throws naming the file and what is wrong in it. */
export function readSharedSettings(file = SHARED_SETTINGS_FILE): SharedSettings {
  const result = sharedSettingsSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new Error(`${file}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? 'is invalid'}`);
  }
  return result.data;
}

export const SHARED = readSharedSettings();
const MESSAGES = SHARED.messages;

const intIn = (min: number, max: number) => {
  const problem = MESSAGES.whole_number.replace('{min}', String(min)).replace('{max}', String(max));
  return z
    .string()
    .trim()
    .regex(/^[0-9]+$/, problem)
    .transform(Number)
    // { error }: 309 digits and more make Infinity, which z.number() refuses in words of its own.
    .pipe(z.number({ error: problem }).int(problem).min(min, problem).max(max, problem));
};

/** A variable both sides read, with the bounds and default of settings.json. */
const sharedInt = (name: 'MAX_UPLOAD_MB' | 'MAX_PAGES') => {
  const b = SHARED.variables[name];
  return intIn(b.min, b.max).default(b.default);
};

const TRUE_WORDS: readonly string[] = SHARED.booleans.true;
const FALSE_WORDS: readonly string[] = SHARED.booleans.false;

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => TRUE_WORDS.includes(v) || FALSE_WORDS.includes(v), { error: MESSAGES.boolean })
  .transform((v) => TRUE_WORDS.includes(v));

const LOG_LEVEL = SHARED.variables.LOG_LEVEL;
/** Accepted LOG_LEVEL words (the choices and their aliases), each with the level it means. */
const LOG_LEVELS: Readonly<Record<string, LogLevel>> = {
  ...Object.fromEntries(LOG_LEVEL.choices.map((c) => [c, c])),
  ...LOG_LEVEL.aliases,
};

// One entry per variable: its default (as the string a user would write) and its validator.
const schema = z.object({
  NODE_ENV: z.string().default('development'),
  HOST: z.string().trim().min(1).default('0.0.0.0'),
  PORT: intIn(1, 65535).default(8000),
  WORKERS: intIn(1, 64).default(1),
  API_KEY: z.string().default(''),
  API_KEYS: z.string().default(''),
  ENABLED_SERVICES: z.string().default('hybrid'),
  REMOTE_SERVICES: z.string().default(''),
  REMOTE_API_KEY: z.string().default(''),
  TIMEOUT: intIn(1, 86_400).default(300),
  LOG_LEVEL: z
    .string()
    .trim()
    .toLowerCase()
    .refine((v) => Object.hasOwn(LOG_LEVELS, v), { error: MESSAGES.choice.replace('{choices}', LOG_LEVEL.choices.join(', ')) })
    .default(LOG_LEVEL.default),
  MAX_REQUESTS: intIn(0, 10_000_000).default(0),
  MAX_UPLOAD_MB: sharedInt('MAX_UPLOAD_MB'),
  MAX_PAGES: sharedInt('MAX_PAGES'),
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
  TRUST_PROXY: z.string().default(''),
  CUDA_VISIBLE_DEVICES: z.string().optional(),
  WORKER_CLASS: z.string().optional(),
  REDIS_URL: z
    .string()
    .trim()
    .regex(/^rediss?:\/\/[^\s]+$/, 'must be a redis:// or rediss:// URL, e.g. redis://localhost:6379/0')
    .default(''),
  JOB_TTL: intIn(1, 30 * 86_400).default(86_400),
  JOB_DATA_DIR: z.string().trim().default(''),
  JOB_CALLBACK_SECRET: z.string().trim().default(''),
  JOB_CALLBACK_ALLOWED_HOSTS: z.string().trim().default(''),
  JOB_REDIS_MAX_BYTES: intIn(1024 * 1024, 2 ** 50).default(1024 * 1024 * 1024),
  JOB_CONCURRENCY: intIn(1, 64).default(1),
  JOB_TIMEOUT: intIn(1, 7 * 86_400).default(6 * 3600),
  JOB_STALL_TIMEOUT: intIn(1, 3600).default(30),
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
  const v = readVariables(env);
  const services = serviceSettings(v, env);
  const production = v.NODE_ENV === 'production';
  const apiKeys = acceptedApiKeys(v, production);
  const remoteServices = parseRemoteServices(v.REMOTE_SERVICES, v.REMOTE_API_KEY, env, services, env.ENABLED_SERVICES);
  return {
    nodeEnv: v.NODE_ENV,
    production,
    host: v.HOST,
    port: v.PORT,
    workers: v.WORKERS,
    apiKeys,
    services,
    remoteServices,
    python: v.PYTHON.trim(),
    logLevel: LOG_LEVELS[v.LOG_LEVEL] ?? 'info',
    ...requestLimits(v),
    ...supervision(v),
    runDir: v.RUN_DIR,
    metricsPublic: v.METRICS_PUBLIC,
    trustProxy: parseTrustProxy(v.TRUST_PROXY),
    jobs: jobSettings(v),
    warnings: [...warningsOf(v), ...remoteKeyWarnings(remoteServices, apiKeys)],
  };
}

type Variables = z.infer<typeof schema>;

/** The schema's variables, read from `env`: the first bad one is the error's one line. */
function readVariables(env: Env): Variables {
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
  return result.data;
}

/** ENABLED_SERVICES, each with its own <SERVICE>_CUDA_VISIBLE_DEVICES and <SERVICE>_PYTHON when set. */
function serviceSettings(v: Variables, env: Env): ServiceSettings[] {
  let names: ServiceName[];
  try {
    names = enabledServices(v.ENABLED_SERVICES); // the one reading bootstrap and download-models share
  } catch (err) {
    if (err instanceof BadEnabledServices) throw new ConfigError(`Invalid configuration: ${err.message}`);
    throw err;
  }
  return names.map((name) => {
    const override = env[`${name.toUpperCase()}_CUDA_VISIBLE_DEVICES`];
    const ownPython = env[`${name.toUpperCase()}_PYTHON`]?.trim();
    return {
      name,
      cudaVisibleDevices: override !== undefined && override.trim() !== '' ? override.trim() : v.CUDA_VISIBLE_DEVICES,
      python: ownPython !== undefined && ownPython !== '' ? ownPython : undefined,
    };
  });
}

/** API_KEY and API_KEYS together; in production at least one key. */
function acceptedApiKeys(v: Variables, production: boolean): ApiKey[] {
  const apiKeys = parseApiKeys(v.API_KEY, v.API_KEYS);
  if (apiKeys.length === 0 && production) {
    throw new ConfigError(
      'Invalid configuration: API_KEY or API_KEYS must be set when NODE_ENV=production (comma-separate several keys for rotation)',
    );
  }
  return apiKeys;
}

type RequestLimits = Pick<
  Config,
  | 'timeoutMs'
  | 'maxRequests'
  | 'maxUploadBytes'
  | 'maxPages'
  | 'maxConnections'
  | 'uploadRateWindowMs'
  | 'uploadMinBytesPerS'
  | 'connectionIdleTimeoutMs'
>;

/** What one request and one connection may take, in the units the gateway counts in. */
function requestLimits(v: Variables): RequestLimits {
  return {
    timeoutMs: v.TIMEOUT * 1000,
    maxRequests: v.MAX_REQUESTS,
    maxUploadBytes: v.MAX_UPLOAD_MB * 1024 * 1024,
    maxPages: v.MAX_PAGES,
    maxConnections: v.MAX_CONNECTIONS,
    uploadRateWindowMs: v.UPLOAD_RATE_WINDOW * 1000,
    uploadMinBytesPerS: v.UPLOAD_MIN_RATE,
    connectionIdleTimeoutMs: v.CONNECTION_IDLE_TIMEOUT * 1000,
  };
}

type Supervision = Pick<
  Config,
  | 'healthPollMs'
  | 'healthFailuresBeforeRestart'
  | 'sidecarStartupTimeoutMs'
  | 'sidecarMaxRestarts'
  | 'sidecarRestartWindowMs'
  | 'sidecarBackoffInitialMs'
  | 'sidecarBackoffMaxMs'
  | 'shutdownGraceMs'
  | 'workerStallTimeoutMs'
>;

/** How the primary watches, restarts and stops the sidecars and workers. */
function supervision(v: Variables): Supervision {
  if (v.SIDECAR_BACKOFF_MAX_MS < v.SIDECAR_BACKOFF_MS) {
    throw new ConfigError('Invalid configuration: SIDECAR_BACKOFF_MAX_MS must be at least SIDECAR_BACKOFF_MS');
  }
  return {
    healthPollMs: v.HEALTH_POLL_MS,
    healthFailuresBeforeRestart: v.HEALTH_FAILURES_BEFORE_RESTART,
    sidecarStartupTimeoutMs: v.SIDECAR_STARTUP_TIMEOUT * 1000,
    sidecarMaxRestarts: v.SIDECAR_MAX_RESTARTS,
    sidecarRestartWindowMs: v.SIDECAR_RESTART_WINDOW * 1000,
    sidecarBackoffInitialMs: v.SIDECAR_BACKOFF_MS,
    sidecarBackoffMaxMs: v.SIDECAR_BACKOFF_MAX_MS,
    shutdownGraceMs: v.SHUTDOWN_GRACE * 1000,
    workerStallTimeoutMs: v.WORKER_STALL_TIMEOUT * 1000,
  };
}

/** The durable jobs' settings; a callback secret, when set, long enough to sign with. */
function jobSettings(v: Variables): JobSettings {
  if (v.JOB_CALLBACK_SECRET !== '' && v.JOB_CALLBACK_SECRET.length < 16) {
    throw new ConfigError('Invalid configuration: JOB_CALLBACK_SECRET must be at least 16 characters (a random string: openssl rand -hex 32)');
  }
  const hosts = v.JOB_CALLBACK_ALLOWED_HOSTS.split(',').map((h) => h.trim().toLowerCase()).filter((h) => h !== '');
  for (const host of hosts) {
    if (!/^[a-z0-9.:_-]+(\/\d{1,3})?$/.test(host)) {
      throw new ConfigError(`Invalid configuration: JOB_CALLBACK_ALLOWED_HOSTS must be a comma list of host names, addresses and CIDRs (bad entry ${JSON.stringify(host.slice(0, 60))})`);
    }
  }
  return {
    redisUrl: v.REDIS_URL,
    ttlMs: v.JOB_TTL * 1000,
    // Unset: the checkout's data/jobs (ignored by git).
    dataDir: path.resolve(v.JOB_DATA_DIR === '' ? path.join(projectRoot(), 'data', 'jobs') : v.JOB_DATA_DIR),
    callbackSecret: v.JOB_CALLBACK_SECRET,
    callbackAllowedHosts: hosts,
    redisMaxBytes: v.JOB_REDIS_MAX_BYTES,
    concurrency: v.JOB_CONCURRENCY,
    timeoutMs: v.JOB_TIMEOUT * 1000,
    stallTimeoutMs: v.JOB_STALL_TIMEOUT * 1000,
  };
}

/** Settings read and ignored, said once the logger exists. */
function warningsOf(v: Variables): string[] {
  const warnings: string[] = [];
  if (v.WORKER_CLASS !== undefined) {
    warnings.push(`WORKER_CLASS=${v.WORKER_CLASS} is a gunicorn setting and is ignored: workers are node:cluster processes`);
  }
  return warnings;
}

/** What a key may be made of: it travels in an HTTP header (printable ASCII, no space). */
const HEADER_TOKEN = /^[\x21-\x7e]+$/;

/**
 * REMOTE_SERVICES: `service=url` pairs, comma-separated (e.g. `marker=http://gpu-a:8000,olmocr=http://gpu-b:8000`),
 * each a known service that ENABLED_SERVICES does not run here, with the key its peer accepts
 * (<SERVICE>_REMOTE_API_KEY, else REMOTE_API_KEY). ENABLED_SERVICES=none needs at least one. Errors
 * are one line naming the variable; never a key, never a URL holding credentials.
 */
export function parseRemoteServices(
  value: string,
  defaultKey: string,
  env: Env,
  local: readonly ServiceSettings[],
  enabledSetting: string | undefined,
): RemoteServiceSettings[] {
  const fail = (why: string): never => {
    throw new ConfigError(`Invalid configuration: REMOTE_SERVICES ${why}`);
  };
  const remotes: RemoteServiceSettings[] = [];
  value.split(',').forEach((raw, i) => {
    const entry = raw.trim();
    if (entry === '') return;
    const eq = entry.indexOf('=');
    if (eq < 0) fail(`entry ${i + 1} must be service=url, e.g. marker=http://gpu-a:8000 (got ${JSON.stringify(entry.slice(0, 80))})`);
    const name = entry.slice(0, eq).trim().toLowerCase();
    if (!KNOWN_SERVICES.includes(name)) fail(`names unknown service ${JSON.stringify(name.slice(0, 40))} (known: ${KNOWN_SERVICES.join(', ')})`);
    if (remotes.some((r) => r.name === name)) fail(`names ${name} twice`);
    if (local.some((s) => s.name === name)) {
      const unset = enabledSetting === undefined || enabledSetting.trim() === '';
      fail(
        `names ${name}, which ENABLED_SERVICES${unset ? ' (unset: hybrid)' : ''} runs here too: a service is local or remote, not both ` +
          `(ENABLED_SERVICES=${NO_LOCAL_SERVICES} for a front box with no local service)`,
      );
    }
    remotes.push({ name, url: peerUrl(name, entry.slice(eq + 1).trim(), fail), apiKey: peerKey(name, defaultKey, env) });
  });
  if (local.length === 0 && remotes.length === 0) {
    throw new ConfigError(
      `Invalid configuration: ENABLED_SERVICES=${NO_LOCAL_SERVICES} leaves this gateway nothing to serve: name local services, or set REMOTE_SERVICES (service=url of a peer gateway)`,
    );
  }
  return remotes;
}

/** A peer's base URL: http(s), a host, an optional path prefix; nothing a request could not carry. */
function peerUrl(name: string, raw: string, fail: (why: string) => never): string {
  let url: URL | null = null;
  try {
    url = new URL(raw);
  } catch {
    url = null;
  }
  if (url !== null && (url.username !== '' || url.password !== '')) {
    // Not echoed: it holds a secret. Keys go in REMOTE_API_KEY.
    fail(`${name}'s URL must not hold credentials: give the peer's key in REMOTE_API_KEY or ${name.toUpperCase()}_REMOTE_API_KEY`);
  }
  const shown = JSON.stringify(raw.slice(0, 120));
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') {
    fail(`${name}'s URL must be http://host[:port] or https://host[:port], optionally with a path prefix (got ${shown})`);
  }
  if (url.search !== '' || url.hash !== '' || raw.endsWith('?') || raw.endsWith('#')) fail(`${name}'s URL must have no query or fragment (got ${shown})`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** The key a peer accepts, from <SERVICE>_REMOTE_API_KEY, else REMOTE_API_KEY; a missing or unusable one is named, never shown. */
function peerKey(name: string, defaultKey: string, env: Env): string {
  const own = `${name.toUpperCase()}_REMOTE_API_KEY`;
  const given = env[own]?.trim() ?? '';
  const [variable, key] = given !== '' ? [own, given] : ['REMOTE_API_KEY', defaultKey.trim()];
  if (key === '') {
    throw new ConfigError(`Invalid configuration: REMOTE_SERVICES names ${name}, but no key for its peer is set: set REMOTE_API_KEY or ${own} (a key the peer's API_KEY accepts)`);
  }
  if (!HEADER_TOKEN.test(key)) throw new ConfigError(`Invalid configuration: ${variable} must be printable ASCII without spaces (it is sent as a header)`);
  return key;
}

/** A peer given one of this gateway's own keys would hold a key to this gateway: said once at start. */
function remoteKeyWarnings(remotes: readonly RemoteServiceSettings[], own: readonly ApiKey[]): string[] {
  return remotes
    .filter((r) => own.some((k) => k.key === r.apiKey))
    .map((r) => `the key sent to ${r.name}'s peer is one of this gateway's own API keys: give each peer a key of its own`);
}

const KEY_NAME = /^[\w.@-]{1,64}$/;

/**
 * API_KEY's comma list (its keys named key1, key2, … by position) and API_KEYS' `name:key` pairs
 * (split at the first ':', so a key may hold ':'). Errors name the variable and the entry's
 * position, never a key.
 */
export function parseApiKeys(apiKey: string, apiKeysNamed: string): ApiKey[] {
  const keys: ApiKey[] = [];
  apiKey.split(',').forEach((raw, i) => {
    const key = raw.trim();
    // A key listed twice is the same key: the first name stands.
    if (key !== '' && !keys.some((k) => k.key === key)) keys.push({ name: `key${i + 1}`, key });
  });
  apiKeysNamed.split(',').forEach((raw, i) => {
    const entry = raw.trim();
    if (entry === '') return;
    const at = `API_KEYS entry ${i + 1}`;
    const colon = entry.indexOf(':');
    const name = colon < 0 ? '' : entry.slice(0, colon).trim();
    const key = colon < 0 ? '' : entry.slice(colon + 1).trim();
    if (name === '' || key === '') {
      throw new ConfigError(`Invalid configuration: ${at} must be name:key, with both a name and a key`);
    }
    if (!KEY_NAME.test(name)) {
      throw new ConfigError(`Invalid configuration: ${at}'s name must be 1 to 64 letters, digits or _ . @ - (got ${JSON.stringify(name.slice(0, 64))})`);
    }
    const sameName = keys.find((k) => k.name === name);
    if (sameName !== undefined) {
      throw new ConfigError(`Invalid configuration: ${at} repeats the name ${JSON.stringify(name)}${/^key\d+$/.test(name) ? " (API_KEY's keys are named key1, key2, …)" : ''}`);
    }
    const sameKey = keys.find((k) => k.key === key);
    if (sameKey !== undefined) {
      throw new ConfigError(`Invalid configuration: ${at} (${JSON.stringify(name)}) has the same key as ${JSON.stringify(sameKey.name)}: one name per key`);
    }
    keys.push({ name, key });
  });
  return keys;
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/**
 * TRUST_PROXY as express's `trust proxy`: unset/false (the socket's address is the client's), a hop
 * count, or a comma list of loopback/linklocal/uniquelocal, addresses and CIDRs. `true` (believe any
 * X-Forwarded-For, which any client can write) is refused, and so is any other word for true.
 */
export function parseTrustProxy(value: string): TrustProxy {
  const v = value.trim().toLowerCase();
  if (v === '' || FALSE_WORDS.includes(v)) return false;
  const fail = (why: string): never => {
    throw new ConfigError(`Invalid configuration: TRUST_PROXY ${why} (got ${JSON.stringify(value.slice(0, 200))})`);
  };
  // '1' is a hop count, not a boolean.
  if (TRUE_WORDS.includes(v) && !/^\d+$/.test(v)) {
    fail("must name the proxies (loopback, addresses or CIDRs) or count them (e.g. 1): 'true' would believe any client's X-Forwarded-For");
  }
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops > 32) fail('counts at most 32 proxies');
    return hops;
  }
  return v.split(',').map((raw) => {
    const entry = raw.trim();
    if (PROXY_NAMES.has(entry)) return entry;
    const [address = '', bits, ...more] = entry.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || more.length > 0 || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max))) {
      fail(`must be false, a hop count, or a comma list of loopback, linklocal, uniquelocal, IP addresses and CIDRs (bad entry ${JSON.stringify(entry.slice(0, 60))})`);
    }
    return entry;
  });
}
