// Prometheus metrics (prom-client), aggregated across the node:cluster workers with prom-client's
// AggregatorRegistry: each worker counts its own requests in a private registry; the primary, asked
// over IPC by the worker serving GET /metrics (the primary does not listen on PORT), collects every
// worker's registry (summing counters and histograms) and appends its own gauges, computed at scrape
// time from the health snapshot (sidecar state, restarts, queue, GPU memory).
//
// Labels are bounded sets only: service (an enabled service's name, else ""), route (the express
// route pattern, never the raw path), status code, page source. Never a request id, a file name or
// a key.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HealthSnapshot, SidecarState } from './snapshot.js';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

const GB = 1024 ** 3;
const SIDECAR_STATES: readonly SidecarState[] = ['starting', 'ready', 'unavailable', 'restarting', 'failed', 'stopped'];

/** One worker's metrics; registered with prom-client's cluster aggregation at creation. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'service' | 'status'>;
  readonly duration: Histogram<'route' | 'service'>;
  readonly pages: Counter<'service' | 'source'>;
  readonly failedPages: Counter<'service'>;
  readonly documents: Counter<'service'>;
  readonly uploadBytes: Counter<'service'>;

  constructor() {
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'mdso_http_requests_total',
      help: 'HTTP requests answered, by route pattern, OCR service ("" outside /ocr) and status code (499: client went away).',
      labelNames: ['route', 'service', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'mdso_http_request_duration_seconds',
      help: 'Time from request to answer, by route pattern and OCR service.',
      labelNames: ['route', 'service'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
      registers,
    });
    this.pages = new Counter({
      name: 'mdso_pages_total',
      help: 'Pages returned by successful OCR requests, by service and source (ocr, text-layer, fallback:tesseract). Pages per second: rate(mdso_pages_total[5m]).',
      labelNames: ['service', 'source'],
      registers,
    });
    this.failedPages = new Counter({
      name: 'mdso_failed_pages_total',
      help: 'Pages that could not be read inside otherwise successful answers (listed in failed_pages).',
      labelNames: ['service'],
      registers,
    });
    this.documents = new Counter({
      name: 'mdso_documents_total',
      help: 'Documents OCRed successfully (200 answers), by service.',
      labelNames: ['service'],
      registers,
    });
    this.uploadBytes = new Counter({
      name: 'mdso_upload_bytes_total',
      help: 'Bytes of uploaded files streamed to a sidecar, by service.',
      labelNames: ['service'],
      registers,
    });
    // Constructing an AggregatorRegistry installs prom-client's IPC listener in this worker: the
    // primary's clusterMetrics() then receives this registry's values.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([this.registry]);
  }
}

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
