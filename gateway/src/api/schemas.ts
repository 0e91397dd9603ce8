// The shapes of the public answers, as zod schemas. The routes build their answers as these types
// (z.infer) and the OpenAPI document (openapi.ts) is generated from the same schemas, so the two
// cannot drift; test/e2e/openapi.test.ts validates real answers against the document.
import { z } from 'zod';
import { KNOWN_SERVICES } from '../services.js';
import { REMOTE_STATES, SIDECAR_STATES } from '../ipc/health-snapshot.js';


export const ServiceNameSchema = z.enum(KNOWN_SERVICES).meta({ description: 'An OCR service known to the gateway.' });

const BoxSchema = z
  .tuple([z.number(), z.number(), z.number(), z.number()])
  .meta({
    description: '[left, top, right, bottom] in pixels of the page as read, upright: origin at the top-left corner, x to the right, y downwards, right and bottom exclusive. In points: × 72 / dpi.',
  });
const ConfSchema = z.number().min(0).max(1).nullable().meta({ description: "The reader's confidence, 0–1; null when it measured none (granularity `block` or `page`)." });

export const LayoutWordSchema = z.object({ text: z.string(), box: BoxSchema, conf: ConfSchema }).meta({ id: 'LayoutWord' });
export const LayoutLineSchema = z
  .object({ box: BoxSchema, conf: ConfSchema, text: z.string().meta({ description: "The line's words joined by a space." }), words: z.array(LayoutWordSchema) })
  .meta({ id: 'LayoutLine' });
export const LayoutBlockSchema = z
  .object({
    box: BoxSchema,
    kind: z.string().meta({ description: '`text`, or what the reader says it is (`table`, `heading`, `caption`…).', examples: ['text', 'table'] }),
    conf: z.number().min(0).max(1).optional().meta({ description: "Mean of its lines' confidence; absent for granularity `block` and `page`." }),
    lines: z.array(LayoutLineSchema),
  })
  .meta({ id: 'LayoutBlock' });

export const IdentifierSchema = z
  .object({
    kind: z.enum(['siren', 'siret', 'tva_fr', 'iban', 'rge', 'postal_code']).meta({ description: 'What the number is (docs/IDENTIFIERS.md).' }),
    raw: z.string().meta({ description: 'As read, separators included: the text is never rewritten.' }),
    normalized: z.string().meta({ description: 'As read, separators removed (nothing corrected).' }),
    valid: z.boolean().nullable().meta({ description: 'Whether its check digits hold; null for a kind without any (rge: its shape only).' }),
    check: z.string().meta({ description: 'The check applied: `luhn`, `la-poste`, `tva-key`, `mod97`, `departement`, `shape`.', examples: ['luhn', 'mod97'] }),
    label: z.string().nullable().meta({ description: 'The label read before it on its line (SIRET, TVA, IBAN, RGE…), or null.' }),
    box: BoxSchema.nullable().meta({ description: 'The union box of the words it spans, in the page\'s pixels (as `blocks`).' }),
    conf: z.number().min(0).max(1).nullable().meta({ description: "Mean confidence of its words; null when the reader measures none." }),
    conf_min: z.number().min(0).max(1).nullable().meta({ description: 'Least confidence of its words; null when the reader measures none.' }),
    candidates: z
      .array(z.object({ value: z.string(), edits: z.array(z.string()) }))
      .meta({ description: 'When its check fails: readings one plausible OCR confusion away (O/0, I/1, S/5, B/8, a digit lost or doubled, or the SIREN another valid reading on the page spells) that pass it, best first, each with the edits made. Empty when it passes, or when none does.' }),
    ambiguous: z.boolean().meta({ description: 'Several candidates are equally plausible: none is picked.' }),
  })
  .meta({ id: 'Identifier' });

