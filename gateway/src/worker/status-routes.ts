// GET /health, /services (API key), /livez and /readyz (open, revealing nothing else): answered from
// the worker's snapshot (sidecars, and the peers of the remote services), in microseconds, even while
// the models are busy.
import type { Request, Response } from 'express';
import type { Config } from '../config.js';
import type { RemoteStatus, SidecarStatus } from '../ipc/health-snapshot.js';
import type { GpuStats } from '../ipc/sidecar-wire.js';
import type { Health, Livez, Readyz, Services } from '../api/schemas.js';

type RemoteHealth = NonNullable<Health['remote']>[string];
import type { SnapshotStore } from './snapshot-store.js';

const round = (n: number): number => Math.round(n * 1000) / 1000;

/** One GPU figure for the original `gpu` field: sums over sidecars, each physical GPU counted once. */
export function aggregateGpu(sidecars: readonly SidecarStatus[]): GpuStats {
  const gpus = sidecars.map((s) => s.gpu).filter((g) => g.available);
  if (gpus.length === 0) return { available: false };
  const devices = new Map<string, GpuStats>();
  for (const g of gpus) devices.set(g.uuid ?? g.name ?? 'gpu', g);
  const sum = (list: Iterable<GpuStats>, key: 'allocated_gb' | 'reserved_gb' | 'total_gb' | 'free_gb'): number =>
    round([...list].reduce((acc, g) => acc + (g[key] ?? 0), 0));
  return {
    available: true,
    allocated_gb: sum(gpus, 'allocated_gb'),
    reserved_gb: sum(gpus, 'reserved_gb'),
    total_gb: sum(devices.values(), 'total_gb'),
    free_gb: sum(devices.values(), 'free_gb'),
  };
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function remoteHealth(r: RemoteStatus): RemoteHealth {
  return {
    url: r.url,
    state: r.state,
    peer_state: r.peerState,
    model: r.model,
    device: r.device,
    checked_at: iso(r.checkedAt),
    last_seen_at: iso(r.lastSeenAt),
    message: r.message,
  };
}

/** Peer states a remote service is not listed for in /services: it cannot answer until someone acts. */
const PEER_DEAD_STATES = new Set(['failed', 'unavailable', 'stopped']);

export function healthRoute(config: Config, store: SnapshotStore) {
  return (_req: Request, res: Response): void => {
    const sidecars = store.all();
    const remotes = store.remotes();
    const ready = sidecars.filter((s) => s.state === 'ready');
    const remoteReady = remotes.filter((r) => r.state === 'ready');
    const all = config.services.length + config.remoteServices.length;
    const body: Health = {
      status: ready.length + remoteReady.length === all ? 'healthy' : 'degraded',
      services: [...ready.map((s) => s.name), ...remoteReady.map((r) => r.name)],
      gpu: aggregateGpu(sidecars),
      sidecars: Object.fromEntries(
        sidecars.map((s) => [
          s.name,
          {
            state: s.state,
            pid: s.pid,
            restarts: s.restarts,
            model: s.model,
            device: s.device,
            gpu: s.gpu,
            queue: s.queue,
            in_flight: s.in_flight,
            message: s.message,
          },
        ]),
      ),
      ...(config.remoteServices.length === 0 ? {} : { remote: Object.fromEntries(remotes.map((r) => [r.name, remoteHealth(r)])) }),
      // The embedded engine keeps jobs in the primary's memory: a restart loses the unfinished ones.
      jobs: config.jobs.redisUrl === '' ? { engine: 'embedded', durable: false } : { engine: 'redis', durable: true },
    };
    res.json(body);
  };
}

export function servicesRoute(store: SnapshotStore) {
  return (_req: Request, res: Response): void => {
    const usable = store.all().filter((s) => s.state !== 'failed' && s.state !== 'unavailable' && s.state !== 'stopped');
    // A remote service is listed like a local one: unless its peer says it failed or is unavailable,
    // or does not serve it at all. A peer not answering is listed, as a local sidecar not answering
    // its health checks is (a box restarting); its requests get 502 meanwhile.
    const remote = store.remotes().filter((r) => {
      if (r.state !== 'not-ready') return true;
      return r.peerState !== null && !PEER_DEAD_STATES.has(r.peerState);
    });
    const body: Services = { services: [...usable.map((s) => s.name), ...remote.map((r) => r.name)] };
    res.json(body);
  };
}

export function livezRoute(_req: Request, res: Response): void {
  const body: Livez = { status: 'alive' };
  res.json(body);
}

/**
 * Ready when no local service is still loading and at least one service, local or remote, can answer.
 * A peer down does not make this gateway unready while another service serves: a load balancer would
 * then take away the services that work too (README, Scaling out).
 */
export function readyzRoute(store: SnapshotStore) {
  return (_req: Request, res: Response): void => {
    const states = store.all().map((s) => s.state);
    const someRemote = store.remotes().some((r) => r.state === 'ready');
    const ready = (states.includes('ready') || someRemote) && !states.includes('starting');
    const body: Readyz = { status: ready ? 'ready' : 'not ready' };
    res.status(ready ? 200 : 503).json(body);
  };
}
