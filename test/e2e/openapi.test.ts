// /openapi.json and /docs: open, and describing what the gateway really answers. Real answers of a
// running gateway (200, 400, 401, 404, 413, 415, 422, /health, /services, /livez, /readyz) validate
// against the document's own schemas (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses); every option and
// error type of the sidecars' contract (printed by the Python package: the engines' own declarations)
// is documented, and the gateway takes and refuses options as the contract says; every operation has
// an operationId and documents every error status it can answer; /docs "Try it out" works as first
// shown (issue 14): nothing optional is filled in, and every example is a value the services accept;
// and Redocly's recommended lint (redocly.yaml) finds nothing in the served document.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Ajv2020 } from 'ajv/dist/2020.js';
import {
  ApiError,
  BadCallbackUrl,
  BadOption,
  BadRequest,
  FileTooLarge,
  GatewayTimeout,
  PeerRefusedKey,
  PeerUnreachable,
  JobNotDone,
  JobNotFound,
  JobStorageFull,
  RouteNotFound,
  ServiceNotFound,
  ServiceUnavailable,
  Unauthorized,
  UploadTimeout,
} from '../../gateway/src/api/errors.js';
import { documentedOptions, parseOcrOptions } from '../../gateway/src/api/ocr-options.js';
import { buildOpenApi } from '../../gateway/src/api/openapi.js';
import { loadConfig } from '../../gateway/src/config.js';
import type { SidecarContract } from '../../gateway/src/ipc/sidecar-wire.js';
import { mainInterpreter, readSidecarContract } from '../../gateway/src/sidecar-contract.js';
import { API_KEY, type Gateway, ROOT, fixture, ocrForm, startGateway } from '../helpers/gateway.js';

const run = promisify(execFile);

type Schema = { $ref?: string; type?: string; enum?: unknown[]; examples?: unknown[]; example?: unknown; default?: unknown };
type Parameter = {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Schema;
  example?: unknown;
  examples?: Record<string, { value?: unknown }>;
  default?: unknown;
  content?: unknown;
};
type Response = { content?: Record<string, { schema: Schema; examples?: Record<string, { value: unknown }> }> };
type Operation = {
  operationId?: string;
  responses: Record<string, Response>;
  security?: unknown[];
  parameters?: Parameter[];
  requestBody?: { content: Record<string, { schema?: Schema; example?: unknown; examples?: unknown; encoding?: unknown }> };
};
type Doc = {
  openapi: string;
  components: { schemas: Record<string, unknown> };
  paths: Record<string, Record<string, Operation>>;
};

const operations = (doc: Doc): [string, Operation][] =>
  Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([method, op]): [string, Operation] => [`${method.toUpperCase()} ${p}`, op]));

/**
 * The value swagger-ui 5 puts in a parameter's field when "Try it out" is pressed, and sends
 * (swagger-ui's parameter-row setDefaultValue: the first of the parameter's `examples`, its
 * `example`, its schema's `example`, its schema's `default`, its own `default`).
 */
function prefilled(p: Parameter): unknown {
  const first = p.examples === undefined ? undefined : Object.values(p.examples)[0]?.value;
  return first ?? p.example ?? p.schema?.example ?? p.schema?.default ?? p.default;
}

/** A parameter value as a query string or path carries it (swagger-ui writes booleans as `true`/`false`). */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  throw new Error(`not a scalar parameter value: ${JSON.stringify(value)}`);
}

/** Every example value a parameter documents, wherever it is written. */
function examplesOf(p: Parameter): unknown[] {
  return [
    ...(p.example === undefined ? [] : [p.example]),
    ...Object.values(p.examples ?? {}).map((e) => e.value),
    ...(p.schema?.examples ?? []),
    ...(p.schema?.example === undefined ? [] : [p.schema.example]),
    ...(p.schema?.default === undefined ? [] : [p.schema.default]),
    ...(p.default === undefined ? [] : [p.default]),
  ];
}

/**
 * Seven small pages (a line of text in a text layer on the first, nothing on the others): a document
 * every documented page range fits in (`1-3,7`), read in a fraction of a second.
 */
