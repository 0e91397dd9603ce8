// SidecarSupervisor: runs one Python sidecar (one OCR service), waits for it to load its model,
// restarts it with exponential backoff when it dies or hangs, and gives up (state `failed`) after
// too many quick crashes. Its status feeds the health snapshot.
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { execa, type ResultPromise } from 'execa';
import type { Config, ServiceSettings } from '../config.js';
import type { Logger } from '../logger.js';
import { projectRoot } from '../paths.js';
import { mainInterpreter } from '../sidecar-contract.js';
import { REGISTRY, type Registry } from '../services.js';
import { getSidecarHealth, isOutOfDescriptors, isUnreachable } from '../sidecar-client.js';
import type { SidecarState, SidecarStatus } from '../ipc/health-snapshot.js';
import type { SidecarHealth } from '../ipc/sidecar-wire.js';

type Subprocess = ResultPromise<{ stdin: 'pipe'; stdout: 'pipe'; stderr: 'pipe'; buffer: false; reject: false }>;

const READY_POLL_MS = 200;
/** The sidecar's exit code when its socket file disappeared (sidecars/mdso_sidecar/__main__.py). */
const SIDECAR_EXIT_SOCKET_LOST = 3;
const STOP_GRACE_MS = 10_000;
const SETTLED: ReadonlySet<SidecarState> = new Set(['ready', 'unavailable', 'failed', 'stopped']);

/**
 * The interpreter a service's sidecar runs on: <SERVICE>_PYTHON; else the python of the venv the
 * engine registry gives the service when that is not the main one and exists (marker's dependencies
 * conflict with the others': .venv-marker); else PYTHON; else the main venv's python when it exists;
 * else python3 on the PATH. Looked up at each start, so a venv created later is found.
 */
export function sidecarInterpreter(
  service: ServiceSettings,
  configured: string,
  root = projectRoot(),
  registry: Registry = REGISTRY,
  exists: (file: string) => boolean = existsSync,
): string {
  if (service.python !== undefined) return service.python;
  const own = registry.services.find((s) => s.name === service.name)?.venv;
  const ownPython = own === undefined ? '' : path.resolve(root, own, 'bin', 'python');
  if (own !== undefined && own !== registry.python.venv && exists(ownPython)) return ownPython;
  return mainInterpreter(configured, root, registry, exists);
}

export class SidecarSupervisor extends EventEmitter<{ change: [] }> {
  readonly name: ServiceSettings['name'];
  readonly socketPath: string;
  private state: SidecarState = 'stopped';
  private pid: number | null = null;
  private restarts = 0;
  private crashTimes: number[] = [];
  private message: string | null = null;
  private health: SidecarHealth | null = null;
  private proc: Subprocess | null = null;
  private stopping = false;
  private restartTimer: NodeJS.Timeout | null = null;
  private healthFailures = 0;

  constructor(
    private readonly settings: ServiceSettings,
    private readonly config: Config,
    runDir: string,
    private readonly logger: Logger,
  ) {
    super();
    this.name = settings.name;
    this.socketPath = path.join(runDir, `${settings.name}.sock`);
  }

  start(): void {
    this.stopping = false;
    this.spawn();
  }

  /** Resolves once the sidecar is ready, unavailable, failed or stopped. */
  async settled(): Promise<void> {
    while (!SETTLED.has(this.state)) {
      await new Promise<void>((resolve) => this.once('change', resolve));
    }
  }

  status(): SidecarStatus {
    const h = this.health;
    return {
      name: this.name,
      state: this.state,
      pid: this.pid,
      restarts: this.restarts,
      model: h?.model ?? null,
      device: h?.device ?? null,
      gpu: h?.gpu ?? { available: false },
      queue: h?.queue ?? null,
      in_flight: this.state === 'ready' ? (h?.in_flight ?? []) : [],
      message: this.message,
      socketPath: this.socketPath,
    };
  }

  /** Called by the health poller with each /health answer of a running sidecar. */
  onHealth(health: SidecarHealth): void {
    this.healthFailures = 0;
    this.health = health;
    if (this.state === 'unresponsive') {
      this.logger.info('sidecar answers its health checks again', { service: this.name, sidecar_pid: this.pid });
      this.setState('ready', null);
    }
    if (this.state === 'ready' && health.state === 'unavailable') this.setState('unavailable', health.message);
  }

