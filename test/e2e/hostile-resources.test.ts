// End to end: attacks on the gateway's resources rather than its parsers — option values built to
// make a pattern backtrack, a frozen worker, uploads that trickle, silent connections, running out
// of file descriptors, a removed sidecar socket, keep-alive clients across worker recycling. Each
// test fails on a gateway without the matching defence (it hangs, answers 503, or loses requests);
// none depends on the machine's speed: every wait is for a state, bounded only to end a broken run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { API_KEY, type Gateway, alive, fixture, getJson, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';

const PNG = (): FormData => ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png');

interface SidecarView {
  state: string;
  pid: number;
  restarts: number;
  message: string | null;
}

async function sidecar(gw: Gateway): Promise<SidecarView> {
  const h = await getJson(gw, '/health');
  return (h.json.sidecars as Record<string, SidecarView>).tesseract as SidecarView;
}

/** The gateway's worker processes (node children of the primary; sidecars are python). */
function workerPids(gw: Gateway): number[] {
  const out = spawnSync('pgrep', ['-P', String(gw.proc.pid), '-f', 'mdso-ocr:worker'], { encoding: 'utf8' }).stdout;
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number);
}

/** Opens a connection and resolves once it is established. */
function openSocket(gw: Gateway): Promise<Socket> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const s = connect(Number(port), '127.0.0.1');
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/**
 * The head of a multipart upload to /ocr/tesseract whose file part has begun: what a client on a
 * dying connection has sent when it stalls.
 */
