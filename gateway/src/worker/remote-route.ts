// POST /ocr/{service} for a remote service (REMOTE_SERVICES): proxied to the peer gateway that runs it
// with http-proxy-middleware, streamed both ways (the upload is piped to the peer as it arrives, the
// peer's answer piped back with its status, headers and body as they are). What stays this gateway's:
// its own auth (the client's key is replaced by the peer's), the upload limits (Content-Length, then
// a count of the bytes piped), TIMEOUT (504, the peer's request cut), a client that goes away (the
// peer's request cut), and a peer that cannot be reached (502), in the gateway's error shape.
import http, { type ClientRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import type { Request, RequestHandler, Response } from 'express';
import { type Plugin, createProxyMiddleware } from 'http-proxy-middleware';
import { type ApiError, FileTooLarge, GatewayTimeout, PeerRefusedKey, PeerUnreachable, UploadTimeout } from '../api/errors.js';
import type { Config, RemoteServiceSettings } from '../config.js';
import { sendError } from './error-handler.js';
import { MULTIPART_SLACK_BYTES, assertUploadHeaders } from './ocr-route.js';
import { contextOf } from './request-context.js';
import type { SnapshotStore } from './snapshot-store.js';
import { watchUpload } from './upload-watch.js';
import type { WorkerMetrics } from './worker-metrics.js';

/** Why this gateway cut a proxied request short (the first cause wins). */
type CutCause = 'timeout' | 'client-gone' | 'too-large' | 'slow-upload';

/** One proxied request: the request to the peer once it exists, and whether (and why) it was cut. */
class PeerForward {
  proxyReq: ClientRequest | null = null;
  cause: CutCause | null = null;
  /** Bytes of the request body piped to the peer so far. */
  bytes = 0;
  /** The peer's status once its answer began (it is then the one passed through). */
  peerStatus: number | null = null;

  constructor(
    readonly res: Response,
    /** MAX_UPLOAD_MB: the body piped may hold it and its multipart envelope. */
    readonly maxUploadBytes: number,
  ) {}

  /** Cuts the peer's request: the peer sees its client gone and stops the work. */
  cut(cause: CutCause): void {
    this.cause ??= cause;
    this.proxyReq?.destroy();
  }
}

// Keyed by the incoming request: http-proxy's events carry it, not our state.
const forwards = new WeakMap<IncomingMessage, PeerForward>();

/**
 * The route's first middleware: a request for a remote service, spelled canonically, is proxied to
 * its peer and answered here; anything else goes on to the local route (next).
 */
export function remoteRoute(config: Config, store: SnapshotStore, metrics: WorkerMetrics): RequestHandler {
  const proxies = new Map(config.remoteServices.map((remote) => [remote.name, peerProxy(remote)]));
  return (req, res, next) => {
    const name = String(req.params.service);
    const proxy = proxies.get(name);
    const remote = config.remoteServices.find((r) => r.name === name);
    // `%74esseract` is not `tesseract`: the local route answers 404 for any other spelling.
    if (proxy === undefined || remote === undefined || req.path !== `/ocr/${name}`) return next();
    const ctx = contextOf(res);
    ctx.access.service = name;
    ctx.access.peer = remote.url;
    assertUploadHeaders(req, config);
    const status = store.remote(name);
    if (status?.state === 'unreachable') {
      // Known down (its last health poll failed): refused at once rather than left to hang until TIMEOUT.
      throw new PeerUnreachable(name, 'failed its last health check');
    }
    const forward = new PeerForward(res, config.maxUploadBytes);
    forwards.set(req, forward);
    watchForward(config, req, res, forward);
    res.on('close', () => {
      ctx.access.bytes_in = forward.bytes;
      if (forward.peerStatus !== null) ctx.access.peer_status = forward.peerStatus;
      const statusClass = res.writableFinished ? `${Math.floor(res.statusCode / 100)}xx` : 'client-gone';
      const answeredBy = forward.peerStatus !== null && forward.cause === null && res.statusCode === forward.peerStatus ? 'peer' : 'gateway';
      metrics.remoteRequests.inc({ service: name, status_class: statusClass, answered_by: answeredBy });
    });
    // What the peer is sent: this request's id (the peer logs under it too), never the client's key
    // (the proxy's `headers` put the peer's in its place), and no Expect: this gateway has already
    // answered 100-continue, and http-proxy hands out no request to cut when one is sent on.
    req.headers['x-request-id'] = ctx.id;
    delete req.headers['x-api-key'];
    delete req.headers.expect;
    return proxy(req, res, next);
  };
}

/** This gateway's own bounds on a proxied request: TIMEOUT, a stalled upload, a client gone. */
function watchForward(config: Config, req: Request, res: Response, forward: PeerForward): void {
  const failUpload = (cause: CutCause, err: ApiError): void => {
    forward.cut(cause);
    answerInstead(req, res, err);
  };
  const stopWatch = watchUpload(req, { windowMs: config.uploadRateWindowMs, minBytesPerS: config.uploadMinBytesPerS }, (received) =>
    failUpload(
      'slow-upload',
      new UploadTimeout(
        `The upload is too slow: ${received} bytes arrived in the last ${config.uploadRateWindowMs / 1000} s, below the ` +
          `minimum of ${config.uploadMinBytesPerS} bytes/s (UPLOAD_MIN_RATE); check the connection and send the file again.`,
        { received_bytes: received, window_s: config.uploadRateWindowMs / 1000, min_bytes_per_s: config.uploadMinBytesPerS },
      ),
    ),
  );
  req.once('end', stopWatch);
  const timer = setTimeout(() => {
    // Still reading the client's upload, and not held back by the peer: the upload's fault (408);
    // else the peer's, which had TIMEOUT to answer (504).
    if (!req.complete && !req.isPaused()) {
      failUpload(
        'timeout',
        new UploadTimeout(`The upload did not complete within ${config.timeoutMs / 1000} s (TIMEOUT); check the connection and send the file again.`, {
          timeout_s: config.timeoutMs / 1000,
        }),
      );
      return;
    }
    forward.cut('timeout');
    // An answer already under way that stalls is cut too: the client sees the connection end.
    if (res.headersSent) res.destroy();
    else answerInstead(req, res, new GatewayTimeout(config.timeoutMs));
  }, config.timeoutMs);
  res.on('close', () => {
    clearTimeout(timer);
    stopWatch();
    // A client gone (before its answer was out) takes the peer's request with it.
    if (!res.writableFinished) forward.cut('client-gone');
  });
}

/**
 * This gateway's error instead of the peer's answer. The rest of an unfinished upload is not read:
 * the connection is closed once the answer is out.
 */
function answerInstead(req: Request, res: Response, err: ApiError): void {
  if (res.headersSent) return;
  if (!req.complete) {
    res.setHeader('Connection', 'close');
    res.once('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
  }
  sendError(res, err);
}

/** The http-proxy-middleware instance of one remote service: its peer, its key, our event handlers. */
function peerProxy(remote: RemoteServiceSettings): RequestHandler {
  const agent = remote.url.startsWith('https:') ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const handler = createProxyMiddleware<IncomingMessage, ServerResponse>({
    target: remote.url,
    changeOrigin: true,
    // The peer's access log can name the client (its TRUST_PROXY decides whether it believes us).
    xfwd: true,
    agent,
    headers: { 'x-api-key': remote.apiKey },
    // No default plugin: its text/plain error page and console logging are replaced by ours.
    ejectPlugins: true,
    plugins: [peerEvents(remote)],
    // No proxyTimeout: TIMEOUT is this gateway's (watchForward), answered in its error shape.
  });
  return (req, res, next) => handler(req, res, next);
}

/** What this gateway does at each step of http-proxy's exchange with the peer. */
function peerEvents(remote: RemoteServiceSettings): Plugin<IncomingMessage, ServerResponse> {
  return (proxyServer) => {
    // Emitted just before http-proxy pipes the request, in the same tick: a second 'data' listener
    // added here sees every chunk the pipe does, and none flows before the pipe is in place.
    proxyServer.on('start', (req) => {
      const forward = forwards.get(req);
      if (forward === undefined) return;
      const max = forward.maxUploadBytes + MULTIPART_SLACK_BYTES;
      req.on('data', (chunk: Buffer) => {
        forward.bytes += chunk.length;
        if (forward.bytes > max && forward.cause === null) {
          forward.cut('too-large');
          answerInstead(req as Request, forward.res, new FileTooLarge(forward.maxUploadBytes));
        }
      });
    });
    proxyServer.on('proxyReq', (proxyReq, req) => {
      const forward = forwards.get(req);
      if (forward === undefined) return;
      forward.proxyReq = proxyReq;
      if (forward.cause !== null) proxyReq.destroy();
    });
    proxyServer.on('proxyRes', (proxyRes, req, res) => {
      const forward = forwards.get(req);
      if (forward === undefined) return;
      // Answered (or abandoned) already: http-proxy pipes nothing into a finished answer.
      if (forward.cause !== null || res.headersSent) {
        proxyRes.destroy();
        return;
      }
      if (proxyRes.statusCode === 401 || proxyRes.statusCode === 403) {
        // The peer refused our key, not the client's: never passed on as the client's own 401.
        proxyRes.resume();
        contextOf(forward.res).log.error('the peer refused this gateway\'s key: check REMOTE_API_KEY', {
          service: remote.name,
          peer: remote.url,
          peer_status: proxyRes.statusCode,
        });
        sendError(forward.res, new PeerRefusedKey(remote.name, proxyRes.statusCode));
        return;
      }
      forward.peerStatus = proxyRes.statusCode ?? null;
      // Hop-by-hop headers are this connection's: a draining worker's `Connection: close` stands.
      delete proxyRes.headers['keep-alive'];
      const ours = res.getHeader('connection');
      if (ours !== undefined) proxyRes.headers.connection = String(ours);
      else delete proxyRes.headers.connection;
      if (!req.complete) {
        // The peer answered before the whole upload (it refused it early): the rest is not read,
        // and the connection closes once the answer is out, as for this gateway's own refusals.
        proxyRes.headers.connection = 'close';
        res.once('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
      }
      res.on('close', () => {
        if (!res.writableFinished) proxyRes.destroy();
      });
    });
    proxyServer.on('error', (err, req, res) => {
      const forward = forwards.get(req);
      // Cut by this gateway (answered already, or nobody left to answer), or not an HTTP answer.
      if (forward === undefined || forward.cause !== null || !('writeHead' in res)) return;
      const answer = forward.res;
      if (answer.headersSent) {
        // The peer broke off in the middle of its answer: the client sees the connection end.
        if (!answer.writableEnded) answer.destroy();
        return;
      }
      const code = (err as { code?: unknown }).code;
      contextOf(answer).log.warn('remote service: the peer cannot be reached', {
        service: remote.name,
        peer: remote.url,
        error: typeof code === 'string' ? code : err.message,
      });
      answerInstead(req as Request, answer, new PeerUnreachable(remote.name, unreachableReason(code)));
    });
    // The client's connection reset while the peer was being asked: nobody to answer.
    proxyServer.on('econnreset', () => undefined);
  };
}

/** A connection error, as the 502's message says it (no address: GET /health has the peer's URL). */
function unreachableReason(code: unknown): string {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused the connection (is its gateway running?)';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'could not be found (name resolution failed)';
    case 'ECONNRESET':
    case 'EPIPE':
      return 'closed the connection before answering';
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'cannot be reached over the network';
    default:
      return `cannot be reached${typeof code === 'string' ? ` (${code})` : ''}`;
  }
}
