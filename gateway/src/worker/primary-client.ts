// Questions a worker asks the primary over cluster IPC (GET /metrics: every worker's metrics summed
// plus the sidecar gauges; GET /openapi.json: the document, built once by the primary), matched to
// the primary's answers by id.
import type { PrimaryQuestion, PrimaryToWorker, WorkerToPrimary } from '../ipc/messages.js';

const ANSWER_TIMEOUT_MS = 10_000;

type AnswerMessage = Extract<PrimaryToWorker, { type: 'answer' }>;

export class PrimaryClient {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void }>();

  constructor(private readonly sendToPrimary: (msg: WorkerToPrimary) => boolean) {}

  onMessage(msg: AnswerMessage): void {
    const waiter = this.pending.get(msg.id);
    if (waiter === undefined) return;
    this.pending.delete(msg.id);
    if (msg.text !== null) waiter.resolve(msg.text);
    else waiter.reject(new Error(msg.error ?? 'the primary could not answer'));
  }

  request(what: PrimaryQuestion): Promise<string> {
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer from the primary within ${ANSWER_TIMEOUT_MS / 1000} s`));
      }, ANSWER_TIMEOUT_MS);
      this.pending.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      if (!this.sendToPrimary({ type: 'ask', what, id })) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new Error('no IPC channel to the primary'));
      }
    });
  }
}
