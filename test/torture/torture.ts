// scripts/torture: the real gateway (compiled dist/, real tesseract sidecar) on a free loopback port,
// put through bad input, faults and load, bounded in count and time; prints one table and exits 0
// when every case passed. Reuses the end-to-end harness (test/helpers). Not a node:test file: run
// it with scripts/torture.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_KEY, type Gateway, alive, fixture, getJson, longScannedPdf, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';
import { HOSTILE_CASES, type HostileInputs, filesUnder, makeHostileInputs, runHostileCase, sidecarHealth, uploadThenDisconnect } from '../helpers/hostile-inputs.js';

const TOTAL_BUDGET_MS = 170_000;
const LOAD_TOTAL = Number(process.env.TORTURE_LOAD_REQUESTS ?? 300);
const LOAD_CONCURRENCY = Number(process.env.TORTURE_CONCURRENCY ?? 50);

interface Row {
  category: string;
  cases: number;
  passed: number;
  sent: number;
  answered: number;
  /** Requests dropped on purpose (the client left) or by the fault itself (its worker was killed). */
  dropped: number;
  tempLeft: number;
  ms: number;
  failures: string[];
}

const rows: Row[] = [];
const gateways: Gateway[] = [];

function row(category: string): Row {
  const r: Row = { category, cases: 0, passed: 0, sent: 0, answered: 0, dropped: 0, tempLeft: 0, ms: 0, failures: [] };
  rows.push(r);
  return r;
}

