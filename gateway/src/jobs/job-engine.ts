// The durable jobs' engine interface, run by the primary: the embedded engine (this box, not durable
// across a restart) and the Redis engine (BullMQ queues shared by every box) implement it over one
// job runner (job-runner.ts). A job as stored (JobRecord) and as a client sees it (Job).
import { randomBytes } from 'node:crypto';
import { ApiError, errorRecord } from '../api/errors.js';
import { ENDED_JOB_STATUSES, type ErrorBody, type Job, type JobStatus } from '../api/schemas.js';
import type { ErrorRecord, JobRequest, JobSubmission } from '../ipc/job-messages.js';

/** A job as an engine keeps it (JSON: a file's or a Redis hash's worth). */
export interface JobRecord {
  id: string;
  service: string;
  owner: string;
  status: JobStatus;
  includePages: boolean;
  sidecarQuery: Record<string, string>;
  filename: string;
  contentType: string;
  bytes: number;
  pagesTotal: number | null;
  pagesDone: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: ErrorRecord | null;
  callbackUrl: string | null;
  requestId: string;
}

/**
 * The contract of an engine. Every method answers for `owner` only: another key's job is a
 * JobNotFound, exactly like one that never existed. Errors are api/errors.ts's ApiErrors.
 */
export interface JobEngine {
  /** False when a restart loses the queued and running jobs (the embedded engine): /health says so. */
  readonly durable: boolean;
  /** Takes the spooled upload (the engine owns the file from here, and removes it) and queues the job. */
  submit(submission: JobSubmission): Promise<Job>;
  get(jobId: string, owner: string): Promise<Job>;
  /** A queued job never runs; a running one stops at its next page and its sidecar work is aborted. Ended jobs stay as they are. */
  cancel(jobId: string, owner: string): Promise<Job>;
  /** The result's JSON text (the body POST /ocr/{service} answers); JobNotDone until done. */
  result(jobId: string, owner: string): Promise<string>;
  /** Jobs by status (those this engine can count), for the metrics. */
  counts(): Promise<Record<JobStatus, number>>;
  /** Stops consuming, aborts running jobs (the embedded engine removes its files). */
  close(): Promise<void>;
}

/** A job id: 128 random bits, hex (the sidecars keep it as their request id). */
export function newJobId(): string {
  return randomBytes(16).toString('hex');
}

export const JOB_ID = /^[0-9a-f]{32}$/;

export function newRecord(id: string, s: JobSubmission, now: number): JobRecord {
  return {
    id,
    service: s.service,
    owner: s.owner,
    status: 'queued',
    includePages: s.includePages,
    sidecarQuery: s.sidecarQuery,
    filename: s.upload.filename,
    contentType: s.upload.contentType,
    bytes: s.upload.bytes,
    pagesTotal: s.pagesTotal,
    pagesDone: 0,
    createdAt: now,
    startedAt: null,
    finishedAt: null,
    error: null,
    callbackUrl: s.callbackUrl,
    requestId: s.requestId,
  };
}

export const ENDED = ENDED_JOB_STATUSES;

const iso = (t: number | null): string | null => (t === null ? null : new Date(t).toISOString());

export function errorBodyOf(r: ErrorRecord): ErrorBody {
  return { error: r.message, type: r.type, details: { ...r.details, status: r.status }, detail: r.message };
}

/** The public view of a job; `position`: 1-based place in its service's queue while queued. */
export function viewOf(r: JobRecord, position: number | null, ttlMs: number): Job {
  return {
    job_id: r.id,
    service: r.service,
    status: r.status,
    pages_done: r.status === 'done' && r.pagesTotal !== null ? r.pagesTotal : r.pagesDone,
    pages_total: r.pagesTotal,
    queue_position: r.status === 'queued' ? position : null,
    created_at: iso(r.createdAt) ?? '',
    started_at: iso(r.startedAt),
    finished_at: iso(r.finishedAt),
    expires_at: r.finishedAt === null ? null : iso(r.finishedAt + ttlMs),
    error: r.error === null ? null : errorBodyOf(r.error),
    status_url: `/jobs/${r.id}`,
    result_url: `/jobs/${r.id}/result`,
  };
}

export function zeroCounts(): Record<JobStatus, number> {
  return { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
}

/** Answers a worker's jobs request (JobReply as JSON text): the engine's ApiErrors as their records, anything else as a 500 (logged). */
export async function answerJobRequest(engine: JobEngine, request: JobRequest, logError: (err: unknown) => void): Promise<string> {
  try {
    switch (request.op) {
      case 'submit':
        return JSON.stringify({ ok: true, job: await engine.submit(request.submission) });
      case 'get':
        return JSON.stringify({ ok: true, job: await engine.get(request.jobId, request.owner) });
      case 'cancel':
        return JSON.stringify({ ok: true, job: await engine.cancel(request.jobId, request.owner) });
      case 'result':
        return JSON.stringify({ ok: true, result: await engine.result(request.jobId, request.owner) });
    }
  } catch (err) {
    if (err instanceof ApiError) return JSON.stringify({ ok: false, error: errorRecord(err) });
    logError(err);
    return JSON.stringify({ ok: false, error: errorRecord(new ApiError('Internal error in the job engine; the gateway log says why.')) });
  }
}
