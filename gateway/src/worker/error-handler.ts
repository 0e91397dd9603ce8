// The one place where errors become HTTP answers: {"error", "type", "details", "detail"} with the
// error's status; unexpected errors are logged with their stack and answered without it.
import type { NextFunction, Request, Response } from 'express';
import { ApiError, RouteNotFound, errorBody } from '../api/errors.js';
import { contextOf } from './request-context.js';

export function sendError(res: Response, err: ApiError): void {
  if (err.retryAfter !== undefined) res.setHeader('Retry-After', String(err.retryAfter));
  res.status(err.status).json(errorBody(err));
}

export function notFound(req: Request, _res: Response, next: NextFunction): void {
  next(new RouteNotFound(`No route for ${req.method} ${req.path.slice(0, 200)}.`));
}

export function errorHandler(err: unknown, req: Request, res: Response, next: NextFunction): void {
  const log = contextOf(res)?.log;
  const apiError = toApiError(err);
  if (apiError.status >= 500 && !(err instanceof ApiError)) {
    log?.error('unexpected error', { error: err instanceof Error ? err.stack : String(err), path: req.path });
  } else {
    log?.debug('request failed', { status: apiError.status, type: apiError.type });
  }
  if (res.headersSent) {
    // An answer is already on its way (e.g. 504 after TIMEOUT): never a second one.
    if (!res.writableEnded) next(err);
    return;
  }
  sendError(res, apiError);
}

/** Errors from express/body parsing carry `status`/`statusCode`; anything else is a 500. */
function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  const status = (err as { status?: unknown; statusCode?: unknown } | null)?.status ?? (err as { statusCode?: unknown } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new (class extends ApiError {
      override readonly status = status as number;
      override readonly type = 'BadRequest';
    })(err instanceof Error ? err.message : 'Bad request');
  }
  return new ApiError('Internal error; the request id identifies it in the gateway log.');
}

export { withoutServerPaths } from '../api/ocr-answer.js';
