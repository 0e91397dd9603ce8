// The `format` option through the gateway (issue 17): `json` answers the usual body, its text the
// default answer's byte for byte, with each page's layout (boxes within the page, confidences 0–1),
// and its identifiers (SIRET, VAT, RGE…: read as printed, their check, their words' box),
// as /openapi.json documents it; a job takes json too; a bad value is a 400 naming the accepted ones;
// markdown asked of tesseract is a 400 naming the services that write it; hocr/alto/pdf answer files
// (test/e2e/formats-files.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { type Gateway, fixture, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';
import { jobResult, pdfForm, submitJob, waitJob, withoutTimings } from '../helpers/jobs.js';

type Box = [number, number, number, number];
interface Word {
  text: string;
  box: Box;
  conf: number | null;
}
interface Page {
  text: string;
  source: string;
  rotation: number;
  width: number;
  height: number;
  width_pt: number;
  height_pt: number;
  dpi: number | null;
  granularity: string;
  blocks: { box: Box; kind: string; lines: { box: Box; conf: number | null; text: string; words: Word[] }[] }[];
  identifiers: { kind: string; raw: string; normalized: string; valid: boolean | null; label: string | null; box: Box | null; candidates: { value: string }[] }[];
}

/** The Luhn key of a SIREN/SIRET, written here from its definition: the check the service reports. */
function luhn(digits: string): boolean {
  let sum = 0;
  for (const [i, char] of [...digits].reverse().entries()) {
    const d = Number(char) * (i % 2 === 1 ? 2 : 1);
    sum += d > 9 ? d - 9 : d;
  }
  return sum % 10 === 0;
}

function inside(box: Box, page: Page): boolean {
  const [left, top, right, bottom] = box;
  return left >= 0 && top >= 0 && left <= right && top <= bottom && right <= page.width && bottom <= page.height;
}

