// What a worker asks the primary about durable jobs, which the primary's job engine runs (jobs/),
// and what it answers. The worker streams the upload to a spool file first; the primary takes it
// from there (into its own store, or into Redis).

/** Where, under JOB_DATA_DIR, workers spool job uploads (the primary empties it at start). */
export const INCOMING_DIR = 'incoming';

/** The upload of a job, spooled by the worker under JOB_DATA_DIR/incoming. */
export interface SpooledUpload {
  /** The spool file's path; the primary owns it once it is asked to submit (and removes it either way). */
  path: string;
  bytes: number;
  /** The client's file name (informational, never a path) and content type. */
  filename: string;
  contentType: string;
}

/** A job as it is submitted. The options are checked already; so are type, size and pages when a sidecar could tell. */
export interface JobSubmission {
  service: string;
  /** The API key's name (request context): only it sees the job. */
  owner: string;
  includePages: boolean;
  sidecarQuery: Record<string, string>;
  upload: SpooledUpload;
  /** Pages the job will read, as a sidecar's /inspect said; null when none could be asked. */
  pagesTotal: number | null;
  callbackUrl: string | null;
  requestId: string;
}

export type JobRequest =
  | { op: 'submit'; submission: JobSubmission }
  | { op: 'get'; jobId: string; owner: string }
  | { op: 'cancel'; jobId: string; owner: string }
  | { op: 'result'; jobId: string; owner: string };

/** An API error as data, to cross a process boundary (IPC, Redis); api/errors.ts turns it back into one. */
export interface ErrorRecord {
  status: number;
  type: string;
  message: string;
  details: Record<string, unknown>;
  retryAfter?: number;
}

/**
 * The primary's answer, as JSON text in an `answer` message: the job's public view (`Job`, described
 * in api/schemas.ts), the result's JSON text, or the error.
 */
export type JobReply<Job> = { ok: true; job: Job } | { ok: true; result: string } | { ok: false; error: ErrorRecord };