function sevenPagePdf(): Buffer {
  const stream = 'BT /F1 12 Tf 10 40 Td (DEVIS D-2024-117 Total TTC 1 234,56 EUR) Tj ET';
  const pages = 7;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Kids [${Array.from({ length: pages }, (_, i) => `${i + 5} 0 R`).join(' ')}] /Count ${pages} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    `<< /Length ${stream.length} >>\nstream\n${stream}\nendstream`,
    ...Array.from(
      { length: pages },
      (_, i) => `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 100]${i === 0 ? ' /Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R' : ''} >>`,
    ),
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

/**
 * The engines' own option check (Engine.parse_options) for services the test gateway does not run,
 * on what the gateway forwards: [service, options] pairs, each answered "ok" or the BadOption's
 * message. Engines check options before loading anything, except Tesseract, which checks `lang`
 * against the languages it loaded: hybrid's options are its Tesseract reader's, so that reader is
 * loaded (not rapidocr's models).
 */
async function engineVerdicts(cases: [string, Record<string, string>][]): Promise<string[]> {
  const script = [
    'import json, sys',
    'from mdso_sidecar.engines import engine_class',
    'from mdso_sidecar.errors import BadOption',
    'from mdso_sidecar.settings import load_settings',
    'out = []',
    'for service, options in json.loads(sys.argv[1]):',
    '    engine = engine_class(service)(load_settings(service, {}))',
    '    if service == "hybrid":',
    '        engine.tesseract.load()',
    '    try:',
    '        engine.parse_options(options)',
    '        out.append("ok")',
    '    except BadOption as exc:',
    '        out.append(str(exc))',
    'print(json.dumps(out))',
  ].join('\n');
  const { stdout } = await run(path.join(ROOT, '.venv', 'bin', 'python'), ['-c', script, JSON.stringify(cases)], { cwd: path.join(ROOT, 'sidecars') });
  return JSON.parse(stdout) as string[];
}

type LintReport = { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location: { pointer: string }[] }[] };

/**
 * `redocly lint` of a document with the project's redocly.yaml (Redocly's recommended rules, every
 * warning an error), offline: its exit code and report.
 */