export const OcrPageSchema = z
  .object({
    page: z.int().min(1).meta({ description: 'Page number in the document (1-based).' }),
    text: z.string().meta({ description: "The page's text." }),
    source: z.string().meta({
      description: 'Which reader produced the page: `ocr`, `text-layer` (the PDF\'s own text: tesseract with mode=auto/text, marker with force_ocr=false) or `fallback:tesseract` (olmocr or dotsocr gave no valid answer).',
      examples: ['ocr', 'text-layer', 'fallback:tesseract'],
    }),
    duration_ms: z.number().min(0).meta({ description: 'Time spent on this page.' }),
    error: z.string().nullable().meta({ description: 'Why the page could not be read (then listed in failed_pages), else null.' }),
    blank: z.boolean().meta({ description: 'No text was found on the page (its text is empty); then `warning` says so.' }),
    warning: z
      .string()
      .optional()
      .meta({ description: 'Present when the page was read but something about it deserves a look, e.g. no text was found on it.' }),
    rotation: z.int().meta({ description: 'Clockwise correction applied to a page scanned sideways or upside down (degrees).' }),
    meta: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({ description: "Engine-specific facts (olmocr's front matter: primary_language, is_rotation_valid, rotation_correction, is_table, is_diagram, attempts; dotsocr: cells, the layout cells in text order, each {category, bbox} with bbox [left, top, right, bottom] in pixels of the page as rendered for the model, and attempts; tesseract text-layer pages: text_layer_chars, unmapped_share, and a note when mode=text found no usable text layer; tesseract pages of a phone photo: photo, saying the sheet was straightened and evenly lit)." }),
    width: z.int().min(0).optional().meta({ description: 'format=json: width in pixels of the page as read, upright (after `rotation`; a photo: its straightened sheet).' }),
    height: z.int().min(0).optional().meta({ description: 'format=json: height in pixels of the page as read, upright.' }),
    width_pt: z.number().min(0).optional().meta({ description: 'format=json: width in PDF points (1/72 inch): width × 72 / dpi.' }),
    height_pt: z.number().min(0).optional().meta({ description: 'format=json: height in PDF points.' }),
    dpi: z.number().nullable().optional().meta({ description: "format=json: pixels per inch of the page as read (a PDF page's render resolution; an image's own density, scaled like the render); null when the image says none (points then assume 300)." }),
    granularity: z.enum(['word', 'line', 'block', 'page']).optional().meta({
      description: 'format=json: the finest unit whose box the reader really measured: `word` (tesseract, rapidocr with character positions, a PDF text layer), `line` (rapidocr lines), `block` (dotsocr: its layout cells, conf null), `page` (olmocr, nanonets, marker: no positions, every box is the page\'s and conf is null). Nothing finer is invented.',
    }),
    to_input: z.array(z.number()).length(9).optional().meta({ description: 'format=json: row-major 3×3 homography from these coordinates to the pixels of the render the service read (before it turned the page upright or straightened a photo); absent when the identity.' }),
    note: z.string().optional().meta({ description: 'format=json, granularity `block` or `page`: says which positions the reader gives.' }),
    blocks: z.array(LayoutBlockSchema).optional().meta({ description: 'format=json: blocks → lines → words, in reading order as the reader grouped them.' }),
    identifiers: z.array(IdentifierSchema).optional().meta({ description: 'format=json: the SIREN, SIRET, VAT numbers, IBANs, RGE numbers and postal codes read on the page, with whether their check digits hold and, when not, the corrected candidates; empty when none.' }),
  })
  .meta({ id: 'OcrPage' });

export const OcrAnswerSchema = z
  .object({
    text: z.string().meta({ description: "Every page's text, joined by '\\n\\n--- Page Break ---\\n\\n'." }),
    service: ServiceNameSchema,
    page_count: z.int().min(1).meta({ description: 'Pages returned (those of page_range when given).' }),
    duration_ms: z.int().min(0).meta({ description: 'Time from request to answer in the gateway.' }),
    failed_pages: z.array(z.int().min(1)).optional().meta({ description: 'Pages that could not be read; present only when some failed.' }),
    blank_pages: z
      .array(z.int().min(1))
      .optional()
      .meta({ description: 'Pages read without error on which no text was found (blank, or text the service could not see); present only when there are some.' }),
    pages: z.array(OcrPageSchema).optional().meta({ description: 'Per-page detail; with ?pages=true, and always with format=json.' }),
    format: z.enum(['json', 'markdown']).optional().meta({ description: 'The format asked for, when not the default `text`.' }),
  })
  .meta({ id: 'OcrAnswer' });

