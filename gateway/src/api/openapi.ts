// The OpenAPI 3.1 document of the gateway, generated from the definitions the gateway itself uses:
// answer shapes from schemas.ts (zod → JSON Schema), services from services.ts, its own errors from
// errors.ts, and from the sidecars' contract (ipc/sidecar-wire.ts, printed by the Python package) each
// service's query options (ocr-options.ts's documentedOptions) and the error types a service relays.
// Built by the primary, once, when a worker first asks for it (worker/docs-routes.ts serves it at
// /openapi.json and renders it at /docs): the workers never load zod.
import { z } from 'zod';
import type { Config } from '../config.js';
import type { ErrorSpec, SidecarContract } from '../ipc/sidecar-wire.js';
import {
  ApiError,
  BadCallbackUrl,
  BadOption,
  BadRequest,
  FileTooLarge,
  JobNotDone,
  JobNotFound,
  JobStorageFull,
  GatewayTimeout,
  PeerRefusedKey,
  PeerUnreachable,
  RouteNotFound,
  ServiceNotFound,
  ServiceUnavailable,
  Unauthorized,
  UploadTimeout,
  errorBody,
} from './errors.js';
import { KNOWN_SERVICES } from '../services.js';
import {
  ErrorBodySchema,
  GpuStatsSchema,
  HealthSchema,
  IdentifierSchema,
  JobSchema,
  JobsHealthSchema,
  LayoutBlockSchema,
  LayoutLineSchema,
  LayoutWordSchema,
  LivezSchema,
  OcrAnswerSchema,
  OcrPageSchema,
  ReadyzSchema,
  RemoteHealthSchema,
  ServicesSchema,
  SidecarHealthSchema,
} from './schemas.js';
import { type OcrOptionDoc, PAGE_BREAK, documentedOptions } from './ocr-options.js';

type JsonObject = Record<string, unknown>;

/**
 * The answer schemas as JSON Schema 2020-12 (what OpenAPI 3.1 uses), one per `.meta({ id })` of
 * schemas.ts, referring to each other through #/components/schemas/<id>.
 */
