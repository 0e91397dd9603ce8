// Test harness: starts the real gateway (compiled dist/, real sidecars) on a free port and talks
// HTTP to it. Each gateway gets its own run dir, temp dir and jobs data dir, removed at stop.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const FIXTURES = path.join(ROOT, 'test', 'fixtures');
export const API_KEY = 'test-key-0123456789';
const STOP_BOUND_MS = 180_000;

export function fixture(...parts: string[]): Buffer {
  return readFileSync(path.join(FIXTURES, ...parts));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}

export interface Gateway {
  url: string;
  proc: ChildProcess;
  runDir: string;
  tmpDir: string;
  logs: () => string;
  /** SIGTERM, wait for exit; returns the exit code. */
  stop: () => Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startGateway(
  env: Record<string, string | undefined> = {},
  options: { waitReady?: boolean; /** `ulimit -n` for the gateway and its children */ openFiles?: number } = {},
): Promise<Gateway> {
  const port = await freePort();
  const base = mkdtempSync(path.join(os.tmpdir(), 'mdso-test-'));
  const runDir = path.join(base, 'run');
  const tmpDir = path.join(base, 'tmp');
  mkdirSync(tmpDir);
  const fullEnv: Record<string, string | undefined> = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      NODE_ENV: 'test',
      PORT: String(port),
      HOST: '127.0.0.1',
      API_KEY,
      RUN_DIR: runDir,
      SIDECAR_TMP_DIR: tmpDir,
      JOB_DATA_DIR: path.join(base, 'jobs'),
      WORKERS: '1',
      // Tests name the service they exercise (the default, hybrid, has tests of its own).
      ENABLED_SERVICES: 'tesseract',
      LOG_LEVEL: 'debug',
      HEALTH_POLL_MS: '300',
      SIDECAR_BACKOFF_MS: '100',
      DOTENV_CONFIG_PATH: '/nonexistent',
      ...env,
  };
  // undefined removes a variable (unset), '' keeps it set but empty.
  for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k];
  const main = path.join(ROOT, 'dist', 'gateway', 'src', 'main.js');
  const [command, args] =
    options.openFiles === undefined
      ? [process.execPath, [main]]
      : ['bash', ['-c', `ulimit -n ${options.openFiles} && exec "$0" "$@"`, process.execPath, main]];
  const proc = spawn(command, args, {
    cwd: ROOT,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  const gw: Gateway = {
    url,
    proc,
    runDir,
    tmpDir,
    logs: () => output,
    exited,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      // A bound, not a deadline (a draining gateway finishes its requests, slowly on a busy machine).
      // Unref'd: a pending timer would keep the test process alive after every stop.
      const code = await Promise.race([exited, sleep(STOP_BOUND_MS, 'timeout' as const, { ref: false })]);
      if (code === 'timeout') {
        proc.kill('SIGKILL');
        rmSync(base, { recursive: true, force: true });
        throw new Error(`gateway did not stop within ${STOP_BOUND_MS / 1000} s\n${output.slice(-3000)}`);
      }
      rmSync(base, { recursive: true, force: true });
      if (code !== 0) process.stderr.write(`gateway exited ${String(code)}; last output:\n${output.slice(-4000)}\n`);
      return code;
    },
  };
  if (options.waitReady ?? true) {
    try {
      await waitFor(gw, async () => (await fetch(`${url}/livez`)).ok, 60_000);
    } catch (err) {
      // Not left running behind a failed start (the caller has no gateway to stop).
      await gw.stop().catch(() => undefined);
      throw err;
    }
  }
  return gw;
}

export async function waitFor(gw: Gateway | null, probe: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (gw !== null && gw.proc.exitCode !== null) throw new Error(`gateway exited (${gw.proc.exitCode})\n${gw.logs().slice(-3000)}`);
    try {
      if (await probe()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms\n${gw?.logs().slice(-3000) ?? ''}`);
    await sleep(100);
  }
}

export function ocrForm(content: Buffer, filename: string, type: string, field = 'file'): FormData {
  const form = new FormData();
  form.append(field, new Blob([new Uint8Array(content)], { type }), filename);
  return form;
}

export async function postOcr(
  gw: Gateway,
  service: string,
  body: FormData | Uint8Array,
  opts: { query?: string; headers?: Record<string, string>; signal?: AbortSignal } = {},
): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}/ocr/${service}${opts.query ?? ''}`, {
    method: 'POST',
    headers: { 'x-api-key': API_KEY, ...opts.headers },
    body: body instanceof FormData ? body : new Uint8Array(body),
    signal: opts.signal,
  });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new Error(`non-JSON answer ${res.status}: ${text.slice(0, 300)}`);
  }
  return { status: res.status, headers: res.headers, json };
}

export async function getJson(gw: Gateway, p: string, key: string | null = API_KEY): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}${p}`, { headers: key === null ? {} : { 'x-api-key': key } });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Whether a process id is alive (signal 0). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A PDF of `pages` scanned-looking pages (each one the client's Devis_test.png), built with the
 * sidecars' own Pillow: long enough to still be in OCR while a test acts on it.
 */
export function longScannedPdf(pages: number): Buffer {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-pdf-'));
  const out = path.join(dir, 'long.pdf');
  const script = [
    'import sys',
    'from PIL import Image',
    'img = Image.open(sys.argv[1]).convert("RGB")',
    'img.save(sys.argv[2], save_all=True, append_images=[img] * (int(sys.argv[3]) - 1), resolution=75)',
  ].join('\n');
  const r = spawnSync(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', script, path.join(FIXTURES, 'client', 'Devis_test.png'), out, String(pages)], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`could not build the test PDF: ${r.stderr}`);
  const pdf = readFileSync(out);
  rmSync(dir, { recursive: true, force: true });
  return pdf;
}
