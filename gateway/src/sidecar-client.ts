// HTTP over each sidecar's Unix socket with undici: one keep-alive Agent per socket, shared by the
// health poller (primary) and the upload path (workers). What goes over it: ipc/sidecar-wire.ts.
import type { Readable } from 'node:stream';
import { Agent, errors as undiciErrors } from 'undici';
import type { SidecarHealth } from './ipc/sidecar-wire.js';

const agents = new Map<string, Agent>();

function agentFor(socketPath: string): Agent {
  let agent = agents.get(socketPath);
  if (agent === undefined) {
    // Timeouts are ours (TIMEOUT, health poll deadline) through AbortSignal, not undici's defaults.
    agent = new Agent({ connect: { socketPath }, headersTimeout: 0, bodyTimeout: 0, keepAliveTimeout: 10_000 });
    agents.set(socketPath, agent);
  }
  return agent;
}

/**
 * GET /health on a connection of its own (closed after the answer): a kept-alive connection would
 * go on answering after the socket file was removed, when no request can reach the sidecar any more.
 */
export async function getSidecarHealth(socketPath: string, timeoutMs: number): Promise<SidecarHealth> {
  const res = await agentFor(socketPath).request({
    origin: 'http://sidecar',
    path: '/health',
    method: 'GET',
    reset: true,
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (res.statusCode !== 200) {
    await res.body.dump();
    throw new Error(`sidecar /health answered ${res.statusCode}`);
  }
  return (await res.body.json()) as SidecarHealth;
}

export interface SidecarAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  /**
   * A 200 answer that is a file rather than JSON (format=hocr, alto, pdf): its bytes, not read yet,
   * to stream on to the client as they come (body is then undefined). Whoever gets one reads it to
   * the end or destroys it.
   */
  file?: Readable;
}

/** True for a JSON content type (`application/json`, with or without parameters). */
function isJson(contentType: string | string[] | undefined): boolean {
  return /^application\/json\s*(;|$)/i.test(String(contentType ?? 'application/json'));
}

/**
 * POSTs a streamed file to the sidecar's /ocr (or `path`: /inspect) and parses its JSON answer; a 200
 * of another type (a file format) is handed back unread as `file`. Errors are always JSON.
 */
export async function postToSidecar(options: {
  socketPath: string;
  path?: '/ocr' | '/inspect';
  body: Readable;
  query: Record<string, string>;
  headers: Record<string, string>;
  signal: AbortSignal;
}): Promise<SidecarAnswer> {
  const query = new URLSearchParams(options.query).toString();
  const res = await agentFor(options.socketPath).request({
    origin: 'http://sidecar',
    path: `${options.path ?? '/ocr'}${query === '' ? '' : `?${query}`}`,
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', ...options.headers },
    body: options.body,
    signal: options.signal,
  });
  if (res.statusCode === 200 && !isJson(res.headers['content-type'])) {
    return { status: res.statusCode, headers: res.headers, body: undefined, file: res.body };
  }
  let body: unknown;
  try {
    body = await res.body.json();
  } catch (err) {
    // The sidecar went away mid-answer: that is its crash, not an answer to validate.
    if (isConnectionError(err)) throw err;
    body = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body };
}

/** True when no new connection can be made to the socket (file removed, nobody listening). */
export function isUnreachable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOENT' || code === 'ECONNREFUSED';
}

/** True when this process is out of file descriptors: its own trouble, not the sidecar's. */
export function isOutOfDescriptors(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'EMFILE' || code === 'ENFILE';
}

/** True when the error means the sidecar went away (crashed, restarted) rather than our abort. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof undiciErrors.SocketError) return true;
  if (err instanceof undiciErrors.ClientDestroyedError || err instanceof undiciErrors.ClientClosedError) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNREFUSED' || code === 'ENOENT' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET';
}

export async function closeSidecarAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.allSettled(all.map((a) => a.close()));
}