  /** Called by the health poller when /health did not answer in time, or could not be asked. */
  onHealthFailure(err: unknown): void {
    if (this.state !== 'ready' && this.state !== 'unresponsive' && this.state !== 'unavailable') return;
    if (isOutOfDescriptors(err)) {
      // The gateway could not even open a connection: says nothing about the sidecar.
      this.logger.warn('health check not sent: the gateway is out of file descriptors (raise `ulimit -n`)', { service: this.name });
      return;
    }
    this.healthFailures += 1;
    if (isUnreachable(err) && this.proc !== null) {
      // The process runs but its socket takes no connection (the file was removed): every request
      // would fail the same way. A sidecar on a fresh socket is the only way back.
      this.logger.error('sidecar socket takes no connection; restarting the sidecar', {
        service: this.name,
        sidecar_pid: this.pid,
        socket: this.socketPath,
        error: errorText(err),
      });
      this.message = `its socket ${this.socketPath} took no connection (${errorText(err)}); restarted`;
      this.proc.kill('SIGKILL');
      return;
    }
    const limit = this.config.healthFailuresBeforeRestart;
    this.logger.warn('sidecar health check failed', { service: this.name, failures: this.healthFailures, error: errorText(err) });
    if (this.state === 'ready') {
      // Requests would hang until TIMEOUT: answer 503 at once until it answers again.
      this.setState('unresponsive', `did not answer its health check (${errorText(err)})`);
    }
    if (limit > 0 && this.healthFailures >= limit && this.proc !== null) {
      this.logger.error('sidecar stopped answering health checks; killing it so it restarts', { service: this.name, pid: this.pid });
      this.message = `stopped answering health checks ${this.healthFailures} times in a row; restarted`;
      this.healthFailures = 0;
      this.proc.kill('SIGKILL');
    }
  }

