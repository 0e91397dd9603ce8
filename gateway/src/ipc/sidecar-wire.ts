// The gateway⇄sidecar wire, the one TypeScript description of it: what a sidecar answers on its Unix
// socket (GET /health, POST /ocr, POST /inspect, its errors) and the contract it prints (`python -m mdso_sidecar
// --contract`: each service's options, the page range, boolean words, error types). The Python package
// is the source (server.py, contract.py); these types say what the gateway reads of it, and
// parseContract checks the contract once, where it is read.

/** torch's view of GPU memory; only `available: false` without CUDA. */
export interface GpuStats {
  available: boolean;
  name?: string;
  uuid?: string;
  allocated_gb?: number;
  reserved_gb?: number;
  total_gb?: number;
  free_gb?: number;
}

export interface QueueStats {
  active: number;
  waiting: number;
  limit: number;
  /** Pages left to read in the requests the sidecar holds (admission is by time, not by count). */
  pages_queued: number;
  /** Measured seconds a page takes this sidecar (all its threads together). */
  page_s: number;
  /** pages_queued × page_s: how long a new request would wait before its first page. */
  expected_wait_s: number;
}

/** A request being read, with its progress. */
export interface InFlight {
  request_id: string;
  pages_done: number;
  pages_total: number;
}

/**
 * GET /health. `service` and `pid` are for whoever asks a sidecar directly (an operator, its own
 * tests): the gateway started the process and knows both.
 */
export interface SidecarHealth {
  state: 'starting' | 'ready' | 'unavailable';
  service: string;
  model: string | null;
  device: string | null;
  pid: number;
  message: string | null;
  queue: QueueStats | null;
  gpu: GpuStats;
  in_flight: InFlight[];
}

/** One page of a POST /ocr answer. */
export interface SidecarPage {
  page: number;
  text: string;
  /** `ocr`, `text-layer`, or the reader that produced the page (`ocr:rapidocr`, `fallback:tesseract`). */
  source: string;
  ms: number;
  error: string | null;
  blank: boolean;
  /** Clockwise degrees the page was turned to be read upright. */
  rotation: number;
  /** Engine-specific page facts (olmOCR's front matter, a text layer's figures); absent when none. */
  meta?: Record<string, unknown>;
  /** With format=json only (layout.py's layout_json): where the text stands; null on a failed page. */
  layout?: SidecarLayout | null;
  /** With format=json only (identifiers.py's Identifier.to_json): the page's identifiers, checked. */
  identifiers?: SidecarIdentifier[];
}

/** An identifier found on a page (SIREN, SIRET, VAT number, IBAN, RGE number, postal code). */
export interface SidecarIdentifier {
  kind: 'siren' | 'siret' | 'tva_fr' | 'iban' | 'rge' | 'postal_code';
  raw: string;
  normalized: string;
  valid: boolean | null;
  check: string;
  label: string | null;
  box: LayoutBox | null;
  conf: number | null;
  conf_min: number | null;
  candidates: { value: string; edits: string[] }[];
  ambiguous: boolean;
}

/** [left, top, right, bottom], pixels of the upright page, origin top-left. */
export type LayoutBox = [number, number, number, number];

export interface SidecarLayout {
  width: number;
  height: number;
  width_pt: number;
  height_pt: number;
  dpi: number | null;
  granularity: 'word' | 'line' | 'block' | 'page';
  /** Row-major 3×3 homography to the pixels of the render the engine was handed; absent when the identity. */
  to_input?: number[];
  /** Set for granularity `page`: the reader gives no positions. */
  note?: string;
  blocks: {
    box: LayoutBox;
    kind: string;
    conf?: number;
    lines: { box: LayoutBox; conf: number | null; text: string; words: { text: string; box: LayoutBox; conf: number | null }[] }[];
  }[];
}

/** A POST /ocr answer (200). */
export interface SidecarOcrBody {
  pages: SidecarPage[];
  service: string;
  /** The model that read the document (the access log says it). */
  model: string;
  /** Time the request spent in the sidecar, upload included (the access log says it). */
  ms: number;
  /** Pages of the document, read or not (the access log says it). */
  document_pages: number;
}

/**
 * A POST /inspect answer (200): what a POST /ocr of the same request would read, found without
 * reading a page (its refusals are /ocr's own error answers).
 */
export interface SidecarInspectBody {
  /** The type sniffed from the bytes: PDF, PNG, JPEG, TIFF, BMP, GIF or WebP. */
  kind: string;
  /** Pages the request would read (its page range's). */
  pages_total: number;
  document_pages: number;
}

/** Any sidecar error answer: the gateway relays it with the sidecar's status (see errors.py). */
export interface SidecarErrorBody {
  error: string;
  type: string;
  details: Record<string, unknown>;
}

/** A request option of a service, as its engine declares it (OptionSpec in engines/base.py). */
export type OptionSpec = {
  name: string;
  /** What it does (markdown, one paragraph). */
  doc: string;
  /** A value the service takes. */
  example: string;
  /** The value in force when absent; null when a setting decides it (the doc says which). */
  default: string | null;
} & (
  | { type: 'enum'; choices: string[] }
  | { type: 'bool' }
  | { type: 'int'; minimum: number; maximum: number }
  /** `pattern`: anchored, read alike by Python and JavaScript, linear. */
  | { type: 'str'; pattern: string | null }
);

