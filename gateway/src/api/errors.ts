// The gateway's error hierarchy: each class carries its HTTP status and stable type name, so the
// HTTP layer maps errors to answers in one place (worker/error-handler.ts). With the error body's
// shape; the error types a sidecar relays (SidecarError) are listed by its contract (ipc/sidecar-wire.ts);
// a remote service's peer gateway answers in this same shape, and its answers pass through as they are.
import type { ErrorBody } from './schemas.js';

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
  constructor(service: string) {
    super(`OCR service '${service}' not found.`);
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
