// The gateway's error hierarchy: each class carries its HTTP status and stable type name, so the
// HTTP layer maps errors to answers in one place (worker/error-handler.ts). With the error body's
// shape; the error types a sidecar relays (SidecarError) are listed by its contract (ipc/sidecar-wire.ts);
// a remote service's peer gateway answers in this same shape, and its answers pass through as they are.
import type { ErrorBody } from './schemas.js';
import type { ErrorRecord } from '../ipc/job-messages.js';

export type ErrorDetails = Record<string, unknown>;

export class ApiError extends Error {
  readonly status: number = 500;
  readonly type: string = 'InternalError';
  /** Seconds a client should wait before retrying (sent as Retry-After). */
  readonly retryAfter: number | undefined = undefined;
  readonly details: ErrorDetails;

  constructor(message: string, details: ErrorDetails = {}) {
    super(message);
    this.details = details;
  }
}

/** The JSON answer of an error (its shape is documented in /openapi.json as `Error`). */
export function errorBody(err: ApiError): ErrorBody {
  // `detail` is what the existing client (FastAPI-era) reads for 401/404; `error` the original body.
  return { error: err.message, type: err.type, details: err.details, detail: err.message };
}

export class Unauthorized extends ApiError {
  override readonly status = 401;
  override readonly type = 'Unauthorized';
  constructor() {
    super('Invalid or missing API Key');
  }
}

export class ServiceNotFound extends ApiError {
  override readonly status = 404;
  override readonly type = 'ServiceNotFound';
  /** hint: what the client can do instead (e.g. where the service does run). */
  constructor(service: string, hint?: string) {
    super(`OCR service '${service}' not found.${hint === undefined ? '' : ` ${hint}`}`);
  }
}

export class RouteNotFound extends ApiError {
  override readonly status = 404;
  override readonly type = 'NotFound';
}

export class BadRequest extends ApiError {
  override readonly status = 400;
  override readonly type = 'BadRequest';
}

export class BadOption extends ApiError {
  override readonly status = 400;
  override readonly type = 'BadOption';
}

export class FileTooLarge extends ApiError {
  override readonly status = 413;
  override readonly type = 'FileTooLarge';
  constructor(limitBytes: number) {
    super(`The file is larger than the limit of ${Math.round(limitBytes / 1024 / 1024)} MB (MAX_UPLOAD_MB).`, {
      limit_bytes: limitBytes,
    });
  }
}

export class ServiceUnavailable extends ApiError {
  override readonly status = 503;
  override readonly type = 'ServiceUnavailable';
  override readonly retryAfter: number | undefined;
  constructor(message: string, retryAfter: number | undefined, details: ErrorDetails = {}) {
    super(message, details);
    this.retryAfter = retryAfter;
  }
}

/** The upload itself was too slow (stalled, trickling) or did not finish within TIMEOUT. */
export class UploadTimeout extends ApiError {
  override readonly status = 408;
  override readonly type = 'UploadTimeout';
}

export class GatewayTimeout extends ApiError {
  override readonly status = 504;
  override readonly type = 'Timeout';
  constructor(timeoutMs: number) {
    super(`OCR did not finish within ${timeoutMs / 1000} s (TIMEOUT); try fewer pages (page range) or raise TIMEOUT.`, {
      timeout_s: timeoutMs / 1000,
    });
  }
}

/** An error answer produced by a sidecar, relayed with its own status, type and details. */
export class SidecarError extends ApiError {
  override readonly status: number;
  override readonly type: string;
  override readonly retryAfter: number | undefined;
  constructor(status: number, type: string, message: string, details: ErrorDetails, retryAfter: number | undefined) {
    super(message, details);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
  }
}

/**
 * A remote service's peer gateway (REMOTE_SERVICES) could not be reached, or broke off before
 * answering. Names the service, never the peer's address (operators find it in GET /health).
 */
export class PeerUnreachable extends ApiError {
  override readonly status = 502;
  override readonly type = 'PeerUnreachable';
  override readonly retryAfter = 5;
  constructor(service: string, why: string) {
    super(`OCR service '${service}' runs on another gateway, which ${why}; retry shortly (GET /health shows its state).`, {
      service,
      reason: why,
    });
  }
}

/**
 * A remote service's peer gateway refused this gateway's key (401/403): a configuration fault of the
 * operator's (REMOTE_API_KEY), answered 502 so that a client never takes it for its own key refused.
 */
export class PeerRefusedKey extends ApiError {
  override readonly status = 502;
  override readonly type = 'PeerRefusedKey';
  constructor(service: string, peerStatus: number) {
    super(`OCR service '${service}' runs on another gateway, which refused this gateway's key; the operator must fix REMOTE_API_KEY.`, {
      service,
      peer_status: peerStatus,
    });
  }
}

/** No such job for this API key: never created, expired (JOB_TTL), or another key's. */
export class JobNotFound extends ApiError {
  override readonly status = 404;
  override readonly type = 'JobNotFound';
  constructor() {
    super('No such job: it may have expired (results are kept for JOB_TTL) or belong to another API key.');
  }
}

/** GET /jobs/{id}/result before the job is done. */
export class JobNotDone extends ApiError {
  override readonly status = 409;
  override readonly type = 'JobNotDone';
  constructor(status: string) {
    super(
      status === 'failed' || status === 'cancelled'
        ? `The job is ${status}: it has no result (GET /jobs/{id} says why).`
        : `The job is ${status}: its result is ready once GET /jobs/{id} says done (use ?wait=30 to be told).`,
      { status },
    );
  }
}

/** The jobs' storage (JOB_REDIS_MAX_BYTES, or the data directory's disk) cannot take the upload now. */
export class JobStorageFull extends ApiError {
  override readonly status = 503;
  override readonly type = 'JobStorageFull';
  override readonly retryAfter: number | undefined;
  constructor(message: string, retryAfter: number) {
    super(message);
    this.retryAfter = retryAfter;
  }
}

/** A callback_url the gateway will not call: malformed, not http(s), or a host configuration does not allow. */
export class BadCallbackUrl extends ApiError {
  override readonly status = 400;
  override readonly type = 'BadCallbackUrl';
}

/**
 * An error answer decided in another process (the primary, which runs the jobs) and passed on as
 * it is: its status, type, message, details and Retry-After.
 */
export class ForwardedError extends ApiError {
  override readonly status: number;
  override readonly type: string;
  override readonly retryAfter: number | undefined;
  constructor(status: number, type: string, message: string, details: ErrorDetails, retryAfter: number | undefined) {
    super(message, details);
    this.status = status;
    this.type = type;
    this.retryAfter = retryAfter;
  }
}

export function errorRecord(err: ApiError): ErrorRecord {
  return { status: err.status, type: err.type, message: err.message, details: err.details, ...(err.retryAfter === undefined ? {} : { retryAfter: err.retryAfter }) };
}

export function fromErrorRecord(r: ErrorRecord): ForwardedError {
  return new ForwardedError(r.status, r.type, r.message, r.details, r.retryAfter);
}
