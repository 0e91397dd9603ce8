// Per-request context: request id, logger and what the access log reports, kept on res.locals; the
// headers every answer carries.
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import helmet from 'helmet';
import type { Logger } from '../logger.js';

export interface RequestContext {
  id: string;
  startedAt: number;
  log: Logger;
  /** Fields added to the access log line (service, options, pages, bytes, sidecar pid, key name). */
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

const USER_AGENT_CHARS = 200;

/**
 * A client-given value as a log may hold it: at most `max` characters, anything outside printable
 * ASCII replaced by '?', so a header or option cannot forge log lines or fill them.
 */
export function forLog(value: string, max: number): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return cut.replace(/[^\x20-\x7e…]/g, '?');
}

/**
 * One access-log line per request once its answer is sent (or the client went away): at `error`
 * for 5xx, `warn` for 4xx (499 included), else `info`. The client's address is express's req.ip,
 * which believes X-Forwarded-For only from the proxies TRUST_PROXY names.
 */
export function accessLog() {
  return (req: Request, res: Response, next: NextFunction): void => {
    // Read now: once a client has gone, its socket no longer knows its address. Cut short: from a
    // trusted proxy's X-Forwarded-For it is whatever the header held.
    const clientIp = req.ip === undefined ? null : forLog(req.ip, 64);
    res.on('close', () => {
      const ctx = contextOf(res);
      const status = res.writableFinished ? res.statusCode : 499;
      const userAgent = req.get('user-agent');
      ctx.log.log(status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info', 'request', {
        method: req.method,
        path: req.path,
        status,
        duration_ms: Math.round(performance.now() - ctx.startedAt),
        client_ip: clientIp,
        ...(userAgent !== undefined && userAgent !== '' ? { user_agent: forLog(userAgent, USER_AGENT_CHARS) } : {}),
        ...ctx.access,
      });
    });
    next();
  };
}

/**
 * Headers on every answer: helmet's (no MIME sniffing, no framing, no referrer, cross-origin
 * isolation; /docs widens the Content-Security-Policy for its own page and assets), and OCR results
 * never cached. Strict-Transport-Security is the TLS terminator's (docker/nginx.conf), not ours: the
 * gateway speaks plain HTTP.
 */
export function securityHeaders(): RequestHandler[] {
  return [
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
      xFrameOptions: { action: 'deny' },
      referrerPolicy: { policy: 'no-referrer' },
      strictTransportSecurity: false,
    }),
    (_req: Request, res: Response, next: NextFunction): void => {
      res.setHeader('Cache-Control', 'no-store');
      next();
    },
  ];
}
