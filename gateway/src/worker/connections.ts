// Connections of a worker's HTTP server: how many it holds at most, how long one may stay open without
// a request, and how they are let go when the worker drains (recycling, shutdown) without dropping a
// request a keep-alive client has already sent.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** File descriptors kept for everything but client connections (sidecar sockets, IPC, logs...). */
const RESERVED_FDS = 64;
/**
 * While draining, a connection between two requests is closed only once it has been quiet this long:
 * a keep-alive client sends its next request right after an answer, and closing the connection at
 * that instant loses the request (a broken pipe on the client's side).
 */
export const DRAIN_QUIET_MS = 2000;

interface Tracked {
  /** Requests on this connection not yet answered (more than one only with pipelining). */
  active: number;
  /** When the connection last had no request in progress (its opening, or its last answer). */
  quietSince: number;
  /** Whether a request ever came on it: a connection that never sent one is closed sooner. */
  used: boolean;
}

/** The soft limit on open files of this process (Linux), or null where it cannot be read. */
export function openFileLimit(limitsText?: string): number | null {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/self/limits', 'utf8');
    } catch {
      return null;
    }
  }
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined || soft === 'unlimited') return null;
  const n = Number(soft);
  return Number.isInteger(n) && n > 0 ? n : null;
}

/**
 * How many client connections a worker accepts: MAX_CONNECTIONS, and never so many that the worker
 * runs out of file descriptors (each OCR request holds its client socket and a sidecar socket).
 * A worker out of descriptors cannot even receive the connections the primary hands it; refused
 * above this cap instead, it keeps serving the ones it has.
 */
export function connectionCap(configured: number, fdLimit: number | null): number {
  if (fdLimit === null) return configured;
  return Math.max(1, Math.min(configured, Math.floor((fdLimit - RESERVED_FDS) / 2)));
}

export class ConnectionGuard {
  private readonly sockets = new Map<Socket, Tracked>();
  private sweeper: NodeJS.Timeout | null = null;
  private draining = false;

  constructor(
    private readonly server: Server,
    /** A connection that never sent a request is closed after this long (CONNECTION_IDLE_TIMEOUT). */
    private readonly idleTimeoutMs: number,
  ) {
    server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, { active: 0, quietSince: Date.now(), used: false });
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      const tracked = this.sockets.get(req.socket);
      if (tracked === undefined) return;
      tracked.active += 1;
      tracked.used = true;
      res.once('close', () => {
        tracked.active -= 1;
        tracked.quietSince = Date.now();
      });
    });
    this.schedule(1000);
  }

  get size(): number {
    return this.sockets.size;
  }

  /** From now on, close each connection once it is quiet, until none is left. */
  drain(): void {
    this.draining = true;
    this.schedule(Math.min(250, DRAIN_QUIET_MS));
  }

  stop(): void {
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private schedule(everyMs: number): void {
    this.stop();
    this.sweeper = setInterval(() => this.sweep(), everyMs);
    this.sweeper.unref();
  }

  private sweep(): void {
    const now = Date.now();
    for (const [socket, t] of this.sockets) {
      if (t.active > 0) continue;
      const quietMs = now - t.quietSince;
      // Between requests node's keepAliveTimeout applies (longer than the proxies' in front); a
      // connection that never sent anything is only holding a descriptor.
      const limit = this.draining ? DRAIN_QUIET_MS : t.used ? Infinity : this.idleTimeoutMs;
      if (quietMs >= limit) socket.destroy();
    }
  }
}
