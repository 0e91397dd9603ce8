// The health snapshot: what the primary knows about every sidecar and every peer gateway serving a
// remote service, broadcast to the workers over cluster IPC so that they answer /health, /services
// and routing decisions from memory.
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

/**
 * A remote service's peer gateway as its last /health poll found it: `checking` (not polled yet),
 * `ready` (the peer's own state for the service is ready), `not-ready` (the peer answers but its
 * service does not serve now: `peer_state` says why), `unreachable` (no answer, a refused key, or
 * not the peer's /health).
 */
export const REMOTE_STATES = ['checking', 'ready', 'not-ready', 'unreachable'] as const;
export type RemoteState = (typeof REMOTE_STATES)[number];

export interface RemoteStatus {
  name: ServiceName;
  /** The peer's base URL (REMOTE_SERVICES); never its key. */
  url: string;
  state: RemoteState;
  /** The peer's state for this service (its sidecar's, e.g. `starting`), when it answered. */
  peerState: string | null;
  model: string | null;
  device: string | null;
  /** When the peer was last polled (epoch ms); null before the first poll. */
  checkedAt: number | null;
  /** When the peer last answered its /health (epoch ms); null if it never did. */
  lastSeenAt: number | null;
  /** Why it is not ready (the connection error, the peer's message). */
  message: string | null;
}

export interface HealthSnapshot {
  services: SidecarStatus[];
  /** Services served by peer gateways (REMOTE_SERVICES), in that order. */
  remotes: RemoteStatus[];
  updatedAt: number;
}
