// Prometheus metrics (prom-client), aggregated across the node:cluster workers
// with prom-client's AggregatorRegistry: each worker counts its own requests (worker/worker-metrics.ts,
// a private registry); the primary, asked over IPC by the worker
// serving GET /metrics (the primary does not listen on PORT), collects every worker's counts (summing
// counters and histograms) and appends its own gauges, computed at scrape time from the health
// snapshot (sidecar state, restarts, queue, GPU memory).
//
// Labels are bounded sets only: service (an enabled service's name, else ""), route (the express
// route pattern, never the raw path), status code, page source. Never a request id, a file name or
// a key.
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import { type HealthSnapshot, SIDECAR_STATES } from './snapshot.js';

const GB = 1024 ** 3;

/** The primary's side: its own gauges plus every worker's registry, summed. */
export class PrimaryMetrics {
  private readonly aggregator = new AggregatorRegistry();
  private readonly registry = new Registry();

  constructor(snapshot: () => HealthSnapshot, workerCount: () => number) {
    const registers = [this.registry];
    const each = (fn: (g: Gauge<string>, s: HealthSnapshot['services'][number]) => void) =>
      function (this: Gauge<string>): void {
        this.reset();
        for (const s of snapshot().services) fn(this, s);
      };
    new Gauge({
      name: 'mdso_sidecar_state',
      help: 'Sidecar state: 1 for the current state of each service, 0 for the others.',
      labelNames: ['service', 'state'],
      registers,
      collect: each((g, s) => {
        for (const state of SIDECAR_STATES) g.set({ service: s.name, state }, s.state === state ? 1 : 0);
      }),
    });
    new Gauge({
      name: 'mdso_sidecar_up',
      help: '1 when the service can answer OCR requests (state ready), else 0.',
      labelNames: ['service'],
      registers,
      collect: each((g, s) => g.set({ service: s.name }, s.state === 'ready' ? 1 : 0)),
    });
    new Gauge({
      name: 'mdso_sidecar_restarts',
      help: 'Times the supervisor restarted the sidecar since the gateway started (use increase()).',
      labelNames: ['service'],
      registers,
      collect: each((g, s) => g.set({ service: s.name }, s.restarts)),
    });
    new Gauge({
      name: 'mdso_sidecar_queue_active',
      help: 'Requests the sidecar is working on.',
      labelNames: ['service'],
      registers,
      collect: each((g, s) => g.set({ service: s.name }, s.queue?.active ?? 0)),
    });
    new Gauge({
      name: 'mdso_sidecar_queue_waiting',
      help: 'Requests admitted by the sidecar and waiting for a slot.',
      labelNames: ['service'],
      registers,
      collect: each((g, s) => g.set({ service: s.name }, s.queue?.waiting ?? 0)),
    });
    new Gauge({
      name: 'mdso_sidecar_queue_limit',
      help: 'Requests the sidecar holds at once (SIDECAR_MAX_QUEUE); beyond, 503 QueueFull.',
      labelNames: ['service'],
      registers,
      collect: each((g, s) => {
        if (s.queue !== null) g.set({ service: s.name }, s.queue.limit);
      }),
    });
    new Gauge({
      name: 'mdso_sidecar_gpu_allocated_bytes',
      help: "GPU memory allocated by the sidecar's tensors (torch.cuda.memory_allocated); absent without CUDA.",
      labelNames: ['service'],
      registers,
      collect: each((g, s) => {
        if (s.gpu.available && s.gpu.allocated_gb !== undefined) g.set({ service: s.name }, Math.round(s.gpu.allocated_gb * GB));
      }),
    });
    new Gauge({
      name: 'mdso_sidecar_gpu_reserved_bytes',
      help: "GPU memory reserved by the sidecar's caching allocator (torch.cuda.memory_reserved); absent without CUDA.",
      labelNames: ['service'],
      registers,
      collect: each((g, s) => {
        if (s.gpu.available && s.gpu.reserved_gb !== undefined) g.set({ service: s.name }, Math.round(s.gpu.reserved_gb * GB));
      }),
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

  /** Every worker's metrics (summed) followed by the primary's gauges, in the text format. */
  async text(): Promise<string> {
    const workers = await this.aggregator.clusterMetrics();
    const own = await this.registry.metrics();
    return `${workers.trimEnd()}\n\n${own}`;
  }
}
