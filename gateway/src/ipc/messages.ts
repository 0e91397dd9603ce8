// The messages between the primary and its workers over cluster IPC (health snapshots, questions
// and answers, heartbeats), and how the primary hands the workers their Config and the sidecars' contract.
import type { HealthSnapshot } from './health-snapshot.js';
import type { JobRequest } from './job-messages.js';

/**
 * The environment variable through which the primary hands its validated Config (JSON) to the
 * workers, so that they need neither the configuration schema (zod) nor dotenv.
 */
export const WORKER_CONFIG_ENV = 'MDSO_WORKER_CONFIG';

/**
 * The environment variable through which the primary hands the sidecars' contract (JSON, see
 * sidecar-wire.ts), read once at start, to the workers; unset when it could not be read.
 */
export const WORKER_CONTRACT_ENV = 'MDSO_WORKER_CONTRACT';

/** What a worker may ask the primary for: the summed metrics, or the OpenAPI document (JSON). */
export type PrimaryQuestion = 'metrics' | 'openapi';

/** Messages exchanged between the primary and its workers. */
export type PrimaryToWorker =
  | { type: 'snapshot'; snapshot: HealthSnapshot }
  | { type: 'shutdown' }
  | { type: 'answer'; id: number; text: string | null; error?: string };
export type WorkerToPrimary =
  /**
   * Sent once a worker listens for messages: the primary answers with the current snapshot. The one
   * it sends when the worker comes online may arrive before that listener and be lost, and the next
   * would come only with the next health change or poll (HEALTH_POLL_MS, up to 10 minutes).
   */
  | { type: 'snapshot-please' }
  | { type: 'recycle-me' }
  | { type: 'ask'; what: PrimaryQuestion; id: number }
  /** A durable job's submission, status, result or cancellation; answered with JSON (job-messages.ts's JobReply). */
  | { type: 'job'; request: JobRequest; id: number }
  /** Sent every WORKER_HEARTBEAT_MS by a worker whose event loop turns (see WorkerPool's watchdog). */
  | { type: 'alive' };

/** How often a worker tells the primary its event loop is turning. */
export const WORKER_HEARTBEAT_MS = 1000;

const PRIMARY_TO_WORKER = new Set(['snapshot', 'shutdown', 'answer']);
const WORKER_TO_PRIMARY = new Set(['snapshot-please', 'recycle-me', 'ask', 'job', 'alive']);

export function isPrimaryToWorker(msg: unknown): msg is PrimaryToWorker {
  return typeof msg === 'object' && msg !== null && PRIMARY_TO_WORKER.has(String((msg as { type?: unknown }).type));
}

export function isWorkerToPrimary(msg: unknown): msg is WorkerToPrimary {
  return typeof msg === 'object' && msg !== null && WORKER_TO_PRIMARY.has(String((msg as { type?: unknown }).type));
}
