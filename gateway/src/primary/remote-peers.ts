// RemotePeers: what the primary knows of the peer gateways serving REMOTE_SERVICES. Each peer's
// GET /health is polled alongside the sidecars' (HealthPoller), once per peer and key however many
// services it serves here; the states go to the workers in the health snapshot. A change of state is
// logged once, with the peer's URL and never its key.
import { request } from 'undici';
import type { RemoteServiceSettings } from '../config.js';
import type { RemoteState, RemoteStatus } from '../ipc/health-snapshot.js';
import type { Logger } from '../logger.js';

/** What this gateway reads of a peer's GET /health (api/schemas.ts's Health: a gateway of this project). */
interface PeerEntry {
  state?: unknown;
  model?: unknown;
  device?: unknown;
  message?: unknown;
}
interface PeerHealth {
  sidecars?: Record<string, PeerEntry>;
  /** A peer that is itself a front for the service (chained gateways). */
  remote?: Record<string, PeerEntry>;
}

type Poll = { ok: true; health: PeerHealth } | { ok: false; why: string };

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value.slice(0, 500) : null);

export class RemotePeers {
  private readonly statuses: RemoteStatus[];

  constructor(
    private readonly remotes: readonly RemoteServiceSettings[],
    private readonly logger: Logger,
  ) {
    this.statuses = remotes.map((r) => ({
      name: r.name,
      url: r.url,
      state: 'checking',
      peerState: null,
      model: null,
      device: null,
      checkedAt: null,
      lastSeenAt: null,
      message: null,
    }));
  }

  status(): RemoteStatus[] {
    return this.statuses.map((s) => ({ ...s }));
  }

  /** One GET /health per peer (and key), bounded by `timeoutMs`; every service it serves here is updated. */
  async pollOnce(timeoutMs: number): Promise<void> {
    const peers = new Map<string, RemoteServiceSettings[]>();
    for (const r of this.remotes) {
      const id = `${r.url}\n${r.apiKey}`;
      peers.set(id, [...(peers.get(id) ?? []), r]);
    }
    await Promise.all(
      [...peers.values()].map(async (served) => {
        const first = served[0];
        if (first === undefined) return;
        const poll = await pollPeer(first, timeoutMs);
        const now = Date.now();
        for (const r of served) this.update(r, poll, now);
      }),
    );
  }

  private update(remote: RemoteServiceSettings, poll: Poll, now: number): void {
    const status = this.statuses.find((s) => s.name === remote.name);
    if (status === undefined) return;
    const before = status.state;
    status.checkedAt = now;
    if (!poll.ok) {
      Object.assign(status, { state: 'unreachable' satisfies RemoteState, peerState: null, message: poll.why });
    } else {
      status.lastSeenAt = now;
      Object.assign(status, readEntry(remote.name, poll.health));
    }
    if (status.state !== before) {
      const fields = { service: remote.name, peer: remote.url, state: status.state, peer_state: status.peerState, message: status.message };
      if (status.state === 'ready') this.logger.info('remote service ready', fields);
      else this.logger.warn('remote service not ready', fields);
    }
  }
}

/** The service's state in a peer's /health: its sidecar's, or (a chained front) its own remote entry's. */
function readEntry(name: string, health: PeerHealth): Pick<RemoteStatus, 'state' | 'peerState' | 'model' | 'device' | 'message'> {
  const entry = health.sidecars?.[name] ?? health.remote?.[name];
  if (entry === undefined || typeof entry !== 'object' || entry === null) {
    return {
      state: 'not-ready',
      peerState: null,
      model: null,
      device: null,
      message: `the peer does not serve ${name} (not in its ENABLED_SERVICES or REMOTE_SERVICES)`,
    };
  }
  const peerState = text(entry.state) ?? 'unknown';
  const ready = peerState === 'ready';
  return {
    state: ready ? 'ready' : 'not-ready',
    peerState,
    model: text(entry.model),
    device: text(entry.device),
    message: ready ? null : (text(entry.message) ?? `the peer's ${name} is ${peerState}`),
  };
}

/** GET {peer}/health with the peer's key; never throws. */
async function pollPeer(remote: RemoteServiceSettings, timeoutMs: number): Promise<Poll> {
  try {
    const res = await request(`${remote.url}/health`, {
      method: 'GET',
      headers: { 'x-api-key': remote.apiKey, accept: 'application/json' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump();
      const variable = `REMOTE_API_KEY or ${remote.name.toUpperCase()}_REMOTE_API_KEY`;
      return { ok: false, why: `the peer refused this gateway's key (${res.statusCode}): set ${variable} to a key of the peer's API_KEY` };
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      return { ok: false, why: `the peer's /health answered ${res.statusCode}` };
    }
    const body: unknown = await res.body.json().catch(() => null);
    const health = typeof body === 'object' && body !== null ? (body as PeerHealth) : null;
    if (health === null || typeof health.sidecars !== 'object') {
      return { ok: false, why: "the peer's /health is not an mdso-ocr gateway's (check the URL in REMOTE_SERVICES)" };
    }
    return { ok: true, health };
  } catch (err) {
    const e = err as { name?: unknown; code?: unknown; message?: unknown };
    if (e.name === 'TimeoutError') return { ok: false, why: `no answer from the peer within ${timeoutMs / 1000} s` };
    const code = typeof e.code === 'string' ? e.code : null;
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    return { ok: false, why: `the peer cannot be reached: ${code ?? (typeof cause === 'string' ? cause : String(e.message ?? err))}` };
  }
}