/** Runs one case: counts it, records its failure message, never throws. */
async function check(r: Row, name: string, body: () => Promise<void>, verbose = true): Promise<void> {
  r.cases += 1;
  const started = Date.now();
  try {
    await body();
    r.passed += 1;
    if (verbose) log(`  ok   ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    r.failures.push(`${name}: ${message.split('\n').slice(0, 4).join(' | ')}`);
    log(`  FAIL ${name}: ${message.split('\n')[0] ?? ''}`);
  }
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

async function start(env: Record<string, string>): Promise<Gateway> {
  const gw = await startGateway({ LOG_LEVEL: 'info', ...env });
  gateways.push(gw);
  return gw;
}

async function idleAndClean(gw: Gateway): Promise<number> {
  await waitFor(gw, async () => (await sidecarHealth(gw)).in_flight.length === 0, 15_000).catch(() => undefined);
  // The sidecar removes a file as soon as its request ends; give the last ones a moment.
  await waitFor(gw, () => Promise.resolve(filesUnder(gw.tmpDir).length === 0), 5_000).catch(() => undefined);
  return filesUnder(gw.tmpDir).length;
}

async function readPng(gw: Gateway, r: Row): Promise<void> {
  r.sent += 1;
  const ok = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
  r.answered += 1;
  expect(ok.status === 200 && /12345678900000/.test(String(ok.json.text)), `next request: ${ok.status} ${JSON.stringify(ok.json).slice(0, 200)}`);
}

// -- bad input -------------------------------------------------------------------------------------

async function badInput(gw: Gateway, inputs: HostileInputs): Promise<void> {
  const r = row('bad input');
  const started = Date.now();
  const before = await sidecarHealth(gw);
  for (const c of HOSTILE_CASES) {
    await check(r, c.name, async () => {
      r.sent += 1;
      const outcome = await runHostileCase(gw, inputs, c);
      if (outcome.answered) r.answered += 1;
      expect(outcome.ok, outcome.detail);
    });
  }
  await check(r, 'same sidecar, no restart', async () => {
    const after = await sidecarHealth(gw);
    expect(after.pid === before.pid && after.restarts === 0 && after.state === 'ready', `sidecar ${JSON.stringify(after)}`);
  });
  r.tempLeft = await idleAndClean(gw);
  r.ms = Date.now() - started;
}

// -- load ------------------------------------------------------------------------------------------

async function load(gw: Gateway, inputs: HostileInputs): Promise<void> {
  const r = row('load');
  const started = Date.now();
  const before = await sidecarHealth(gw);
  type Kind = 'png' | 'pdf' | 'zip' | 'empty' | 'bomb' | 'html' | '3000-pages' | 'services' | 'health';
  const kinds: Kind[] = ['png', 'pdf', 'zip', 'empty', 'bomb', 'html', '3000-pages', 'services', 'health', 'png'];
  const files: Partial<Record<Kind, Buffer>> = {
    png: fixture('client', 'Devis_test.png'),
    pdf: fixture('client', 'Devis_test.pdf'),
    zip: inputs.read('zip-named.pdf'),
    empty: Buffer.alloc(0),
    bomb: inputs.read('bomb.png'),
    html: inputs.read('page.html'),
    '3000-pages': inputs.read('3000-pages.pdf'),
  };
  const expected: Record<Kind, number> = { png: 200, pdf: 200, zip: 415, empty: 422, bomb: 422, html: 415, '3000-pages': 422, services: 200, health: 200 };
  const counts = new Map<string, number>();
  let next = 0;
  const one = async (i: number): Promise<void> => {
    const kind = kinds[i % kinds.length] as Kind;
    await check(r, `#${i} ${kind}`, async () => {
      r.sent += 1;
      let status: number;
      let json: Record<string, unknown>;
      let retryAfter: string | null = null;
      if (kind === 'services' || kind === 'health') {
        ({ status, json } = await getJson(gw, `/${kind}`));
      } else {
        const res = await postOcr(gw, 'tesseract', ocrForm(files[kind] as Buffer, `f-${i}.pdf`, 'application/octet-stream'), {
          headers: { 'x-request-id': `torture-load-${i}` },
          signal: AbortSignal.timeout(60_000),
        });
        ({ status, json } = res);
        retryAfter = res.headers.get('retry-after');
      }
      r.answered += 1;
      counts.set(`${kind} ${status}`, (counts.get(`${kind} ${status}`) ?? 0) + 1);
      if (status === 503 && kind !== 'services' && kind !== 'health') {
        // The queue is full: a fast, explicit refusal is the right answer under this load.
        expect(retryAfter !== null && json.type === 'QueueFull', `503 without Retry-After/QueueFull: ${JSON.stringify(json).slice(0, 200)}`);
        return;
      }
      expect(status === expected[kind], `${kind}: expected ${expected[kind]}, got ${status} ${JSON.stringify(json).slice(0, 200)}`);
      if (kind === 'png' || kind === 'pdf') expect(/12345678900000/.test(String(json.text)), `${kind}: wrong text`);
    }, false);
  };
  await Promise.all(
    Array.from({ length: LOAD_CONCURRENCY }, async () => {
      while (next < LOAD_TOTAL) await one(next++);
    }),
  );
  log(`  load answers: ${JSON.stringify(Object.fromEntries([...counts].sort()))}`);
  await check(r, 'OCR got through under load', () => {
    const read = (counts.get('png 200') ?? 0) + (counts.get('pdf 200') ?? 0);
    expect(read >= 8, `only ${read} documents read`);
    return Promise.resolve();
  });
  await check(r, 'same sidecar, no restart, healthy', async () => {
    const after = await sidecarHealth(gw);
    expect(after.pid === before.pid && after.restarts === 0, `sidecar ${JSON.stringify(after)}`);
    expect((await getJson(gw, '/health')).json.status === 'healthy', 'not healthy');
  });
  r.tempLeft = await idleAndClean(gw);
  r.ms = Date.now() - started;
}

// -- faults ----------------------------------------------------------------------------------------

let longPdf: Buffer | undefined;
const longDocument = () => ocrForm((longPdf ??= longScannedPdf(24)), 'long.pdf', 'application/pdf');

