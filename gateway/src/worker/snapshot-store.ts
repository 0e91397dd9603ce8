// SnapshotStore: the worker's copy of the primary's latest health snapshot (sidecars and remote
// services' peers), answered from memory.
import type { HealthSnapshot, RemoteStatus, SidecarStatus } from '../ipc/health-snapshot.js';

export class SnapshotStore {
  private current: HealthSnapshot | null = null;
  private waiters: (() => void)[] = [];

  update(snapshot: HealthSnapshot): void {
    this.current = snapshot;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Resolves once the first snapshot has arrived (a worker serves nothing before). */
  async ready(): Promise<void> {
    if (this.current !== null) return;
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  all(): SidecarStatus[] {
    return this.current?.services ?? [];
  }

  get(name: string): SidecarStatus | undefined {
    return this.all().find((s) => s.name === name);
  }

  /** The remote services' peers, as the primary's last poll found them. */
  remotes(): RemoteStatus[] {
    return this.current?.remotes ?? [];
  }

  remote(name: string): RemoteStatus | undefined {
    return this.remotes().find((r) => r.name === name);
  }
}
