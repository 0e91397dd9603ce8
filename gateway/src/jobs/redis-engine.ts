// The Redis job engine (REDIS_URL): one BullMQ queue per service on a Redis every box shares; each box
// consumes the queues of the services it runs (ENABLED_SERVICES), JOB_CONCURRENCY jobs at a time per
// service, through the same runner as the embedded engine. BullMQ schedules (waiting, active, delayed
// retries) and recovers stalled jobs: a box that dies mid-job stops renewing its lock, and after
// JOB_STALL_TIMEOUT another box (or the same one restarted) runs the job again from its upload, which
// stays in Redis until the job ends. What a client sees is kept beside, under mdso-ocr:job:<id> (a
// hash: the record and its status), :upload and :result; every status change that ends a job is one
// Lua script, so the first box to end a job decides its result and no later one can answer another.
// Uploads and results count against JOB_REDIS_MAX_BYTES (503 + Retry-After beyond), and expire:
// a queued job's keys after JOB_TIMEOUT + JOB_TTL, an ended job's JOB_TTL after its end.
import { createReadStream, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { DelayedError, type Job as BullJob, Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { JobNotDone, JobNotFound, JobStorageFull, ServiceUnavailable, errorRecord } from '../api/errors.js';
import { JOB_STATUSES, type Job, type JobStatus } from '../api/schemas.js';
import type { ErrorRecord, JobSubmission } from '../ipc/job-messages.js';
import { type JobContext, prepareIncoming, progressOf, spooledFile, sweepIncoming } from './job-context.js';
import { type JobEngine, type JobRecord, JOB_ID, newJobId, newRecord, viewOf, zeroCounts } from './job-engine.js';
import { runJob } from './job-runner.js';

const PREFIX = 'mdso-ocr';
const WATCH_MS = 500;
const CHUNK_BYTES = 1024 * 1024;
const CONNECT_TIMEOUT_MS = 30_000;
const NOT_READY_RETRY_MS = 5000;
const FULL_RETRY_AFTER_S = 60;
const ENDED_COUNTS = `${PREFIX}:jobs:ended`;

const key = {
  job: (id: string) => `${PREFIX}:job:${id}`,
  upload: (id: string) => `${PREFIX}:job:${id}:upload`,
  result: (id: string) => `${PREFIX}:job:${id}:result`,
  cancel: (id: string) => `${PREFIX}:job:${id}:cancel`,
};

/** Ends a job unless it has ended already: KEYS job, result, upload, ended counts; ARGV status, finished_at, error JSON, result ('' none), ttl ms. 1 when it ended it. */
const FINISH = `
local s = redis.call('HGET', KEYS[1], 'status')
if not s or s == 'done' or s == 'failed' or s == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finished_at', ARGV[2], 'error', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4], 'PX', ARGV[5]) end
redis.call('DEL', KEYS[3])
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
return 1`;

/** Marks a job running unless it has ended (cancelled while queued): KEYS job; ARGV started_at. 1 when it may run. */
const BEGIN = `
local s = redis.call('HGET', KEYS[1], 'status')
if not s or s == 'done' or s == 'failed' or s == 'cancelled' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'running', 'started_at', ARGV[1])
return 1`;

type Ended = 'done' | 'failed' | 'cancelled';

export class RedisJobEngine implements JobEngine {
  readonly durable = true;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  /** The jobs this box runs now: aborted when it stops, so that their sidecar work stops too. */
  private readonly running = new Set<AbortController>();
  private closing = false;
  private readonly incoming: string;
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    private readonly ctx: JobContext,
    private readonly redis: Redis,
  ) {
    this.incoming = prepareIncoming(ctx.settings.dataDir);
    this.sweeper = setInterval(() => sweepIncoming(this.incoming, ctx.settings.timeoutMs), 60_000);
    this.sweeper.unref();
  }

  /** Connects (the first command fails fast when Redis cannot be reached) and consumes `services`' queues. */
  static async start(ctx: JobContext, services: readonly string[]): Promise<RedisJobEngine> {
    // BullMQ's workers block on Redis: ioredis must retry their commands forever (maxRetriesPerRequest null).
    const redis = new Redis(ctx.settings.redisUrl, { maxRetriesPerRequest: null, lazyConnect: true });
    redis.on('error', (err: Error) => ctx.logger.warn('redis connection error', { error: err.message }));
    const reached = Promise.all([redis.connect(), redis.ping()]);
    const late = sleep(CONNECT_TIMEOUT_MS, 'late' as const, { ref: false });
    const first = await Promise.race([reached.then(() => 'ok' as const), late]).catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
    if (first !== 'ok') {
      redis.disconnect();
      const host = new URL(ctx.settings.redisUrl).host;
      throw new Error(`the job engine could not reach Redis at ${host} (REDIS_URL): ${first === 'late' ? `no answer within ${CONNECT_TIMEOUT_MS / 1000} s` : first}`);
    }
    const engine = new RedisJobEngine(ctx, redis);
    for (const service of services) engine.consume(service);
    ctx.logger.info('jobs on redis', { consuming: services, concurrency: ctx.settings.concurrency });
    return engine;
  }

  async submit(s: JobSubmission): Promise<Job> {
    try {
      const callbackUrl = s.callbackUrl === null ? null : await this.ctx.callbacks.check(s.callbackUrl);
      const queue = this.queueOf(s.service);
      if ((await queue.getWorkersCount()) === 0) {
        throw new ServiceUnavailable(`No gateway consumes the jobs of '${s.service}' now (no box has it in ENABLED_SERVICES, or none is up); retry later.`, 30, { service: s.service });
      }
      await this.checkBudget(s.upload.bytes);
      const id = newJobId();
      const record = newRecord(id, { ...s, callbackUrl }, Date.now());
      const keepMs = this.ctx.settings.timeoutMs + this.ctx.settings.ttlMs;
      await this.storeUpload(id, spooledFile(this.incoming, s.upload.path), keepMs);
      await this.redis
        .multi()
        .hset(key.job(id), { record: JSON.stringify(record), status: 'queued', pages_done: '0' })
        .pexpire(key.job(id), keepMs)
        .exec();
      const ttlS = Math.ceil(this.ctx.settings.ttlMs / 1000);
      await queue.add('ocr', { id }, { jobId: id, removeOnComplete: { age: ttlS }, removeOnFail: { age: ttlS } });
      this.ctx.logger.info('job queued', { job_id: id, service: s.service, request_id: s.requestId, bytes: record.bytes, pages_total: record.pagesTotal });
      return await this.view(record, await this.redis.hgetall(key.job(id)));
    } finally {
      rmSync(s.upload.path, { force: true });
    }
  }

  async get(jobId: string, owner: string): Promise<Job> {
    const { record, fields } = await this.find(jobId, owner);
    return this.view(record, fields);
  }

  async cancel(jobId: string, owner: string): Promise<Job> {
    const { record } = await this.find(jobId, owner);
    // The box running it sees the flag within WATCH_MS and aborts its sidecar request.
    await this.redis.set(key.cancel(jobId), '1', 'PX', this.ctx.settings.timeoutMs + this.ctx.settings.ttlMs);
    if (await this.finish(record, 'cancelled', null, '')) {
      // A queued job leaves its queue (one a box has just taken finds it cancelled and does not run).
      await this.queueOf(record.service)
        .remove(jobId)
        .catch(() => 0);
    }
    return this.get(jobId, owner);
  }

  async result(jobId: string, owner: string): Promise<string> {
    const { fields } = await this.find(jobId, owner);
    const status = (fields.status ?? 'queued') as JobStatus;
    if (status !== 'done') throw new JobNotDone(status);
    const text = await this.redis.get(key.result(jobId));
    if (text === null) throw new JobNotFound();
    return text;
  }

  async counts(): Promise<Record<JobStatus, number>> {
    const counts = zeroCounts();
    for (const queue of this.queues.values()) {
      const c = await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active');
      counts.queued += (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0);
      counts.running += c.active ?? 0;
    }
    const ended = await this.redis.hgetall(ENDED_COUNTS);
    for (const state of ['done', 'failed', 'cancelled'] as const) counts[state] = Number(ended[state] ?? 0);
    return counts;
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    // A running job is given back, not ended: it stays active without a lock renewal, so after
    // JOB_STALL_TIMEOUT another box (or this one restarted) runs it again.
    this.closing = true;
    for (const controller of this.running) controller.abort();
    await Promise.allSettled(this.workers.map((w) => w.close()));
    await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
    this.ctx.callbacks.close();
    this.redis.disconnect();
    rmSync(this.incoming, { recursive: true, force: true });
  }

  private queueOf(service: string): Queue {
    let queue = this.queues.get(service);
    if (queue === undefined) {
      queue = new Queue(`ocr-${service}`, { connection: this.redis, prefix: PREFIX });
      this.queues.set(service, queue);
    }
    return queue;
  }

  private consume(service: string): void {
    this.queueOf(service);
    const worker = new Worker(`ocr-${service}`, (job: BullJob, token?: string) => this.process(job, token), {
      connection: this.redis.duplicate(),
      prefix: PREFIX,
      concurrency: this.ctx.settings.concurrency,
      lockDuration: this.ctx.settings.stallTimeoutMs,
      stalledInterval: this.ctx.settings.stallTimeoutMs,
      maxStalledCount: 5,
    });
    worker.on('error', (err) => this.ctx.logger.warn('job consumer error', { service, error: err.message }));
    // Stalled more than maxStalledCount times (every box running it died): the job fails for good.
    worker.on('failed', (job, err) => {
      if (job === undefined) return;
      void this.load(String(job.id)).then((found) => {
        if (found === null) return;
        const error = errorRecord(new ServiceUnavailable(`The job could not be run: ${err.message}`, undefined));
        return this.finish(found.record, 'failed', error, '');
      });
    });
    this.workers.push(worker);
  }

  private async process(bull: BullJob, token: string | undefined): Promise<void> {
    const id = String(bull.id);
    const found = await this.load(id);
    if (found === null) return; // expired, or removed
    const { record } = found;
    // This box's sidecar cannot read it now (starting, restarting, failed): put the job back for a
    // while, for another box or for this one once its sidecar is ready; JOB_TIMEOUT bounds the wait.
    const state = this.ctx.sidecarOf(record.service)?.state;
    if (state !== 'ready' && Date.now() - record.createdAt < this.ctx.settings.timeoutMs) {
      await bull.moveToDelayed(Date.now() + NOT_READY_RETRY_MS, token);
      throw new DelayedError();
    }
    if ((await this.redis.eval(BEGIN, 1, key.job(id), String(Date.now()))) !== 1) return;
    const startedAt = Date.now();
    this.ctx.metrics.started(record.service, startedAt - record.createdAt);
    const size = await this.redis.strlen(key.upload(id));
    if (size === 0 && record.bytes > 0) {
      await this.finish(record, 'failed', errorRecord(new ServiceUnavailable('The job\'s upload has expired (JOB_TIMEOUT + JOB_TTL) before it could run.', undefined)), '');
      return;
    }
    const controller = new AbortController();
    this.running.add(controller);
    const watch = setInterval(() => void this.watch(record, controller), WATCH_MS);
    let outcome;
    try {
      outcome = await runJob(record, this.ctx.sidecarOf(record.service), () => Readable.from(this.readUpload(id, size)), controller.signal, this.ctx.settings.timeoutMs);
    } finally {
      clearInterval(watch);
      this.running.delete(controller);
    }
    // Stopping: BullMQ is told nothing (DelayedError), so the job is neither completed nor failed.
    if (this.closing) throw new DelayedError();
    const ranMs = Date.now() - startedAt;
    if (outcome.kind === 'done') {
      await this.finish(record, 'done', null, outcome.answer, ranMs, outcome.pages);
    } else if (outcome.kind === 'cancelled') {
      await this.finish(record, 'cancelled', null, '', ranMs);
    } else if (outcome.kind === 'retry' && Date.now() - record.createdAt < this.ctx.settings.timeoutMs) {
      this.ctx.logger.info('job to run again', { job_id: id, why: outcome.error.message, after_ms: outcome.afterMs });
      await this.redis.hset(key.job(id), 'status', 'queued');
      await bull.moveToDelayed(Date.now() + outcome.afterMs, token);
      throw new DelayedError();
    } else {
      await this.finish(record, 'failed', outcome.error, '', ranMs);
    }
  }

  /** While a job runs: its cancel flag, and its pages done as the sidecar reports them. */
  private async watch(record: JobRecord, controller: AbortController): Promise<void> {
    try {
      if ((await this.redis.exists(key.cancel(record.id))) === 1) controller.abort();
      const progress = progressOf(this.ctx.sidecarOf(record.service), record.id);
      if (progress !== null) await this.redis.hset(key.job(record.id), 'pages_done', String(progress.done), 'pages_total', String(progress.total));
    } catch {
      // Redis away for a moment: the next tick tries again.
    }
  }

  /** Ends the job unless another box (or a cancel) ended it first; then its callback and metrics. */
  private async finish(record: JobRecord, status: Ended, error: ErrorRecord | null, result: string, ranMs: number | null = null, pages?: number): Promise<boolean> {
    const id = record.id;
    if (pages !== undefined) await this.redis.hset(key.job(id), 'pages_done', String(pages), 'pages_total', String(pages));
    const ended =
      (await this.redis.eval(FINISH, 4, key.job(id), key.result(id), key.upload(id), ENDED_COUNTS, status, String(Date.now()), error === null ? '' : JSON.stringify(error), result, String(this.ctx.settings.ttlMs))) === 1;
    if (!ended) return false;
    this.ctx.metrics.ended(record.service, status, ranMs);
    this.ctx.logger.info('job ended', { job_id: id, service: record.service, status, ...(error === null ? {} : { type: error.type }) });
    if (record.callbackUrl !== null) {
      const found = await this.load(id);
      if (found !== null) void this.ctx.callbacks.deliver(record.callbackUrl, await this.view(found.record, found.fields), id);
    }
    return true;
  }

  private async load(id: string): Promise<{ record: JobRecord; fields: Record<string, string> } | null> {
    const fields = await this.redis.hgetall(key.job(id));
    if (fields.record === undefined) return null;
    return { record: JSON.parse(fields.record) as JobRecord, fields };
  }

  private async find(jobId: string, owner: string): Promise<{ record: JobRecord; fields: Record<string, string> }> {
    const found = JOB_ID.test(jobId) ? await this.load(jobId) : null;
    if (found === null || found.record.owner !== owner) throw new JobNotFound();
    return found;
  }

  private async view(record: JobRecord, fields: Record<string, string>): Promise<Job> {
    const status = (JOB_STATUSES as readonly string[]).includes(fields.status ?? '') ? (fields.status as JobStatus) : 'queued';
    const num = (v: string | undefined): number | null => (v === undefined || v === '' ? null : Number(v));
    const total = num(fields.pages_total);
    const current: JobRecord = {
      ...record,
      status,
      pagesDone: num(fields.pages_done) ?? 0,
      pagesTotal: total !== null && total > 0 ? total : record.pagesTotal,
      startedAt: num(fields.started_at),
      finishedAt: num(fields.finished_at),
      error: fields.error === undefined || fields.error === '' ? null : (JSON.parse(fields.error) as ErrorRecord),
    };
    let position: number | null = null;
    if (status === 'queued') {
      // Ids only, oldest first: the next job to start is 1.
      const waiting = await this.queueOf(record.service).getRanges(['wait'], 0, 999, true);
      const index = waiting.indexOf(record.id);
      position = index < 0 ? null : index + 1;
    }
    return viewOf(current, position, this.ctx.settings.ttlMs);
  }

  /** Copies the spool file into Redis a chunk at a time (never the whole upload in memory). */
  private async storeUpload(id: string, file: string, keepMs: number): Promise<void> {
    try {
      await this.redis.set(key.upload(id), '', 'PX', keepMs);
      for await (const chunk of createReadStream(file, { highWaterMark: CHUNK_BYTES })) await this.redis.append(key.upload(id), chunk as Buffer);
    } catch (err) {
      await this.redis.del(key.upload(id)).catch(() => 0);
      throw err;
    }
  }

  /** The upload, read back from Redis a chunk at a time as the sidecar takes it. */
  private async *readUpload(id: string, size: number): AsyncGenerator<Buffer> {
    for (let offset = 0; offset < size; offset += CHUNK_BYTES) {
      yield await this.redis.getrangeBuffer(key.upload(id), offset, Math.min(size, offset + CHUNK_BYTES) - 1);
    }
  }

  /** Refuses an upload that would take Redis past JOB_REDIS_MAX_BYTES (503 + Retry-After, never an out-of-memory Redis). */
  private async checkBudget(bytes: number): Promise<void> {
    const info = await this.redis.info('memory');
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? '0');
    // A result is at most a few times smaller than its upload; the margin keeps room for both.
    if (used + bytes * 2 > this.ctx.settings.redisMaxBytes) {
      throw new JobStorageFull(
        `The job store is full (JOB_REDIS_MAX_BYTES: ${this.ctx.settings.redisMaxBytes} bytes, ${used} in use); retry once jobs have ended and expired.`,
        FULL_RETRY_AFTER_S,
      );
    }
  }
}
