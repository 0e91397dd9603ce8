// POST /ocr/{service}: checks the service and the request, streams the `file` part to the service's
// sidecar, and turns the sidecar's per-page answer into the public answer. The route is a list of
// named middlewares, in the order they run; what one learns for the next is the request's
// OcrRequestState, read and written through stateOf/setState.
import type { Request, RequestHandler } from 'express';
import multer from 'multer';
import {
  ApiError,
  BadOption,
  BadRequest,
  FileTooLarge,
  GatewayTimeout,
  RouteNotFound,
  ServiceNotFound,
  ServiceUnavailable,
  UploadTimeout,
} from '../api/errors.js';
import { type OcrOptions, parseOcrOptions } from '../api/ocr-options.js';
import { publicAnswer, sidecarError, withoutServerPaths } from '../api/ocr-answer.js';
import type { Config } from '../config.js';
import type { SidecarStatus } from '../ipc/health-snapshot.js';
import type { SidecarContract, SidecarOcrBody, SidecarPage } from '../ipc/sidecar-wire.js';
import type { SidecarAnswer } from '../sidecar-client.js';
import { sendError } from './error-handler.js';
import { OcrExchange } from './ocr-exchange.js';
import { contextOf, forLog } from './request-context.js';
import { SidecarStorage } from './sidecar-storage.js';
import { slowUpload, watchUpload } from './upload-watch.js';
import type { SnapshotStore } from './snapshot-store.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** Room for the multipart envelope around the file when judging Content-Length (and a proxied body's size). */
export const MULTIPART_SLACK_BYTES = 64 * 1024;

export function ocrRoute(config: Config, store: SnapshotStore, metrics: WorkerMetrics, contract: SidecarContract | null): RequestHandler[] {
  return [
    resolveService(config, store),
    checkUploadHeaders(config),
    parseOptions(contract),
    openExchange(config),
    enforceDeadlines(config),
    streamUploadToSidecar(config, contract),
    answer(metrics),
  ];
}

/** What the route's middlewares hand on to the later ones; each field is set by the one named. */
interface OcrRequestState {
  /** resolveService: the named service's sidecar, ready to serve. */
  sidecar: SidecarStatus;
  /** parseOptions: the query's options. From openExchange on, the exchange carries the options in force. */
  options: OcrOptions;
  /** openExchange: the request's life with the sidecar. */
  exchange: OcrExchange;
}

// Keyed by the request: multer's storage engine, which is handed only the request, reads it too.
const states = new WeakMap<Request, Partial<OcrRequestState>>();

/** What an earlier middleware of the route set; a read before it (a middleware out of order) is a bug. */
function stateOf<K extends keyof OcrRequestState>(req: Request, key: K): OcrRequestState[K] {
  const value = states.get(req)?.[key];
  if (value === undefined) throw new Error(`POST /ocr: '${key}' read before the middleware that sets it ran`);
  return value;
}

function setState<K extends keyof OcrRequestState>(req: Request, key: K, value: OcrRequestState[K]): void {
  const state = states.get(req) ?? {};
  state[key] = value;
  states.set(req, state);
}

/** The service named in the path, as it is spelled, known and ready: else 404 or 503. */
function resolveService(config: Config, store: SnapshotStore): RequestHandler {
  return (req, _res, next) => {
    const name = String(req.params.service);
    // The service is named as it is spelled (`%74esseract` is not `tesseract`).
    if (req.path !== `/ocr/${name}`) throw new RouteNotFound(`No route for ${req.method} ${req.path.slice(0, 200)}: write the service name plainly, e.g. /ocr/tesseract.`);
    const sidecar = config.services.some((s) => s.name === name) ? store.get(name) : undefined;
    if (sidecar === undefined) throw new ServiceNotFound(name);
    assertCanServe(sidecar);
    setState(req, 'sidecar', sidecar);
    next();
  };
}

/** Before a byte of the body is read: a multipart form, not declared larger than MAX_UPLOAD_MB (413). */
export function checkUploadHeaders(config: Config): RequestHandler {
  return (req, _res, next) => {
    assertUploadHeaders(req, config);
    next();
  };
}

/** The check of checkUploadHeaders, for the remote route too (a proxied upload is judged here first). */
export function assertUploadHeaders(req: Request, config: Config): void {
  const declared = Number(req.get('content-length') ?? '0');
  if (declared > config.maxUploadBytes + MULTIPART_SLACK_BYTES) throw new FileTooLarge(config.maxUploadBytes);
  if (!req.is('multipart/form-data')) {
    throw new BadRequest("Send the document as multipart/form-data, in one part named 'file'.", {
      content_type: (req.get('content-type') ?? '').slice(0, 100),
    });
  }
}