export const ErrorBodySchema = z
  .object({
    error: z.string().meta({ description: 'What happened and what to do.' }),
    type: z.string().meta({ description: 'Stable error type name, e.g. FileTooLarge, UnsupportedFileType, QueueFull.' }),
    details: z.record(z.string(), z.unknown()).meta({ description: 'Machine-readable facts about the error (option name, limits, state...).' }),
    detail: z.string().meta({ description: 'Repeats `error` for clients of the original FastAPI server.' }),
  })
  .meta({ id: 'Error' });

export const GpuStatsSchema = z
  .object({
    available: z.boolean(),
    name: z.string().optional(),
    uuid: z.string().optional(),
    allocated_gb: z.number().optional(),
    reserved_gb: z.number().optional(),
    total_gb: z.number().optional(),
    free_gb: z.number().optional(),
  })
  .meta({ id: 'GpuStats', description: "torch's view of GPU memory; only `available: false` without CUDA." });

export const SidecarHealthSchema = z
  .object({
    state: z.enum(SIDECAR_STATES),
    pid: z.int().nullable(),
    restarts: z.int().min(0),
    model: z.string().nullable(),
    device: z.string().nullable(),
    gpu: GpuStatsSchema,
    queue: z
      .object({
        active: z.int().min(0),
        waiting: z.int().min(0),
        limit: z.int().min(1).meta({ description: 'Hard bound on requests held (SIDECAR_MAX_QUEUE).' }),
        pages_queued: z.number().min(0).meta({ description: 'Pages left to read in the requests held.' }),
        page_s: z.number().min(0).meta({ description: 'Measured seconds a page takes this service (all its threads).' }),
        expected_wait_s: z.number().min(0).meta({
          description: 'pages_queued × page_s: the wait before a new request starts. Requests are admitted while it fits in TIMEOUT; beyond, 503 QueueFull + Retry-After.',
        }),
      })
      .nullable(),
    in_flight: z
      .array(z.object({ request_id: z.string(), pages_done: z.int().min(0), pages_total: z.int().min(0) }))
      .meta({ description: 'Requests being read now, with their progress (pages done of pages total).' }),
    message: z.string().nullable().meta({ description: 'Why the sidecar is not ready (what was searched, last crash...).' }),
  })
  .meta({ id: 'SidecarHealth' });

export const RemoteHealthSchema = z
  .object({
    url: z.string().meta({ description: "The peer gateway serving the service (REMOTE_SERVICES); never its key." }),
    state: z.enum(REMOTE_STATES).meta({
      description:
        '`checking` (not polled yet), `ready`, `not-ready` (the peer answers but its service does not serve now: see `peer_state`), `unreachable` (no answer, or it refused this gateway\'s key: see `message`).',
    }),
    peer_state: z.string().nullable().meta({ description: "The peer's own state for the service (its sidecar's: starting, ready, restarting…); null when it did not answer." }),
    model: z.string().nullable(),
    device: z.string().nullable(),
    checked_at: z.string().nullable().meta({ description: 'When the peer was last polled (ISO 8601); null before the first poll.' }),
    last_seen_at: z.string().nullable().meta({ description: 'When the peer last answered its health check (ISO 8601); null if it never did.' }),
    message: z.string().nullable().meta({ description: 'Why it is not ready.' }),
  })
  .meta({ id: 'RemoteHealth' });
