// End to end: admission by time. A burst of clients that do not retry is served, not refused, while
// the expected wait fits in TIMEOUT; a request that would not finish in time is refused at once
// (503 QueueFull + Retry-After) instead of waiting for a 504.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { QueueStats as Queue } from '../../gateway/src/ipc/sidecar-wire.js';
import { type Gateway, fixture, getJson, longScannedPdf, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

type Sidecars = Record<string, { queue: Queue | null }>;

async function tesseract(gw: Gateway) {
  const s = ((await getJson(gw, '/health')).json.sidecars as Sidecars).tesseract;
  assert.ok(s);
  return s;
}

interface Answer {
  status: number;
  type: unknown;
  text: string;
  retryAfter: string | null;
}

async function send(gw: Gateway, form: FormData): Promise<Answer> {
  const r = await postOcr(gw, 'tesseract', form);
  return { status: r.status, type: r.json.type, text: typeof r.json.text === 'string' ? r.json.text : String(r.json.error), retryAfter: r.headers.get('retry-after') };
}

describe('admission by time', () => {
  let gw: Gateway;
  before(async () => {
    // Health polled often, so /health shows the queue even if this machine reads the burst quickly.
    gw = await startGateway({ WORKERS: '2', HEALTH_POLL_MS: '250' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('serves a burst of 50 concurrent clients without a 503 while the expected wait fits in TIMEOUT', async () => {
    const png = fixture('client', 'Devis_test.png');
    let busiest: Queue | null = null;
    let done = false;
    const watch = (async () => {
      while (!done) {
        const q = (await tesseract(gw)).queue;
        if (q !== null && (busiest === null || q.expected_wait_s > busiest.expected_wait_s)) busiest = q;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const answers = await Promise.all(Array.from({ length: 50 }, () => send(gw, ocrForm(png, 'devis.png', 'image/png'))));
    done = true;
    await watch;
    const statuses = answers.map((a) => a.status);
    assert.deepEqual(
      statuses.filter((s) => s !== 200),
      [],
      `every request read: ${JSON.stringify(answers.filter((a) => a.status !== 200).slice(0, 3))}`,
    );
    for (const a of answers) assert.match(a.text, /12345678900000/);
    // /health showed the queue and its expected wait while the burst was waiting.
    const peak = busiest as Queue | null;
    assert.ok(peak !== null && peak.pages_queued > 1 && peak.expected_wait_s > 0, JSON.stringify(peak));
    const metrics = await (await fetch(`${gw.url}/metrics`, { headers: { 'x-api-key': 'test-key-0123456789' } })).text();
    assert.match(metrics, /^mdso_sidecar_expected_wait_seconds\{service="tesseract"\} \d/m);
  });

  it('refuses at once, with Retry-After, what would not be read before TIMEOUT', async () => {
    const slow = await startGateway({ TIMEOUT: '2' });
    try {
      const pdf = longScannedPdf(24);
      const form = () => ocrForm(pdf, 'long.pdf', 'application/pdf');
      // Nine at once on a fresh sidecar: whatever this machine's speed, the engine's prior page time
      // says a few of them fill the 2 s, and the 24 pages each one turns out to have confirm it.
      const answers = await Promise.all(Array.from({ length: 9 }, () => send(slow, form())));
      for (const a of answers) {
        // Every request gets exactly one JSON answer: read, refused up front, or cut at the deadline.
        assert.ok([200, 503, 504].includes(a.status), JSON.stringify(a));
        if (a.status === 503) {
          assert.equal(a.type, 'QueueFull', JSON.stringify(a));
          assert.match(a.text, /queued ahead/);
          assert.ok(Number(a.retryAfter) >= 1, JSON.stringify(a));
        }
      }
      assert.ok(
        answers.some((a) => a.status === 503),
        `24-page documents cannot all be read in 2 s: ${JSON.stringify(answers.map((a) => a.status))}`,
      );
    } finally {
      await slow.stop();
    }
  });
});
