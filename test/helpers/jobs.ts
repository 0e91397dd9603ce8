// Durable jobs over HTTP, for the jobs' end-to-end tests: submit, read, wait for a status, cancel,
// the sidecar a gateway runs (to hold a job running with SIGSTOP), and a callback receiver.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { type IncomingHttpHeaders, createServer } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DATA_DIR_CLAIM } from '../../gateway/src/jobs/data-dir-claim.js';
import { API_KEY, type Gateway, alive, fixture, ocrForm } from './gateway.js';

export interface JobBody {
  job_id: string;
  service: string;
  status: 'queued' | 'running' | 'done' | 'failed' | 'cancelled';
  pages_done: number;
  pages_total: number | null;
  queue_position: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  expires_at: string | null;
  error: { error: string; type: string; details: Record<string, unknown> } | null;
  status_url: string;
  result_url: string;
}

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  json: T;
}

async function call<T>(url: string, init: RequestInit): Promise<Answer<T>> {
  const res = await fetch(url, init);
  const text = await res.text();
  try {
    return { status: res.status, headers: res.headers, json: JSON.parse(text) as T };
  } catch {
    throw new Error(`non-JSON answer ${res.status}: ${text.slice(0, 300)}`);
  }
}

export const pdfForm = (name = 'Devis_test.pdf'): FormData => ocrForm(fixture('client', name), name, 'application/pdf');

export function submitJob(gw: Gateway, service: string, form: FormData, query = '', key = API_KEY): Promise<Answer<JobBody>> {
  return call<JobBody>(`${gw.url}/jobs/${service}${query}`, { method: 'POST', headers: { 'x-api-key': key }, body: form });
}

export function getJob(gw: Gateway, id: string, query = '', key = API_KEY): Promise<Answer<JobBody>> {
  return call<JobBody>(`${gw.url}/jobs/${id}${query}`, { headers: { 'x-api-key': key } });
}

export function jobResult(gw: Gateway, id: string, key = API_KEY): Promise<Answer> {
  return call(`${gw.url}/jobs/${id}/result`, { headers: { 'x-api-key': key } });
}

export function cancelJob(gw: Gateway, id: string, key = API_KEY): Promise<Answer<JobBody>> {
  return call<JobBody>(`${gw.url}/jobs/${id}`, { method: 'DELETE', headers: { 'x-api-key': key } });
}

/** Long-polls the job until `until` holds of it, within `boundMs` (a bound for a slow machine, not a deadline). */
export async function waitJob(gw: Gateway, id: string, until: (j: JobBody) => boolean, boundMs = 180_000, key = API_KEY): Promise<JobBody> {
  const end = Date.now() + boundMs;
  for (;;) {
    const r = await getJob(gw, id, '?wait=5', key);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    if (until(r.json)) return r.json;
    if (Date.now() > end) throw new Error(`job ${id} still ${JSON.stringify(r.json)} after ${boundMs} ms\n${gw.logs().slice(-3000)}`);
  }
}

/** Polls (100 ms) until `until` holds of the job: to catch a state that does not last (pages being read). */
export async function pollJob(gw: Gateway, id: string, until: (j: JobBody) => boolean, boundMs = 180_000): Promise<JobBody> {
  const end = Date.now() + boundMs;
  for (;;) {
    const r = await getJob(gw, id);
    if (until(r.json)) return r.json;
    if (Date.now() > end) throw new Error(`job ${id} still ${JSON.stringify(r.json)} after ${boundMs} ms`);
    await sleep(100);
  }
}

/** The answer of the synchronous route without what differs from one run to the next (timings). */
export function withoutTimings(answer: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...answer };
  delete out.duration_ms;
  if (Array.isArray(out.pages)) {
    out.pages = (out.pages as Record<string, unknown>[]).map((page) => {
      const copy = { ...page };
      delete copy.duration_ms;
      return copy;
    });
  }
  return out;
}

export async function sidecarOf(gw: Gateway, service: string): Promise<{ pid: number; state: string; in_flight: { request_id: string; pages_done: number }[] }> {
  const res = await fetch(`${gw.url}/health`, { headers: { 'x-api-key': API_KEY } });
  const health = (await res.json()) as { sidecars: Record<string, { pid: number; state: string; in_flight: { request_id: string; pages_done: number }[] }> };
  const s = health.sidecars[service];
  assert.ok(s, `${service} runs on this gateway`);
  return s;
}

/** Every file under `dir` (recursively), relative to it. */
/**
 * The job files under a JOB_DATA_DIR (relative paths): every file but the running gateway's claim on
 * the directory (jobs/data-dir-claim.ts), which a stopped gateway removes too.
 */
export function filesUnder(dir: string, { withClaim = false } = {}): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && (withClaim || !(e.name === DATA_DIR_CLAIM && e.parentPath === dir)))
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)));
  } catch {
    return [];
  }
}

/** kill -9 of a whole gateway: its primary, then every process under it (workers, sidecars). */
export async function killBox(gw: Gateway): Promise<void> {
  const descendants = (pid: number): number[] => {
    const children = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
    return children.flatMap((c) => [c, ...descendants(c)]);
  };
  const pid = gw.proc.pid;
  assert.ok(pid !== undefined);
  const all = [pid, ...descendants(pid)];
  for (const p of all) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await gw.exited;
  const end = Date.now() + 15_000;
  while (all.some(alive) && Date.now() < end) await sleep(100);
}

export interface Delivery {
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A real HTTP receiver for job callbacks on 127.0.0.1: what it received, and the statuses it answers next (then 200). */
export async function startReceiver(): Promise<{ url: string; deliveries: Delivery[]; answers: number[]; close: () => Promise<void> }> {
  const deliveries: Delivery[] = [];
  const answers: number[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      deliveries.push({ at: Date.now(), headers: req.headers, body });
      res.statusCode = answers.shift() ?? 200;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return {
    url: `http://127.0.0.1:${address.port}/hook`,
    deliveries,
    answers,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The signature a callback must carry: sha256=<hex HMAC-SHA256 of the raw body>. */
export const signatureOf = (secret: string, body: string): string => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
