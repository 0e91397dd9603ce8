// The jobs' Prometheus metrics, in the primary's registry (primary/metrics.ts sums the workers' and
// adds these): jobs by state, time a job waited in its queue, time it ran. Labels: service and state.
import { Gauge, Histogram, type Registry } from 'prom-client';
import { JOB_STATUSES, type JobStatus } from '../api/schemas.js';
import type { JobMetricsSink } from './job-context.js';

const WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];
const DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600];

export class JobMetrics implements JobMetricsSink {
  private readonly wait: Histogram<'service'>;
  private readonly duration: Histogram<'service' | 'state'>;

  /** `counts`: the engine's jobs by state, read at scrape time (with Redis: every box's jobs). */
  constructor(registry: Registry, counts: () => Promise<Record<JobStatus, number>>) {
    const registers = [registry];
    new Gauge({
      name: 'mdso_jobs',
      help: 'Durable jobs by state (embedded: this box; Redis: every box, those not yet expired).',
      labelNames: ['state'],
      registers,
      async collect(this: Gauge<'state'>): Promise<void> {
        const now = await counts().catch(() => null);
        this.reset();
        if (now === null) return;
        for (const state of JOB_STATUSES) this.set({ state }, now[state]);
      },
    });
    this.wait = new Histogram({
      name: 'mdso_job_queue_wait_seconds',
      help: 'Time a job waited in its queue before this box started it.',
      labelNames: ['service'],
      buckets: WAIT_BUCKETS,
      registers,
    });
    this.duration = new Histogram({
      name: 'mdso_job_duration_seconds',
      help: 'Time a job ran on this box, by how it ended (done, failed, cancelled).',
      labelNames: ['service', 'state'],
      buckets: DURATION_BUCKETS,
      registers,
    });
  }

  started(service: string, waitMs: number): void {
    this.wait.observe({ service }, Math.max(0, waitMs) / 1000);
  }

  ended(service: string, status: JobStatus, runMs: number | null): void {
    if (runMs !== null) this.duration.observe({ service, state: status }, Math.max(0, runMs) / 1000);
  }
}
