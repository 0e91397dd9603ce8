// Prometheus metrics (prom-client), aggregated across the node:cluster workers
// with prom-client's AggregatorRegistry: each worker counts its own requests (worker/worker-metrics.ts,
// a private registry); the primary, asked over IPC by the worker
// serving GET /metrics (the primary does not listen on PORT), collects every worker's counts (summing
// counters and histograms) and appends its own gauges, computed at scrape time from the health
// snapshot (sidecar state, restarts, queue, GPU memory; each remote service's peer, up or down), its
// own process metrics (prom-client's
// default ones, named mdso_primary_… apart from the workers' mdso_workers_…) and mdso_build_info.
//
// Labels are bounded sets only: service (an enabled service's name, else ""), route (the express
// route pattern, never the raw path), status code, page source, a remote service's peer URL (from
// the configuration). Never a request id, a file name or a key.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { AggregatorRegistry, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { type HealthSnapshot, REMOTE_STATES, SIDECAR_STATES, type SidecarStatus } from '../ipc/health-snapshot.js';
import { projectRoot } from '../paths.js';

const GB = 1024 ** 3;

/**
 * A gauge with one value per service, computed at scrape time from the health snapshot: `value`
 * (undefined leaves the gauge absent for that service), or `values` by one more label.
 */
type ServiceGauge =
  | { name: string; help: string; value: (s: SidecarStatus) => number | undefined }
  | { name: string; help: string; label: string; values: (s: SidecarStatus) => Record<string, number> };

const SERVICE_GAUGES: readonly ServiceGauge[] = [
  {
    name: 'mdso_sidecar_state',
    help: 'Sidecar state: 1 for the current state of each service, 0 for the others.',
    label: 'state',
    values: (s) => Object.fromEntries(SIDECAR_STATES.map((state) => [state, s.state === state ? 1 : 0])),
  },
  {
    name: 'mdso_sidecar_up',
    help: '1 when the service can answer OCR requests (state ready), else 0.',
    value: (s) => (s.state === 'ready' ? 1 : 0),
  },
  {
    name: 'mdso_sidecar_restarts',
    help: 'Times the supervisor restarted the sidecar since the gateway started (use increase()).',
    value: (s) => s.restarts,
  },
  {
    name: 'mdso_sidecar_queue_active',
    help: 'Requests the sidecar is working on.',
    value: (s) => s.queue?.active ?? 0,
  },
  {
    name: 'mdso_sidecar_queue_waiting',
    help: 'Requests admitted by the sidecar and waiting for a slot.',
    value: (s) => s.queue?.waiting ?? 0,
  },
  {
    name: 'mdso_sidecar_queue_limit',
    help: 'Hard bound on requests the sidecar holds (SIDECAR_MAX_QUEUE); beyond, 503 QueueFull.',
    value: (s) => s.queue?.limit,
  },
  {
    name: 'mdso_sidecar_expected_wait_seconds',
    help: 'Wait before a new request starts: pages queued ahead x measured seconds a page. Admitted while it fits in TIMEOUT, else 503 QueueFull.',
    value: (s) => s.queue?.expected_wait_s,
  },
  {
    name: 'mdso_sidecar_page_seconds',
    help: 'Measured seconds a page takes the sidecar, all its threads together (the engine prior until pages are read).',
    value: (s) => s.queue?.page_s,
  },
  {
    name: 'mdso_sidecar_gpu_allocated_bytes',
    help: "GPU memory allocated by the sidecar's tensors (torch.cuda.memory_allocated); absent without CUDA.",
    value: (s) => gpuBytes(s, s.gpu.allocated_gb),
  },
  {
    name: 'mdso_sidecar_gpu_reserved_bytes',
    help: "GPU memory reserved by the sidecar's caching allocator (torch.cuda.memory_reserved); absent without CUDA.",
    value: (s) => gpuBytes(s, s.gpu.reserved_gb),
  },
];

