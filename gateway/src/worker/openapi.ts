// The OpenAPI 3.1 document of the gateway, generated from the definitions the gateway itself uses:
// answer shapes from api-schemas.ts (zod → JSON Schema), query options from ocr-options.ts, services
// from services.ts, error types and statuses from errors.ts. Built by the primary, once, when a
// worker first asks for it (docs-routes.ts serves it at /openapi.json and renders it at /docs):
// the workers never load zod.
import { z } from 'zod';
import type { Config } from '../config.js';
import {
  type ApiError,
  BadOption,
  BadRequest,
  FileTooLarge,
  GatewayTimeout,
  SIDECAR_ERROR_TYPES,
  ServiceNotFound,
  ServiceUnavailable,
  Unauthorized,
  UploadTimeout,
} from '../errors.js';
import { KNOWN_SERVICES } from '../services.js';
import {
  ErrorBodySchema,
  GpuStatsSchema,
  HealthSchema,
  LivezSchema,
  OcrAnswerSchema,
  OcrPageSchema,
  ReadyzSchema,
  ServicesSchema,
  SidecarHealthSchema,
} from './api-schemas.js';
import { errorBody } from './error-handler.js';
import { OCR_OPTIONS, PAGE_BREAK } from './ocr-options.js';

type JsonObject = Record<string, unknown>;

/**
 * The answer schemas as JSON Schema 2020-12 (what OpenAPI 3.1 uses), one per `.meta({ id })` of
 * api-schemas.ts, referring to each other through #/components/schemas/<id>.
 */
function componentSchemas(): Record<string, JsonObject> {
  const wanted = [OcrAnswerSchema, OcrPageSchema, ErrorBodySchema, HealthSchema, SidecarHealthSchema, GpuStatsSchema, ServicesSchema, LivezSchema, ReadyzSchema];
  const registry = z.registry<{ id: string }>();
  for (const schema of wanted) {
    const id = z.globalRegistry.get(schema)?.id;
    if (id === undefined) throw new Error('every answer schema has a .meta({ id })');
    registry.add(schema, { id });
  }
  const { schemas } = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    io: 'output',
    unrepresentable: 'any',
    uri: (id) => `#/components/schemas/${id}`,
  });
  const out: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(schemas)) {
    const rest: JsonObject = { ...(schema as JsonObject) };
    for (const key of ['$schema', '$id', 'id']) delete rest[key];
    out[id] = rest;
  }
  return out;
}

const ref = (name: string): JsonObject => ({ $ref: `#/components/schemas/${name}` });

/** Statuses an OCR request may answer besides 200, with the gateway errors and sidecar types behind each. */
function errorResponses(config: Config): Record<string, JsonObject> {
  const mb = config.maxUploadBytes;
  const gateway: ApiError[] = [
    new BadRequest("No file received: send the document in a multipart part named 'file'."),
    new BadOption("Option 'pages' must be true, false or a page range such as '1-3,7'.", { option: 'pages', value: 'x' }),
    new Unauthorized(),
    new ServiceNotFound('x'),
    new FileTooLarge(mb),
    new ServiceUnavailable("OCR service 'olmocr' is starting; retry shortly.", 5, { state: 'starting' }),
    new UploadTimeout('The upload is too slow: 0 bytes arrived in the last 30 s, below the minimum of 1024 bytes/s (UPLOAD_MIN_RATE); check the connection and send the file again.', {
      received_bytes: 0,
      window_s: 30,
      min_bytes_per_s: 1024,
    }),
    new GatewayTimeout(config.timeoutMs),
  ];
  const statuses = [...new Set([...gateway.map((e) => e.status), ...SIDECAR_ERROR_TYPES.map((e) => e.status)])].sort();
  const out: Record<string, JsonObject> = {};
  for (const status of statuses) {
    const own = gateway.filter((e) => e.status === status);
    const relayed = SIDECAR_ERROR_TYPES.filter((e) => e.status === status);
    const lines = [
      ...own.map((e) => `\`${e.type}\` (gateway): ${e.message}`),
      ...relayed.map((e) => `\`${e.type}\` (service): ${e.when}`),
    ];
    const examples: Record<string, JsonObject> = {};
    for (const e of own) examples[e.type] = { value: errorBody(e) };
    for (const e of relayed) {
      if (examples[e.type] === undefined) {
        examples[e.type] = { value: { error: `(${e.when})`, type: e.type, details: {}, detail: `(${e.when})` } };
      }
    }
    const retry = status === 503 ? { headers: { 'Retry-After': { description: 'Seconds to wait before retrying (starting, restarting, not answering its health checks, queue full, disk full, GPU out of memory).', schema: { type: 'integer' } } } } : {};
    out[String(status)] = {
      description: lines.join('\n\n'),
      ...retry,
      content: { 'application/json': { schema: ref('Error'), examples } },
    };
  }
  return out;
}

const UNAUTHORIZED = (): JsonObject => ({
  description: 'Missing or wrong `x-api-key`.',
  content: { 'application/json': { schema: ref('Error'), example: errorBody(new Unauthorized()) } },
});

