// format=hocr, alto and pdf through the gateway: each answers its file (content type, a download
// name from the upload), valid by a real consumer (hocr-spec, lxml, poppler), holding the text a
// default request answers; errors stay JSON.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { API_KEY, type Gateway, ROOT, fixture, longScannedPdf, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

const VENV_BIN = path.join(ROOT, '.venv', 'bin');

async function postFile(gw: Gateway, body: FormData, query: string): Promise<{ status: number; headers: Headers; bytes: Buffer }> {
  const res = await fetch(`${gw.url}/ocr/tesseract${query}`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body });
  return { status: res.status, headers: res.headers, bytes: Buffer.from(await res.arrayBuffer()) };
}

function run(command: string, args: string[]): string {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  assert.equal(r.status, 0, `${command} ${args.join(' ')}: ${r.stdout}${r.stderr}`);
  return r.stdout;
}

/** The words of a text, for comparing readings whose line breaks differ. */
function words(text: string): string[] {
  return text.replace(/--- Page Break ---/g, ' ').split(/\s+/).filter((w) => w !== '');
}

/** Share of `expected`'s words (as a multiset) found in `actual`. */
function recall(expected: string[], actual: string[]): number {
  const left = new Map<string, number>();
  for (const w of actual) left.set(w, (left.get(w) ?? 0) + 1);
  let found = 0;
  for (const w of expected) {
    const n = left.get(w) ?? 0;
    if (n > 0) {
      found += 1;
      left.set(w, n - 1);
    }
  }
  return expected.length === 0 ? 1 : found / expected.length;
}

