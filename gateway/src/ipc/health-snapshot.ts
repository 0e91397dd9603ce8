// The health snapshot: what the primary knows about every sidecar, broadcast to the workers over
// cluster IPC so that they answer /health, /services and routing decisions from memory.
import type { ServiceName } from './services.js';

/** `unresponsive`: running but its last health check got no answer (requests get 503 meanwhile). */
export const SIDECAR_STATES = ['starting', 'ready', 'unresponsive', 'unavailable', 'restarting', 'failed', 'stopped'] as const;
export type SidecarState = (typeof SIDECAR_STATES)[number];

export interface GpuStats {
  available: boolean;
  name?: string;
  uuid?: string;
  allocated_gb?: number;
  reserved_gb?: number;
  total_gb?: number;
  free_gb?: number;
}

export interface QueueStats {
  active: number;
  waiting: number;
  limit: number;
  /** Pages left to read in the requests the sidecar holds (admission is by time, not by count). */
  pages_queued: number;
  /** Measured seconds a page takes this sidecar (all its threads together). */
  page_s: number;
  /** pages_queued × page_s: how long a new request would wait before its first page. */
  expected_wait_s: number;
}

export interface InFlight {
  request_id: string;
  pages_done: number;
  pages_total: number;
}

export interface SidecarStatus {
  name: ServiceName;
  state: SidecarState;
  pid: number | null;
  restarts: number;
  model: string | null;
  device: string | null;
  gpu: GpuStats;
  queue: QueueStats | null;
  in_flight: InFlight[];
  /** Why the sidecar is not ready (unavailable message, last crash, failure reason). */
  message: string | null;
  socketPath: string;
}

export interface HealthSnapshot {
  services: SidecarStatus[];
  updatedAt: number;
}

/**
 * The environment variable through which the primary hands its validated Config (JSON) to the
 * workers, so that they need neither the configuration schema (zod) nor dotenv.
 */
export const WORKER_CONFIG_ENV = 'MDSO_WORKER_CONFIG';

/** What a worker may ask the primary for: the summed metrics, or the OpenAPI document (JSON). */
export type PrimaryQuestion = 'metrics' | 'openapi';

/** Messages exchanged between the primary and its workers. */
export type PrimaryToWorker =
  | { type: 'snapshot'; snapshot: HealthSnapshot }
  | { type: 'shutdown' }
  | { type: 'answer'; id: number; text: string | null; error?: string };
export type WorkerToPrimary =
  | { type: 'recycle-me' }
  | { type: 'ask'; what: PrimaryQuestion; id: number }
  /** Sent every WORKER_HEARTBEAT_MS by a worker whose event loop turns (see WorkerPool's watchdog). */
  | { type: 'alive' };

/** How often a worker tells the primary its event loop is turning. */
export const WORKER_HEARTBEAT_MS = 1000;

const PRIMARY_TO_WORKER = new Set(['snapshot', 'shutdown', 'answer']);
const WORKER_TO_PRIMARY = new Set(['recycle-me', 'ask', 'alive']);

export function isPrimaryToWorker(msg: unknown): msg is PrimaryToWorker {
  return typeof msg === 'object' && msg !== null && PRIMARY_TO_WORKER.has(String((msg as { type?: unknown }).type));
}

export function isWorkerToPrimary(msg: unknown): msg is WorkerToPrimary {
  return typeof msg === 'object' && msg !== null && WORKER_TO_PRIMARY.has(String((msg as { type?: unknown }).type));
}