  /** Stops the sidecar: SIGTERM, then SIGKILL after a grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer !== null) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const proc = this.proc;
    if (proc === null) {
      this.setState('stopped', null);
      return;
    }
    proc.kill('SIGTERM');
    const exited = await Promise.race([proc.then(() => true), sleep(STOP_GRACE_MS, false)]);
    if (!exited) {
      this.logger.warn('sidecar did not stop within the grace period; killing it', { service: this.name, pid: this.pid });
      proc.kill('SIGKILL');
      await proc;
    }
  }

  private setState(state: SidecarState, message: string | null): void {
    this.state = state;
    this.message = message;
    this.emit('change');
  }

  private spawn(): void {
    const env: Record<string, string> = {};
    for (const [key, value] of Object.entries(process.env)) {
      // The sidecar never needs the API keys; keep them out of its environment (and its crash dumps).
      if (value !== undefined && key !== 'API_KEY' && key !== 'API_KEYS' && !key.endsWith('_CUDA_VISIBLE_DEVICES')) env[key] = value;
    }
    Object.assign(env, {
      PYTHONPATH: path.join(projectRoot(), 'sidecars'),
      PYTHONUNBUFFERED: '1',
      LOG_LEVEL: this.config.logLevel,
      MAX_PAGES: String(this.config.maxPages),
      MAX_UPLOAD_MB: String(Math.ceil(this.config.maxUploadBytes / 1024 / 1024)),
      HF_HUB_OFFLINE: '1',
      TRANSFORMERS_OFFLINE: '1',
    });
    if (this.settings.cudaVisibleDevices !== undefined) env.CUDA_VISIBLE_DEVICES = this.settings.cudaVisibleDevices;
    else delete env.CUDA_VISIBLE_DEVICES;

    let proc: Subprocess;
    try {
      proc = this.launch(env);
    } catch (err) {
      // spawn itself failed (out of file descriptors or processes): a crash like any other, retried
      // with backoff; never an exception that takes the primary down.
      this.proc = null;
      this.pid = null;
      this.logger.error('sidecar could not be started', { service: this.name, error: errorText(err) });
      this.onSpawnFailure(errorText(err));
      return;
    }
    this.proc = proc;
    this.pid = proc.pid ?? null;
    this.health = null;
    this.healthFailures = 0;
    this.setState('starting', null);
    this.logger.info('sidecar started', { service: this.name, sidecar_pid: this.pid });

    // A closed pipe on a dying child must not crash the primary.
    proc.stdin.on('error', () => undefined);
    this.relayLogs(proc.stdout, this.pid);
    this.relayLogs(proc.stderr, this.pid);

    void proc.then((result) => this.onExit(proc, result.exitCode, result.signal, result.failed && result.exitCode === undefined ? (result.shortMessage ?? "could not be started") : null));
    void this.waitReady(proc);
  }

  private launch(env: Record<string, string>): Subprocess {
    return execa(
      sidecarInterpreter(this.settings, this.config.python),
      ['-m', 'mdso_sidecar', '--service', this.name, '--socket', this.socketPath],
      {
        env,
        extendEnv: false,
        cwd: projectRoot(),
        stdin: 'pipe',
        stdout: 'pipe',
        stderr: 'pipe',
        buffer: false,
        reject: false,
        // Own process group: a Ctrl-C in the terminal reaches the primary, which stops sidecars in
        // order after draining requests. If the primary dies, the sidecar sees its stdin close.
        detached: true,
        cleanup: false,
      },
    );
  }

  private async waitReady(proc: Subprocess): Promise<void> {
    const deadline = Date.now() + this.config.sidecarStartupTimeoutMs;
    while (this.proc === proc && this.state === 'starting') {
      if (Date.now() > deadline) {
        this.logger.error('sidecar did not become ready in time; killing it', {
          service: this.name,
          timeout_s: this.config.sidecarStartupTimeoutMs / 1000,
        });
        this.message = `did not become ready within ${this.config.sidecarStartupTimeoutMs / 1000} s (SIDECAR_STARTUP_TIMEOUT)`;
        proc.kill('SIGKILL');
        return;
      }
      try {
        const health = await getSidecarHealth(this.socketPath, 2000);
        if (this.proc !== proc || this.state !== 'starting') return;
        this.health = health;
        if (health.state === 'ready') {
          this.logger.info('sidecar ready', { service: this.name, sidecar_pid: this.pid, model: health.model, device: health.device });
          this.setState('ready', null);
          return;
        }
        if (health.state === 'unavailable') {
          this.logger.error('sidecar unavailable', { service: this.name, reason: health.message });
          this.setState('unavailable', health.message);
          return;
        }
      } catch {
        // Socket not there yet, or the model is loading: try again shortly.
      }
      await sleep(READY_POLL_MS);
    }
  }

  private onExit(proc: Subprocess, exitCode: number | undefined, signal: string | undefined, spawnError: string | null): void {
    if (this.proc !== proc) return;
    this.proc = null;
    this.pid = null;
    const how =
      spawnError ??
      (signal !== undefined
        ? `killed by ${signal}`
        : exitCode === SIDECAR_EXIT_SOCKET_LOST
          ? `exited with code ${exitCode}: its socket file was removed or replaced`
          : `exited with code ${String(exitCode)}`);
    if (this.stopping) {
      this.logger.info('sidecar stopped', { service: this.name, how });
      this.setState('stopped', null);
      return;
    }
    this.onCrash(this.message !== null && this.state !== 'ready' ? `${this.message}; ${how}` : how, how);
  }

  private onSpawnFailure(error: string): void {
    if (this.stopping) {
      this.setState('stopped', null);
      return;
    }
    this.onCrash(`could not be started: ${error}`, error);
  }

  /** Counts a crash, then restarts after a backoff or gives up (`failed`) after too many. */
  private onCrash(reason: string, how: string): void {
    const now = Date.now();
    this.crashTimes = [...this.crashTimes.filter((t) => now - t < this.config.sidecarRestartWindowMs), now];
    if (this.crashTimes.length > this.config.sidecarMaxRestarts) {
      this.logger.error('sidecar keeps crashing; giving up', { service: this.name, how, crashes: this.crashTimes.length });
      this.setState(
        'failed',
        `crashed ${this.crashTimes.length} times within ${this.config.sidecarRestartWindowMs / 1000} s (last: ${reason}); not restarted — see the gateway log`,
      );
      return;
    }
    const delay = Math.min(
      this.config.sidecarBackoffInitialMs * 2 ** (this.crashTimes.length - 1),
      this.config.sidecarBackoffMaxMs,
    );
    this.logger.error('sidecar exited; restarting', { service: this.name, how, restart_in_ms: delay });
    this.setState('restarting', `${reason}; restarting`);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopping) return;
      this.restarts += 1;
      this.spawn();
    }, delay);
  }

  /**
   * Re-logs the lines of the sidecar process `pid` (JSON lines from mdso_sidecar/log.py, or raw text
   * such as a crash trace) as that process's own: its pid (not the primary's), and one timestamp, the
   * sidecar's when it gave one.
   */
  private relayLogs(stream: Readable, pid: number | null): void {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    lines.on('line', (line) => {
      if (line.trim() === '') return;
      const meta = { component: 'sidecar', pid, service: this.name, sidecar_pid: pid };
      let parsed: unknown;
      try {
        parsed = line.startsWith('{') ? JSON.parse(line) : undefined;
      } catch {
        parsed = undefined;
      }
      if (typeof parsed === 'object' && parsed !== null && 'msg' in parsed) {
        const { level, msg, ts, timestamp, ...rest } = parsed as { level?: unknown; msg: unknown; ts?: unknown; timestamp?: unknown } & Record<
          string,
          unknown
        >;
        // winston keeps a `timestamp` it is given (JSON logs) and writes its own otherwise.
        const when = typeof ts === 'string' ? ts : typeof timestamp === 'string' ? timestamp : undefined;
        this.logger.log(winstonLevel(level), String(msg), { ...rest, ...meta, ...(when !== undefined ? { timestamp: when } : {}) });
      } else {
        this.logger.info(line, meta);
      }
    });
  }
}

function winstonLevel(level: unknown): string {
  switch (level) {
    case 'debug':
      return 'debug';
    case 'warning':
    case 'warn':
      return 'warn';
    case 'error':
    case 'critical':
      return 'error';
    default:
      return 'info';
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
