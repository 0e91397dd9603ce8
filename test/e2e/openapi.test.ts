// /openapi.json and /docs: open, and describing what the gateway really answers. Real answers of a
// running gateway (200, 401, 404, 413, 415, 422, /health, /services, /livez, /readyz) validate against
// the document's own schemas (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses); the documented options
// and sidecar error types match the engines' Python sources.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { SIDECAR_ERROR_TYPES } from '../../gateway/src/errors.js';
import { OCR_OPTIONS, parseOcrOptions } from '../../gateway/src/worker/ocr-options.js';
import { API_KEY, type Gateway, ROOT, fixture, ocrForm, startGateway } from '../helpers/gateway.js';

type Doc = {
  openapi: string;
  components: { schemas: Record<string, unknown> };
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: { $ref?: string } }> }>; security?: unknown[]; parameters?: { name: string }[] }>>;
};

describe('OpenAPI document and docs', () => {
  let gw: Gateway;
  let doc: Doc;
  let validate: (pathKey: string, method: string, status: number, body: unknown) => void;

  before(async () => {
    gw = await startGateway({ MAX_UPLOAD_MB: '1' });
    const res = await fetch(`${gw.url}/openapi.json`);
    assert.equal(res.status, 200, 'served without a key');
    doc = (await res.json()) as Doc;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
    validate = (pathKey, method, status, body) => {
      const response = doc.paths[pathKey]?.[method]?.responses[String(status)];
      assert.ok(response, `${method.toUpperCase()} ${pathKey} ${status} is not documented`);
      const schema = response.content?.['application/json']?.schema;
      assert.ok(schema?.$ref, `${method.toUpperCase()} ${pathKey} ${status} has no JSON schema`);
      const check = ajv.getSchema(`openapi.json${schema.$ref}`);
      assert.ok(check, schema.$ref);
      assert.ok(check(body), `${method.toUpperCase()} ${pathKey} ${status}: ${ajv.errorsText(check.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
    };
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  const ocr = async (file: Buffer, name: string, type: string, query = '', key: string | null = API_KEY, service = 'tesseract') => {
    const res = await fetch(`${gw.url}/ocr/${service}${query}`, {
      method: 'POST',
      headers: key === null ? {} : { 'x-api-key': key },
      body: ocrForm(file, name, type),
    });
    return { status: res.status, body: (await res.json()) };
  };

  it('is OpenAPI 3.1 with every endpoint', () => {
    assert.equal(doc.openapi, '3.1.0');
    for (const p of ['/ocr/{service}', '/services', '/health', '/livez', '/readyz', '/metrics', '/openapi.json', '/docs']) assert.ok(doc.paths[p], p);
    for (const p of ['/livez', '/readyz', '/openapi.json', '/docs']) assert.deepEqual(doc.paths[p]?.get?.security, [], `${p} needs no key`);
    const params = doc.paths['/ocr/{service}']?.post?.parameters?.map((p) => p.name);
    assert.deepEqual(params, ['service', ...OCR_OPTIONS.map((o) => o.name)]);
    for (const status of ['200', '400', '401', '404', '413', '415', '422', '503', '504']) {
      assert.ok(doc.paths['/ocr/{service}']?.post?.responses[status], `OCR ${status} documented`);
    }
  });

  it('documents options the engines really take, with examples the gateway accepts', () => {
    for (const o of OCR_OPTIONS) {
      if (o.services === 'all') {
        assert.doesNotThrow(() => parseOcrOptions({ [o.name]: o.example }), o.name);
        continue;
      }
      for (const service of o.services) {
        const source = readFileSync(path.join(ROOT, 'sidecars', 'mdso_sidecar', 'engines', `${service}.py`), 'utf8');
        assert.ok(source.includes(`"${o.name}"`), `${service}.py does not mention option ${o.name}`);
      }
    }
  });

  it("lists exactly the sidecar's error types with their statuses", () => {
    const source = readFileSync(path.join(ROOT, 'sidecars', 'mdso_sidecar', 'errors.py'), 'utf8');
    // Each class body up to the next class; those without their own status (ServiceStarting,
    // answered as ServiceUnavailable) inherit it.
    const python = [...source.matchAll(/^class (\w+)\((SidecarError|ServiceUnavailable)\):((?:(?!\nclass )[\s\S])*)/gm)]
      .map((m) => ({ type: m[1]!, status: Number(/^\s+status = (\d+)/m.exec(m[3]!)?.[1] ?? NaN) }))
      .filter((e) => !Number.isNaN(e.status));
    assert.deepEqual(
      SIDECAR_ERROR_TYPES.map((e) => ({ type: e.type, status: e.status })).sort((a, b) => a.type.localeCompare(b.type)),
      python.sort((a, b) => a.type.localeCompare(b.type)),
    );
  });

  it('real OCR answers validate: 200 (with pages), 401, 404, 413, 415, 422', async () => {
    let r = await ocr(fixture('client', 'Devis_multi_pages.pdf'), 'multi.pdf', 'application/pdf', '?pages=true');
    assert.equal(r.status, 200);
    validate('/ocr/{service}', 'post', 200, r.body);
    r = await ocr(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', '', null);
    assert.equal(r.status, 401);
    validate('/ocr/{service}', 'post', 401, r.body);
    r = await ocr(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', '', API_KEY, 'nanonets');
    assert.equal(r.status, 404);
    validate('/ocr/{service}', 'post', 404, r.body);
    r = await ocr(Buffer.alloc(2 * 1024 * 1024, 1), 'big.pdf', 'application/pdf');
    assert.equal(r.status, 413);
    validate('/ocr/{service}', 'post', 413, r.body);
    r = await ocr(fixture('client', 'Devis_test.zip'), 'Devis_test.zip', 'application/zip');
    assert.equal(r.status, 415);
    validate('/ocr/{service}', 'post', 415, r.body);
    r = await ocr(fixture('client', 'empty.pdf'), 'empty.pdf', 'application/pdf');
    assert.equal(r.status, 422);
    validate('/ocr/{service}', 'post', 422, r.body);
    r = await ocr(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', '?bogus=1');
    assert.equal(r.status, 400);
    validate('/ocr/{service}', 'post', 400, r.body);
  });

  it('real status answers validate: /health, /services, /livez, /readyz', async () => {
    for (const [p, key] of [
      ['/health', API_KEY],
      ['/services', API_KEY],
      ['/livez', null],
      ['/readyz', null],
    ] as const) {
      const res = await fetch(`${gw.url}${p}`, { headers: key === null ? {} : { 'x-api-key': key } });
      assert.equal(res.status, 200, p);
      validate(p, 'get', 200, await res.json());
    }
    const res = await fetch(`${gw.url}/health`);
    validate('/health', 'get', 401, await res.json());
  });

  it('serves /docs and its assets without a key, from node_modules (no CDN)', async () => {
    const page = await fetch(`${gw.url}/docs`);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, 'no external URL');
    for (const src of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      const asset = await fetch(`${gw.url}${src[1]!}`);
      assert.equal(asset.status, 200, src[1]);
      await asset.arrayBuffer();
    }
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
  });
});
