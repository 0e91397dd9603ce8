// End to end, bounded load on loopback: a few hundred mixed requests at high concurrency. Every
// request gets exactly one HTTP answer (200, a 4xx, or 503 with Retry-After when the queue is full),
// valid files are read correctly, and the gateway's memory stays bounded.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { type Gateway, fixture, getJson, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

const TOTAL = 240;
const CONCURRENCY = 48;

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

function gatewayPids(gw: Gateway): number[] {
  const children = readFileSync(`/proc/${gw.proc.pid}/task/${gw.proc.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  // The node processes: the primary and its workers (sidecars are python).
  return [gw.proc.pid ?? 0, ...children.filter((pid) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('mdso-ocr:worker'))];
}

type Kind = 'png' | 'pdf' | 'zip' | 'empty' | 'too-big' | 'services';

describe('bounded load', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ WORKERS: '2', SIDECAR_MAX_QUEUE: '16', MAX_UPLOAD_MB: '1', LOG_LEVEL: 'info' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it(`answers each of ${TOTAL} mixed requests exactly once, correctly, with bounded memory`, async () => {
    const png = fixture('client', 'Devis_test.png');
    const pdf = fixture('client', 'Devis_test.pdf');
    const big = Buffer.alloc(1200 * 1024, 3);
    const kinds: Kind[] = ['png', 'pdf', 'zip', 'empty', 'too-big', 'services'];
    const rssBefore = gatewayPids(gw).reduce((a, pid) => a + rssMb(pid), 0);
    const counts = new Map<string, number>();
    const failures: string[] = [];
    let next = 0;

    const one = async (i: number): Promise<void> => {
      const kind = kinds[i % kinds.length] as Kind;
      let status: number;
      let json: Record<string, unknown>;
      let retryAfter: string | null = null;
      try {
        if (kind === 'services') {
          ({ status, json } = await getJson(gw, '/services'));
        } else {
          const body = { png, pdf, zip: fixture('client', 'Devis_test.zip'), empty: Buffer.alloc(0), 'too-big': big }[kind];
          const r = await postOcr(gw, 'tesseract', ocrForm(body, `f-${i}`, 'application/octet-stream'), { headers: { 'x-request-id': `load-${i}` } });
          ({ status, json } = r);
          retryAfter = r.headers.get('retry-after');
        }
      } catch (err) {
        failures.push(`#${i} ${kind}: no HTTP answer (${String(err)})`);
        return;
      }
      counts.set(`${kind} ${status}`, (counts.get(`${kind} ${status}`) ?? 0) + 1);
      if (status === 503) {
        if (retryAfter === null) failures.push(`#${i} ${kind}: 503 without Retry-After`);
        return;
      }
      const expected: Record<Kind, number> = { png: 200, pdf: 200, zip: 415, empty: 422, 'too-big': 413, services: 200 };
      if (status !== expected[kind]) failures.push(`#${i} ${kind}: ${status} ${JSON.stringify(json).slice(0, 200)}`);
      if ((kind === 'png' || kind === 'pdf') && status === 200 && !String(json.text).includes('SIRET 12345678900000')) {
        failures.push(`#${i} ${kind}: wrong text`);
      }
    };

    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < TOTAL) await one(next++);
      }),
    );
    const answered = [...counts.values()].reduce((a, b) => a + b, 0);
    const rssAfter = gatewayPids(gw).reduce((a, pid) => a + rssMb(pid), 0);
    const summary = `${JSON.stringify(Object.fromEntries(counts))}; gateway RSS ${rssBefore.toFixed(0)} → ${rssAfter.toFixed(0)} MB`;
    assert.deepEqual(failures, [], summary);
    assert.equal(answered, TOTAL, summary);
    const ok = (counts.get('png 200') ?? 0) + (counts.get('pdf 200') ?? 0);
    assert.ok(ok >= 8, `some OCR requests got through: ${summary}`);
    assert.ok(rssAfter - rssBefore < 150, `gateway memory bounded: ${summary}`);
    const h = await getJson(gw, '/health');
    assert.equal(h.json.status, 'healthy');
    assert.equal((h.json.sidecars as Record<string, { restarts: number }>).tesseract?.restarts, 0);
  });
});
