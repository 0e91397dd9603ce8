// End to end, real gateway + real tesseract sidecar: the client's own fixtures and recorded
// exchanges, the public API's status codes and shapes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { API_KEY, FIXTURES, type Gateway, fixture, getJson, ocrForm, postOcr, startGateway } from '../helpers/gateway.js';

const PAGE_BREAK = '\n\n--- Page Break ---\n\n';

interface Cassette {
  http_interactions: {
    request: { method: string; headers: Record<string, string[]>; body: { string: Buffer | string } };
    response: { status: { code: number }; body: { string: Buffer | string } };
  }[];
}

function cassette(name: string): Cassette['http_interactions'][number] {
  const text = readFileSync(path.join(FIXTURES, 'client', 'cassettes', name), 'utf8');
  const doc = YAML.parse(text, {
    customTags: [{ tag: '!binary', resolve: (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'base64') }],
  }) as Cassette;
  const first = doc.http_interactions[0];
  assert.ok(first);
  return first;
}

function assertQuoteText(text: unknown): void {
  assert.equal(typeof text, 'string');
  for (const needle of ['SIRET 12345678900000', 'Nice', 'Pompe à chaleur']) {
    assert.ok((text as string).includes(needle), `text lacks ${JSON.stringify(needle)}:\n${String(text)}`);
  }
}