export const JOB_STATUSES = ['queued', 'running', 'done', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** The statuses a job does not leave. */
export const ENDED_JOB_STATUSES: readonly JobStatus[] = ['done', 'failed', 'cancelled'];

export const JobsHealthSchema = z
  .object({
    engine: z.enum(['embedded', 'redis']).meta({ description: '`embedded`: jobs run on this box (no REDIS_URL); `redis`: BullMQ queues on Redis shared by every box.' }),
    durable: z.boolean().meta({ description: 'Whether jobs survive a restart of this gateway: false for the embedded engine (queued and running jobs are lost, their files removed).' }),
  })
  .meta({ id: 'JobsHealth' });

export const JobSchema = z
  .object({
    job_id: z.string().meta({ description: 'Unguessable id of the job.' }),
    service: ServiceNameSchema,
    status: z.enum(JOB_STATUSES).meta({ description: '`queued` → `running` → `done` | `failed` | `cancelled`.' }),
    pages_done: z.int().min(0).meta({ description: 'Pages read so far.' }),
    pages_total: z.int().min(0).nullable().meta({ description: 'Pages the job reads (those of page_range when given); null when not known yet.' }),
    queue_position: z.int().min(1).nullable().meta({ description: 'While queued: 1 for the next job of its service to start; else null.' }),
    created_at: z.string().meta({ description: 'When the job was accepted (ISO 8601).' }),
    started_at: z.string().nullable().meta({ description: 'When it last started running (ISO 8601), else null.' }),
    finished_at: z.string().nullable().meta({ description: 'When it ended (ISO 8601), else null.' }),
    expires_at: z.string().nullable().meta({ description: 'Once ended: when its status and result are deleted (JOB_TTL after the end).' }),
    error: ErrorBodySchema.nullable().meta({ description: 'When failed: the error body the synchronous route would have answered (with `status`, its HTTP status, in details).' }),
    status_url: z.string().meta({ description: 'GET it for the status (DELETE to cancel).' }),
    result_url: z.string().meta({ description: 'GET it for the result once done: the body POST /ocr/{service} answers.' }),
  })
  .meta({ id: 'Job' });

export const HealthSchema = z
  .object({
    status: z.enum(['healthy', 'degraded']).meta({ description: '`healthy` only when every enabled service, local or remote, is ready.' }),
    services: z.array(ServiceNameSchema).meta({ description: 'Services that are ready: local ones, then remote ones.' }),
    gpu: GpuStatsSchema,
    sidecars: z.record(z.string(), SidecarHealthSchema).meta({ description: "This gateway's own services (ENABLED_SERVICES), each run by a sidecar." }),
    remote: z
      .record(z.string(), RemoteHealthSchema)
      .optional()
      .meta({ description: 'Services served by peer gateways (REMOTE_SERVICES), as the last poll of their /health found them; present only when REMOTE_SERVICES is set.' }),
    jobs: JobsHealthSchema,
  })
  .meta({ id: 'Health' });

export const ServicesSchema = z
  .object({
    services: z
      .array(ServiceNameSchema)
      .meta({ description: 'Enabled services that can answer, in ENABLED_SERVICES order, then the remote ones (REMOTE_SERVICES) in theirs.' }),
  })
  .meta({ id: 'Services' });

export const LivezSchema = z.object({ status: z.literal('alive') }).meta({ id: 'Livez' });
export const ReadyzSchema = z.object({ status: z.enum(['ready', 'not ready']) }).meta({ id: 'Readyz' });

export type OcrAnswer = z.infer<typeof OcrAnswerSchema>;
export type OcrPage = z.infer<typeof OcrPageSchema>;
export type ErrorBody = z.infer<typeof ErrorBodySchema>;
export type Health = z.infer<typeof HealthSchema>;
export type Services = z.infer<typeof ServicesSchema>;
export type Livez = z.infer<typeof LivezSchema>;
export type Readyz = z.infer<typeof ReadyzSchema>;
export type Job = z.infer<typeof JobSchema>;
