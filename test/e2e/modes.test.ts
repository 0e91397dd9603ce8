// The tesseract service's `mode` option through the gateway: a PDF whose first page has a text layer
// and whose second has none. `auto` takes page 1's own text and OCRs page 2; `text` never OCRs and
// answers page 2 empty, blank, with a note.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

const LINE = 'DEVIS D-2024-117 SIRET 123 456 789 00012 Total TTC 1 234,56 EUR';

/** Two A4 pages: a Helvetica text line on page 1 (a real text layer), nothing on page 2. */
function twoPagePdf(): Buffer {
  const stream = `BT /F1 16 Tf 60 760 Td (${LINE}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>',
  ];
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((body, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${body}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  out += offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('');
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

describe('tesseract mode option', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway();
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('auto uses the text layer where there is one; text never OCRs; a bad mode is a 400', async () => {
    const pdf = twoPagePdf();
    type Page = { text: string; source: string; blank: boolean; meta?: Record<string, unknown> };
    const auto = await postOcr(gw, 'tesseract', ocrForm(pdf, 'mixed.pdf', 'application/pdf'), { query: '?pages=true&mode=auto' });
    assert.equal(auto.status, 200, JSON.stringify(auto.json));
    const autoPages = auto.json.pages as Page[];
    assert.deepEqual(
      autoPages.map((p) => [p.source, p.text, p.blank]),
      [
        ['text-layer', LINE, false],
        ['ocr', '', true],
      ],
    );

    const text = await postOcr(gw, 'tesseract', ocrForm(pdf, 'mixed.pdf', 'application/pdf'), { query: '?pages=true&mode=text' });
    assert.equal(text.status, 200, JSON.stringify(text.json));
    const [first, second] = text.json.pages as [Page, Page];
    assert.equal(first.text, LINE);
    assert.deepEqual([second.source, second.text, second.blank], ['text-layer', '', true]);
    assert.match(String(second.meta?.note), /no text layer/);

    const bad = await postOcr(gw, 'tesseract', ocrForm(pdf, 'mixed.pdf', 'application/pdf'), { query: '?mode=fast' });
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.error), /mode 'fast'/);
  });
});
