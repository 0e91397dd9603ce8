// The durable jobs' routes: POST /jobs/{service} (the upload spooled to JOB_DATA_DIR, checked like the
// synchronous route's, then handed to the primary's job engine: 202), GET /jobs/{id} (status, with an
// optional bounded long poll), GET /jobs/{id}/result (the synchronous route's body) and DELETE
// /jobs/{id} (cancel). The engine runs in the primary: every answer here is asked of it over IPC.
import { createReadStream, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Request, RequestHandler, Response } from 'express';
import { Router } from 'express';
import multer from 'multer';
import { BadOption, BadRequest, RouteNotFound, ServiceNotFound, ServiceUnavailable, fromErrorRecord } from '../api/errors.js';
import { sidecarError } from '../api/ocr-answer.js';
import { type OcrOptions, type OutputFormat, parseOcrOptions, parseRequestOptions } from '../api/ocr-options.js';
import { ENDED_JOB_STATUSES, type Job } from '../api/schemas.js';
import type { Config } from '../config.js';
import { INCOMING_DIR, type JobReply, type JobRequest } from '../ipc/job-messages.js';
import type { SidecarContract, SidecarInspectBody } from '../ipc/sidecar-wire.js';
import { isConnectionError, postToSidecar } from '../sidecar-client.js';
import { KNOWN_SERVICES } from '../services.js';
import { assertCanServe, checkUploadHeaders, multipartError } from './ocr-route.js';
import type { PrimaryClient } from './primary-client.js';
import { sendError } from './error-handler.js';
import { contextOf } from './request-context.js';
import { slowUpload, watchUpload } from './upload-watch.js';
import { JobSpoolStorage } from './job-spool-storage.js';
import { headerSafeName } from './sidecar-storage.js';
import type { SnapshotStore } from './snapshot-store.js';

/** The longest GET /jobs/{id}?wait= (seconds): a long poll, not a held connection. */
export const MAX_WAIT_S = 60;
const POLL_MS = 250;
const CALLBACK_OPTION = 'callback_url';
/** The formats a job's result takes (GET /jobs/{id}/result answers JSON). */
const JOB_FORMATS: readonly OutputFormat[] = ['text', 'json'];

