// Per-request context: request id, logger and what the access log reports, kept on res.locals.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../logger.js';

export interface RequestContext {
  id: string;
  startedAt: number;
  log: Logger;
  /** Fields added to the access log line (service, pages, bytes, sidecar pid). */
  access: Record<string, unknown>;
}

const VALID_ID = /^[\w.:-]{1,128}$/;

export function requestContext(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.get('x-request-id');
    const id = given !== undefined && VALID_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', id);
    const ctx: RequestContext = { id, startedAt: performance.now(), log: logger.child({ request_id: id }), access: {} };
    res.locals.ctx = ctx;
    next();
  };
}

export function contextOf(res: Response): RequestContext {
  return res.locals.ctx as RequestContext;
}

/** One access-log line per request once its answer is sent (or the client went away). */
export function accessLog() {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.on('close', () => {
      const ctx = contextOf(res);
      ctx.log.info('request', {
        method: req.method,
        path: req.path,
        status: res.writableFinished ? res.statusCode : 499,
        duration_ms: Math.round(performance.now() - ctx.startedAt),
        ...ctx.access,
      });
    });
    next();
  };
}

/** Headers on every answer: no MIME sniffing, no framing, OCR results never cached. */
export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Referrer-Policy', 'no-referrer');
  next();
}