/**
 * The query's OCR options, checked against what the service takes (the sidecars' contract; a bad one:
 * 400). Form fields before the file are added as the form is read.
 */
function parseOptions(contract: SidecarContract | null): RequestHandler {
  return (req, _res, next) => {
    setState(req, 'options', parseOcrOptions(req.query, contract, stateOf(req, 'sidecar').name));
    next();
  };
}

/** Opens the exchange with the sidecar and says in the access log whom it is for; a client that goes away ends it. */
function openExchange(config: Config): RequestHandler {
  return (req, res, next) => {
    const sidecar = stateOf(req, 'sidecar');
    const options = stateOf(req, 'options');
    const ctx = contextOf(res);
    ctx.access.service = sidecar.name;
    ctx.access.options = optionsForLog(options);
    ctx.access.sidecar_pid = sidecar.pid;
    const exchange = new OcrExchange(sidecar.name, ctx.id, sidecar.socketPath, options, config.maxUploadBytes, config.timeoutMs);
    setState(req, 'exchange', exchange);
    res.on('close', () => {
      exchange.endUpload();
      if (!res.writableFinished) exchange.abort('client-gone');
    });
    next();
  };
}

/**
 * Until the whole form is in, the limits are the upload's own (408: too slow, or unfinished at
 * TIMEOUT); then TIMEOUT bounds the sidecar's work (504).
 */
