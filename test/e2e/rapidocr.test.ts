// End to end: the rapidocr service (PP-OCRv6 on onnxruntime, models from its wheel) beside tesseract,
// through the gateway: listed ready with its model, reads the client's quote, rejects unknown options.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, fixture, getJson, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

describe('rapidocr service', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ ENABLED_SERVICES: 'tesseract,rapidocr,hybrid' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('is ready in /health with its model and listed in /services', async () => {
    const health = await getJson(gw, '/health');
    const sidecars = health.json.sidecars as Record<string, { state: string; model: string | null }>;
    assert.equal(sidecars.rapidocr?.state, 'ready');
    assert.match(sidecars.rapidocr?.model ?? '', /^rapidocr 3\.10\.0 \(PP-OCRv6/);
    assert.deepEqual((await getJson(gw, '/services')).json.services, ['tesseract', 'rapidocr', 'hybrid']);
  });

  it("reads the client's quote, French accents and numbers included, row by row", async () => {
    for (const [name, type] of [['Devis_test.pdf', 'application/pdf'], ['Devis_test.png', 'image/png']] as const) {
      const r = await postOcr(gw, 'rapidocr', ocrForm(fixture('client', name), name, type), { query: '?pages=true' });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.service, 'rapidocr');
      const text = String(r.json.text);
      for (const expected of ['SIRET 12345678900000', 'FR86504321234', '06300 Nice', 'Pompe à chaleur', '75008 Paris']) {
        assert.ok(text.includes(expected), `${name}: ${expected} missing in ${text}`);
      }
      const pages = r.json.pages as { source: string; rotation: number }[];
      assert.deepEqual(pages.map((p) => [p.source, p.rotation]), [['ocr', 0]]);
    }
  });

  it('hybrid: a clean quote is Tesseract\'s reading, and the page says so', async () => {
    const r = await postOcr(gw, 'hybrid', ocrForm(fixture('client', 'Devis_test.pdf'), 'Devis_test.pdf', 'application/pdf'), { query: '?pages=true&lang=fra+eng' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.service, 'hybrid');
    assert.match(String(r.json.text), /SIRET 12345678900000/);
    const pages = r.json.pages as { source: string; meta: { readers: string[]; tesseract_confidence: number } }[];
    assert.equal(pages[0]?.source, 'ocr:tesseract');
    assert.deepEqual(pages[0]?.meta.readers, ['tesseract']);
    const health = await getJson(gw, '/health');
    const model = (health.json.sidecars as Record<string, { model: string }>).hybrid?.model ?? '';
    assert.match(model, /^tesseract .* \+ rapidocr /);
  });

  it('answers 400 naming an option it does not take', async () => {
    const r = await postOcr(gw, 'rapidocr', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'), { query: '?lang=fra' });
    assert.equal(r.status, 400);
    assert.match(String(r.json.error), /unknown option 'lang'/);
  });
});
