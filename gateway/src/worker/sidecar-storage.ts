// SidecarStorage: a multer StorageEngine that streams the uploaded file part straight into a POST
// to the sidecar's Unix socket. The gateway never holds the whole file: bytes flow from the client
// through busboy into undici with backpressure.
import { PassThrough } from 'node:stream';
import type { Request } from 'express';
import type multer from 'multer';
import { FileTooLarge } from '../api/errors.js';
import { parseRequestOptions } from '../api/ocr-options.js';
import type { SidecarContract } from '../ipc/sidecar-wire.js';
import { postToSidecar } from '../sidecar-client.js';
import type { OcrExchange } from './ocr-exchange.js';

type HandleCallback = (error?: unknown, info?: Partial<Express.Multer.File>) => void;

export class SidecarStorage implements multer.StorageEngine {
  /**
   * `contract`: the sidecars' contract, which the options of form fields are checked against;
   * `exchangeOf`: the request's exchange, opened by the OCR route before the form is read.
   */
  constructor(
    private readonly contract: SidecarContract | null,
    private readonly exchangeOf: (req: Request) => OcrExchange,
  ) {}

  _handleFile(req: Request, file: Express.Multer.File, cb: HandleCallback): void {
    const exchange = this.exchangeOf(req);
    // Form fields before the file are options, like the query's (a bad one answers 400 now).
    const fields = (req.body ?? {}) as Record<string, unknown>;
    if (Object.keys(fields).length > 0) {
      try {
        exchange.options = parseRequestOptions(req.query, fields, this.contract, exchange.service);
      } catch (err) {
        cb(err);
        return;
      }
    }
    exchange.fieldsBeforeFile = Object.keys(fields).length;
    const body = new PassThrough({ highWaterMark: 256 * 1024 });
    let size = 0;
    let ended = false;

    // multer ends the file stream normally when the size limit is hit: abort the sidecar request
    // ourselves so the sidecar does not OCR a truncated file.
    file.stream.on('limit', () => exchange.abort('too-large', new FileTooLarge(exchange.maxUploadBytes)));
    file.stream.on('data', (chunk: Buffer) => {
      size += chunk.length;
    });
    file.stream.on('end', () => {
      ended = true;
      exchange.uploadedBytes = size;
      cb(null, { size });
    });
    // If the sidecar stops reading (answered early, crashed, request aborted), keep draining the
    // part so busboy reaches the end of the form and multer finishes.
    const drain = (): void => {
      if (ended) return;
      file.stream.unpipe(body);
      body.destroy();
      file.stream.resume();
    };
    body.on('close', drain);
    file.stream.pipe(body);

    exchange.start((signal) =>
      postToSidecar({
        socketPath: exchange.socketPath,
        body,
        query: exchange.options.sidecarQuery,
        headers: {
          'content-type': file.mimetype || 'application/octet-stream',
          // Informational only: the sidecar never uses it as a path.
          'x-filename': headerSafeName(file.originalname),
          'x-request-id': exchange.requestId,
          'x-deadline-ms': String(exchange.deadline),
        },
        signal,
      }).finally(drain),
    );
  }

  _removeFile(_req: Request, _file: Express.Multer.File, cb: (error: Error | null) => void): void {
    // Nothing was stored: the bytes went to the sidecar, which removes its spool file itself.
    cb(null);
  }
}

/** The client's file name, percent-encoded for a header (never a path), bounded in length. */
export function headerSafeName(name: string | undefined): string {
  // toWellFormed replaces lone surrogates, on which encodeURIComponent would throw.
  return encodeURIComponent((name ?? '').slice(0, 512).toWellFormed());
}