function enforceDeadlines(config: Config): RequestHandler {
  return (req, res, next) => {
    const exchange = stateOf(req, 'exchange');
    const failUpload = (err: UploadTimeout): void => {
      exchange.abort('slow-upload', err);
      if (res.headersSent) return;
      // The rest of the body will not be read: close the connection once the answer is out.
      res.setHeader('Connection', 'close');
      res.once('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
      sendError(res, err);
    };
    const rate = { windowMs: config.uploadRateWindowMs, minBytesPerS: config.uploadMinBytesPerS };
    const stopWatch = watchUpload(req, rate, (received) => failUpload(slowUpload(rate, received)));
    exchange.onUploadEnd(stopWatch);
    const timer = setTimeout(() => {
      if (exchange.uploading) {
        failUpload(
          new UploadTimeout(`The upload did not complete within ${config.timeoutMs / 1000} s (TIMEOUT); check the connection and send the file again.`, {
            timeout_s: config.timeoutMs / 1000,
          }),
        );
        return;
      }
      exchange.abort('timeout');
      if (!res.headersSent) sendError(res, new GatewayTimeout(config.timeoutMs));
    }, config.timeoutMs);
    res.on('close', () => clearTimeout(timer));
    next();
  };
}

/**
 * Reads the form: fields before the file part become options, and the file part streams to the
 * sidecar as it arrives (SidecarStorage). A rejected form stops the sidecar's work on it.
 */
function streamUploadToSidecar(config: Config, contract: SidecarContract | null): RequestHandler {
  const upload = multer({
    storage: new SidecarStorage(contract, (req) => stateOf(req, 'exchange')),
    limits: {
      fileSize: config.maxUploadBytes,
      files: 1,
      fields: 16,
      fieldSize: 64 * 1024,
      parts: 17,
      headerPairs: 64,
    },
  }).single('file');

  return (req, res, next) => {
    const exchange = stateOf(req, 'exchange');
    upload(req, res, (err: unknown) => {
      exchange.endUpload();
      // Form fields before the file part were read as options too.
      contextOf(res).access.options = optionsForLog(exchange.options);
      if (exchange.abortCause === 'slow-upload') return; // answered already
      if (err === undefined || err === null) return next();
      // A client that went away mid-upload gets no answer (the access log says 499). (req.destroyed
      // is no sign: node destroys every fully read request.)
      const clientGone = exchange.abortCause === 'client-gone' || res.destroyed || req.socket.destroyed;
      // The form was rejected: make sure the sidecar stops working on it.
      exchange.abort('client-gone');
      if (clientGone) return;
      next(multipartError(err, config.maxUploadBytes));
    });
  };
}

/** Waits for the sidecar's answer and sends the public one (or the error it stands for). */
function answer(metrics: WorkerMetrics): RequestHandler {
  return async (req, res) => {
    const exchange = stateOf(req, 'exchange');
    if (req.file === undefined || !exchange.started) {
      throw new BadRequest("No file received: send the document in a multipart part named 'file'.");
    }
    const late = Object.keys((req.body ?? {}) as Record<string, unknown>).slice(exchange.fieldsBeforeFile);
    if (late.length > 0) {
      // Read after the file had gone to the service: it cannot be honoured, and is never ignored.
      const name = (late[0] ?? '').slice(0, 40);
      const err = new BadOption(
        `Form field '${name}' came after the file part: send options in the query string (?${name}=…) or as fields before the file.`,
        { option: name },
      );
      exchange.abort('bad-form', err);
      throw err;
    }
    const ctx = contextOf(res);
    ctx.access.bytes_in = exchange.uploadedBytes;
    metrics.uploadBytes.inc({ service: exchange.service }, exchange.uploadedBytes);
    let result: SidecarAnswer;
    try {
      result = await exchange.result();
    } catch (err) {
      if (res.headersSent || exchange.abortCause === 'client-gone') return;
      throw err;
    }
    if (res.headersSent) return;
    if (result.status !== 200) throw sidecarError(result);
    const body = result.body as SidecarOcrBody;
    ctx.access.pages = body.pages.length;
    Object.assign(ctx.access, { document_pages: body.document_pages, model: body.model, sidecar_ms: body.ms });
    countPages(metrics, exchange.service, body.pages);
    res.json(publicAnswer(body, exchange.options.includePages, Math.round(performance.now() - ctx.startedAt), exchange.options.format));
  };
}

const SOURCE_LABEL = /^[a-z][a-z:-]{0,31}$/;

function countPages(metrics: WorkerMetrics, service: string, pages: readonly SidecarPage[]): void {
  metrics.documents.inc({ service });
  for (const p of pages) {
    // The sidecar's sources are a small fixed set; anything else is folded so labels stay bounded.
    const source = SOURCE_LABEL.test(p.source) ? p.source : 'other';
    metrics.pages.inc({ service, source });
    if (Number.isFinite(p.ms) && p.ms >= 0) metrics.pageDuration.observe({ service, source }, p.ms / 1000);
    if (p.error !== null) metrics.failedPages.inc({ service });
  }
}

const LOGGED_OPTIONS = 12;
const LOGGED_VALUE_CHARS = 64;

/** The request's OCR options as the access log shows them: a few, values cut short (never the file). */
function optionsForLog(options: OcrOptions): Record<string, string | boolean> {
  const out: Record<string, string | boolean> = {};
  if (options.includePages) out.pages = true;
  for (const [key, value] of Object.entries(options.sidecarQuery).slice(0, LOGGED_OPTIONS)) out[key] = forLog(value, LOGGED_VALUE_CHARS);
  return out;
}

export function assertCanServe(sidecar: SidecarStatus): void {
  const name = sidecar.name;
  const why = withoutServerPaths(sidecar.message ?? 'see the gateway log');
  switch (sidecar.state) {
    case 'ready':
      return;
    case 'failed':
      throw new ServiceUnavailable(`OCR service '${name}' has failed: ${why}`, undefined, {
        state: sidecar.state,
      });
    case 'unavailable':
      throw new ServiceUnavailable(`OCR service '${name}' is unavailable: ${why}`, undefined, {
        state: sidecar.state,
      });
    case 'unresponsive':
      throw new ServiceUnavailable(`OCR service '${name}' is not answering its health checks (restarted if it stays so); retry shortly.`, 5, {
        state: sidecar.state,
      });
    default:
      throw new ServiceUnavailable(`OCR service '${name}' is ${sidecar.state}; retry shortly.`, 5, { state: sidecar.state });
  }
}

const MULTER_MESSAGES: Record<string, string> = {
  LIMIT_UNEXPECTED_FILE: "Send exactly one file, in a multipart part named 'file'.",
  LIMIT_FILE_COUNT: "Send exactly one file, in a multipart part named 'file'.",
  LIMIT_PART_COUNT: 'The form has too many parts.',
  LIMIT_FIELD_COUNT: 'The form has too many fields.',
  LIMIT_FIELD_KEY: 'A form field name is too long.',
  LIMIT_FIELD_VALUE: 'A form field value is too long.',
  MISSING_FIELD_NAME: 'A form part has no name.',
};

export function multipartError(err: unknown, maxUploadBytes: number): ApiError {
  if (err instanceof ApiError) return err;
  if (err instanceof multer.MulterError) {
    if (err.code === 'LIMIT_FILE_SIZE') return new FileTooLarge(maxUploadBytes);
    return new BadRequest(MULTER_MESSAGES[err.code] ?? err.message, { code: err.code });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new BadRequest(`Malformed multipart/form-data body: ${message}.`);
}