/** The page range option every service takes (the sidecar's page_range.py parses it). */
export interface PageRangeSpec {
  /** The names it goes by: `page_range`, and `pages` (with a range value; the gateway keeps `pages=true`). */
  names: string[];
  doc: string;
  example: string;
  /** The characters a range is made of, anchored: the gateway checks them, the sidecar the grammar. */
  pattern: string;
}

/** An error type a sidecar answers. */
export interface ErrorSpec {
  type: string;
  status: number;
  /** Seconds its Retry-After usually says; null when it has none of its own. */
  retry_after: number | null;
  /** When a client gets it. */
  when: string;
}

/** What `python -m mdso_sidecar --contract` prints (sidecars/mdso_sidecar/contract.py). */
export interface SidecarContract {
  /** Every service of the engine registry, in its order. */
  services: Record<string, { options: OptionSpec[]; formats?: string[] }>;
  page_range: PageRangeSpec;
  /** The `format` option's values (output_format.py); ocr-options.ts's OUTPUT_FORMATS is checked against it. Absent from an older sidecar's contract. */
  format?: { choices: string[]; default: string };
  /** The words a bool option takes, either case. */
  booleans: { true: string[]; false: string[] };
  errors: ErrorSpec[];
}

class BadContract extends Error {
  override name = 'BadContract';
}

/** `value` as a SidecarContract; BadContract saying what is wrong where. */
export function parseContract(value: unknown): SidecarContract {
  const top = object(value, 'the contract');
  const servicesIn = object(top.services, 'services');
  const services: SidecarContract['services'] = {};
  for (const [name, raw] of Object.entries(servicesIn)) {
    const options = array(object(raw, `services.${name}`).options, `services.${name}.options`);
    const entry = object(raw, `services.${name}`);
    services[name] = {
      options: options.map((o, i) => optionSpec(o, `services.${name}.options[${i}]`)),
      // The answer formats it offers (output_format.py); absent from an older sidecar's contract.
      ...(entry.formats === undefined ? {} : { formats: strings(entry.formats, `services.${name}.formats`) }),
    };
  }
  const range = object(top.page_range, 'page_range');
  const format = top.format === undefined ? undefined : object(top.format, 'format');
  const booleans = object(top.booleans, 'booleans');
  return {
    services,
    page_range: {
      names: strings(range.names, 'page_range.names'),
      doc: string(range.doc, 'page_range.doc'),
      example: string(range.example, 'page_range.example'),
      pattern: anchored(range.pattern, 'page_range.pattern'),
    },
    ...(format === undefined ? {} : { format: { choices: strings(format.choices, 'format.choices'), default: string(format.default, 'format.default') } }),
    booleans: { true: strings(booleans.true, 'booleans.true'), false: strings(booleans.false, 'booleans.false') },
    errors: array(top.errors, 'errors').map((raw, i) => {
      const e = object(raw, `errors[${i}]`);
      const status = integer(e.status, `errors[${i}].status`);
      if (status < 400 || status > 599) throw new BadContract(`errors[${i}].status: ${status} is not an error status`);
      return {
        type: string(e.type, `errors[${i}].type`),
        status,
        retry_after: e.retry_after === null ? null : integer(e.retry_after, `errors[${i}].retry_after`),
        when: string(e.when, `errors[${i}].when`),
      };
    }),
  };
}

function optionSpec(raw: unknown, where: string): OptionSpec {
  const o = object(raw, where);
  const common = {
    name: string(o.name, `${where}.name`),
    doc: string(o.doc, `${where}.doc`),
    example: string(o.example, `${where}.example`),
    default: o.default === null ? null : string(o.default, `${where}.default`),
  };
  switch (o.type) {
    case 'enum':
      return { ...common, type: 'enum', choices: strings(o.choices, `${where}.choices`) };
    case 'bool':
      return { ...common, type: 'bool' };
    case 'int':
      return { ...common, type: 'int', minimum: integer(o.minimum, `${where}.minimum`), maximum: integer(o.maximum, `${where}.maximum`) };
    case 'str':
      return { ...common, type: 'str', pattern: o.pattern === null ? null : anchored(o.pattern, `${where}.pattern`) };
    default:
      throw new BadContract(`${where}.type: ${JSON.stringify(o.type)} is not enum, bool, int or str`);
  }
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new BadContract(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function array(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) throw new BadContract(`${where} must be a list`);
  return value as unknown[];
}

function string(value: unknown, where: string): string {
  if (typeof value !== 'string' || value === '') throw new BadContract(`${where} must be a non-empty string`);
  return value;
}

function strings(value: unknown, where: string): string[] {
  return array(value, where).map((v, i) => string(v, `${where}[${i}]`));
}

function integer(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new BadContract(`${where} must be a whole number`);
  return value;
}

/** A pattern as the gateway uses it: anchored, and one JavaScript compiles. */
function anchored(value: unknown, where: string): string {
  const pattern = string(value, where);
  if (!pattern.startsWith('^') || !pattern.endsWith('$')) throw new BadContract(`${where} must be anchored with ^ and $`);
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    throw new BadContract(`${where}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return pattern;
}
