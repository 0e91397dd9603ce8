// WorkerPool: forks WORKERS gateway workers with node:cluster, respawns those that die, replaces one
// whose event loop stopped turning (watchdog), recycles one after MAX_REQUESTS answers (a replacement
// first, then the old one drains), and stops them all.
import cluster, { type Worker } from 'node:cluster';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger.js';
import type { JobRequest } from '../ipc/job-messages.js';
import { isWorkerToPrimary, type PrimaryQuestion, type PrimaryToWorker, WORKER_HEARTBEAT_MS } from '../ipc/messages.js';

const QUICK_EXIT_MS = 5000;
/** Measured with `npm run bench` (docs/BENCHMARKS.md): ~20 MB less per worker, 100 MB upload +35 MB. */
const WORKER_V8_FLAGS = ['--max-semi-space-size=1'];

export class WorkerPool {
  private stopping = false;
  private readonly retiring = new Set<Worker>();
  /** Workers that listen (their 'message' handler is in place: a shutdown message reaches them). */
  private readonly listening = new Set<Worker>();
  private quickExits = 0;
  /** When each worker last said its event loop turns; watched from the moment it listens. */
  private readonly lastAlive = new Map<Worker, number>();
  private watchdog: NodeJS.Timeout | null = null;

  constructor(
    private readonly size: number,
    /** WORKER_STALL_TIMEOUT in ms; 0 turns the watchdog off. */
    private readonly stallTimeoutMs: number,
    private readonly env: Record<string, string>,
    private readonly logger: Logger,
    private readonly currentMessage: () => PrimaryToWorker,
    /** What a worker asks for: the aggregated Prometheus text (GET /metrics), the OpenAPI document. */
    private readonly answer: (what: PrimaryQuestion) => Promise<string>,
    /** A durable jobs request (the job engine's JobReply as JSON text; never rejects). */
    private readonly answerJob: (request: JobRequest) => Promise<string>,
  ) {}

  start(): void {
    // Each worker accepts its own connections from the shared socket (the kernel spreads them), rather
    // than the primary accepting them all and handing them out: with round-robin, connections a worker
    // cannot take (out of file descriptors) pile up in the primary until it runs out of descriptors
    // too, and it then stops handing out connections for good. Workers only stream, so the kernel's
    // less even spread costs nothing measurable.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // Workers only stream and relay: a small young generation keeps each one's RSS (and its growth
    // while a 100 MB upload streams through) low, at the cost of more, cheaper scavenges.
    cluster.setupPrimary({ execArgv: [...process.execArgv, ...WORKER_V8_FLAGS] });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    for (let i = 0; i < this.size; i += 1) this.fork();
    if (this.stallTimeoutMs > 0) {
      this.watchdog = setInterval(() => this.killStalled(), Math.min(WORKER_HEARTBEAT_MS, this.stallTimeoutMs));
      this.watchdog.unref();
    }
  }

  /**
   * A worker stuck in synchronous code (a runaway loop, a pathological input) answers nothing, not
   * even /livez, and no timer inside it can fire: only the primary can see it and replace it.
   */
  private killStalled(): void {
    const now = Date.now();
    for (const [worker, last] of this.lastAlive) {
      if (worker.isDead() || now - last < this.stallTimeoutMs) continue;
      this.lastAlive.delete(worker);
      this.logger.error('worker event loop stalled; killing it so it is replaced', {
        worker_pid: worker.process.pid,
        stalled_ms: now - last,
        timeout_s: this.stallTimeoutMs / 1000,
      });
      worker.process.kill('SIGKILL');
    }
  }

  broadcast(message: PrimaryToWorker): void {
    for (const worker of Object.values(cluster.workers ?? {})) if (worker !== undefined) send(worker, message);
  }

  /** Tells every worker to drain, waits up to graceMs, then kills what is left. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    if (this.watchdog !== null) clearInterval(this.watchdog);
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exited = workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    for (const w of workers) {
      // One still starting (a recycling replacement) may not read messages yet and holds no
      // connection: SIGTERM, which it handles like the message once it can, ends it either way.
      if (this.listening.has(w)) send(w, { type: 'shutdown' });
      else if (!w.isDead()) w.process.kill('SIGTERM');
    }
    const done = await Promise.race([Promise.all(exited).then(() => true), sleep(graceMs + 2000, false)]);
    if (!done) {
      this.logger.warn('workers still busy after the grace period; killing them');
      for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
      await Promise.all(exited);
    }
  }

  private fork(): Worker {
    const worker = cluster.fork(this.env);
    const startedAt = Date.now();
    worker.once('online', () => send(worker, this.currentMessage()));
    // Loading modules may take long on a busy machine; from listening on, the loop must turn.
    worker.once('listening', () => {
      this.listening.add(worker);
      this.lastAlive.set(worker, Date.now());
      if (this.stopping) send(worker, { type: 'shutdown' });
    });
    // IPC to a worker that is exiting fails; its exit is handled by onExit, not by crashing here.
    worker.on('error', (err) => this.logger.debug('worker IPC error', { worker_pid: worker.process.pid, error: err.message }));
    worker.on('message', (msg: unknown) => {
      if (!isWorkerToPrimary(msg)) return;
      if (msg.type === 'alive') {
        if (!worker.isDead()) this.lastAlive.set(worker, Date.now());
      } else if (msg.type === 'snapshot-please') send(worker, this.currentMessage());
      else if (msg.type === 'recycle-me') this.recycle(worker);
      else if (msg.type === 'job') {
        void this.answerJob(msg.request).then((text) => send(worker, { type: 'answer', id: msg.id, text }));
      } else if (msg.type === 'ask') {
        this.answer(msg.what).then(
          (text) => send(worker, { type: 'answer', id: msg.id, text }),
          (err: unknown) => send(worker, { type: 'answer', id: msg.id, text: null, error: err instanceof Error ? err.message : String(err) }),
        );
      }
    });
    worker.once('exit', () => {
      this.lastAlive.delete(worker);
      this.listening.delete(worker);
      if (Date.now() - startedAt < QUICK_EXIT_MS && !this.retiring.has(worker)) this.quickExits += 1;
      else this.quickExits = 0;
    });
    return worker;
  }

  private recycle(old: Worker): void {
    if (this.stopping || this.retiring.has(old)) return;
    this.retiring.add(old);
    const replacement = this.fork();
    // The old worker drains only once its replacement accepts connections: no gap in service.
    replacement.once('listening', () => {
      this.logger.info('recycling worker', { old_pid: old.process.pid, new_pid: replacement.process.pid });
      send(old, { type: 'shutdown' });
    });
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const retired = this.retiring.delete(worker);
    if (this.stopping || retired) return;
    // A worker that dies right after start would otherwise be re-forked in a tight loop.
    const delay = Math.min(500 * 2 ** Math.max(0, this.quickExits - 1), 30_000) * (this.quickExits > 0 ? 1 : 0);
    this.logger.error('worker died; starting another', { worker_pid: worker.process.pid, code, signal, restart_in_ms: delay });
    setTimeout(() => {
      if (!this.stopping) this.fork();
    }, delay);
  }
}

/** Sends over IPC unless the channel is closing; a late failure is ignored (the exit is handled). */
function send(worker: Worker, message: PrimaryToWorker): void {
  if (!worker.isConnected()) return;
  worker.send(message, undefined, () => undefined);
}