function componentSchemas(): Record<string, JsonObject> {
  const wanted = [
    OcrAnswerSchema,
    OcrPageSchema,
    LayoutBlockSchema,
    LayoutLineSchema,
    LayoutWordSchema,
    IdentifierSchema,
    ErrorBodySchema,
    JobSchema,
    JobsHealthSchema,
    HealthSchema,
    SidecarHealthSchema,
    RemoteHealthSchema,
    GpuStatsSchema,
    ServicesSchema,
    LivezSchema,
    ReadyzSchema,
  ];
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

const json = (schema: JsonObject, example?: unknown): JsonObject => ({
  'application/json': { schema, ...(example === undefined ? {} : { example }) },
});

/**
 * The error answers of one operation, one per status: the gateway's own errors (instances of the
 * errors.ts classes, whose message is the example) and the types a service relays (the contract's).
 * test/e2e/openapi.test.ts checks that each operation documents every status the errors it can throw
 * carry.
 */
function errorResponses(gateway: readonly ApiError[], relayed: readonly ErrorSpec[] = [], retryWhy = ''): Record<string, JsonObject> {
  const statuses = [...new Set([...gateway.map((e) => e.status), ...relayed.map((e) => e.status)])].sort((a, b) => a - b);
  const out: Record<string, JsonObject> = {};
  for (const status of statuses) {
    const own = gateway.filter((e) => e.status === status);
    const theirs = relayed.filter((e) => e.status === status);
    const lines = [...own.map((e) => `\`${e.type}\` (gateway): ${e.message}`), ...theirs.map((e) => `\`${e.type}\` (service): ${e.when}`)];
    const examples: Record<string, JsonObject> = {};
    for (const e of own) examples[e.type] ??= { value: errorBody(e) };
    for (const e of theirs) examples[e.type] ??= { value: { error: `(${e.when})`, type: e.type, details: {}, detail: `(${e.when})` } };
    const retry =
      status === 503
        ? { headers: { 'Retry-After': { description: `Seconds to wait before retrying${retryWhy}.`, schema: { type: 'integer', minimum: 0 } } } }
        : {};
    out[String(status)] = {
      description: lines.join('\n\n'),
      ...retry,
      content: { 'application/json': { schema: ref('Error'), examples } },
    };
  }
  return out;
}

/** Errors of POST /ocr/{service} raised by the gateway itself (ocr-options.ts, worker/: ocr-route.ts, ocr-exchange.ts, error-handler.ts). */
function ocrGatewayErrors(config: Config): ApiError[] {
  return [
    new BadRequest("No file received: send the document in a multipart part named 'file'."),
    new BadOption("Option 'pages' must be true, false or a page range such as '1-3,7' (1-based).", { option: 'pages', value: 'x' }),
    new Unauthorized(),
    new ServiceNotFound('x'),
    new RouteNotFound('No route for POST /ocr/%74esseract: write the service name plainly, e.g. /ocr/tesseract.'),
    new UploadTimeout(
      `The upload is too slow: 0 bytes arrived in the last ${config.uploadRateWindowMs / 1000} s, below the minimum of ${config.uploadMinBytesPerS} bytes/s (UPLOAD_MIN_RATE); check the connection and send the file again.`,
      { received_bytes: 0, window_s: config.uploadRateWindowMs / 1000, min_bytes_per_s: config.uploadMinBytesPerS },
    ),
    new FileTooLarge(config.maxUploadBytes),
    // The base class is the gateway's 500: an unexpected error, answered without its stack.
    new ApiError('Internal error; the request id identifies it in the gateway log.'),
    new ServiceUnavailable("OCR service 'olmocr' is starting; retry shortly.", 5, { state: 'starting' }),
    // A remote service (REMOTE_SERVICES, worker/remote-route.ts): its peer gateway down, or refusing this gateway's key.
    new PeerUnreachable('marker', 'refused the connection (is its gateway running?)'),
    new PeerRefusedKey('marker', 401),
    new GatewayTimeout(config.timeoutMs),
  ];
}

/**
 * A query option as a parameter. swagger-ui's "Try it out" fills a parameter in with its `example`,
 * `examples`, its schema's `example` or `default`, and sends it: an option that only some services
 * take would then reach the others, which answer 400 naming it (issue 14). So an option carries no
 * value swagger-ui fills in: its sample goes in the schema's `examples` (JSON Schema's list, which
 * swagger-ui does not fill in) and in the description, with its default.
 */
function optionParameter(o: OcrOptionDoc): JsonObject {
  const { default: fallback, ...schema } = o.schema;
  const who = o.services === 'all' ? 'Every service' : `Service${o.services.length > 1 ? 's' : ''} ${o.services.join(', ')} only`;
  return {
    name: o.name,
    in: 'query',
    required: false,
    description: `${who}. ${o.description} Example: \`${o.example}\`.${fallback === undefined ? '' : ` Default: \`${String(fallback)}\`.`}`,
    schema: { ...schema, examples: [typedExample(o)] },
  };
}

/** An option's sample as the type its schema says (the query string carries it as text). */
function typedExample(o: OcrOptionDoc): string | boolean | number {
  switch (o.schema.type) {
    case 'boolean':
      if (o.example !== 'true' && o.example !== 'false') throw new Error(`option ${o.name} is a boolean: its example must be true or false`);
      return o.example === 'true';
    case 'integer':
      return Number(o.example);
    default:
      return o.example;
  }
}

const TAGS = [
  { name: 'ocr', description: 'Read the text of a document.' },
  {
    name: 'jobs',
    description:
      'Durable OCR jobs, for long documents: submit (202), follow the status (or be called back), fetch the result, cancel. ' +
      "Same key, options and answer as POST /ocr/{service}; a job is visible to the API key that submitted it only (API_KEYS' names).",
  },
  { name: 'status', description: "The gateway's and its services' state: probes, health, metrics." },
  { name: 'documentation', description: 'This description of the API, as JSON and as a browsable page.' },
];

/** One operation of the document, as the table below writes it. */
interface OperationSpec {
  path: string;
  method: 'get' | 'post' | 'delete';
  operationId: string;
  tag: (typeof TAGS)[number]['name'];
  summary: string;
  description?: string;
  /** Answered without a key (the document's default security is the key). */
  open?: boolean;
  parameters?: JsonObject[];
  requestBody?: JsonObject;
  /** Its answers other than errors, by status. */
  answers: Record<string, JsonObject>;
  /** The errors the gateway itself may answer (their status and example). */
  errors?: readonly ApiError[];
  /** The error types relayed from a service, and why a 503 says Retry-After. */
  relayed?: { errors: readonly ErrorSpec[]; retryWhy: string };
  /** OpenAPI callbacks (requests the gateway makes to the client). */
  callbacks?: JsonObject;
}

function ocrOperation(config: Config, contract: SidecarContract): OperationSpec {
  const enabled = [...config.services.map((s) => s.name), ...config.remoteServices.map((r) => r.name)];
  const example = { text: `…page 1…${PAGE_BREAK}…page 2…`, service: 'tesseract', page_count: 2, duration_ms: 2310 };
  return {
    path: '/ocr/{service}',
    method: 'post',
    operationId: 'ocrDocument',
    tag: 'ocr',
    summary: 'OCR a document',
    description:
      'Multipart form with exactly one part named `file`; its type is detected from the bytes (PDF, PNG, JPEG, TIFF, BMP, GIF, WebP). ' +
      `At most ${Math.round(config.maxUploadBytes / 1024 / 1024)} MB (MAX_UPLOAD_MB) and ${config.maxPages} pages (MAX_PAGES); done within ${config.timeoutMs / 1000} s (TIMEOUT). ` +
      'Each service takes only its own options (besides `pages` and `page_range`): another answers 400 naming it, so leave the options of other services empty. ' +
      "A service this gateway proxies to another gateway (REMOTE_SERVICES) answers that gateway's status and body as they are; " +
      'when that gateway cannot be reached (or refuses this one\'s key) the answer is 502.',
    parameters: [
      {
        name: 'service',
        in: 'path',
        required: true,
        description: `An enabled service, local or remote (here: ${enabled.join(', ')}); a known but disabled one answers 404.`,
        schema: { type: 'string', enum: [...KNOWN_SERVICES] },
        // Required, so swagger-ui fills it in: with a service this gateway runs.
        ...(enabled[0] === undefined ? {} : { example: enabled[0] }),
      },
      ...documentedOptions(contract).map(optionParameter),
    ],
    requestBody: {
      required: true,
      content: {
        'multipart/form-data': {
          schema: { type: 'object', required: ['file'], properties: { file: { type: 'string', format: 'binary', description: 'The document.' } } },
        },
      },
    },
    answers: {
      '200': {
        description:
          'The text of the document (and, with ?pages=true, of each page). With format=hocr, alto or pdf, a file instead: ' +
          'hOCR, ALTO 4, or the input made searchable (its pages untouched, an invisible text layer), sent as an attachment named after the upload.',
        headers: {
          'x-request-id': { description: "The client's x-request-id, or a generated one.", schema: { type: 'string' } },
          'content-disposition': { description: 'File formats: `attachment; filename="devis.ocr.pdf"; filename*=UTF-8\'\'…`.', schema: { type: 'string' } },
          'x-page-count': { description: 'File formats: the pages read.', schema: { type: 'integer' } },
          'x-document-pages': { description: 'File formats: the pages of the document.', schema: { type: 'integer' } },
          'x-failed-pages': { description: 'File formats: the pages that could not be read (comma-separated), when any; empty in the file.', schema: { type: 'string' } },
          'x-blank-pages': { description: 'File formats: the pages where no text was found (comma-separated), when any.', schema: { type: 'string' } },
        },
        content: {
          ...json(ref('OcrAnswer'), example),
          'text/vnd.hocr+html': { schema: { type: 'string', description: 'format=hocr: one hOCR 1.2 (XHTML) file.' } },
          'application/xml': { schema: { type: 'string', description: 'format=alto: one ALTO 4 file.' } },
          'application/pdf': { schema: { type: 'string', format: 'binary', description: 'format=pdf: the searchable PDF.' } },
        },
      },
    },
    errors: ocrGatewayErrors(config),
    relayed: { errors: contract.errors, retryWhy: ' (starting, restarting, not answering its health checks, queue full, disk full, GPU out of memory)' },
  };
}