describe('file formats (hocr, alto, pdf)', () => {
  let gw: Gateway;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-formats-'));
  const png = fixture('client', 'Devis_test.png');
  let pngText: string[];

  before(async () => {
    gw = await startGateway({ ENABLED_SERVICES: 'tesseract' });
    const plain = await postOcr(gw, 'tesseract', ocrForm(png, 'Devis_test.png', 'image/png'));
    assert.equal(plain.status, 200, JSON.stringify(plain.json));
    pngText = words(String(plain.json.text));
    assert.ok(pngText.length > 20);
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    rmSync(dir, { recursive: true, force: true });
    // Every file answer streamed without Node warning of a listener leak on the response.
    assert.doesNotMatch(gw.logs(), /MaxListenersExceededWarning/);
  });

  it('format=pdf of an image: application/pdf named after the upload, the same text, the same pixels', async () => {
    const answer = await postFile(gw, ocrForm(png, 'Devis test é.png', 'image/png'), '?format=pdf');
    assert.equal(answer.status, 200, answer.bytes.toString().slice(0, 300));
    assert.equal(answer.headers.get('content-type'), 'application/pdf');
    assert.equal(answer.headers.get('content-disposition'), `attachment; filename="Devis test e.ocr.pdf"; filename*=UTF-8''Devis%20test%20%C3%A9.ocr.pdf`);
    assert.equal(answer.headers.get('x-page-count'), '1');
    assert.equal(answer.headers.get('x-failed-pages'), null);
    const pdf = path.join(dir, 'png.pdf');
    writeFileSync(pdf, answer.bytes);
    const extracted = words(run('pdftotext', [pdf, '-']));
    assert.ok(recall(pngText, extracted) >= 0.97, `pdftotext: ${extracted.join(' ')}\ntext: ${pngText.join(' ')}`);
    // The page image is the PNG's pixels (its alpha as the image's soft mask).
    const script = [
      'import sys, subprocess, pathlib',
      'from PIL import Image',
      'out = pathlib.Path(sys.argv[2])',
      'subprocess.run(["pdfimages", "-png", sys.argv[1], str(out / "img")], check=True)',
      'original = Image.open(sys.argv[3]).convert("RGBA")',
      'back = Image.open(out / "img-000.png")',
      'assert back.tobytes() == original.convert("RGB").tobytes(), "colour differs"',
      'mask = Image.open(out / "img-001.png") if (out / "img-001.png").exists() else None',
      'assert mask is None or mask.tobytes() == original.getchannel("A").tobytes(), "alpha differs"',
      'print("same pixels")',
    ].join('\n');
    assert.match(run(path.join(VENV_BIN, 'python'), ['-c', script, pdf, dir, path.join(ROOT, 'test', 'fixtures', 'client', 'Devis_test.png')]), /same pixels/);
  });

  it('format=pdf of a scanned PDF keeps its page image byte for byte and adds the text', async () => {
    const scan = longScannedPdf(2);
    const plain = await postOcr(gw, 'tesseract', ocrForm(scan, 'scan.pdf', 'application/pdf'));
    assert.equal(plain.status, 200);
    const answer = await postFile(gw, ocrForm(scan, 'scan.pdf', 'application/pdf'), '?format=pdf&page_range=2');
    assert.equal(answer.status, 200, answer.bytes.toString().slice(0, 300));
    assert.equal(answer.headers.get('x-page-count'), '1');
    assert.equal(answer.headers.get('x-document-pages'), '2');
    const input = path.join(dir, 'scan.pdf');
    const output = path.join(dir, 'scan.ocr.pdf');
    writeFileSync(input, scan);
    writeFileSync(output, answer.bytes);
    const extracted = words(run('pdftotext', [output, '-']));
    const pageText = words(String(plain.json.text).split('--- Page Break ---')[1] ?? '');
    assert.ok(recall(pageText, extracted) >= 0.97, extracted.join(' '));
    const script = [
      'import sys, hashlib, pikepdf',
      'def streams(path):',
      '    with pikepdf.open(path) as pdf:',
      '        return [hashlib.sha256(x.read_raw_bytes()).hexdigest() for p in pdf.pages for x in p.images.values()]',
      'src, out = streams(sys.argv[1]), streams(sys.argv[2])',
      'assert out == src[1:2], (src, out)',
      'print("same image stream")',
    ].join('\n');
    assert.match(run(path.join(VENV_BIN, 'python'), ['-W', 'ignore', '-c', script, input, output]), /same image stream/);
  });

  it('format=hocr: a valid hOCR file (hocr-spec) with the words of the text', async () => {
    const answer = await postFile(gw, ocrForm(png, 'Devis_test.png', 'image/png'), '?format=hocr');
    assert.equal(answer.status, 200, answer.bytes.toString().slice(0, 300));
    assert.equal(answer.headers.get('content-type'), 'text/vnd.hocr+html; charset=utf-8');
    assert.match(answer.headers.get('content-disposition') ?? '', /filename="Devis_test\.hocr"/);
    const file = path.join(dir, 'out.hocr');
    writeFileSync(file, answer.bytes);
    run(path.join(VENV_BIN, 'hocr-spec'), ['-p', 'standard', file]);
    run(path.join(VENV_BIN, 'hocr-check'), [file]);
    const html = readFileSync(file, 'utf8');
    const hocrWords = [...html.matchAll(/class="ocrx_word"[^>]*>([^<]*)</g)].map((m) => (m[1] ?? '').replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>'));
    assert.ok(recall(pngText, hocrWords) >= 0.97, hocrWords.join(' '));
  });

  it('format=alto: an ALTO 4 file (lxml) with the words of the text', async () => {
    const answer = await postFile(gw, ocrForm(png, 'Devis_test.png', 'image/png'), '?format=alto');
    assert.equal(answer.status, 200, answer.bytes.toString().slice(0, 300));
    assert.equal(answer.headers.get('content-type'), 'application/xml; charset=utf-8');
    const file = path.join(dir, 'out.alto.xml');
    writeFileSync(file, answer.bytes);
    const script = [
      'import sys',
      'from lxml import etree',
      'ns = {"a": "http://www.loc.gov/standards/alto/ns-v4#"}',
      'root = etree.parse(sys.argv[1]).getroot()',
      'assert root.findtext("a:Description/a:MeasurementUnit", namespaces=ns) == "pixel"',
      'print("\\n".join(s.get("CONTENT") for s in root.iterfind(".//a:String", ns)))',
    ].join('\n');
    const altoWords = run(path.join(VENV_BIN, 'python'), ['-c', script, file]).split('\n').filter((w) => w !== '');
    assert.ok(recall(pngText, altoWords) >= 0.97, altoWords.join(' '));
  });

  it('errors stay JSON', async () => {
    const answer = await postFile(gw, ocrForm(Buffer.from('%PDF-1.4 broken'), 'x.pdf', 'application/pdf'), '?format=pdf');
    assert.equal(answer.status, 422);
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal((JSON.parse(answer.bytes.toString()) as { type: string }).type, 'CorruptDocument');
  });
});
