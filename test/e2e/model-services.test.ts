// End to end: the GPU model services behind the gateway on a machine without their weights — each
// one reports `unavailable` with the directory searched, never disappears silently, and never
// blocks the other services.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type Gateway, fixture, getJson, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

const MODEL_SERVICES = ['nanonets', 'olmocr', 'dotsocr', 'marker'] as const;

describe('model services without weights', () => {
  let gw: Gateway;
  let modelDir: string;
  before(async () => {
    modelDir = mkdtempSync(path.join(os.tmpdir(), 'mdso-models-'));
    gw = await startGateway({ ENABLED_SERVICES: `tesseract,${MODEL_SERVICES.join(',')}`, MODEL_DIR: modelDir });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    rmSync(modelDir, { recursive: true, force: true });
  });

  it('shows each one unavailable in /health, naming the directory searched and the command that fills it', async () => {
    const r = await getJson(gw, '/health');
    assert.equal(r.json.status, 'degraded');
    const sidecars = r.json.sidecars as Record<string, { state: string; message: string | null; pid: number | null }>;
    assert.equal(sidecars.tesseract?.state, 'ready');
    for (const name of MODEL_SERVICES) {
      const s = sidecars[name];
      assert.ok(s, `${name} is listed`);
      assert.equal(s.state, 'unavailable', `${name}: ${s.message ?? ''}`);
      assert.ok(s.message?.includes(path.join(modelDir, name)), `${name} names ${modelDir}/${name}: ${s.message ?? ''}`);
      assert.ok(s.message?.includes(`scripts/download-models ${name}`), s.message ?? '');
      assert.equal(typeof s.pid, 'number', 'the sidecar stays up to say why');
    }
  });

  it('leaves them out of /services but keeps tesseract', async () => {
    assert.deepEqual((await getJson(gw, '/services')).json.services, ['tesseract']);
  });

  it('answers their OCR requests 503 with the reason, and tesseract still reads', async () => {
    for (const name of MODEL_SERVICES) {
      const r = await postOcr(gw, name, ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(r.status, 503, name);
      assert.match(String(r.json.error), new RegExp(`'${name}' is unavailable: .*download-models ${name}`));
      assert.equal(r.headers.get('retry-after'), null, 'retrying will not help until weights are installed');
    }
    const ok = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(ok.status, 200);
  });

  it('is ready for orchestrators: tesseract can answer and nothing is still loading', async () => {
    assert.equal((await getJson(gw, '/readyz', null)).status, 200);
  });
});
