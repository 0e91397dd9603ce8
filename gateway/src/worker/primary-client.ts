// Questions a worker asks the primary over cluster IPC (GET /metrics: every worker's metrics summed
// plus the sidecar gauges; GET /openapi.json: the document, built once by the primary; the durable
// jobs, which the primary runs), matched to the primary's answers by id.
import type { JobRequest } from '../ipc/job-messages.js';
import type { PrimaryQuestion, PrimaryToWorker, WorkerToPrimary } from '../ipc/messages.js';

const ANSWER_TIMEOUT_MS = 10_000;
/** A submission may copy a large upload into Redis first. */
const SUBMIT_TIMEOUT_MS = 120_000;

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
    return this.send((id) => ({ type: 'ask', what, id }));
  }

  /** A jobs request; the answer is a JobReply as JSON text. */
  job(request: JobRequest): Promise<string> {
    return this.send((id) => ({ type: 'job', request, id }), request.op === 'submit' ? SUBMIT_TIMEOUT_MS : ANSWER_TIMEOUT_MS);
  }

  private send(message: (id: number) => WorkerToPrimary, timeoutMs = ANSWER_TIMEOUT_MS): Promise<string> {
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer from the primary within ${timeoutMs / 1000} s`));
      }, timeoutMs);
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
      if (!this.sendToPrimary(message(id))) {
        this.pending.delete(id);
        clearTimeout(timer);
        reject(new Error('no IPC channel to the primary'));
      }
    });
  }
}
