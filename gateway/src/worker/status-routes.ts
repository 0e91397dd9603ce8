// GET /health, /services (API key), /livez and /readyz (open, revealing nothing else): answered from
// the worker's snapshot, in microseconds, even while the models are busy.
import type { Request, Response } from 'express';
import type { Config } from '../config.js';
import type { SidecarStatus } from '../ipc/health-snapshot.js';
import type { GpuStats } from '../ipc/sidecar-wire.js';
import type { Health, Livez, Readyz, Services } from '../api/schemas.js';
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

export function healthRoute(config: Config, store: SnapshotStore) {
  return (_req: Request, res: Response): void => {
    const sidecars = store.all();
    const ready = sidecars.filter((s) => s.state === 'ready');
    const body: Health = {
      status: ready.length === config.services.length ? 'healthy' : 'degraded',
      services: ready.map((s) => s.name),
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
      // The embedded engine keeps jobs in the primary's memory: a restart loses the unfinished ones.
      jobs: config.jobs.redisUrl === '' ? { engine: 'embedded', durable: false } : { engine: 'redis', durable: true },
    };
    res.json(body);
  };
}

export function servicesRoute(store: SnapshotStore) {
  return (_req: Request, res: Response): void => {
    const usable = store.all().filter((s) => s.state !== 'failed' && s.state !== 'unavailable' && s.state !== 'stopped');
    const body: Services = { services: usable.map((s) => s.name) };
    res.json(body);
  };
}

export function livezRoute(_req: Request, res: Response): void {
  const body: Livez = { status: 'alive' };
  res.json(body);
}

/** Ready when no service is still loading and at least one can answer. */
export function readyzRoute(store: SnapshotStore) {
  return (_req: Request, res: Response): void => {
    const states = store.all().map((s) => s.state);
    const ready = states.includes('ready') && !states.includes('starting');
    const body: Readyz = { status: ready ? 'ready' : 'not ready' };
    res.status(ready ? 200 : 503).json(body);
  };
}