const JOB_EXAMPLE = {
  job_id: '9f3c1e0b6d2a4f7e8c5b3a1d0e9f8c7b',
  service: 'tesseract',
  status: 'running',
  pages_done: 12,
  pages_total: 150,
  queue_position: null,
  created_at: '2026-11-29T18:00:00.000Z',
  started_at: '2026-11-29T18:00:02.000Z',
  finished_at: null,
  expires_at: null,
  error: null,
  status_url: '/jobs/9f3c1e0b6d2a4f7e8c5b3a1d0e9f8c7b',
  result_url: '/jobs/9f3c1e0b6d2a4f7e8c5b3a1d0e9f8c7b/result',
};

const JOB_ID_PARAMETER: JsonObject = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'The job id POST /jobs/{service} answered.',
  schema: { type: 'string', pattern: '^[0-9a-f]{32}$' },
  example: JOB_EXAMPLE.job_id,
};

/** The engine's own errors on every job route: no answer from the primary, an unexpected failure. */
function jobEngineErrors(): ApiError[] {
  return [
    new Unauthorized(),
    new ApiError('Internal error in the job engine; the gateway log says why.'),
    new ServiceUnavailable('The job engine did not answer: no answer from the primary within 10 s.', 5),
  ];
}

function jobOperations(config: Config, contract: SidecarContract): OperationSpec[] {
  const ocr = ocrOperation(config, contract);
  const durable = config.jobs.redisUrl === '' ? 'this gateway runs jobs itself (embedded engine: not durable across a restart)' : 'jobs run on Redis (BullMQ), on any gateway that runs the service';
  const jobAnswer = (description: string): JsonObject => ({ description, content: json(ref('Job'), JOB_EXAMPLE) });
  return [
    {
      // POST /jobs/{service} and GET /jobs/{id} are one path template (OpenAPI allows no two that
      // differ only by the parameter's name): for POST, `id` names the service.
      path: '/jobs/{id}',
      method: 'post',
      operationId: 'submitJob',
      tag: 'jobs',
      summary: 'Submit a durable OCR job (POST /jobs/{service})',
      description:
        `POST /jobs/{service}: the same form, options and checks as POST /ocr/{service} (type, size, pages and options are refused before 202 with the same 4xx), but answered at once with 202 and the job; ${durable}. ` +
        `Results and statuses are kept ${config.jobs.ttlMs / 1000} s (JOB_TTL) after the job ends; a job may run ${config.jobs.timeoutMs / 1000} s (JOB_TIMEOUT).`,
      parameters: [
        ...(ocr.parameters ?? []).map((p) =>
          p.in === 'path'
            ? { ...p, name: 'id', description: `For POST, the service that reads the document: ${String(p.description)}${config.jobs.redisUrl === '' ? '' : ' With Redis, any service some gateway sharing the Redis runs.'}` }
            : p,
        ),
        {
          name: 'callback_url',
          in: 'query',
          required: false,
          description:
            'When the job ends, its status (the Job body) is POSTed there, signed: `x-mdso-signature: sha256=<hex HMAC-SHA256 of the body with JOB_CALLBACK_SECRET>`; retried with backoff until a 2xx. ' +
            'Refused (400 BadCallbackUrl) without JOB_CALLBACK_SECRET, and for private, loopback or reserved addresses unless JOB_CALLBACK_ALLOWED_HOSTS allows them.',
          schema: { type: 'string', format: 'uri', maxLength: 2048, examples: ['https://checker.example.org/ocr-callback'] },
        },
      ],
      requestBody: ocr.requestBody,
      answers: {
        '202': {
          description: 'Queued: follow `status_url` (the Location header) and fetch `result_url` once done.',
          headers: { Location: { description: 'The job\'s status URL.', schema: { type: 'string' } } },
          content: json(ref('Job'), { ...JOB_EXAMPLE, status: 'queued', pages_done: 0, queue_position: 1, started_at: null }),
        },
      },
      errors: [
        new BadRequest("No file received: send the document in a multipart part named 'file'."),
        new BadOption("Option 'pages' must be true, false or a page range such as '1-3,7' (1-based).", { option: 'pages', value: 'x' }),
        new BadCallbackUrl("callback_url's host '10.0.0.7' is a private, loopback or reserved address: allow it in JOB_CALLBACK_ALLOWED_HOSTS to call it."),
        new ServiceNotFound('x'),
        new RouteNotFound('No route for POST /jobs/%74esseract: write the service name plainly, e.g. /jobs/tesseract.'),
        new UploadTimeout(
          `The upload is too slow: 0 bytes arrived in the last ${config.uploadRateWindowMs / 1000} s, below the minimum of ${config.uploadMinBytesPerS} bytes/s (UPLOAD_MIN_RATE); check the connection and send the file again.`,
          { received_bytes: 0, window_s: config.uploadRateWindowMs / 1000, min_bytes_per_s: config.uploadMinBytesPerS },
        ),
        new FileTooLarge(config.maxUploadBytes),
        new JobStorageFull('The job store is full (JOB_REDIS_MAX_BYTES); retry once jobs have ended and expired.', 60),
        ...jobEngineErrors(),
      ],
      relayed: { errors: contract.errors.filter((e) => e.status < 500), retryWhy: ' (the job store is full, the service cannot run, the engine is busy)' },
      callbacks: {
        jobEnded: {
          '{$request.query.callback_url}': {
            post: {
              operationId: 'jobEndedCallback',
              summary: 'The job ended (done, failed or cancelled)',
              description: 'Sent by the gateway to callback_url. Check `x-mdso-signature` (sha256=<hex HMAC-SHA256 of the raw body with JOB_CALLBACK_SECRET>) before trusting it.',
              security: [],
              parameters: [
                { name: 'x-mdso-signature', in: 'header', required: true, description: '`sha256=` and the hex HMAC-SHA256 of the body.', schema: { type: 'string' } },
                { name: 'x-mdso-job-id', in: 'header', required: true, description: 'The job id.', schema: { type: 'string' } },
              ],
              requestBody: { required: true, content: json(ref('Job'), { ...JOB_EXAMPLE, status: 'done', pages_done: 150, finished_at: '2026-11-29T18:20:00.000Z', expires_at: '2026-11-30T18:20:00.000Z' }) },
              responses: { '200': { description: 'Any 2xx acknowledges it; anything else (or no answer within 10 s) is retried with backoff.' } },
            },
          },
        },
      },
    },
    {
      path: '/jobs/{id}',
      method: 'get',
      operationId: 'getJob',
      tag: 'jobs',
      summary: "A job's status and progress",
      parameters: [
        JOB_ID_PARAMETER,
        {
          name: 'wait',
          in: 'query',
          required: false,
          description: 'Long poll: answer as soon as the status changes, or after this many seconds (at most 60); a job that has ended (done, failed, cancelled) is answered at once.',
          schema: { type: 'integer', minimum: 0, maximum: 60, examples: [30] },
        },
      ],
      answers: { '200': jobAnswer('The job: status, pages done of pages total, queue position, timestamps, the error when failed.') },
      errors: [new BadOption("Option 'wait' must be a whole number of seconds from 0 to 60.", { option: 'wait' }), new JobNotFound(), ...jobEngineErrors()],
    },
    {
      path: '/jobs/{id}/result',
      method: 'get',
      operationId: 'getJobResult',
      tag: 'jobs',
      summary: "A done job's result: the body POST /ocr/{service} answers",
      parameters: [JOB_ID_PARAMETER],
      answers: { '200': { description: 'The text of the document, exactly as the synchronous route answers it.', content: json(ref('OcrAnswer')) } },
      errors: [new JobNotFound(), new JobNotDone('running'), ...jobEngineErrors()],
    },
    {
      path: '/jobs/{id}',
      method: 'delete',
      operationId: 'cancelJob',
      tag: 'jobs',
      summary: 'Cancel a job',
      description: 'A queued job never runs; a running one stops at its next page (its work in the service is aborted). An ended job is left as it is.',
      parameters: [JOB_ID_PARAMETER],
      answers: { '200': jobAnswer('The job, cancelled (or as it ended).') },
      errors: [new JobNotFound(), ...jobEngineErrors()],
    },
  ];
}

