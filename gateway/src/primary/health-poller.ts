// HealthPoller: polls every running sidecar's /health each HEALTH_POLL_MS, feeds the answers to the
// supervisors (hang detection, GPU and queue figures), polls the peer gateways of the remote services
// (RemotePeers) in the same round, and publishes the combined snapshot.
import { getSidecarHealth } from '../sidecar-client.js';
import type { HealthSnapshot } from '../ipc/health-snapshot.js';
import type { RemotePeers } from './remote-peers.js';
import type { SidecarSupervisor } from './sidecar-supervisor.js';

export class HealthPoller {
  private timer: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(
    private readonly supervisors: readonly SidecarSupervisor[],
    private readonly intervalMs: number,
    private readonly publish: (snapshot: HealthSnapshot) => void,
    private readonly remotes: RemotePeers | null = null,
  ) {
    // State changes (crash, ready, failed) are published at once, not at the next poll.
    for (const s of supervisors) s.on('change', () => this.publish(this.snapshot()));
  }

  snapshot(): HealthSnapshot {
    return { services: this.supervisors.map((s) => s.status()), remotes: this.remotes?.status() ?? [], updatedAt: Date.now() };
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.pollOnce(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async pollOnce(): Promise<void> {
    if (this.polling) return; // a slow round never stacks up behind another
    this.polling = true;
    try {
      // Long enough for a sidecar busy on every core to answer, short enough that a frozen one is
      // reported within a poll interval and this.
      const timeoutMs = Math.max(2000, Math.min(this.intervalMs, 5000));
      await Promise.all([
        this.remotes?.pollOnce(timeoutMs),
        ...this.supervisors.map(async (s) => {
          const { state } = s.status();
          if (state !== 'ready' && state !== 'unresponsive' && state !== 'unavailable') return;
          try {
            s.onHealth(await getSidecarHealth(s.socketPath, timeoutMs));
          } catch (err) {
            s.onHealthFailure(err);
          }
        }),
      ]);
      this.publish(this.snapshot());
    } finally {
      this.polling = false;
    }
  }
}
