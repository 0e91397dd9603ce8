// /metrics end to end: Prometheus text summed over the workers (prom-client's cluster aggregation
// through the primary), sidecar gauges, per-page latency, requests in flight, the primary's and the
// workers' process metrics, build info, a valid exposition; the API key unless METRICS_PUBLIC=true;
// and the per-request progress (pages_done/pages_total) that /health shows while a long document is read.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { API_KEY, type Gateway, ROOT, fixture, getJson, longScannedPdf, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';

const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** One OCR request on a fresh connection (no keep-alive), so the cluster spreads them over workers. */
async function ocrOnNewConnection(gw: Gateway): Promise<number> {
  const form = ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png');
  const encoded = new Response(form);
  const body = Buffer.from(await encoded.arrayBuffer());
  return new Promise((resolve, reject) => {
    const req = request(
      `${gw.url}/ocr/tesseract`,
      { method: 'POST', agent: false, headers: { 'x-api-key': API_KEY, 'content-type': encoded.headers.get('content-type') ?? '', 'content-length': body.length } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * What Prometheus would refuse or misread: a family declared twice (the primary's and the workers'
 * under one name), a sample outside its declared family, a malformed sample line.
 */
function assertValidExposition(text: string): void {
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (m === null) continue;
    assert.ok(!types.has(m[1] ?? ''), `family ${m[1]} declared twice`);
    types.set(m[1] ?? '', m[2] ?? '');
  }
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(?:[a-zA-Z_]\w*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$/.exec(line);
    assert.ok(m !== null, `malformed sample line: ${line}`);
    const [, name = '', labels = ''] = m;
    const family = [name, name.replace(/_(bucket|sum|count)$/, '')].find((f) => types.has(f));
    assert.ok(family !== undefined, `sample ${name} belongs to no declared family`);
    assert.ok(!seen.has(name + labels), `sample ${name}${labels} given twice`);
    seen.add(name + labels);
  }
}

function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const wanted = Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`));
    if (wanted) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('metrics (2 workers)', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ WORKERS: '2', NODE_ENV: 'production', LOG_LEVEL: 'info', GIT_COMMIT: '0a1b2c3' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('sums the OCR requests of both workers, counts pages, publishes the sidecar gauges', async () => {
    // The kernel hands each new connection to a worker waiting in accept() (SCHED_NONE), so a worker
    // busy with one is passed over: send pairs at once until both served one (the log says which).
    const servedBy = (): Set<unknown> =>
      new Set(
        gw
          .logs()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((r) => r.message === 'request' && r.path === '/ocr/tesseract')
          .map((r) => r.component),
      );
    let sent = 0;
    while (sent < 2 || (servedBy().size < 2 && sent < 40)) {
      assert.deepEqual(await Promise.all([ocrOnNewConnection(gw), ocrOnNewConnection(gw)]), [200, 200]);
      sent += 2;
    }
    assert.equal(servedBy().size, 2, 'both workers served OCR requests');

    const res = await fetch(`${gw.url}/metrics`, { headers: { 'x-api-key': API_KEY } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await res.text();
    const ocr = { route: '/ocr/{service}', service: 'tesseract', status: '200' };
    assert.equal(sample(text, 'mdso_http_requests_total', ocr), sent, text);
    assert.equal(sample(text, 'mdso_http_request_duration_seconds_count', { route: '/ocr/{service}', service: 'tesseract' }), sent);
    assert.equal(sample(text, 'mdso_pages_total', { service: 'tesseract', source: 'ocr' }), sent);
    assert.equal(sample(text, 'mdso_documents_total', { service: 'tesseract' }), sent);
    assert.ok((sample(text, 'mdso_upload_bytes_total', { service: 'tesseract' }) ?? 0) >= sent * fixture('client', 'Devis_test.png').length);
    assert.equal(sample(text, 'mdso_sidecar_state', { service: 'tesseract', state: 'ready' }), 1);
    assert.equal(sample(text, 'mdso_sidecar_state', { service: 'tesseract', state: 'failed' }), 0);
    assert.equal(sample(text, 'mdso_sidecar_up', { service: 'tesseract' }), 1);
    assert.equal(sample(text, 'mdso_sidecar_restarts', { service: 'tesseract' }), 0);
    // The sidecar's own limit (SIDECAR_MAX_QUEUE's default lives in the sidecar), as /health shows it.
    const health = await getJson(gw, '/health');
    const limit = (health.json.sidecars as Record<string, { queue: { limit: number } | null }>).tesseract?.queue?.limit;
    assert.equal(typeof limit, 'number');
    assert.equal(sample(text, 'mdso_sidecar_queue_limit', { service: 'tesseract' }), limit);
    assert.notEqual(sample(text, 'mdso_sidecar_queue_waiting', { service: 'tesseract' }), undefined);
    assert.equal(sample(text, 'mdso_gateway_workers'), 2);
    // Each page's time as the sidecar measured it, by service and source.
    assert.equal(sample(text, 'mdso_page_duration_seconds_count', { service: 'tesseract', source: 'ocr' }), sent);
    assert.ok((sample(text, 'mdso_page_duration_seconds_sum', { service: 'tesseract', source: 'ocr' }) ?? 0) > 0);
    assert.equal(sample(text, 'mdso_page_duration_seconds_bucket', { service: 'tesseract', source: 'ocr', le: '+Inf' }), sent);
    // This scrape is itself a request in flight.
    assert.ok((sample(text, 'mdso_http_requests_in_flight') ?? 0) >= 1, 'in-flight gauge counts the scrape');
    assert.equal(sample(text, 'mdso_build_info', { version: VERSION, commit: '0a1b2c3' }), 1);
    // Process metrics of the primary and of the workers (summed), apart.
    for (const who of ['primary', 'workers']) {
      assert.ok((sample(text, `mdso_${who}_process_cpu_seconds_total`) ?? 0) > 0, `${who} CPU seconds`);
      assert.ok((sample(text, `mdso_${who}_process_resident_memory_bytes`) ?? 0) > 10 * 1024 * 1024, `${who} RSS`);
      assert.notEqual(sample(text, `mdso_${who}_nodejs_eventloop_lag_seconds`), undefined, `${who} event-loop lag`);
      assert.notEqual(sample(text, `mdso_${who}_nodejs_eventloop_lag_max_seconds`), undefined, `${who} event-loop lag max`);
    }
    assert.notEqual(sample(text, 'mdso_primary_process_start_time_seconds'), undefined);
    assertValidExposition(text);
    // Never a request id, a file name or a key in a label.
    assert.doesNotMatch(text, /request_id|Devis_test|test-key/);
  });

  it('answers 401 without the key', async () => {
    const res = await fetch(`${gw.url}/metrics`);
    assert.equal(res.status, 401);
    await res.body?.cancel();
  });

  it('shows the progress of a long document in /health in_flight', async () => {
    const pending = postOcr(gw, 'tesseract', ocrForm(longScannedPdf(12), 'long.pdf', 'application/pdf'), {
      headers: { 'x-request-id': 'progress-check-1' },
    });
    let seen: { request_id: string; pages_done: number; pages_total: number } | undefined;
    await waitFor(
      gw,
      async () => {
        const h = await getJson(gw, '/health');
        const inFlight = (h.json.sidecars as Record<string, { in_flight: { request_id: string; pages_done: number; pages_total: number }[] }>).tesseract
          ?.in_flight;
        seen = inFlight?.find((f) => f.request_id === 'progress-check-1' && f.pages_total > 0);
        return seen !== undefined;
      },
      20_000,
    );
    assert.equal(seen?.pages_total, 12);
    assert.ok(seen.pages_done >= 0 && seen.pages_done <= 12);
    const r = await pending;
    assert.equal(r.status, 200, JSON.stringify(r.json).slice(0, 300));
    assert.equal(r.json.page_count, 12);
  });
});

describe('metrics with METRICS_PUBLIC=true', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ METRICS_PUBLIC: 'true' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('answers without a key; other endpoints still need it', async () => {
    const res = await fetch(`${gw.url}/metrics`);
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /mdso_sidecar_up\{service="tesseract"\} 1/);
    assertValidExposition(text);
    assert.equal((await getJson(gw, '/health', null)).status, 401);
  });

  it("labels the build with the checkout's commit when GIT_COMMIT is unset", async () => {
    const git = spawnSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
    const commit = git.status === 0 ? git.stdout.trim() : 'unknown';
    const text = await (await fetch(`${gw.url}/metrics`)).text();
    assert.equal(sample(text, 'mdso_build_info', { version: VERSION, commit }), 1, text.split('\n').filter((l) => l.includes('build_info')).join('\n'));
  });
});