describe('client contract (tesseract)', () => {
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ WORKERS: '2', MAX_UPLOAD_MB: '1' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('reads Devis_test.png', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assertQuoteText(r.json.text);
    assert.equal(r.json.service, 'tesseract');
    assert.equal(r.json.page_count, 1);
    assert.equal(typeof r.json.duration_ms, 'number');
    assert.equal(r.json.pages, undefined, 'per-page list only with ?pages=true');
  });

  it('reads Devis_test.pdf', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.pdf'), 'Devis_test.pdf', 'application/pdf'));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assertQuoteText(r.json.text);
    assert.equal(r.json.page_count, 1);
  });

  it('reads both pages of Devis_multi_pages.pdf with one page break, and details them with ?pages=true', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_multi_pages.pdf'), 'multi.pdf', 'application/pdf'), {
      query: '?pages=true',
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.page_count, 2);
    const text = r.json.text as string;
    assert.equal(text.split(PAGE_BREAK).length, 2);
    const pages = r.json.pages as { page: number; text: string; source: string; duration_ms: number; error: null }[];
    assert.deepEqual(
      pages.map((p) => p.page),
      [1, 2],
    );
    for (const p of pages) {
      assert.equal(p.source, 'ocr');
      assert.equal(p.error, null);
      assert.match(p.text, new RegExp(`Page ${p.page}`), 'each page has its own text');
      assert.equal(typeof p.duration_ms, 'number');
    }
    assert.equal(pages.map((p) => p.text).join(PAGE_BREAK), text);
  });

  it('OCRs only the requested page range', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_multi_pages.pdf'), 'multi.pdf', 'application/pdf'), {
      query: '?pages=2&lang=fra',
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.page_count, 1);
    assert.match(r.json.text as string, /Page 2/);
    assert.doesNotMatch(r.json.text as string, /Page 1/);
  });

  it('answers 422 for empty.pdf', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'empty.pdf'), 'empty.pdf', 'application/pdf'));
    assert.equal(r.status, 422);
    assert.match(String(r.json.error), /empty/i);
    assert.equal(r.json.text, undefined);
  });

  it('answers 415 for Devis_test.zip with a message naming what was sent', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.zip'), 'Devis_test.zip', 'application/zip'));
    assert.ok(r.status === 415 || r.status === 422, `status ${r.status}`);
    assert.equal(typeof r.json.error, 'string');
    assert.match(String(r.json.error), /PDF|PNG|JPEG|supported/i);
    assert.equal(typeof r.json.type, 'string');
    assert.equal(typeof r.json.details, 'object');
  });

  it('ignores a misleading file name: a ZIP called .pdf is refused, a PNG called .pdf is read', async () => {
    const zip = Buffer.from('504b0304140000000000', 'hex');
    const r1 = await postOcr(gw, 'tesseract', ocrForm(zip, 'devis.pdf', 'application/pdf'));
    assert.equal(r1.status, 415);
    assert.match(String(r1.json.error), /zip/i);
    const r2 = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'devis.pdf', 'application/pdf'));
    assert.equal(r2.status, 200);
    assertQuoteText(r2.json.text);
  });

  it('replays the recorded Faraday request byte for byte', async () => {
    const rec = cassette('ocr_nanonets_png.yml');
    const body = rec.request.body.string as Buffer;
    const contentType = rec.request.headers['Content-Type']?.[0];
    assert.ok(contentType !== undefined && Buffer.isBuffer(body));
    assert.equal(body.length, Number(rec.request.headers['Content-Length']?.[0]));
    const r = await postOcr(gw, 'tesseract', body, {
      headers: { 'content-type': contentType, 'user-agent': 'Faraday v2.13.1', accept: '*/*' },
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assertQuoteText(r.json.text);
    // Every number the original service read must be in ours (the client cares about numbers most).
    const recorded = JSON.parse((rec.response.body.string as Buffer).toString('utf8')) as { text: string };
    for (const token of ['75008', '06300', '12345678900000', 'E123456', 'FR86504321234']) {
      assert.ok(recorded.text.includes(token));
      assert.ok((r.json.text as string).includes(token), `missing ${token}`);
    }
  });

  it("answers the recorded /services request with the client's shape", async () => {
    const rec = cassette('services.yml');
    const res = await fetch(`${gw.url}/services`, {
      headers: {
        'x-api-key': API_KEY,
        'user-agent': rec.request.headers['User-Agent']?.[0] ?? '',
        'accept-encoding': rec.request.headers['Accept-Encoding']?.[0] ?? '',
        accept: '*/*',
      },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), { services: ['tesseract'] });
  });

  it('answers 401 without a key and with a wrong key, on every endpoint', async () => {
    for (const p of ['/health', '/services']) {
      for (const key of [null, 'wrong-key']) {
        const r = await getJson(gw, p, key);
        assert.equal(r.status, 401);
        assert.equal(r.json.detail, 'Invalid or missing API Key');
      }
    }
    const r = await fetch(`${gw.url}/ocr/tesseract`, { method: 'POST', body: ocrForm(Buffer.from('x'), 'a.png', 'image/png') });
    assert.equal(r.status, 401);
  });

  it('answers 404 with the original detail for an unknown service', async () => {
    const r = await postOcr(gw, 'paddle', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(r.status, 404);
    assert.equal(r.json.detail, "OCR service 'paddle' not found.");
    const m = await postOcr(gw, 'marker', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(m.status, 404, 'a known but disabled service is not found either');
  });

  it('answers 413 over MAX_UPLOAD_MB, declared or streamed', async () => {
    const big = Buffer.alloc(1536 * 1024, 7);
    const declared = await postOcr(gw, 'tesseract', ocrForm(big, 'big.png', 'image/png'));
    assert.equal(declared.status, 413);
    assert.equal(declared.json.type, 'FileTooLarge');
    // Chunked, no Content-Length: caught while streaming.
    const boundary = 'XyZ';
    const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.png"\r\nContent-Type: image/png\r\n\r\n`);
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(head);
        for (let i = 0; i < 24; i += 1) controller.enqueue(Buffer.alloc(64 * 1024, 1));
        controller.enqueue(tail);
        controller.close();
      },
    });
    const res = await fetch(`${gw.url}/ocr/tesseract`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY, 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: stream,
      duplex: 'half',
    });
    assert.equal(res.status, 413);
  });

  it('reads form fields before the file as options, and refuses (never ignores) one after it', async () => {
    const pdf = (): Blob => new Blob([new Uint8Array(fixture('client', 'Devis_multi_pages.pdf'))], { type: 'application/pdf' });
    const before = new FormData();
    before.append('page_range', '2');
    before.append('file', pdf(), 'm.pdf');
    const r1 = await postOcr(gw, 'tesseract', before);
    assert.equal(r1.status, 200, JSON.stringify(r1.json));
    assert.equal(r1.json.page_count, 1);

    const bad = new FormData();
    bad.append('lang', 'qaa');
    bad.append('file', pdf(), 'm.pdf');
    const r2 = await postOcr(gw, 'tesseract', bad);
    assert.equal(r2.status, 400);
    assert.match(String(r2.json.error), /qaa/);

    const twice = new FormData();
    twice.append('page_range', '1');
    twice.append('file', pdf(), 'm.pdf');
    const r3 = await postOcr(gw, 'tesseract', twice, { query: '?page_range=2' });
    assert.equal(r3.status, 400);
    assert.match(String(r3.json.error), /more than once/);

    const after = new FormData();
    after.append('file', pdf(), 'm.pdf');
    after.append('page_range', '2');
    const r4 = await postOcr(gw, 'tesseract', after);
    assert.equal(r4.status, 400, JSON.stringify(r4.json));
    assert.match(String(r4.json.error), /'page_range' came after the file part/);
  });

  it('takes lang=fra+eng as typed in a URL (the + arrives as a space)', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'), { query: '?lang=fra+eng' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.match(String(r.json.text), /SIRET/);
  });

  it('answers 400 naming the problem for a form without a file part, with two files, or a bad option', async () => {
    const none = new FormData();
    none.append('note', 'hello');
    const r1 = await postOcr(gw, 'tesseract', none);
    assert.equal(r1.status, 400);
    assert.match(String(r1.json.error), /'file'/);

    const two = ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png');
    two.append('file', new Blob([new Uint8Array(fixture('client', 'Devis_test.png'))], { type: 'image/png' }), 'b.png');
    const r2 = await postOcr(gw, 'tesseract', two);
    assert.equal(r2.status, 400);
    assert.match(String(r2.json.error), /exactly one file/i);

    const r3 = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'), { query: '?colour=red' });
    assert.equal(r3.status, 400);
    assert.match(String(r3.json.error), /colour/);

    // A language no machine has (qaa is reserved for local use): deu & co. may be installed.
    const r4 = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'), { query: '?lang=qaa' });
    assert.equal(r4.status, 400);
    assert.match(String(r4.json.error), /qaa/);

    const r5 = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_multi_pages.pdf'), 'm.pdf', 'application/pdf'), {
      query: '?pages=5-9',
    });
    assert.equal(r5.status, 400);
    assert.match(String(r5.json.error), /2 pages/);

    const raw = await fetch(`${gw.url}/ocr/tesseract`, { method: 'POST', headers: { 'x-api-key': API_KEY, 'content-type': 'image/png' }, body: new Uint8Array(fixture('client', 'Devis_test.png')) });
    assert.equal(raw.status, 400);
    assert.match(String(((await raw.json()) as { error: string }).error), /multipart/);
  });

  it('serves /health in the original shape plus sidecar details', async () => {
    const r = await getJson(gw, '/health');
    assert.equal(r.status, 200);
    assert.equal(r.json.status, 'healthy');
    assert.deepEqual(r.json.services, ['tesseract']);
    assert.deepEqual(r.json.gpu, { available: false });
    const t = (r.json.sidecars as Record<string, Record<string, unknown>>).tesseract;
    assert.ok(t);
    assert.equal(t.state, 'ready');
    assert.equal(typeof t.pid, 'number');
    assert.equal(t.restarts, 0);
    assert.match(String(t.model), /tesseract 5/);
    assert.equal(t.device, 'cpu');
    assert.ok(t.queue !== null && typeof t.queue === 'object');
  });

  it('serves /livez and /readyz without a key, revealing nothing else', async () => {
    for (const p of ['/livez', '/readyz']) {
      const r = await getJson(gw, p, null);
      assert.equal(r.status, 200);
      assert.deepEqual(Object.keys(r.json), ['status']);
    }
  });

  it('sets a request id and security headers on every answer', async () => {
    const res = await fetch(`${gw.url}/services`, { headers: { 'x-api-key': API_KEY, 'x-request-id': 'abc-123' } });
    assert.equal(res.headers.get('x-request-id'), 'abc-123');
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    assert.match(res.headers.get('cache-control') ?? '', /no-store/);
    const generated = await fetch(`${gw.url}/livez`);
    assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  it('serves two concurrent requests on two workers', async () => {
    const send = () => postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    const [a, b] = await Promise.all([send(), send()]);
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assertQuoteText(a.json.text);
    assertQuoteText(b.json.text);
  });

  it('never logs the API key', () => {
    assert.ok(!gw.logs().includes(API_KEY));
  });
});