export function jobsRouter(config: Config, store: SnapshotStore, primary: PrimaryClient, contract: SidecarContract | null): Router {
  const router = Router({ caseSensitive: true, strict: true });
  const incoming = path.join(config.jobs.dataDir, INCOMING_DIR);
  const upload = multer({
    storage: new JobSpoolStorage(incoming, config.maxUploadBytes),
    limits: { fileSize: config.maxUploadBytes, files: 1, fields: 16, fieldSize: 64 * 1024, parts: 17, headerPairs: 64 },
  }).single('file');

  router.post('/jobs/:service', checkService(config, store), checkUploadHeaders(config), async (req: Request, res: Response) => {
    const service = String(req.params.service);
    contextOf(res).access.service = service;
    const { options, callbackUrl } = jobOptions(req.query, {}, contract, service);
    // A stalled or trickling upload is cut with 408, as on POST /ocr (TIMEOUT bounds the rest: node's requestTimeout).
    const rate = { windowMs: config.uploadRateWindowMs, minBytesPerS: config.uploadMinBytesPerS };
    const stopWatch = watchUpload(req, rate, (received) => {
      if (res.headersSent) return;
      res.setHeader('Connection', 'close');
      res.once('finish', () => setTimeout(() => req.socket.destroy(), 1000).unref());
      sendError(res, slowUpload(rate, received));
    });
    const file = await new Promise<Express.Multer.File | undefined>((resolve, reject) =>
      upload(req, res, (err: unknown) => (err === undefined || err === null ? resolve(req.file) : reject(multipartError(err, config.maxUploadBytes)))),
    ).finally(stopWatch);
    if (res.headersSent) {
      if (file !== undefined) rmSync(file.path, { force: true });
      return;
    }
    if (file === undefined) throw new BadRequest("No file received: send the document in a multipart part named 'file'.");
    try {
      // Fields before the file are options too, read like the query's.
      const fields = (req.body ?? {}) as Record<string, unknown>;
      const final = Object.keys(fields).length === 0 ? { options, callbackUrl } : jobOptions(req.query, fields, contract, service);
      const pagesTotal = await inspect(store, service, file, final.options, contextOf(res).id);
      const reply = await ask(primary, {
        op: 'submit',
        submission: {
          service,
          owner: ownerOf(res),
          includePages: final.options.includePages,
          sidecarQuery: final.options.sidecarQuery,
          upload: { path: file.path, bytes: file.size, filename: file.originalname ?? '', contentType: file.mimetype || 'application/octet-stream' },
          pagesTotal,
          callbackUrl: final.callbackUrl,
          requestId: contextOf(res).id,
        },
      });
      const job = jobOf(reply);
      contextOf(res).access.job_id = job.job_id;
      res.status(202).setHeader('Location', job.status_url);
      res.json(job);
    } finally {
      // The primary has moved it into the job's storage, or the job was refused.
      rmSync(file.path, { force: true });
    }
  });

  router.get('/jobs/:id', async (req: Request, res: Response) => {
    const owner = ownerOf(res);
    const jobId = String(req.params.id);
    const waitS = waitOf(req.query.wait);
    let job = jobOf(await ask(primary, { op: 'get', jobId, owner }));
    const deadline = Date.now() + waitS * 1000;
    const first = job.status;
    let closed = false;
    res.once('close', () => (closed = true));
    // An ended job changes no more: answered at once (a client looping on ?wait= until it ends would
    // otherwise wait out the bound once more after every job that ended between two of its calls).
    while (job.status === first && !ENDED_JOB_STATUSES.includes(job.status) && Date.now() < deadline && !closed) {
      await sleep(Math.min(POLL_MS, Math.max(1, deadline - Date.now())));
      job = jobOf(await ask(primary, { op: 'get', jobId, owner }));
    }
    if (!closed) res.json(job);
  });

  router.get('/jobs/:id/result', async (req: Request, res: Response) => {
    const reply = await ask(primary, { op: 'result', jobId: String(req.params.id), owner: ownerOf(res) });
    if (!('result' in reply)) throw new Error('the primary answered a job for a result');
    res.type('application/json').send(reply.result);
  });

  router.delete('/jobs/:id', async (req: Request, res: Response) => {
    res.json(jobOf(await ask(primary, { op: 'cancel', jobId: String(req.params.id), owner: ownerOf(res) })));
  });
  return router;
}

/** The service, spelled plainly: on this box for the embedded engine, any known one with Redis (another box may run it). */
function checkService(config: Config, store: SnapshotStore): RequestHandler {
  return (req, _res, next) => {
    const name = String(req.params.service);
    if (req.path !== `/jobs/${name}`) throw new RouteNotFound(`No route for ${req.method} ${req.path.slice(0, 200)}: write the service name plainly, e.g. /jobs/tesseract.`);
    const here = config.services.some((s) => s.name === name) ? store.get(name) : undefined;
    const elsewhere = config.jobs.redisUrl !== '' && (KNOWN_SERVICES as readonly string[]).includes(name);
    if (here === undefined && !elsewhere) {
      // A remote service (REMOTE_SERVICES) is proxied for POST /ocr only: the embedded engine runs this box's sidecars.
      const remote = config.remoteServices.some((r) => r.name === name);
      throw new ServiceNotFound(
        name,
        remote
          ? 'It runs on a peer gateway (REMOTE_SERVICES), which this gateway proxies for POST /ocr only: post the job to that gateway, or give both gateways one Redis (REDIS_URL) so that its jobs reach it.'
          : undefined,
      );
    }
    // A service starting or restarting here takes jobs (they wait); one that cannot run refuses them now.
    if (here !== undefined && (here.state === 'failed' || here.state === 'unavailable') && config.jobs.redisUrl === '') assertCanServe(here);
    next();
  };
}