function statusOperations(config: Config): OperationSpec[] {
  const unauthorized = new Unauthorized();
  return [
    {
      path: '/services',
      method: 'get',
      operationId: 'listServices',
      tag: 'status',
      summary: 'Enabled services that can answer',
      answers: { '200': { description: 'Services', content: json(ref('Services'), { services: ['tesseract'] }) } },
      errors: [unauthorized],
    },
    {
      path: '/health',
      method: 'get',
      operationId: 'getHealth',
      tag: 'status',
      summary: "Each sidecar's state, pid, restarts, queue, GPU memory and in-flight progress; each remote service's peer state",
      answers: {
        '200': { description: 'Health, from memory (the primary polls every sidecar and every remote service\'s peer gateway each HEALTH_POLL_MS)', content: json(ref('Health')) },
      },
      errors: [unauthorized],
    },
    {
      path: '/livez',
      method: 'get',
      operationId: 'getLiveness',
      tag: 'status',
      summary: 'Liveness probe (no key)',
      open: true,
      answers: { '200': { description: 'Alive', content: json(ref('Livez')) } },
    },
    {
      path: '/readyz',
      method: 'get',
      operationId: 'getReadiness',
      tag: 'status',
      summary: 'Readiness probe (no key): no local service still loading and at least one service, local or remote, ready',
      open: true,
      answers: {
        '200': { description: 'Ready', content: json(ref('Readyz'), { status: 'ready' }) },
        '503': { description: 'Not ready', content: json(ref('Readyz'), { status: 'not ready' }) },
      },
    },
    {
      path: '/metrics',
      method: 'get',
      operationId: 'getMetrics',
      tag: 'status',
      summary: `Prometheus metrics, summed over every worker${config.metricsPublic ? ' (METRICS_PUBLIC=true: no key)' : ' (key required unless METRICS_PUBLIC=true)'}`,
      open: config.metricsPublic,
      answers: { '200': { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } } },
      errors: [
        ...(config.metricsPublic ? [] : [unauthorized]),
        new ServiceUnavailable('Metrics could not be collected: no answer from the primary within 10 s.', 5),
      ],
    },
  ];
}