// The client's fourth model. Its dotsocr reader sends the request its nanonets reader was recorded
// sending (same Faraday multipart body; only the model in the path differs). dots.ocr itself is played
// by a fake OpenAI-compatible server (vLLM's API) answering recorded-shape layout cells.
const DOTS_MODEL = 'rednote-hilab/dots.ocr';
const DOTS_PLACEHOLDER = '<|img|><|imgpad|><|endofimg|>';
const DOTS_CELLS = [
  { bbox: [20, 10, 600, 40], category: 'Page-header', text: 'DUPOND Martin — Devis n° 2025-117 du 15/07/2025' },
  { bbox: [20, 60, 300, 140], category: 'Text', text: 'Entreprise Rénov\n456 rue des Cerises\n06300 Nice' },
  {
    bbox: [20, 160, 600, 260],
    category: 'Table',
    text: '<table><tr><th>Désignation</th><th>Prix</th></tr><tr><td>Pompe à chaleur PàC</td><td>1000€</td></tr></table>',
  },
  { bbox: [20, 460, 600, 490], category: 'Page-footer', text: 'RGE n. : E123456 — TVA intra FR86504321234 - SIRET 12345678900000' },
];

describe('client contract (dotsocr, its model served by vLLM)', () => {
  let gw: Gateway;
  let vllm: ReturnType<typeof createServer>;
  const answers: { content: string; finish: string }[] = [];
  const asked: Record<string, unknown>[] = [];

  before(async () => {
    vllm = createServer((req: IncomingMessage, res: ServerResponse) => {
      const send = (body: unknown): void => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method === 'GET') {
        send({ object: 'list', data: [{ id: DOTS_MODEL, object: 'model' }] });
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        asked.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>);
        const next = answers.shift() ?? { content: JSON.stringify(DOTS_CELLS), finish: 'stop' };
        send({ choices: [{ index: 0, message: { role: 'assistant', content: next.content }, finish_reason: next.finish }] });
      });
    });
    await new Promise<void>((resolve) => vllm.listen(0, '127.0.0.1', resolve));
    const { port } = vllm.address() as AddressInfo;
    gw = await startGateway({
      ENABLED_SERVICES: 'dotsocr',
      DOTSOCR_BACKEND: 'openai',
      DOTSOCR_ENDPOINT: `http://127.0.0.1:${port}/v1`,
    });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    await new Promise<void>((resolve) => vllm.close(() => resolve()));
  });

  it('lists dotsocr in /services (it answered 404 before)', async () => {
    assert.deepEqual((await getJson(gw, '/services')).json.services, ['dotsocr']);
  });

  it("answers the client's recorded request on /ocr/dotsocr with the page's text, header and footer included", async () => {
    const rec = cassette('ocr_nanonets_png.yml');
    const body = rec.request.body.string as Buffer;
    const contentType = rec.request.headers['Content-Type']?.[0];
    assert.ok(contentType !== undefined && Buffer.isBuffer(body));
    const r = await postOcr(gw, 'dotsocr', body, {
      headers: { 'content-type': contentType, 'user-agent': 'Faraday v2.13.1', accept: '*/*' },
      query: '?pages=true',
    });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assertQuoteText(r.json.text);
    const text = r.json.text as string;
    assert.ok(text.startsWith('DUPOND Martin — Devis n° 2025-117 du 15/07/2025\n\n'), text);
    assert.ok(text.endsWith('SIRET 12345678900000'), text);
    assert.ok(text.includes('Désignation\tPrix\nPompe à chaleur PàC\t1000€'), 'table rows');
    const pages = r.json.pages as { source: string; meta: { cells: { category: string; bbox: number[] }[] } }[];
    assert.equal(pages[0]?.source, 'ocr');
    assert.deepEqual(
      pages[0]?.meta.cells.map((c) => c.category),
      DOTS_CELLS.map((c) => c.category),
    );
    // What reached the model: the image, then dots.ocr's layout prompt behind its image placeholder.
    const messages = asked.at(-1)?.messages as { content: { type: string; text?: string; image_url?: { url: string } }[] }[];
    const [image, prompt] = messages[0]?.content ?? [];
    assert.match(image?.image_url?.url ?? '', /^data:image\/png;base64,/);
    assert.ok(prompt?.text?.startsWith(`${DOTS_PLACEHOLDER}Please output the layout information`));
  });

  it('falls back to tesseract when every answer is malformed, and says so in the page', async () => {
    answers.push(
      { content: JSON.stringify(DOTS_CELLS).slice(0, 120), finish: 'length' },
      { content: JSON.stringify([{ bbox: [1, 2, 3, 4], category: 'Text', text: 'Total '.repeat(40) }]), finish: 'stop' },
      { content: 'quQu img tr f', finish: 'stop' },
    );
    const before = asked.length;
    const r = await postOcr(gw, 'dotsocr', ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'), { query: '?pages=true' });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(
      asked.slice(before).map((b) => b.temperature),
      [0.1, 0.3, 0.5],
    );
    const page = (r.json.pages as { source: string; meta: { attempts: number } }[])[0];
    assert.ok(page);
    assert.equal(page.source, 'fallback:tesseract');
    assert.equal(page.meta.attempts, 3);
    assert.match(r.json.text as string, /12345678900000/);
  });
});
