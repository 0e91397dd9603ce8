// End to end: the gateway's process life — sidecar crash and restart, crash loops, shutdown under
// a request, configuration errors, generated keys, worker recycling.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { API_KEY, ROOT, type Gateway, alive, freePort, fixture, getJson, longScannedPdf, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';

type Sidecars = Record<string, { state: string; pid: number | null; restarts: number; message: string | null; in_flight: unknown[] }>;

async function sidecar(gw: Gateway, name = 'tesseract') {
  const r = await getJson(gw, '/health');
  const s = (r.json.sidecars as Sidecars)[name];
  assert.ok(s);
  return s;
}

// Long enough (a few seconds of OCR on 2 cores) to act on it while the sidecar works.
const LONG_PAGES = 24;
let longPdf: Buffer | undefined;
const longDocument = () => ocrForm((longPdf ??= longScannedPdf(LONG_PAGES)), 'long.pdf', 'application/pdf');

/** POST /ocr/tesseract over node:http from a given local port (fetch hides its sockets). */
async function postFromPort(gw: Gateway, form: FormData, localPort: number): Promise<{ status: number; json: Record<string, unknown> }> {
  const encoded = new Response(form);
  const body = Buffer.from(await encoded.arrayBuffer());
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(port),
        localPort,
        method: 'POST',
        path: '/ocr/tesseract',
        headers: { 'x-api-key': API_KEY, 'content-type': encoded.headers.get('content-type') ?? '', 'content-length': body.length },
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(data) as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('sidecar faults', () => {
  it('answers 503 with Retry-After when the sidecar is killed mid-request, restarts it, and serves the next request', async () => {
    const gw = await startGateway();
    try {
      const before = await sidecar(gw);
      assert.ok(before.pid !== null);
      const pending = postOcr(gw, 'tesseract', longDocument());
      // Kill it once the request is really inside the sidecar.
      await waitFor(gw, async () => (await sidecar(gw)).in_flight.length > 0, 10_000);
      process.kill(before.pid, 'SIGKILL');
      const r = await pending;
      assert.equal(r.status, 503, JSON.stringify(r.json));
      assert.ok(Number(r.headers.get('retry-after')) > 0);
      assert.match(String(r.json.error), /restart/);

      await waitFor(gw, async () => {
        const s = await sidecar(gw);
        return s.state === 'ready' && s.restarts === 1;
      }, 30_000);
      const after = await sidecar(gw);
      assert.notEqual(after.pid, before.pid);
      const ok = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(ok.status, 200);
      assert.match(String(ok.json.text), /12345678900000/);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  it('marks a sidecar that keeps crashing as failed, says why, and answers its requests 503', async () => {
    // A "python" that dies at once: every start crashes.
    const gw = await startGateway({ PYTHON: '/bin/false', SIDECAR_MAX_RESTARTS: '2', SIDECAR_BACKOFF_MS: '50' });
    try {
      const s = await sidecar(gw);
      assert.equal(s.state, 'failed');
      assert.match(String(s.message), /crashed 3 times/);
      const health = await getJson(gw, '/health');
      assert.equal(health.json.status, 'degraded');
      assert.deepEqual((await getJson(gw, '/services')).json.services, []);
      const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(r.status, 503);
      assert.match(String(r.json.error), /has failed: crashed/);
      assert.equal((await getJson(gw, '/readyz', null)).status, 503);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  it('reports a sidecar whose language data is missing as unavailable, with the directory searched', async () => {
    const gw = await startGateway({ TESSERACT_LANG: 'xyz' });
    try {
      const s = await sidecar(gw);
      assert.equal(s.state, 'unavailable');
      assert.match(String(s.message), /xyz/);
      assert.match(String(s.message), /tessdata/);
      const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(r.status, 503);
      assert.match(String(r.json.error), /unavailable/);
      assert.deepEqual((await getJson(gw, '/services')).json.services, []);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('hangs and worker crashes', () => {
  it('answers 503 while a sidecar hangs (SIGSTOP), then the supervisor kills and restarts it', async () => {
    // No short TIMEOUT: the final request must not depend on how fast this machine reads a page.
    const gw = await startGateway({ HEALTH_FAILURES_BEFORE_RESTART: '3', HEALTH_POLL_MS: '300' });
    try {
      const before = await sidecar(gw);
      const pid = before.pid;
      assert.ok(pid !== null);
      process.kill(pid, 'SIGSTOP');
      // Seen at the first missed health poll: requests are refused at once, not left to hang.
      await waitFor(gw, async () => (await sidecar(gw)).state === 'unresponsive' || !alive(pid), 30_000);
      const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(r.status, 503, JSON.stringify(r.json));
      await waitFor(gw, async () => {
        const s = await sidecar(gw);
        return s.state === 'ready' && s.restarts >= 1 && s.pid !== before.pid;
      }, 30_000);
      assert.equal(alive(pid), false, 'the hung process was killed');
      const ok = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(ok.status, 200);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  it('respawns a crashed worker while the other worker finishes its request', async () => {
    const gw = await startGateway({ WORKERS: '2' });
    try {
      const workers = () =>
        spawnSync('pgrep', ['-P', String(gw.proc.pid), '-f', 'mdso-ocr:worker'], { encoding: 'utf8' })
          .stdout.split('\n')
          .filter((l) => l.trim() !== '')
          .map(Number);
      await waitFor(gw, () => Promise.resolve(workers().length === 2), 10_000);
      // Sent from a known client port, to find which worker holds the connection.
      const clientPort = await freePort();
      const pending = postFromPort(gw, longDocument(), clientPort);
      await waitFor(gw, async () => (await sidecar(gw)).in_flight.length > 0, 10_000);
      // The worker holding the client's connection serves the request: kill the other one.
      const port = new URL(gw.url).port;
      const holders = spawnSync('ss', ['-Htnp', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' }).stdout;
      const line = holders.split('\n').find((l) => l.includes(`:${clientPort} `));
      const serving = workers().filter((pid) => line?.includes(`pid=${pid},`));
      assert.equal(serving.length, 1, holders);
      const victim = workers().find((pid) => pid !== serving[0]);
      assert.ok(victim !== undefined);
      process.kill(victim, 'SIGKILL');
      await waitFor(gw, () => Promise.resolve(workers().length === 2 && !workers().includes(victim)), 15_000);
      const r = await pending;
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.page_count, LONG_PAGES);
      const ok = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(ok.status, 200);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('timeouts and departed clients', () => {
  it('answers 504 after TIMEOUT and the sidecar stops reading the remaining pages', async () => {
    const gw = await startGateway({ TIMEOUT: '2' });
    try {
      const started = Date.now();
      const r = await postOcr(gw, 'tesseract', longDocument());
      assert.equal(r.status, 504, JSON.stringify(r.json));
      assert.equal(r.json.type, 'Timeout');
      assert.ok(Date.now() - started < 6000, 'answered at the deadline, not after the whole document');
      await waitFor(gw, async () => (await sidecar(gw)).in_flight.length === 0, 10_000);
      await waitFor(gw, () => Promise.resolve(/request cancelled|deadline/i.test(gw.logs())), 10_000);
      const ok = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(ok.status, 200, 'the sidecar serves the next request');
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  it('cancels the sidecar work when the client disconnects during OCR', async () => {
    const gw = await startGateway();
    try {
      const controller = new AbortController();
      const pending = postOcr(gw, 'tesseract', longDocument(), { signal: controller.signal });
      await waitFor(gw, async () => (await sidecar(gw)).in_flight.length > 0, 10_000);
      controller.abort();
      await assert.rejects(pending);
      await waitFor(gw, () => Promise.resolve(/request cancelled/.test(gw.logs())), 10_000);
      const s = await sidecar(gw);
      assert.equal(s.restarts, 0, 'no crash, just cancellation');
      // The access log says the client went away (499), and nothing was answered to nobody.
      assert.match(gw.logs(), /"status":499/);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('shutdown and workers', () => {
  it('lets a request finish on SIGTERM, then exits 0 with no sidecar left', async () => {
    // The grace outlasts the request however slow this machine is: the test is about draining.
    const gw = await startGateway({ WORKERS: '2', SHUTDOWN_GRACE: '600' });
    const pid = (await sidecar(gw)).pid;
    assert.ok(pid !== null);
    const pending = postOcr(gw, 'tesseract', longDocument());
    await waitFor(gw, async () => (await sidecar(gw)).in_flight.length > 0, 10_000);
    const exitCode = gw.stop();
    const r = await pending;
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.page_count, LONG_PAGES);
    assert.equal(await exitCode, 0);
    assert.equal(alive(pid), false, 'the sidecar is gone');
  });

  it('under load, SIGTERM lets accepted requests finish, refuses new ones cleanly and leaves nothing running', async () => {
    const gw = await startGateway({ WORKERS: '2', SIDECAR_MAX_QUEUE: '6', SHUTDOWN_GRACE: '600' });
    const pid = (await sidecar(gw)).pid;
    assert.ok(pid !== null);
    const png = fixture('client', 'Devis_test.png');
    const send = () =>
      postOcr(gw, 'tesseract', ocrForm(png, 'a.png', 'image/png')).then(
        (r) => ({ status: r.status, text: typeof r.json.text === 'string' ? r.json.text : '', retryAfter: r.headers.get('retry-after') }),
        (err: unknown) => ({ status: 0, text: String((err as { cause?: { code?: string } }).cause?.code ?? err), retryAfter: null }),
      );
    const first = Array.from({ length: 12 }, send);
    await waitFor(gw, async () => (await sidecar(gw)).in_flight.length > 0, 10_000);
    const stopping = gw.stop();
    await sleep(300);
    const late = Array.from({ length: 6 }, send);
    const answers = await Promise.all(first);
    for (const a of answers) {
      // Accepted before SIGTERM: read to the end, or refused at once by the full queue.
      assert.ok(a.status === 200 || (a.status === 503 && a.retryAfter !== null), JSON.stringify(a));
      if (a.status === 200) assert.match(a.text, /12345678900000/);
    }
    assert.ok(answers.some((a) => a.status === 200));
    for (const a of await Promise.all(late)) {
      // Sent after SIGTERM: refused cleanly (connection refused), or still served while draining.
      assert.ok(a.status === 0 ? /ECONNREFUSED|ECONNRESET|fetch failed/.test(a.text) : a.status === 200 || a.status === 503, JSON.stringify(a));
    }
    assert.equal(await stopping, 0);
    assert.equal(alive(pid), false);
  });

  it('leaves no sidecar or worker behind when the primary is killed outright (SIGKILL)', async () => {
    const gw = await startGateway({ WORKERS: '2' });
    const pid = (await sidecar(gw)).pid;
    assert.ok(pid !== null);
    const children = spawnSync('pgrep', ['-P', String(gw.proc.pid)], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter((l) => l.trim() !== '')
      .map(Number);
    assert.ok(children.length >= 3, 'two workers and a sidecar');
    gw.proc.kill('SIGKILL');
    await gw.exited;
    await waitFor(null, () => Promise.resolve(children.every((c) => !alive(c))), 15_000);
    await gw.stop();
  });

  it('refuses new connections once draining', async () => {
    const gw = await startGateway();
    assert.equal(await gw.stop(), 0);
    await assert.rejects(fetch(`${gw.url}/livez`));
  });

  it('recycles a worker after MAX_REQUESTS without dropping requests', async () => {
    const gw = await startGateway({ MAX_REQUESTS: '3' });
    try {
      for (let i = 0; i < 8; i += 1) {
        const r = await getJson(gw, '/services');
        assert.equal(r.status, 200);
      }
      await waitFor(gw, () => Promise.resolve(/recycling worker/.test(gw.logs())), 10_000);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('start-up configuration', () => {
  const main = path.join(ROOT, 'dist', 'gateway', 'src', 'main.js');
  const run = (env: Record<string, string>) =>
    spawnSync(process.execPath, [main], { env: { PATH: process.env.PATH ?? '', DOTENV_CONFIG_PATH: '/nonexistent', ...env }, encoding: 'utf8', timeout: 20_000 });

  it('stops with one line naming an invalid variable', () => {
    const r = run({ WORKERS: 'many' });
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /WORKERS/);
  });

  it('refuses to start in production without API_KEY', () => {
    const r = run({ NODE_ENV: 'production' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /API_KEY/);
  });

  it('generates and prints a key when none is set outside production, and serves the default service with it', async () => {
    // What `npm start` gets on a bare machine: no key, no ENABLED_SERVICES.
    const gw = await startGateway({ API_KEY: undefined, ENABLED_SERVICES: undefined });
    try {
      const key = /x-api-key: (\S+)/.exec(gw.logs())?.[1];
      assert.ok(key !== undefined, gw.logs());
      await waitFor(gw, async () => (await getJson(gw, '/readyz', null)).status === 200, 60_000);
      const services = await getJson(gw, '/services', key);
      assert.deepEqual(services.json.services, ['hybrid']);
      const r = await postOcr(gw, 'hybrid', ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'), { headers: { 'x-api-key': key } });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.match(String(r.json.text), /SIRET 12345678900000/);
      assert.equal(gw.logs().split(key).length - 1, 1, 'printed once, never logged again');
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });

  it('reads .env files without overriding the real environment', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const os = await import('node:os');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-env-'));
    const file = path.join(dir, '.env');
    writeFileSync(file, 'API_KEY=from-dotenv\nWORKERS=many\n');
    // WORKERS from the file is invalid, but the real environment's value wins.
    const gw = await startGateway({ DOTENV_CONFIG_PATH: file, API_KEY: undefined, WORKERS: '1' });
    try {
      await sleep(100);
      assert.equal((await getJson(gw, '/services', 'from-dotenv')).status, 200);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});