function gpuBytes(s: SidecarStatus, gb: number | undefined): number | undefined {
  return s.gpu.available && gb !== undefined ? Math.round(gb * GB) : undefined;
}

/** The primary's side: its own gauges plus every worker's registry, summed. */
export class PrimaryMetrics {
  private readonly aggregator = new AggregatorRegistry();
  /** The primary's own metrics (the job engine's register here too). */
  readonly registry = new Registry();

  constructor(snapshot: () => HealthSnapshot, workerCount: () => number, build: BuildInfo = buildInfo()) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'mdso_primary_' });
    new Gauge({
      name: 'mdso_build_info',
      help: 'Always 1; its labels say which gateway runs: package.json version and git commit (GIT_COMMIT, else the checkout, else "unknown").',
      labelNames: ['version', 'commit'],
      registers,
    }).set({ version: build.version, commit: build.commit }, 1);
    for (const row of SERVICE_GAUGES) {
      new Gauge({
        name: row.name,
        help: row.help,
        labelNames: 'label' in row ? ['service', row.label] : ['service'],
        registers,
        collect(this: Gauge<string>): void {
          this.reset();
          for (const s of snapshot().services) {
            if ('label' in row) {
              for (const [label, value] of Object.entries(row.values(s))) this.set({ service: s.name, [row.label]: label }, value);
            } else {
              const value = row.value(s);
              if (value !== undefined) this.set({ service: s.name }, value);
            }
          }
        },
      });
    }
    new Gauge({
      name: 'mdso_remote_up',
      help: "1 when a remote service's peer gateway (REMOTE_SERVICES) answered its last health poll with that service ready, else 0.",
      labelNames: ['service', 'peer'],
      registers,
      collect(this: Gauge<string>): void {
        this.reset();
        for (const r of snapshot().remotes) this.set({ service: r.name, peer: r.url }, r.state === 'ready' ? 1 : 0);
      },
    });
    new Gauge({
      name: 'mdso_remote_state',
      help: "A remote service's state as its peer's last health poll found it: 1 for the current one (checking, ready, not-ready, unreachable), 0 for the others.",
      labelNames: ['service', 'state'],
      registers,
      collect(this: Gauge<string>): void {
        this.reset();
        for (const r of snapshot().remotes) for (const state of REMOTE_STATES) this.set({ service: r.name, state }, r.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: 'mdso_gateway_workers',
      help: 'HTTP worker processes alive.',
      registers,
      collect(this: Gauge<string>) {
        this.set(workerCount());
      },
    });
  }

  /** Every worker's metrics (summed) followed by the primary's own, in the text format. */
  async text(): Promise<string> {
    const workers = await this.aggregator.clusterMetrics();
    const own = await this.registry.metrics();
    return `${workers.trimEnd()}\n\n${own}`;
  }
}

export interface BuildInfo {
  version: string;
  commit: string;
}

const LABEL_VALUE = /^[\w.+-]{1,40}$/;

/**
 * The version (package.json) and commit (GIT_COMMIT, else `git rev-parse --short HEAD` when the
 * project is a checkout, else "unknown") that this gateway runs. Never throws: a missing git, a
 * foreign-owned checkout or a bad value gives "unknown".
 */
export function buildInfo(root?: string, env: NodeJS.ProcessEnv = process.env): BuildInfo {
  let dir = '';
  let version: unknown;
  try {
    dir = root ?? projectRoot();
    ({ version } = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version?: unknown });
  } catch {
    // unknown
  }
  let commit = env.GIT_COMMIT?.trim() ?? '';
  if (commit === '' && dir !== '' && existsSync(path.join(dir, '.git'))) {
    try {
      commit = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 2000,
      }).trim();
    } catch {
      commit = '';
    }
  }
  const label = (value: unknown): string => (typeof value === 'string' && LABEL_VALUE.test(value) ? value : 'unknown');
  return { version: label(version), commit: label(commit) };
}
