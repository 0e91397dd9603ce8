// The health snapshot: what the primary knows about every sidecar, broadcast to the workers over
// cluster IPC so that they answer /health, /services and routing decisions from memory.
import type { ServiceName } from '../services.js';

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
