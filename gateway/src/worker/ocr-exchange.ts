// OcrExchange: the life of one OCR request between a worker and a sidecar — the streamed POST, its
// deadline, and why it was cut short (timeout, client gone, file too large, sidecar gone).
import { ApiError, GatewayTimeout, ServiceUnavailable } from '../api/errors.js';
import { isConnectionError, type SidecarAnswer } from '../sidecar-client.js';
import type { OcrOptions } from '../api/ocr-options.js';

export type AbortCause = 'timeout' | 'client-gone' | 'too-large' | 'slow-upload' | 'bad-form';

export class OcrExchange {
  readonly deadline: number;
  uploadedBytes = 0;
  /** How many form fields came before the file part (read as options); later ones are refused. */
  fieldsBeforeFile = 0;
  private readonly controller = new AbortController();
  private cause: AbortCause | null = null;
  private causeError: ApiError | null = null;
  private answer: Promise<SidecarAnswer> | null = null;
  private uploadDone = false;
  private readonly uploadEndHooks: (() => void)[] = [];

  constructor(
    readonly service: string,
    readonly requestId: string,
    readonly socketPath: string,
    public options: OcrOptions,
    readonly maxUploadBytes: number,
    readonly timeoutMs: number,
  ) {
    this.deadline = Date.now() + timeoutMs;
  }

  get started(): boolean {
    return this.answer !== null;
  }

  get abortCause(): AbortCause | null {
    return this.cause;
  }

  /** True until the whole form has been read (or the request ended). */
  get uploading(): boolean {
    return !this.uploadDone;
  }

  onUploadEnd(hook: () => void): void {
    this.uploadEndHooks.push(hook);
  }

  endUpload(): void {
    if (this.uploadDone) return;
    this.uploadDone = true;
    for (const hook of this.uploadEndHooks.splice(0)) hook();
  }

  start(send: (signal: AbortSignal) => Promise<SidecarAnswer>): void {
    this.answer = send(this.controller.signal);
    // The answer may never be awaited (multer rejected the form): never an unhandled rejection.
    this.answer.catch(() => undefined);
  }

  /** Cuts the sidecar request short; the first cause wins. */
  abort(cause: AbortCause, error: ApiError | null = null): void {
    if (this.cause === null) {
      this.cause = cause;
      this.causeError = error;
    }
    this.controller.abort();
  }

  /** The sidecar's answer, or the ApiError explaining why there is none. */
  async result(): Promise<SidecarAnswer> {
    if (this.answer === null) throw new Error('OcrExchange.result() before start()');
    try {
      return await this.answer;
    } catch (err) {
      if (this.causeError !== null) throw this.causeError;
      if (this.cause === 'timeout') throw new GatewayTimeout(this.timeoutMs);
      if (this.cause === 'client-gone') throw err;
      if (isConnectionError(err)) {
        throw new ServiceUnavailable(
          `OCR service '${this.service}' stopped while reading the document (it is being restarted); retry shortly.`,
          5,
        );
      }
      throw err;
    }
  }
}
