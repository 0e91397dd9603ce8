// What both engines are given by the primary: the settings, the sidecars as the health poller last
// saw them, the callback sender, the logger and the metrics to feed; and the spool directory the
// workers write uploads into.
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { JobSettings } from '../config.js';
import type { SidecarStatus } from '../ipc/health-snapshot.js';
import { INCOMING_DIR } from '../ipc/job-messages.js';
import type { Logger } from '../logger.js';
import type { JobStatus } from '../api/schemas.js';
import type { CallbackSender } from './callbacks.js';

export interface JobMetricsSink {
  /** A job started running after waiting `waitMs` in its queue. */
  started(service: string, waitMs: number): void;
  /** A job ended (this box ran it to its end, or it was cancelled while queued). */
  ended(service: string, status: JobStatus, runMs: number | null): void;
}

export interface JobContext {
  settings: JobSettings;
  /** The service's sidecar on this box (undefined: not enabled here). */
  sidecarOf: (service: string) => SidecarStatus | undefined;
  callbacks: CallbackSender;
  logger: Logger;
  metrics: JobMetricsSink;
}

/** The pages a sidecar says it has read of the job (its request id is the job id); null when it is not reading it. */
export function progressOf(sidecar: SidecarStatus | undefined, jobId: string): { done: number; total: number } | null {
  const entry = sidecar?.in_flight.find((r) => r.request_id === jobId);
  return entry === undefined ? null : { done: entry.pages_done, total: entry.pages_total };
}

/** JOB_DATA_DIR/incoming, emptied: uploads a previous run was spooling belong to no job. */
export function prepareIncoming(dataDir: string): string {
  const dir = path.join(dataDir, INCOMING_DIR);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** The spool file a worker names, if it is one of `incoming`'s own (never any other path). */
export function spooledFile(incoming: string, file: string): string {
  const resolved = path.resolve(file);
  if (path.dirname(resolved) !== incoming || !/^[0-9a-f]{24}\.part$/.test(path.basename(resolved))) {
    throw new Error(`not a job spool file: ${path.basename(resolved)}`);
  }
  return resolved;
}

/** Removes spool files older than `maxAgeMs`: a worker that died mid-upload leaves its file behind. */
export function sweepIncoming(dir: string, maxAgeMs: number): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const now = Date.now();
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      if (now - statSync(file).mtimeMs > maxAgeMs) rmSync(file, { force: true });
    } catch {
      // gone meanwhile
    }
  }
}