describe('format option', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('format=json: the same text, and each page with its size, granularity and boxes within the page', async () => {
    for (const [name, type] of [
      ['Devis_test.png', 'image/png'],
      ['Devis_multi_pages.pdf', 'application/pdf'],
    ] as const) {
      const plain = await postOcr(gw, 'tesseract', ocrForm(fixture('client', name), name, type));
      const asked = await postOcr(gw, 'tesseract', ocrForm(fixture('client', name), name, type), { query: '?format=json' });
      assert.equal(plain.status, 200, JSON.stringify(plain.json));
      assert.equal(asked.status, 200, JSON.stringify(asked.json));
      assert.equal(asked.json.text, plain.json.text, 'the text is the default answer, byte for byte');
      assert.equal(plain.json.format, undefined, 'the default answer is unchanged');
      assert.equal(plain.json.pages, undefined);
      assert.equal(asked.json.format, 'json');
      const pages = asked.json.pages as Page[];
      assert.equal(pages.length, asked.json.page_count);
      for (const page of pages) {
        assert.equal(page.source, 'ocr');
        assert.equal(page.rotation, 0);
        assert.equal(page.granularity, 'word');
        assert.ok(page.width > 0 && page.height > 0 && page.width_pt > 0 && page.height_pt > 0, JSON.stringify(page).slice(0, 300));
        if (page.dpi !== null) assert.ok(Math.abs(page.width_pt - (page.width * 72) / page.dpi) < 1);
        const words = page.blocks.flatMap((b) => b.lines.flatMap((l) => l.words));
        assert.ok(words.length > 0, `${name}: no word`);
        assert.equal(words.map((w) => w.text).join(' ').replace(/\s+/g, ' '), page.blocks.flatMap((b) => b.lines.map((l) => l.text)).join(' ').replace(/\s+/g, ' '));
        for (const block of page.blocks) {
          assert.ok(inside(block.box, page), `block ${JSON.stringify(block.box)}`);
          for (const line of block.lines) {
            assert.ok(inside(line.box, page));
            assert.equal(line.text, line.words.map((w) => w.text).join(' '));
          }
        }
        for (const word of words) {
          assert.ok(inside(word.box, page), `${word.text} ${JSON.stringify(word.box)} in ${page.width}x${page.height}`);
          assert.ok(word.conf !== null && word.conf >= 0 && word.conf <= 1, `${word.text}: ${word.conf}`);
        }
      }
      const allWords = pages.flatMap((p) => p.blocks.flatMap((b) => b.lines.flatMap((l) => l.words)));
      if (name === 'Devis_test.png') {
        assert.ok(allWords.some((w) => w.text === '12345678900000'), allWords.map((w) => w.text).join(' '));
        // The client's quote prints a made-up SIRET and VAT number: read as printed, flagged as
        // failing their check, never rewritten; its RGE number has a shape, no check.
        const [page] = pages;
        assert.ok(page !== undefined);
        const ids = new Map(page.identifiers.map((i) => [i.kind, i]));
        const siret = ids.get('siret');
        assert.ok(siret !== undefined, JSON.stringify(page.identifiers));
        assert.equal(siret.normalized, '12345678900000');
        assert.equal(siret.valid, luhn('12345678900000'));
        assert.equal(siret.valid, false);
        assert.equal(siret.label, 'SIRET');
        assert.ok(siret.box !== null && inside(siret.box, page));
        const word = allWords.find((w) => w.text === '12345678900000');
        assert.deepEqual(siret.box, word?.box, 'the box of the word it was read in');
        assert.equal(ids.get('tva_fr')?.valid, false);
        assert.deepEqual(ids.get('rge') && { raw: ids.get('rge')?.raw, valid: ids.get('rge')?.valid }, { raw: 'E123456', valid: null });
        assert.ok(page.text.includes('12345678900000'), 'the text keeps the reading');
      } else {
        for (const page of pages) assert.ok(Array.isArray(page.identifiers));
      }
      if (name === 'Devis_multi_pages.pdf') {
        // The usual per-page texts, joined as the default answer joins them.
        assert.equal(pages.map((p) => p.text).join('\n\n--- Page Break ---\n\n'), plain.json.text);
      }
    }
  });

  it('format=json answers as /openapi.json documents it, and a job gives the same result', async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { components: unknown; paths: Record<string, Record<string, { parameters?: { name: string; schema: { enum?: string[] } }[] }>> };
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
    const validate = ajv.getSchema('openapi.json#/components/schemas/OcrAnswer');
    assert.ok(validate);
    const sync = await postOcr(gw, 'tesseract', pdfForm(), { query: '?format=json' });
    assert.equal(sync.status, 200);
    assert.ok(validate(sync.json), ajv.errorsText(validate.errors));
    const format = doc.paths['/ocr/{service}']?.post?.parameters?.find((p) => p.name === 'format');
    assert.deepEqual(format?.schema.enum, ['text', 'json', 'markdown', 'hocr', 'alto', 'pdf']);

    const submitted = await submitJob(gw, 'tesseract', pdfForm(), '?format=json');
    assert.equal(submitted.status, 202, JSON.stringify(submitted.json));
    await waitJob(gw, submitted.json.job_id, (j) => j.status === 'done');
    const result = await jobResult(gw, submitted.json.job_id);
    assert.equal(result.status, 200);
    assert.deepEqual(withoutTimings(result.json), withoutTimings(sync.json));

    const refused = await submitJob(gw, 'tesseract', pdfForm(), '?format=hocr');
    assert.equal(refused.status, 400, JSON.stringify(refused.json));
    assert.match(JSON.stringify(refused.json), /format=hocr is not offered for jobs.*format=text or format=json/);
  });

  it('a bad format is a 400 naming the accepted values; markdown of tesseract names the services that write it', async () => {
    const bad = await postOcr(gw, 'tesseract', pdfForm(), { query: '?format=docx' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.type, 'BadOption');
    assert.equal(bad.json.error, "Option 'format' must be one of text, json, markdown, hocr, alto or pdf; got 'docx'.");
    assert.deepEqual((bad.json.details as { accepted: string[] }).accepted, ['text', 'json', 'markdown', 'hocr', 'alto', 'pdf']);

    const markdown = await postOcr(gw, 'tesseract', pdfForm(), { query: '?format=markdown' });
    assert.equal(markdown.status, 400);
    assert.equal(markdown.json.error, 'format=markdown is not offered by tesseract; it is offered by marker, nanonets, olmocr. tesseract offers text, json, hocr, alto or pdf.');
    assert.deepEqual((markdown.json.details as { offered_by: string[] }).offered_by, ['marker', 'nanonets', 'olmocr']);

    // As a form field before the file, like every option.
    const form = new FormData();
    form.append('format', 'json');
    form.append('file', new Blob([new Uint8Array(fixture('client', 'Devis_test.pdf'))], { type: 'application/pdf' }), 'Devis_test.pdf');
    const field = await postOcr(gw, 'tesseract', form);
    assert.equal(field.status, 200, JSON.stringify(field.json));
    assert.equal(field.json.format, 'json');
  });
});
