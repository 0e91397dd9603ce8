// The embedded job engine (no REDIS_URL): jobs run on this box, in the primary, FIFO per service with
// JOB_CONCURRENCY running at once per service. Uploads and results are files under
// JOB_DATA_DIR/embedded, job records live in memory: nothing survives a restart (/health says
// `durable: false`), and the directory is emptied at start and at stop so no file is orphaned.
import { createReadStream, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { JobNotDone, JobNotFound, ServiceUnavailable, errorRecord } from '../api/errors.js';
import type { Job } from '../api/schemas.js';
import type { JobSubmission } from '../ipc/job-messages.js';
import { ENDED, type JobEngine, type JobRecord, JOB_ID, newJobId, newRecord, viewOf, zeroCounts } from './job-engine.js';
import { type JobContext, prepareIncoming, progressOf, spooledFile, sweepIncoming } from './job-context.js';
import { runJob } from './job-runner.js';

const SWEEP_MAX_MS = 60_000;

/** `f`'s value, or its exception, as a promise (the engine's contract is asynchronous; this engine is not). */
const settle = <T>(f: () => T): Promise<T> => new Promise((resolve) => resolve(f()));
const SWEEP_MIN_MS = 250;

export class EmbeddedJobEngine implements JobEngine {
  readonly durable = false;
  private readonly jobs = new Map<string, JobRecord>();
  /** Queued job ids per service, oldest first; a job to retry goes back to the front. */
  private readonly queues = new Map<string, string[]>();
  /** Not before this time (a retry's backoff). */
  private readonly notBefore = new Map<string, number>();
  private readonly running = new Map<string, AbortController>();
  private readonly dir: string;
  private readonly incoming: string;
  private readonly sweeper: NodeJS.Timeout;
  private readonly wakers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly ctx: JobContext) {
    this.dir = path.join(ctx.settings.dataDir, 'embedded');
    rmSync(this.dir, { recursive: true, force: true });
    for (const sub of ['uploads', 'results']) mkdirSync(path.join(this.dir, sub), { recursive: true, mode: 0o700 });
    this.incoming = prepareIncoming(ctx.settings.dataDir);
    const every = Math.min(SWEEP_MAX_MS, Math.max(SWEEP_MIN_MS, ctx.settings.ttlMs / 4));
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  async submit(s: JobSubmission): Promise<Job> {
    try {
      if (this.closed) throw new ServiceUnavailable('The gateway is stopping; submit the job again shortly.', 5);
      const callbackUrl = s.callbackUrl === null ? null : await this.ctx.callbacks.check(s.callbackUrl);
      const id = newJobId();
      renameSync(spooledFile(this.incoming, s.upload.path), this.uploadPath(id));
      const record = newRecord(id, { ...s, callbackUrl }, Date.now());
      this.jobs.set(id, record);
      this.queueOf(record.service).push(id);
      this.ctx.logger.info('job queued', { job_id: id, service: record.service, request_id: s.requestId, bytes: record.bytes, pages_total: record.pagesTotal });
      this.pump(record.service);
      return this.view(record);
    } finally {
      rmSync(s.upload.path, { force: true });
    }
  }

  get(jobId: string, owner: string): Promise<Job> {
    return settle(() => this.view(this.find(jobId, owner)));
  }

  cancel(jobId: string, owner: string): Promise<Job> {
    return settle(() => this.cancelNow(jobId, owner));
  }

  private cancelNow(jobId: string, owner: string): Job {
    const record = this.find(jobId, owner);
    if (record.status === 'queued') {
      const queue = this.queueOf(record.service);
      queue.splice(queue.indexOf(record.id), 1);
      this.end(record, 'cancelled', null);
    } else if (record.status === 'running') {
      // Ended by run() once the sidecar has stopped: the status says cancelled from now on.
      record.status = 'cancelled';
      this.running.get(record.id)?.abort();
    }
    return this.view(record);
  }

  async result(jobId: string, owner: string): Promise<string> {
    const record = this.find(jobId, owner);
    if (record.status !== 'done') throw new JobNotDone(record.status);
    return readFile(this.resultPath(record.id), 'utf8');
  }

  counts(): Promise<Record<Job['status'], number>> {
    const counts = zeroCounts();
    for (const r of this.jobs.values()) counts[r.status] += 1;
    return Promise.resolve(counts);
  }

  close(): Promise<void> {
    return settle(() => this.closeNow());
  }

  private closeNow(): void {
    this.closed = true;
    clearInterval(this.sweeper);
    for (const t of this.wakers) clearTimeout(t);
    for (const controller of this.running.values()) controller.abort();
    this.ctx.callbacks.close();
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.incoming, { recursive: true, force: true });
  }

  private find(jobId: string, owner: string): JobRecord {
    const record = JOB_ID.test(jobId) ? this.jobs.get(jobId) : undefined;
    if (record === undefined || record.owner !== owner) throw new JobNotFound();
    return record;
  }

  private view(record: JobRecord): Job {
    if (record.status === 'running') {
      const progress = progressOf(this.ctx.sidecarOf(record.service), record.id);
      if (progress !== null) {
        record.pagesDone = progress.done;
        if (progress.total > 0) record.pagesTotal = progress.total;
      }
    }
    const position = record.status === 'queued' ? this.queueOf(record.service).indexOf(record.id) + 1 : null;
    return viewOf(record, position, this.ctx.settings.ttlMs);
  }

  private queueOf(service: string): string[] {
    let queue = this.queues.get(service);
    if (queue === undefined) {
      queue = [];
      this.queues.set(service, queue);
    }
    return queue;
  }

  private runningFor(service: string): number {
    let n = 0;
    for (const id of this.running.keys()) if (this.jobs.get(id)?.service === service) n += 1;
    return n;
  }

  /** Starts the service's queued jobs while it runs fewer than JOB_CONCURRENCY. */
  private pump(service: string): void {
    if (this.closed) return;
    const queue = this.queueOf(service);
    const now = Date.now();
    while (queue.length > 0 && this.runningFor(service) < this.ctx.settings.concurrency) {
      const next = queue[0]!;
      const after = this.notBefore.get(next) ?? 0;
      if (after > now) {
        const t = setTimeout(() => {
          this.wakers.delete(t);
          this.pump(service);
        }, after - now);
        this.wakers.add(t);
        return;
      }
      queue.shift();
      this.notBefore.delete(next);
      const record = this.jobs.get(next);
      if (record !== undefined) void this.run(record);
    }
  }

  private async run(record: JobRecord): Promise<void> {
    const controller = new AbortController();
    this.running.set(record.id, controller);
    record.status = 'running';
    record.startedAt = Date.now();
    this.ctx.metrics.started(record.service, record.startedAt - record.createdAt);
    let outcome;
    try {
      outcome = await runJob(record, this.ctx.sidecarOf(record.service), () => createReadStream(this.uploadPath(record.id)), controller.signal, this.ctx.settings.timeoutMs);
    } catch (err) {
      this.ctx.logger.error('job failed unexpectedly', { job_id: record.id, error: err instanceof Error ? err.stack : String(err) });
      outcome = { kind: 'failed' as const, error: errorRecord(new ServiceUnavailable('The job failed unexpectedly; the gateway log says why.', undefined)) };
    } finally {
      this.running.delete(record.id);
    }
    if (this.closed) return;
    if (controller.signal.aborted || outcome.kind === 'cancelled') {
      this.end(record, 'cancelled', null);
    } else if (outcome.kind === 'done') {
      writeFileSync(this.resultPath(record.id), outcome.answer, { mode: 0o600 });
      record.pagesDone = outcome.pages;
      record.pagesTotal = outcome.pages;
      this.end(record, 'done', null);
    } else if (outcome.kind === 'retry' && Date.now() - record.createdAt < this.ctx.settings.timeoutMs) {
      this.ctx.logger.info('job to run again', { job_id: record.id, why: outcome.error.message, after_ms: outcome.afterMs });
      record.status = 'queued';
      record.startedAt = null;
      this.notBefore.set(record.id, Date.now() + outcome.afterMs);
      this.queueOf(record.service).unshift(record.id);
    } else {
      this.end(record, 'failed', outcome.error);
    }
    this.pump(record.service);
  }

  private end(record: JobRecord, status: 'done' | 'failed' | 'cancelled', error: JobRecord['error']): void {
    record.status = status;
    record.error = error;
    record.finishedAt = Date.now();
    rmSync(this.uploadPath(record.id), { force: true });
    this.ctx.metrics.ended(record.service, status, record.startedAt === null ? null : record.finishedAt - record.startedAt);
    this.ctx.logger.info('job ended', { job_id: record.id, service: record.service, status, ...(error === null ? {} : { type: error.type }) });
    if (record.callbackUrl !== null) void this.ctx.callbacks.deliver(record.callbackUrl, this.view(record), record.id);
  }

  /** Forgets ended jobs older than JOB_TTL, with their files; removes spool files nobody submitted. */
  private sweep(): void {
    const now = Date.now();
    for (const record of this.jobs.values()) {
      if (ENDED.includes(record.status) && record.finishedAt !== null && now - record.finishedAt >= this.ctx.settings.ttlMs && !this.running.has(record.id)) {
        this.jobs.delete(record.id);
        rmSync(this.resultPath(record.id), { force: true });
        rmSync(this.uploadPath(record.id), { force: true });
      }
    }
    sweepIncoming(this.incoming, this.ctx.settings.timeoutMs);
  }

  private uploadPath(id: string): string {
    return path.join(this.dir, 'uploads', id);
  }

  private resultPath(id: string): string {
    return path.join(this.dir, 'results', `${id}.json`);
  }
}
