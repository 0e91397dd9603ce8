// The gateway's error hierarchy: each class carries its HTTP status and stable type name, so the
// HTTP layer maps errors to answers in one place (worker/error-handler.ts). With the error body's
// shape and the error types a sidecar relays, which the API description (openapi.ts) lists.
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
 * Error types a sidecar answers (sidecars/mdso_sidecar/errors.py, relayed as SidecarError with their
 * own status). Listed for the API documentation; test/e2e/openapi.test.ts checks the list against
 * the Python classes.
 */
export const SIDECAR_ERROR_TYPES: readonly { type: string; status: number; when: string }[] = [
  { type: 'BadOption', status: 400, when: 'an option the service does not take, or a bad value (named in details.option)' },
  { type: 'FileTooLarge', status: 413, when: 'the file is over MAX_UPLOAD_MB' },
  { type: 'UnsupportedFileType', status: 415, when: 'not a PDF, PNG, JPEG, TIFF, BMP, GIF or WebP (the message says what it looks like)' },
  { type: 'EmptyFile', status: 422, when: 'the file is empty' },
  { type: 'CorruptDocument', status: 422, when: 'truncated or corrupt file' },
  { type: 'EncryptedDocument', status: 422, when: 'password-protected PDF' },
  { type: 'TooManyPages', status: 422, when: 'more than MAX_PAGES pages' },
  { type: 'ImageTooLarge', status: 422, when: 'an image too large to decode (decompression bomb guard)' },
  { type: 'NoPageRead', status: 422, when: 'no page could be read' },
  { type: 'QueueFull', status: 503, when: "the service's queue is full (Retry-After)" },
  { type: 'ServiceUnavailable', status: 503, when: 'the service is starting (Retry-After) or cannot run' },
  { type: 'GpuOutOfMemory', status: 503, when: 'CUDA out of memory even after a retry at lower resolution (Retry-After)' },
  { type: 'ModelEndpointUnavailable', status: 503, when: 'the OpenAI-compatible model server (vLLM) cannot be reached (Retry-After)' },
  { type: 'ModelAnswerInvalid', status: 502, when: 'the model server answered something that is not a completion' },
  { type: 'DeadlineExceeded', status: 504, when: 'the deadline passed before every page was read' },
  { type: 'InternalError', status: 500, when: 'a bug in the sidecar; the request id identifies it in the log' },
  { type: 'StorageFull', status: 503, when: "the service's disk filled up while the upload was written (Retry-After)" },
];