function uploadHead(boundary = 'Tr1ckle'): string {
  const partHead = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.png"\r\nContent-Type: image/png\r\n\r\n`;
  return (
    `POST /ocr/tesseract HTTP/1.1\r\nHost: x\r\nx-api-key: ${API_KEY}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
    `Content-Length: 10000000\r\n\r\n${partHead}`
  );
}

/** Collects what the server sends on a socket until it closes it. */
function collect(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(data));
  });
}

describe('option values cannot stall a worker', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  // Shapes that make a backtracking pattern explode, at the cap and past it, for every option.
  const adversarial = (n: number): string[] => [
    // "1-  ," splits its two spaces three ways in `-\s*\d*\s*`: 3^groups steps for a backtracking
    // pattern once the last character fails (80 characters took 2 s, 200 never returned).
    `${'1-  ,'.repeat(Math.floor(n / 2.5))}x`,
    `${'1 -   ,'.repeat(Math.floor(n / 3.5))}-`,
    `${'1,'.repeat(n)}x`,
    `${'1-'.repeat(n)}x`,
    `${'1 -1 ,'.repeat(Math.floor(n / 2))}!`,
    `${' 1'.repeat(n)},`,
    `${'9'.repeat(2 * n)}-a`,
    '1,'.repeat(10 * n),
  ];
  for (const option of ['pages', 'page_range', 'lang', 'mode', 'layout', 'format', 'force_ocr', 'no_such_option']) {
    it(`answers 400 to long adversarial values of '${option}', and stays responsive`, async () => {
      for (const value of [...adversarial(99), ...adversarial(40)]) {
        const r = await postOcr(gw, 'tesseract', PNG(), { query: `?${option}=${encodeURIComponent(value)}` });
        assert.equal(r.status, 400, `${option}=${value.slice(0, 40)}…: ${JSON.stringify(r.json)}`);
        assert.ok(String(r.json.error).includes(option), String(r.json.error));
      }
      assert.equal((await fetch(`${gw.url}/livez`)).status, 200);
    });
  }

  it('names the service plainly: other spellings of the path are 404', async () => {
    for (const p of ['/OCR/tesseract', '/ocr/tesseract/', '/ocr/%74esseract', '/Ocr/Tesseract']) {
      const r = await fetch(`${gw.url}${p}`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: PNG() });
      assert.equal(r.status, 404, p);
      const body = (await r.json()) as { type: string };
      assert.ok(body.type === 'NotFound' || body.type === 'ServiceNotFound', p);
    }
    for (const p of ['/HEALTH', '/health/']) assert.equal((await fetch(`${gw.url}${p}`, { headers: { 'x-api-key': API_KEY } })).status, 404, p);
    // A browser on /docs asks for the icon without a key: no 401 in its console.
    assert.equal((await fetch(`${gw.url}/favicon.ico`)).status, 204);
  });
});

describe('a worker whose event loop stops turning', () => {
  it('is killed and replaced by the primary (WORKER_STALL_TIMEOUT)', async () => {
    const gw = await startGateway({ WORKER_STALL_TIMEOUT: '3' });
    try {
      await waitFor(gw, () => Promise.resolve(workerPids(gw).length === 1), 20_000);
      const [frozen] = workerPids(gw);
      assert.ok(frozen !== undefined);
      // SIGSTOP freezes it as a runaway synchronous loop would: no timer, no I/O, no /livez.
      process.kill(frozen, 'SIGSTOP');
      try {
        await waitFor(gw, () => Promise.resolve(workerPids(gw).length === 1 && !workerPids(gw).includes(frozen)), 60_000);
      } finally {
        if (alive(frozen)) process.kill(frozen, 'SIGKILL'); // never left behind, stopped, by a failed run
      }
      await waitFor(gw, async () => (await fetch(`${gw.url}/livez`)).ok, 30_000);
      const r = await postOcr(gw, 'tesseract', PNG());
      assert.equal(r.status, 200);
      assert.match(gw.logs(), /worker event loop stalled; killing it/);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('uploads that stall or trickle', () => {
  let gw: Gateway;
  before(async () => {
    // Four request slots in the sidecar; uploads must bring 1000 bytes in each 2 s window.
    gw = await startGateway({ SIDECAR_MAX_QUEUE: '4', UPLOAD_RATE_WINDOW: '2', UPLOAD_MIN_RATE: '500' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('take no OCR slot, are cut with 408, and never starve a complete upload', async () => {
    const slow: Socket[] = [];
    const answers: Promise<string>[] = [];
    for (let i = 0; i < 8; i += 1) {
      const s = await openSocket(gw);
      answers.push(collect(s));
      s.write(uploadHead());
      s.write(Buffer.from([0x89, 0x50, 0x4e, 0x47]));
      slow.push(s);
    }
    // A few bytes now and then: far below the minimum rate.
    const trickle = setInterval(() => {
      for (const s of slow) if (!s.destroyed) s.write('x');
    }, 700);
    try {
      // Twice the sidecar's slots are trickling: a complete upload is still read at once.
      const r = await postOcr(gw, 'tesseract', PNG());
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.match(String(r.json.text), /SIRET/);
      const got = await Promise.all(answers);
      for (const a of got) {
        assert.match(a, /^HTTP\/1\.1 408 /, a.slice(0, 200));
        assert.match(a, /"type":"UploadTimeout"/);
        assert.match(a, /UPLOAD_MIN_RATE/);
      }
    } finally {
      clearInterval(trickle);
      for (const s of slow) s.destroy();
    }
    // Nothing left in the sidecar's spool.
    await waitFor(gw, async () => (await sidecar(gw)).state === 'ready', 10_000);
    const h = await getJson(gw, '/health');
    const queue = (h.json.sidecars as Record<string, { queue: { active: number; waiting: number } }>).tesseract?.queue;
    assert.deepEqual({ active: queue?.active, waiting: queue?.waiting }, { active: 0, waiting: 0 });
  });
});

describe('silent connections and running out of file descriptors', () => {
  it('closes connections that send nothing, refuses those beyond its descriptors, and recovers', async () => {
    const gw = await startGateway({ CONNECTION_IDLE_TIMEOUT: '2' }, { openFiles: 256 });
    try {
      // More silent connections than the worker has descriptors for.
      const sockets: Socket[] = [];
      const closed: Promise<string>[] = [];
      for (let i = 0; i < 400; i += 1) {
        try {
          const s = await openSocket(gw);
          closed.push(collect(s));
          sockets.push(s);
        } catch {
          // refused at the door: fine
        }
      }
      // The server closes every one of them by itself (none sent a request).
      await Promise.all(closed);
      // Afterwards, the service works: no descriptor leaked, the primary still hands connections out.
      for (let i = 0; i < 3; i += 1) {
        const r = await postOcr(gw, 'tesseract', PNG());
        assert.equal(r.status, 200, JSON.stringify(r.json));
      }
      assert.equal((await fetch(`${gw.url}/livez`)).status, 200);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('a removed sidecar socket', () => {
  it('is noticed: the sidecar is restarted on a fresh socket and requests succeed again', async () => {
    const gw = await startGateway();
    try {
      const before = await sidecar(gw);
      const socketPath = path.join(gw.runDir, 'tesseract.sock');
      rmSync(socketPath);
      await waitFor(
        gw,
        async () => {
          const s = await sidecar(gw);
          return s.state === 'ready' && s.pid !== before.pid && s.restarts >= 1;
        },
        60_000,
      );
      const r = await postOcr(gw, 'tesseract', PNG());
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.match(gw.logs(), /socket file removed or replaced|socket takes no connection/);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('a frozen sidecar', () => {
  it('is reported unresponsive (503 at once, /readyz 503) until it is restarted', async () => {
    const gw = await startGateway({ HEALTH_FAILURES_BEFORE_RESTART: '1000', HEALTH_POLL_MS: '300' });
    try {
      const before = await sidecar(gw);
      process.kill(before.pid, 'SIGSTOP');
      try {
        await waitFor(gw, async () => (await sidecar(gw)).state === 'unresponsive', 30_000);
        assert.equal((await fetch(`${gw.url}/readyz`)).status, 503);
        const r = await postOcr(gw, 'tesseract', PNG());
        assert.equal(r.status, 503);
        assert.equal(r.headers.get('retry-after'), '5');
      } finally {
        process.kill(before.pid, 'SIGCONT');
      }
      await waitFor(gw, async () => (await sidecar(gw)).state === 'ready', 30_000);
      assert.equal((await postOcr(gw, 'tesseract', PNG())).status, 200);
    } finally {
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('worker recycling under keep-alive clients', () => {
  it('loses no request while workers are recycled every few answers (MAX_REQUESTS)', async () => {
    const gw = await startGateway({ WORKERS: '2', MAX_REQUESTS: '15', LOG_LEVEL: 'info' });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const failures: string[] = [];
    let ok = 0;
    const get = (): Promise<void> =>
      new Promise((resolve) => {
        const req = http.get(`${gw.url}/livez`, { agent }, (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok += 1;
            else failures.push(`status ${res.statusCode}`);
            resolve();
          });
        });
        req.on('error', (err) => {
          failures.push(err.message);
          resolve();
        });
      });
    const recycles = (): number => (gw.logs().match(/recycling worker/g) ?? []).length;
    let sent = 0;
    try {
      // Until six workers have been recycled under the clients (bounded in requests, not in time).
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = 0; recycles() < 6 && i < 20_000; i += 1) {
            sent += 1;
            await get();
            // Now and then a pause, so that connections sit idle while their worker drains.
            if (i % 10 === 9) await sleep(50);
          }
        }),
      );
      assert.deepEqual(failures, []);
      assert.equal(ok, sent);
      assert.ok(recycles() >= 6, 'workers were recycled');
      assert.doesNotMatch(gw.logs(), /ERR_HTTP_HEADERS_SENT|worker died/);
    } finally {
      agent.destroy();
      assert.equal(await gw.stop(), 0);
    }
  });
});

describe('shutdown during a recycle', () => {
  it('stops promptly when SIGTERM arrives while a replacement worker is still starting', async () => {
    const gw = await startGateway({ MAX_REQUESTS: '1', SHUTDOWN_GRACE: '30' });
    // The answer makes the worker ask to be recycled: its replacement is forked now.
    assert.equal((await fetch(`${gw.url}/livez`)).status, 200);
    await waitFor(gw, () => Promise.resolve(/asking to be recycled/.test(gw.logs())), 20_000);
    // stop() fails after 30 s; a replacement that missed the shutdown kept the primary waiting 32 s.
    assert.equal(await gw.stop(), 0);
  });
});
