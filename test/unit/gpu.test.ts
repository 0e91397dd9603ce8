// The original /health `gpu` figure, built from several sidecars that may share a GPU.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SidecarStatus } from '../../gateway/src/ipc/health-snapshot.js';
import { aggregateGpu } from '../../gateway/src/worker/status-routes.js';

const sidecar = (gpu: SidecarStatus['gpu']): SidecarStatus => ({
  name: 'tesseract',
  state: 'ready',
  pid: 1,
  restarts: 0,
  model: null,
  device: null,
  gpu,
  queue: null,
  in_flight: [],
  message: null,
  socketPath: '/x',
});

describe('aggregateGpu', () => {
  it('says unavailable when no sidecar has CUDA', () => {
    assert.deepEqual(aggregateGpu([sidecar({ available: false })]), { available: false });
  });

  it('sums allocations but counts a shared GPU once', () => {
    const a = { available: true, uuid: 'GPU-1', allocated_gb: 2, reserved_gb: 3, total_gb: 80, free_gb: 70 };
    const b = { available: true, uuid: 'GPU-1', allocated_gb: 4, reserved_gb: 5, total_gb: 80, free_gb: 70 };
    const c = { available: true, uuid: 'GPU-2', allocated_gb: 1, reserved_gb: 1, total_gb: 80, free_gb: 79 };
    assert.deepEqual(aggregateGpu([sidecar(a), sidecar(b), sidecar(c)]), {
      available: true,
      allocated_gb: 7,
      reserved_gb: 9,
      total_gb: 160,
      free_gb: 149,
    });
  });
});
