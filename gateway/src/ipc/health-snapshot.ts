// The health snapshot: what the primary knows about every sidecar, broadcast to the workers over
// cluster IPC so that they answer /health, /services and routing decisions from memory.
import type { ServiceName } from '../services.js';
import type { GpuStats, InFlight, QueueStats } from './sidecar-wire.js';

/** `unresponsive`: running but its last health check got no answer (requests get 503 meanwhile). */
export const SIDECAR_STATES = ['starting', 'ready', 'unresponsive', 'unavailable', 'restarting', 'failed', 'stopped'] as const;
export type SidecarState = (typeof SIDECAR_STATES)[number];

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