const DOCUMENTATION_OPERATIONS: readonly OperationSpec[] = [
  {
    path: '/openapi.json',
    method: 'get',
    operationId: 'getOpenApiDocument',
    tag: 'documentation',
    summary: 'This document (no key: it reveals no data)',
    open: true,
    answers: { '200': { description: 'OpenAPI 3.1 document', content: json({ type: 'object' }) } },
    errors: [new ServiceUnavailable('The API description could not be built: no answer from the primary within 10 s.', 5)],
  },
  {
    path: '/docs',
    method: 'get',
    operationId: 'getDocs',
    tag: 'documentation',
    summary: 'Browsable documentation of this document (no key)',
    open: true,
    answers: { '200': { description: 'HTML page', content: { 'text/html': { schema: { type: 'string' } } } } },
  },
];

/** One operation as the document writes it. */
function operationObject(op: OperationSpec): JsonObject {
  return {
    operationId: op.operationId,
    tags: [op.tag],
    summary: op.summary,
    ...(op.description === undefined ? {} : { description: op.description }),
    ...(op.open === true ? { security: [] } : {}),
    ...(op.parameters === undefined ? {} : { parameters: op.parameters }),
    ...(op.requestBody === undefined ? {} : { requestBody: op.requestBody }),
    responses: { ...op.answers, ...errorResponses(op.errors ?? [], op.relayed?.errors, op.relayed?.retryWhy) },
    ...(op.callbacks === undefined ? {} : { callbacks: op.callbacks }),
  };
}

export function buildOpenApi(config: Config, contract: SidecarContract): JsonObject {
  const paths: Record<string, Record<string, JsonObject>> = {};
  for (const op of [ocrOperation(config, contract), ...jobOperations(config, contract), ...statusOperations(config), ...DOCUMENTATION_OPERATIONS]) {
    (paths[op.path] ??= {})[op.method] = operationObject(op);
  }
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
    security: [{ apiKey: [] }],
    tags: TAGS,
    components: {
      securitySchemes: { apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key' } },
      schemas: componentSchemas(),
    },
    paths,
  };
}
