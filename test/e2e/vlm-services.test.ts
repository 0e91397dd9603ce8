// End to end through the gateway: the real nanonets and olmocr code load a tiny randomly-initialised
// Qwen2.5-VL checkpoint (built by the test, same from_pretrained path and settings as real weights)
// and OCR real pages. A random model writes garbage, so this asserts plumbing, not words.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, type Gateway, fixture, getJson, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

const PAGE_BREAK = '\n\n--- Page Break ---\n\n';

interface Page {
  page: number;
  text: string;
  source: string;
  duration_ms: number;
  error: string | null;
  meta?: Record<string, unknown>;
}

describe('nanonets and olmocr on a tiny Qwen2.5-VL checkpoint', () => {
  let gw: Gateway;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-tiny-qwen-'));
    const checkpoint = path.join(dir, 'tiny-qwen2.5-vl');
    const built = spawnSync(path.join(ROOT, '.venv', 'bin', 'python'), [path.join(ROOT, 'sidecars', 'tests', 'vlm', 'build_tiny_qwen.py'), checkpoint], {
      encoding: 'utf8',
    });
    assert.equal(built.status, 0, built.stderr);
    gw = await startGateway({
      ENABLED_SERVICES: 'nanonets,olmocr',
      MODEL_DIR: path.join(dir, 'empty-model-dir'),
      // The operator's settings, pointed at the tiny checkpoint.
      NANONETS_MODEL: checkpoint,
      OLMOCR_MODEL: checkpoint,
      NANONETS_MAX_NEW_TOKENS: '12',
      OLMOCR_MAX_NEW_TOKENS: '12',
      OLMOCR_MAX_ATTEMPTS: '2',
    });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads both services from the local checkpoint', async () => {
    const r = await getJson(gw, '/health');
    assert.equal(r.json.status, 'healthy', JSON.stringify(r.json));
    const sidecars = r.json.sidecars as Record<string, { state: string; model: string; device: string }>;
    for (const name of ['nanonets', 'olmocr']) {
      assert.equal(sidecars[name]?.state, 'ready');
      assert.match(String(sidecars[name]?.model), /transformers/);
      assert.equal(sidecars[name]?.device, 'cpu');
    }
    assert.deepEqual((await getJson(gw, '/services')).json.services, ['nanonets', 'olmocr']);
  });

  it('nanonets answers a PNG with the public shape', async () => {
    const r = await postOcr(gw, 'nanonets', ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'), { query: '?pages=true' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.service, 'nanonets');
    assert.equal(r.json.page_count, 1);
    assert.equal(typeof r.json.text, 'string');
    assert.equal(typeof r.json.duration_ms, 'number');
    const pages = r.json.pages as Page[];
    assert.equal(pages.length, 1);
    assert.equal(pages[0]?.source, 'ocr');
    assert.equal(pages[0]?.error, null);
    assert.ok((pages[0]?.duration_ms ?? -1) >= 0);
  });

  it('nanonets reads each page of a PDF, joined by page breaks, and takes format=text', async () => {
    const r = await postOcr(gw, 'nanonets', ocrForm(fixture('client', 'Devis_multi_pages.pdf'), 'multi.pdf', 'application/pdf'), {
      query: '?pages=true&format=text',
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.page_count, 2);
    const pages = r.json.pages as Page[];
    assert.deepEqual(
      pages.map((p) => p.page),
      [1, 2],
    );
    assert.equal(r.json.text, pages.map((p) => p.text).join(PAGE_BREAK));
    const bad = await postOcr(gw, 'nanonets', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'), { query: '?format=docx' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.error), /format/);
  });

  it('olmocr retries invalid model output, then falls back to tesseract and says so', async () => {
    const r = await postOcr(gw, 'olmocr', ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'), { query: '?pages=true' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const page = (r.json.pages as Page[])[0];
    assert.ok(page);
    assert.equal(page.source, 'fallback:tesseract');
    assert.equal(page.meta?.attempts, 2);
    // The fallback reader really read the page.
    assert.match(String(r.json.text), /12345678900000/);
  });
});