function jobOptions(
  query: Record<string, unknown>,
  fields: Record<string, unknown>,
  contract: SidecarContract | null,
  service: string,
): { options: OcrOptions; callbackUrl: string | null } {
  const { [CALLBACK_OPTION]: fromQuery, ...rest } = query;
  const { [CALLBACK_OPTION]: fromField, ...restFields } = fields;
  if (fromQuery !== undefined && fromField !== undefined) throw new BadOption(`Option '${CALLBACK_OPTION}' is given more than once.`, { option: CALLBACK_OPTION });
  const raw = fromQuery ?? fromField;
  if (raw !== undefined && typeof raw !== 'string') throw new BadOption(`Option '${CALLBACK_OPTION}' is given more than once.`, { option: CALLBACK_OPTION });
  const options = Object.keys(restFields).length === 0 ? parseOcrOptions(rest, contract, service) : parseRequestOptions(rest, restFields, contract, service);
  if (!JOB_FORMATS.includes(options.format)) {
    throw new BadOption(`format=${options.format} is not offered for jobs: a job's result is JSON; use format=${JOB_FORMATS.join(' or format=')}, or POST /ocr/${service}.`, {
      option: 'format',
      value: options.format,
      accepted: [...JOB_FORMATS],
    });
  }
  return { options, callbackUrl: raw === undefined || raw.trim() === '' ? null : raw.trim() };
}

/**
 * What the synchronous route would refuse before reading a page (type, damage, MAX_PAGES, the page
 * range), asked of a ready sidecar on this box (the service's own first): the same 4xx, before 202.
 * The pages the job will read; null when no sidecar here could say (the job then finds out when it runs).
 */
async function inspect(store: SnapshotStore, service: string, file: Express.Multer.File, options: OcrOptions, requestId: string): Promise<number | null> {
  const ready = store.all().filter((s) => s.state === 'ready');
  const sidecar = ready.find((s) => s.name === service) ?? ready[0];
  if (sidecar === undefined) return null;
  // The engine's own options were checked against the contract: another service's sidecar is asked the page range only.
  const query = Object.fromEntries(Object.entries(options.sidecarQuery).filter(([k]) => sidecar.name === service || k === 'page_range' || k === 'pages'));
  try {
    const answer = await postToSidecar({
      socketPath: sidecar.socketPath,
      path: '/inspect',
      body: createReadStream(file.path),
      query,
      headers: { 'content-type': file.mimetype || 'application/octet-stream', 'x-filename': headerSafeName(file.originalname), 'x-request-id': requestId },
      signal: AbortSignal.timeout(60_000),
    });
    if (answer.status === 200) return (answer.body as SidecarInspectBody).pages_total;
    if (answer.status >= 400 && answer.status < 500 && answer.status !== 404 && answer.status !== 405) throw sidecarError(answer);
    return null;
  } catch (err) {
    if (isConnectionError(err) || (err as { name?: unknown }).name === 'TimeoutError') return null;
    throw err;
  }
}

async function ask(primary: PrimaryClient, request: JobRequest): Promise<JobReply<Job>> {
  let text: string;
  try {
    text = await primary.job(request);
  } catch (err) {
    throw new ServiceUnavailable(`The job engine did not answer: ${err instanceof Error ? err.message : String(err)}.`, 5);
  }
  const reply = JSON.parse(text) as JobReply<Job>;
  if (!reply.ok) throw fromErrorRecord(reply.error);
  return reply;
}

function jobOf(reply: JobReply<Job>): Job {
  if (!reply.ok || !('job' in reply)) throw new Error('the primary answered no job');
  return reply.job;
}

/** The API key's name: jobs are its own. */
function ownerOf(res: Response): string {
  const name = contextOf(res).access.api_key_name;
  return typeof name === 'string' ? name : '';
}

function waitOf(raw: unknown): number {
  if (raw === undefined) return 0;
  if (typeof raw !== 'string' || !/^[0-9]{1,6}$/.test(raw.trim())) {
    throw new BadOption(`Option 'wait' must be a whole number of seconds from 0 to ${MAX_WAIT_S}.`, { option: 'wait' });
  }
  return Math.min(Number(raw.trim()), MAX_WAIT_S);
}