function workerPids(gw: Gateway): number[] {
  return spawnSync('pgrep', ['-P', String(gw.proc.pid), '-f', 'mdso-ocr:worker'], { encoding: 'utf8' })
    .stdout.split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

/** POST the PNG on a new connection (no keep-alive pool): the cluster spreads these over the workers. */
async function postFresh(gw: Gateway): Promise<number> {
  const encoded = new Response(ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
  const body = Buffer.from(await encoded.arrayBuffer());
  return new Promise((resolve, reject) => {
    const req = request(
      `${gw.url}/ocr/tesseract`,
      {
        method: 'POST',
        agent: false,
        headers: { 'x-api-key': API_KEY, 'content-type': encoded.headers.get('content-type') ?? '', 'content-length': body.length },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function faults(gw: Gateway): Promise<void> {
  const r = row('faults');
  const started = Date.now();

  await check(r, 'client leaves mid-upload', async () => {
    const id = 'torture-half-upload';
    r.sent += 1;
    r.dropped += 1;
    await uploadThenDisconnect(gw, {
      requestId: id,
      totalBytes: 20 * 1024 * 1024,
      sendBytes: 10 * 1024 * 1024,
      until: () => Promise.resolve(filesUnder(gw.tmpDir).some((f) => (statSync(f, { throwIfNoEntry: false })?.size ?? 0) > 1024 * 1024)),
    });
    await waitFor(gw, () => Promise.resolve(gw.logs().split('\n').some((l) => l.includes(id) && l.includes('request cancelled'))), 10_000);
    expect((await idleAndClean(gw)) === 0, 'its spool file was left');
    await readPng(gw, r);
  });

  await check(r, 'client leaves during OCR', async () => {
    const id = 'torture-leaver';
    const controller = new AbortController();
    r.sent += 1;
    r.dropped += 1;
    const pending = postOcr(gw, 'tesseract', longDocument(), { headers: { 'x-request-id': id }, signal: controller.signal }).then(
      () => 'answered',
      () => 'aborted',
    );
    await waitFor(gw, async () => (await sidecarHealth(gw)).in_flight.length > 0, 15_000);
    controller.abort();
    expect((await pending) === 'aborted', 'the aborted request was answered');
    await waitFor(gw, () => Promise.resolve(gw.logs().split('\n').some((l) => l.includes(id) && l.includes('request cancelled'))), 15_000);
    expect((await idleAndClean(gw)) === 0, 'its spool file was left');
    await readPng(gw, r);
  });

  await check(r, 'worker SIGKILL: respawned, requests keep being answered', async () => {
    await waitFor(gw, () => Promise.resolve(workerPids(gw).length === 2), 10_000);
    const victim = workerPids(gw)[0] as number;
    // Requests in flight on both workers while one dies: those it held are lost with it (dropped),
    // the other worker's are answered; then the pool is whole again and every request is answered.
    let answered = 0;
    const inFlight = Array.from({ length: 6 }, () => {
      r.sent += 1;
      return postFresh(gw).then(
        (status) => {
          r.answered += 1;
          answered += 1;
          expect(status === 200 || status === 503, `in-flight request: ${status}`);
        },
        () => {
          r.dropped += 1;
        },
      );
    });
    await sleep(150);
    process.kill(victim, 'SIGKILL');
    await Promise.all(inFlight);
    expect(answered > 0, 'the surviving worker answered none of its requests');
    await waitFor(gw, () => Promise.resolve(workerPids(gw).length === 2 && !workerPids(gw).includes(victim)), 15_000);
    for (let i = 0; i < 6; i += 1) await readPng(gw, r);
  });

  await check(r, 'sidecar SIGKILL mid-request: 503 + Retry-After, restarted, next request read', async () => {
    const before = await sidecarHealth(gw);
    expect(before.pid !== null, 'no sidecar pid');
    r.sent += 1;
    const pending = postOcr(gw, 'tesseract', longDocument());
    await waitFor(gw, async () => (await sidecarHealth(gw)).in_flight.length > 0, 15_000);
    process.kill(before.pid, 'SIGKILL');
    const res = await pending;
    r.answered += 1;
    expect(res.status === 503 && Number(res.headers.get('retry-after')) > 0, `got ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`);
    await waitFor(gw, async () => {
      const s = await sidecarHealth(gw);
      return s.state === 'ready' && s.restarts === before.restarts + 1;
    }, 30_000);
    await readPng(gw, r);
  });
  r.tempLeft = await idleAndClean(gw);
  r.ms = Date.now() - started;
}

async function hang(): Promise<void> {
  const r = rows.find((x) => x.category === 'faults') ?? row('faults');
  const started = Date.now();
  // Its own gateway: a 2 s TIMEOUT, and the supervisor kills a sidecar after 10 missed polls (3 s).
  const gw = await start({ TIMEOUT: '2', HEALTH_FAILURES_BEFORE_RESTART: '10', HEALTH_POLL_MS: '300' });
  await check(r, 'sidecar SIGSTOP: 504 at TIMEOUT, hung sidecar killed and restarted', async () => {
    const before = await sidecarHealth(gw);
    expect(before.pid !== null, 'no sidecar pid');
    process.kill(before.pid, 'SIGSTOP');
    r.sent += 1;
    const t = Date.now();
    const res = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    r.answered += 1;
    expect(res.status === 504 && res.json.type === 'Timeout', `got ${res.status} ${JSON.stringify(res.json).slice(0, 200)}`);
    expect(Date.now() - t < 5000, `answered after ${Date.now() - t} ms`);
    await waitFor(gw, async () => {
      const s = await sidecarHealth(gw);
      return s.state === 'ready' && s.pid !== before.pid;
    }, 30_000);
    expect(!alive(before.pid), 'the hung sidecar is still alive');
    await readPng(gw, r);
  });
  r.tempLeft += await idleAndClean(gw);
  r.ms += Date.now() - started;
}

// -- main ------------------------------------------------------------------------------------------

function table(): string {
  const head = ['category', 'cases', 'passed', 'requests sent', 'answered', 'dropped*', 'temp files left', 'seconds'];
  const body = rows.map((r) => [r.category, r.cases, r.passed, r.sent, r.answered, r.dropped, r.tempLeft, (r.ms / 1000).toFixed(1)].map(String));
  const all = [head, ...body];
  const widths = head.map((_, i) => Math.max(...all.map((cells) => (cells[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

async function main(): Promise<number> {
  const started = Date.now();
  const inputs = makeHostileInputs();
  try {
    log('bad input');
    const gw = await start({ WORKERS: '2', SIDECAR_MAX_QUEUE: '16' });
    await badInput(gw, inputs);
    log('load');
    await load(gw, inputs);
    log('faults');
    await faults(gw);
    await hang();
  } finally {
    inputs.remove();
    for (const gw of gateways) {
      const code = await gw.stop().catch((err: unknown) => String(err));
      if (code !== 0) rows.push({ category: `gateway stop: ${String(code)}`, cases: 1, passed: 0, sent: 0, answered: 0, dropped: 0, tempLeft: 0, ms: 0, failures: [] });
    }
  }
  process.stdout.write(`\n${table()}\n* dropped: requests whose client left on purpose, or whose worker was killed under them\n`);
  const failures = rows.flatMap((r) => r.failures.map((f) => `[${r.category}] ${f}`));
  const failed = rows.some((r) => r.passed !== r.cases || r.tempLeft !== 0);
  if (failures.length > 0) process.stdout.write(`\nfailures:\n${failures.join('\n')}\n`);
  process.stdout.write(`\n${failed ? 'FAILED' : 'all passed'} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  return failed ? 1 : 0;
}

const watchdog = setTimeout(() => {
  process.stdout.write(`\n${table()}\n\ntorture: over the ${TOTAL_BUDGET_MS / 1000} s budget; stopping\n`);
  for (const gw of gateways) gw.proc.kill('SIGKILL');
  process.exit(1);
}, TOTAL_BUDGET_MS);
watchdog.unref();

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stdout.write(`\n${table()}\n\ntorture: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
