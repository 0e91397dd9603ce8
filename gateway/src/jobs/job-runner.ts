// Runs one job on its service's sidecar, through the same wire and the same answer-building as the
// synchronous route (api/ocr-answer.ts): one streamed POST /ocr over the sidecar's Unix socket, with
// the job's id as request id (so the sidecar's /health reports its pages done) and JOB_TIMEOUT as its
// deadline. Aborting the signal is the cancellation: the sidecar sees the connection go and stops at
// the next page. The engines decide what an outcome means for the job (retry, fail, keep).
import type { Readable } from 'node:stream';
import { GatewayTimeout, ServiceUnavailable, errorRecord } from '../api/errors.js';
import { publicAnswer, sidecarError, withoutServerPaths } from '../api/ocr-answer.js';
import type { SidecarStatus } from '../ipc/health-snapshot.js';
import type { ErrorRecord } from '../ipc/job-messages.js';
import type { SidecarOcrBody } from '../ipc/sidecar-wire.js';
import { isConnectionError, postToSidecar } from '../sidecar-client.js';
import type { JobRecord } from './job-engine.js';

export type RunOutcome =
  /** `answer`: the public answer's JSON text. */
  | { kind: 'done'; answer: string; pages: number }
  | { kind: 'failed'; error: ErrorRecord }
  /** Not the job's fault (the sidecar is starting, restarting, or its queue is full): run it again later. */
  | { kind: 'retry'; error: ErrorRecord; afterMs: number }
  | { kind: 'cancelled' };

const RETRY_MS = 5000;

/** The headers the sidecar reads (its x-filename is informational only, never a path). */
function headersOf(job: JobRecord, deadline: number): Record<string, string> {
  return {
    'content-type': job.contentType || 'application/octet-stream',
    'x-filename': encodeURIComponent(job.filename.slice(0, 512).toWellFormed()),
    'x-request-id': job.id,
    'x-deadline-ms': String(deadline),
  };
}

export async function runJob(
  job: JobRecord,
  sidecar: SidecarStatus | undefined,
  upload: () => Readable,
  cancel: AbortSignal,
  timeoutMs: number,
): Promise<RunOutcome> {
  if (sidecar === undefined || sidecar.state === 'failed' || sidecar.state === 'unavailable' || sidecar.state === 'stopped') {
    const why = sidecar?.message === null || sidecar?.message === undefined ? 'see the gateway log' : withoutServerPaths(sidecar.message);
    return { kind: 'failed', error: errorRecord(new ServiceUnavailable(`OCR service '${job.service}' cannot run: ${why}`, undefined, { state: sidecar?.state ?? 'absent' })) };
  }
  if (sidecar.state !== 'ready') {
    return { kind: 'retry', error: errorRecord(new ServiceUnavailable(`OCR service '${job.service}' is ${sidecar.state}.`, 5)), afterMs: RETRY_MS };
  }
  const started = performance.now();
  const timeout = AbortSignal.timeout(timeoutMs);
  const body = upload();
  try {
    const answer = await postToSidecar({
      socketPath: sidecar.socketPath,
      body,
      query: job.sidecarQuery,
      headers: headersOf(job, Date.now() + timeoutMs),
      signal: AbortSignal.any([cancel, timeout]),
    });
    if (answer.status === 200) {
      const ocr = answer.body as SidecarOcrBody;
      // The job's format travels in its sidecar query (jobs take text and json only: jobs-route.ts).
      const format = job.sidecarQuery.format === 'json' ? 'json' : 'text';
      const text = JSON.stringify(publicAnswer(ocr, job.includePages, Math.round(performance.now() - started), format));
      return { kind: 'done', answer: text, pages: ocr.pages.length };
    }
    if (cancel.aborted) return { kind: 'cancelled' };
    const error = errorRecord(sidecarError(answer));
    if (answer.status === 503) return { kind: 'retry', error, afterMs: Math.max(1, error.retryAfter ?? 5) * 1000 };
    return { kind: 'failed', error };
  } catch (err) {
    if (cancel.aborted) return { kind: 'cancelled' };
    if (timeout.aborted) return { kind: 'failed', error: errorRecord(new GatewayTimeout(timeoutMs)) };
    if (isConnectionError(err)) {
      const error = errorRecord(new ServiceUnavailable(`OCR service '${job.service}' stopped while reading the document (it is being restarted).`, 5));
      return { kind: 'retry', error, afterMs: RETRY_MS };
    }
    throw err;
  } finally {
    body.destroy();
  }
}