export function buildOpenApi(config: Config): JsonObject {
  const security = [{ apiKey: [] }];
  const open: unknown[] = [];
  const ocrExample = {
    text: `…page 1…${PAGE_BREAK}…page 2…`,
    service: 'tesseract',
    page_count: 2,
    duration_ms: 2310,
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'mdso-ocr',
      version: '0.1.0',
      description:
        'OCR backend of Mon Devis Sans Oublis: send a quote (PDF, often a scan, or a photo) and get its text back. ' +
        'Every endpoint but /livez, /readyz, /openapi.json and /docs (and /metrics with METRICS_PUBLIC=true) requires the `x-api-key` header. ' +
        'Error answers are JSON `{error, type, details, detail}`.',
    },
    servers: [{ url: '/' }],
    security,
    tags: [{ name: 'ocr' }, { name: 'status' }, { name: 'documentation' }],
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: componentSchemas(),
    },
    paths: {
      '/ocr/{service}': {
        post: {
          tags: ['ocr'],
          summary: 'OCR a document',
          description:
            'Multipart form with exactly one part named `file`; its type is detected from the bytes (PDF, PNG, JPEG, TIFF, BMP, GIF, WebP). ' +
            `At most ${Math.round(config.maxUploadBytes / 1024 / 1024)} MB (MAX_UPLOAD_MB) and ${config.maxPages} pages (MAX_PAGES); done within ${config.timeoutMs / 1000} s (TIMEOUT). ` +
            'Options other than `pages` and `page_range` are validated by the service: one it does not take answers 400 naming it.',
          parameters: [
            {
              name: 'service',
              in: 'path',
              required: true,
              description: `An enabled service (here: ${config.services.map((s) => s.name).join(', ')}); a known but disabled one answers 404.`,
              schema: { type: 'string', enum: [...KNOWN_SERVICES] },
            },
            ...OCR_OPTIONS.map((o) => ({
              name: o.name,
              in: 'query',
              required: false,
              description: `${o.services === 'all' ? 'Every service' : `Service${o.services.length > 1 ? 's' : ''} ${o.services.join(', ')} only`}. ${o.description}`,
              schema: o.schema,
              example: o.example,
            })),
          ],
          requestBody: {
            required: true,
            content: {
              'multipart/form-data': {
                schema: {
                  type: 'object',
                  required: ['file'],
                  properties: { file: { type: 'string', format: 'binary', description: 'The document.' } },
                },
              },
            },
          },
          responses: {
            '200': {
              description: 'The text of the document (and, with ?pages=true, of each page).',
              headers: { 'x-request-id': { description: "The client's x-request-id, or a generated one.", schema: { type: 'string' } } },
              content: { 'application/json': { schema: ref('OcrAnswer'), example: ocrExample } },
            },
            ...errorResponses(config),
          },
        },
      },
      '/services': {
        get: {
          tags: ['status'],
          summary: 'Enabled services that can answer',
          responses: {
            '200': { description: 'Services', content: { 'application/json': { schema: ref('Services'), example: { services: ['tesseract'] } } } },
            '401': UNAUTHORIZED(),
          },
        },
      },
      '/health': {
        get: {
          tags: ['status'],
          summary: "Each sidecar's state, pid, restarts, queue, GPU memory and in-flight progress",
          responses: {
            '200': { description: 'Health, from memory (the primary polls every HEALTH_POLL_MS)', content: { 'application/json': { schema: ref('Health') } } },
            '401': UNAUTHORIZED(),
          },
        },
      },
      '/livez': {
        get: {
          tags: ['status'],
          summary: 'Liveness probe (no key)',
          security: open,
          responses: { '200': { description: 'Alive', content: { 'application/json': { schema: ref('Livez') } } } },
        },
      },
      '/readyz': {
        get: {
          tags: ['status'],
          summary: 'Readiness probe (no key): no service still loading and at least one ready',
          security: open,
          responses: {
            '200': { description: 'Ready', content: { 'application/json': { schema: ref('Readyz'), example: { status: 'ready' } } } },
            '503': { description: 'Not ready', content: { 'application/json': { schema: ref('Readyz'), example: { status: 'not ready' } } } },
          },
        },
      },
      '/metrics': {
        get: {
          tags: ['status'],
          summary: `Prometheus metrics, summed over every worker${config.metricsPublic ? ' (METRICS_PUBLIC=true: no key)' : ' (key required unless METRICS_PUBLIC=true)'}`,
          ...(config.metricsPublic ? { security: open } : {}),
          responses: {
            '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
            ...(config.metricsPublic ? {} : { '401': UNAUTHORIZED() }),
            '503': { description: 'The metrics could not be collected from the workers', content: { 'application/json': { schema: ref('Error') } } },
          },
        },
      },
      '/openapi.json': {
        get: {
          tags: ['documentation'],
          summary: 'This document (no key: it reveals no data)',
          security: open,
          responses: { '200': { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } },
        },
      },
      '/docs': {
        get: {
          tags: ['documentation'],
          summary: 'Browsable documentation of this document (no key)',
          security: open,
          responses: { '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
    },
  };
}
