// One worker's metrics (prom-client) in a private registry. The primary's AggregatorRegistry
// (primary/metrics.ts) asks every worker over cluster IPC for its registry and sums them; listen()
// installs prom-client's worker-side answer to that request. The workers' process metrics
// (prom-client's default ones: CPU, memory, event-loop lag…) are named mdso_workers_…: summed over
// the workers as their aggregator hints say (event-loop lag averaged, min/max kept), apart from the
// primary's own.
//
// Labels are bounded sets only: service (an enabled service's name, else ""), route (the express
// route pattern, never the raw path), status code or class, page source, who answered. Never a
// request id, a file name or a key.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'service' | 'status'>;
  readonly duration: Histogram<'route' | 'service'>;
  readonly inFlight: Gauge;
  readonly pages: Counter<'service' | 'source'>;
  readonly pageDuration: Histogram<'service' | 'source'>;
  readonly failedPages: Counter<'service'>;
  readonly documents: Counter<'service'>;
  readonly uploadBytes: Counter<'service'>;
  readonly remoteRequests: Counter<'service' | 'status_class' | 'answered_by'>;

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
    this.inFlight = new Gauge({
      name: 'mdso_http_requests_in_flight',
      help: 'Requests being served now (received, not yet answered or abandoned), over all workers.',
      registers,
    });
    this.pages = new Counter({
      name: 'mdso_pages_total',
      help: 'Pages returned by successful OCR requests, by service and source (ocr, text-layer, fallback:tesseract). Pages per second: rate(mdso_pages_total[5m]).',
      labelNames: ['service', 'source'],
      registers,
    });
    this.pageDuration = new Histogram({
      name: 'mdso_page_duration_seconds',
      help: "Time the sidecar spent on one page (its answer's pages[].ms), by service and page source.",
      labelNames: ['service', 'source'],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600],
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
    this.remoteRequests = new Counter({
      name: 'mdso_remote_requests_total',
      help:
        'OCR requests proxied to a peer gateway (REMOTE_SERVICES), by service, status class of the answer (2xx, 4xx, 5xx; ' +
        'client-gone) and who answered: peer (its answer passed through) or gateway (this one: 502 peer unreachable, 504 TIMEOUT, 413, 408).',
      labelNames: ['service', 'status_class', 'answered_by'],
      registers,
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'mdso_workers_' });
  }

  /** Answer the primary's clusterMetrics() requests with this registry's values. */
  listen(): void {
    // Constructing an AggregatorRegistry installs prom-client's IPC listener in this worker.
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([this.registry]);
  }
}