async function redoclyLint(doc: unknown): Promise<{ code: number; report: LintReport }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-openapi-'));
  try {
    const file = path.join(dir, 'openapi.json');
    writeFileSync(file, JSON.stringify(doc));
    const cli = path.join(ROOT, 'node_modules', '.bin', 'redocly');
    const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' };
    const args = ['lint', '--config', path.join(ROOT, 'redocly.yaml'), '--format=json', file];
    let code = 0;
    let stdout: string;
    try {
      ({ stdout } = await run(cli, args, { env, cwd: ROOT, maxBuffer: 16 * 1024 * 1024 }));
    } catch (err) {
      // A lint with problems exits 1 and still writes its report.
      const failed = err as { code?: number; stdout?: string; stderr?: string };
      if (typeof failed.code !== 'number' || typeof failed.stdout !== 'string' || !failed.stdout.trim().startsWith('{')) {
        throw new Error(`redocly lint did not run: ${String(failed.code)} ${failed.stderr ?? ''}`);
      }
      code = failed.code;
      stdout = failed.stdout;
    }
    return { code, report: JSON.parse(stdout) as LintReport };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * What each operation can answer besides its success, from the errors.ts classes each route throws
 * and the error types of the sidecars' contract: the statuses the document must list there.
 */
const reachable = (contract: SidecarContract): Record<string, number[]> => ({
  'POST /ocr/{service}': [
    new BadRequest('no file part, malformed multipart (ocr-route.ts)').status,
    new BadOption('unknown or invalid option (ocr-options.ts, ocr-route.ts)').status,
    new Unauthorized().status,
    new ServiceNotFound('x').status,
    new RouteNotFound('/ocr/%74esseract (ocr-route.ts)').status,
    new UploadTimeout('stalled or unfinished upload (ocr-route.ts)').status,
    new FileTooLarge(1).status,
    new ApiError('unexpected error (error-handler.ts)').status,
    new ServiceUnavailable('service not ready, or stopped mid-request (ocr-route.ts, ocr-exchange.ts)', 5).status,
    new GatewayTimeout(1000).status,
    // A remote service's peer gateway down or refusing this gateway's key (remote-route.ts).
    new PeerUnreachable('marker', 'refused the connection').status,
    new PeerRefusedKey('marker', 401).status,
    // Relayed from the service as SidecarError with their own status.
    ...contract.errors.map((e) => e.status),
  ],
  'POST /jobs/{id}': [
    new BadRequest('no file part, malformed multipart (jobs-route.ts)').status,
    new BadOption('unknown or invalid option (ocr-options.ts, jobs-route.ts)').status,
    new BadCallbackUrl('callback_url refused (jobs/callbacks.ts)').status,
    new Unauthorized().status,
    new ServiceNotFound('x').status,
    new RouteNotFound('/jobs/%74esseract (jobs-route.ts)').status,
    new UploadTimeout('stalled upload (jobs-route.ts)').status,
    new FileTooLarge(1).status,
    new ApiError('unexpected error (error-handler.ts, job-engine.ts)').status,
    new JobStorageFull('JOB_REDIS_MAX_BYTES (redis-engine.ts)', 60).status,
    // Refused before 202 by a sidecar's /inspect, as the synchronous route would refuse them.
    ...contract.errors.filter((e) => e.status < 500).map((e) => e.status),
  ],
  'GET /jobs/{id}': [new BadOption('wait').status, new Unauthorized().status, new JobNotFound().status, new ApiError('').status, new ServiceUnavailable('primary did not answer', 5).status],
  'GET /jobs/{id}/result': [new Unauthorized().status, new JobNotFound().status, new JobNotDone('running').status, new ApiError('').status, new ServiceUnavailable('primary did not answer', 5).status],
  'DELETE /jobs/{id}': [new Unauthorized().status, new JobNotFound().status, new ApiError('').status, new ServiceUnavailable('primary did not answer', 5).status],
  'GET /services': [new Unauthorized().status],
  'GET /health': [new Unauthorized().status],
  'GET /metrics': [new Unauthorized().status, new ServiceUnavailable('primary did not answer (metrics-route.ts)', 5).status],
  'GET /openapi.json': [new ServiceUnavailable('primary did not answer (docs-routes.ts)', 5).status],
  'GET /readyz': [503],
  'GET /livez': [],
  'GET /docs': [],
});

/** A documented example as the schema types it, and the JSON type of that (integer: number). */
const jsonType = (schemaType: string): string => (schemaType === 'integer' ? 'number' : schemaType);

describe('OpenAPI document and docs', () => {
  let gw: Gateway;
  let doc: Doc;
  let contract: SidecarContract;
  let validate: (pathKey: string, method: string, status: number, body: unknown) => void;

  before(async () => {
    contract = await readSidecarContract(mainInterpreter(''));
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
      // An error answer's type is one of those documented (as examples) for its status.
      const type = (body as { type?: unknown }).type;
      const examples = response.content?.['application/json']?.examples;
      if (schema.$ref === '#/components/schemas/Error' && typeof type === 'string') {
        assert.ok(examples?.[type], `${method.toUpperCase()} ${pathKey} ${status}: type ${type} is not documented (${Object.keys(examples ?? {}).join(', ')})`);
      }
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
    for (const p of ['/ocr/{service}', '/jobs/{id}', '/jobs/{id}/result', '/services', '/health', '/livez', '/readyz', '/metrics', '/openapi.json', '/docs']) assert.ok(doc.paths[p], p);
    for (const p of ['/livez', '/readyz', '/openapi.json', '/docs']) assert.deepEqual(doc.paths[p]?.get?.security, [], `${p} needs no key`);
    const params = doc.paths['/ocr/{service}']?.post?.parameters?.map((p) => p.name);
    assert.deepEqual(params, ['service', ...documentedOptions(contract).map((o) => o.name)]);
    for (const status of ['200', '400', '401', '404', '408', '413', '415', '422', '500', '502', '503', '504']) {
      assert.ok(doc.paths['/ocr/{service}']?.post?.responses[status], `OCR ${status} documented`);
    }
  });

  it('gives every operation a unique camelCase operationId', () => {
    const ids = operations(doc).map(([name, op]) => {
      assert.match(op.operationId ?? '', /^[a-z][a-zA-Z0-9]*$/, `${name}: operationId ${String(op.operationId)}`);
      return op.operationId;
    });
    assert.equal(new Set(ids).size, ids.length, `operationIds are unique: ${ids.join(', ')}`);
  });

  it('documents, on each operation, every error status it can answer', () => {
    const REACHABLE = reachable(contract);
    assert.deepEqual(operations(doc).map(([name]) => name).sort(), Object.keys(REACHABLE).sort(), 'every operation is listed in REACHABLE');
    for (const [name, op] of operations(doc)) {
      for (const status of new Set(REACHABLE[name])) assert.ok(op.responses[String(status)], `${name} can answer ${status}: not documented`);
      // Nothing documented that it cannot answer either (2xx aside).
      const documented = Object.keys(op.responses).filter((s) => !s.startsWith('2'));
      assert.deepEqual(documented.map(Number).sort((a, b) => a - b), [...new Set(REACHABLE[name])].sort((a, b) => a - b), name);
    }
  });

  it('fills nothing optional in for "Try it out"; what it fills in is accepted (issue 14)', async () => {
    // The request swagger-ui builds as first shown: each parameter's prefilled value, and a file.
    const op = doc.paths['/ocr/{service}']?.post;
    assert.ok(op);
    const query = new URLSearchParams();
    let service: string | undefined;
    for (const p of op.parameters ?? []) {
      const value = prefilled(p);
      if (value === undefined) continue;
      if (p.in === 'path') service = asText(value);
      else query.set(p.name, asText(value));
    }
    const search = query.size > 0 ? `?${query.toString()}` : '';
    const r = await ocr(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', search, API_KEY, service ?? 'tesseract');
    assert.equal(r.status, 200, `POST /ocr/${service ?? 'tesseract'}${search}: ${JSON.stringify(r.body)}`);
    assert.ok(service, 'the required service is filled in');
    for (const [name, operation] of operations(doc)) {
      for (const p of operation.parameters ?? []) {
        if (p.required === true) continue;
        assert.equal(prefilled(p), undefined, `${name} ${p.name}: optional, but swagger-ui would send ${JSON.stringify(prefilled(p))}`);
        assert.equal(p.content, undefined, `${name} ${p.name}: a content example would be filled in`);
      }
      for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
        assert.equal(media.example ?? media.examples, undefined, `${name} ${type}: swagger-ui would fill the form in with its example`);
      }
    }
  });

  it('documents only examples the gateway and its services accept', async () => {
    const op = doc.paths['/ocr/{service}']?.post;
    assert.ok(op);
    const pdf = sevenPagePdf();
    const elsewhere: [string, Record<string, string>][] = [];
    const labels: string[] = [];
    for (const p of op.parameters ?? []) {
      const values = examplesOf(p);
      if (p.required === true) assert.ok(values.length > 0, `${p.name}: a required parameter has an example`);
      for (const value of values) {
        if (p.in === 'path') {
          const r = await ocr(pdf, 'seven.pdf', 'application/pdf', '', API_KEY, asText(value));
          assert.equal(r.status, 200, `${p.name}=${asText(value)}: ${JSON.stringify(r.body)}`);
          continue;
        }
        const option = documentedOptions(contract).find((o) => o.name === p.name);
        assert.ok(option, `${p.name} is an OCR option`);
        assert.equal(typeof value, jsonType(option.schema.type), `${p.name}: the example ${JSON.stringify(value)} is of its schema's type`);
        const text = asText(value);
        // Through the real gateway on the service it runs: the gateway's options, and Tesseract's.
        if (option.services === 'all' || option.services.includes('tesseract')) {
          const r = await ocr(pdf, 'seven.pdf', 'application/pdf', `?${new URLSearchParams({ [p.name]: text }).toString()}`);
          assert.equal(r.status, 200, `${p.name}=${text}: ${JSON.stringify(r.body)}`);
        }
        // The other services' engines, on what the gateway forwards them.
        for (const service of option.services === 'all' ? [] : option.services.filter((s) => s !== 'tesseract')) {
          const forwarded = parseOcrOptions({ [p.name]: text }, contract, service).sidecarQuery;
          for (const name of contract.page_range.names) delete forwarded[name]; // the pipeline's, not the engine's
          elsewhere.push([service, forwarded]);
          labels.push(`${service} ${p.name}=${text}`);
        }
      }
    }
    assert.ok(elsewhere.length > 0, 'some options belong to services the test gateway does not run');
    const verdicts = await engineVerdicts(elsewhere);
    assert.deepEqual(
      verdicts.map((v, i) => `${labels[i]}: ${v}`),
      labels.map((l) => `${l}: ok`),
    );
  });

  it("passes Redocly's recommended lint with no warning (redocly.yaml)", async () => {
    const served = await redoclyLint(doc);
    const problems = served.report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer ?? '?'}: ${p.message}`);
    assert.deepEqual(problems, [], 'served /openapi.json');
    assert.deepEqual([served.code, served.report.totals.errors, served.report.totals.warnings], [0, 0, 0]);
    // With METRICS_PUBLIC=true /metrics is open: the other shape of the document.
    const open = await redoclyLint(buildOpenApi(loadConfig({ METRICS_PUBLIC: 'true', DOTENV_CONFIG_PATH: '/nonexistent' }), contract));
    assert.deepEqual(
      open.report.problems.map((p) => `${p.ruleId} at ${p.location[0]?.pointer ?? '?'}: ${p.message}`),
      [],
      'METRICS_PUBLIC=true',
    );
    assert.equal(open.code, 0);
    // The lint does find what it is there for: an operation without an operationId, or an error
    // status missing where the key is required.
    const broken = structuredClone(doc);
    delete broken.paths['/health']?.get?.operationId;
    delete broken.paths['/services']?.get?.responses['401'];
    const failed = await redoclyLint(broken);
    assert.equal(failed.code, 1);
    assert.deepEqual(failed.report.problems.map((p) => p.ruleId).sort(), ['operation-operationId', 'rule/keyed-operation-documents-401']);
  });

  it("documents every option of the sidecars' contract, with the services that take it", () => {
    // Nothing about an engine option is written in the gateway: each comes from the contract, which the
    // Python package prints from the engines' own declarations.
    const params = doc.paths['/ocr/{service}']?.post?.parameters ?? [];
    for (const [service, { options }] of Object.entries(contract.services)) {
      for (const spec of options) {
        const p = params.find((q) => q.name === spec.name);
        assert.ok(p, `${service}'s option ${spec.name} is documented`);
        assert.match(p.description ?? '', new RegExp(`^Services? [^.]*\\b${service}\\b[^.]* only\\.`), `${spec.name} names ${service}`);
        assert.ok(p.description?.includes(spec.doc), `${spec.name}: its declaration's doc`);
        if (spec.type === 'enum') for (const choice of spec.choices) assert.ok(p.schema?.enum?.includes(choice), `${spec.name}: ${choice}`);
        if (spec.default !== null) assert.ok(p.description?.includes(`Default: \`${spec.default}\``), `${spec.name}: its default`);
      }
    }
    const range = params.find((q) => q.name === 'page_range');
    assert.ok(range?.description?.includes(contract.page_range.doc), 'the page range, as the sidecar describes it');
  });

  it('takes and refuses options as the contract says, before the upload reaches the service', async () => {
    const tesseract = contract.services.tesseract?.options ?? [];
    const others = new Set(Object.values(contract.services).flatMap((s) => s.options.map((o) => o.name)));
    for (const spec of tesseract) others.delete(spec.name);
    assert.ok(others.size > 0, 'other services declare options tesseract does not take');
    for (const name of others) {
      const r = await ocr(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', `?${name}=x`);
      assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.body)}`);
      assert.equal((r.body as { type: string }).type, 'BadOption');
      assert.match(String((r.body as { error: string }).error), new RegExp(`^unknown option '${name}'; tesseract accepts: pages, page_range`));
    }
    for (const spec of tesseract.filter((o) => o.type === 'enum')) {
      const r = await ocr(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', `?${spec.name}=no-such-choice`);
      assert.equal(r.status, 400, spec.name);
      assert.deepEqual((r.body as { details: { accepted?: unknown } }).details.accepted, spec.type === 'enum' ? spec.choices : undefined);
    }
  });

  it("documents every error type of the sidecars' contract under its status", () => {
    const responses = doc.paths['/ocr/{service}']?.post?.responses ?? {};
    assert.ok(contract.errors.length > 0);
    for (const e of contract.errors) {
      assert.ok(responses[String(e.status)]?.content?.['application/json']?.examples?.[e.type], `${e.type} (${e.status})`);
    }
  });

  it('real OCR answers validate: 200 (with pages), 400, 401, 404, 413, 415, 422', async () => {
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
    r = await ocr(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', '', API_KEY, '%74esseract');
    assert.equal(r.status, 404);
    validate('/ocr/{service}', 'post', 404, r.body);
    const res = await fetch(`${gw.url}/ocr/tesseract`, { method: 'POST', headers: { 'x-api-key': API_KEY }, body: ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png', 'document') });
    assert.equal(res.status, 400);
    validate('/ocr/{service}', 'post', 400, await res.json());
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
