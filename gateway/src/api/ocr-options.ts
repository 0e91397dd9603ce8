// Query options of POST /ocr/{service}, checked before a byte of the upload is read. The gateway owns
// `pages` (the per-page detail); which other options a service takes, and the values they take, come
// from its engine's own declarations, read from the sidecars' contract (ipc/sidecar-wire.ts), as do
// their descriptions in the API document (documentedOptions). A page range's characters are checked
// here; its grammar is the sidecar's (page_range.py), whose 400 the gateway relays.
import { BadOption, ServiceUnavailable } from './errors.js';
import type { OptionSpec, SidecarContract } from '../ipc/sidecar-wire.js';

/** Between the pages in the answer's `text` (per-page text with `pages=true`). */
export const PAGE_BREAK = '\n\n--- Page Break ---\n\n';

/** The shapes an answer takes (`format`): the sidecar's output_format.py is the source of the list. */
export const OUTPUT_FORMATS = ['text', 'json', 'markdown', 'hocr', 'alto', 'pdf'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
const FORMAT = 'format';

export interface OcrOptions {
  /** Include the per-page list in the answer (`pages=true`; always with `format=json`). */
  includePages: boolean;
  /** `format`: `text` (the default: the client contract's answer), `json` (each page's layout too), `markdown`... */
  format: OutputFormat;
  /** Options forwarded to the sidecar as query parameters, as the client named them. */
  sidecarQuery: Record<string, string>;
}

const OPTION_NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** Every option value, page ranges included, is refused above this length before it is looked at. */
export const MAX_VALUE_LENGTH = 200;
/** `pages`'s own words: the per-page detail on or off (any other value is a page range). */
const PAGES_FLAG: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false };
const PAGES = 'pages';

/**
 * The options of a request: its query, and the form fields sent before the file part (what
 * `curl -F lang=deu -F file=@x` does), read exactly like query options. A field also in the query
 * is an option given twice (400).
 */
export function parseRequestOptions(
  query: Record<string, unknown>,
  fields: Record<string, unknown>,
  contract: SidecarContract | null,
  service: string,
): OcrOptions {
  const merged: Record<string, unknown> = { ...query };
  for (const [key, value] of Object.entries(fields)) merged[key] = key in merged ? [merged[key], value] : value;
  return parseOcrOptions(merged, contract, service);
}

/**
 * `pages` is both the original per-page flag (`pages=true`) and a page range (`pages=1-3,7`), told
 * apart by value; `page_range` is the unambiguous spelling of the range. A range is forwarded under
 * the name the client used, which the sidecar's errors then name.
 */
export function parseOcrOptions(query: Record<string, unknown>, contract: SidecarContract | null, service: string): OcrOptions {
  const { pageRange, options: specs, booleans } = serviceOptions(contract, service);
  const options: OcrOptions = { includePages: false, format: 'text', sidecarQuery: {} };
  for (const [key, raw] of Object.entries(query)) {
    if (!OPTION_NAME.test(key)) throw new BadOption(`Unknown option '${key.slice(0, 40)}'.`, { option: key.slice(0, 40) });
    if (typeof raw !== 'string') throw new BadOption(`Option '${key}' is given more than once.`, { option: key });
    // The length is checked before anything else reads the value: every later step is then bounded.
    if (raw.length > MAX_VALUE_LENGTH) throw badValue(key, raw, `at most ${MAX_VALUE_LENGTH} characters`);
    const value = raw.trim();
    const flag = key === PAGES ? PAGES_FLAG[value.toLowerCase()] : undefined;
    if (flag !== undefined) {
      options.includePages = flag;
    } else if (key === FORMAT) {
      // The pipeline's option (the sidecar's output_format.py), like the page range: passed on as given.
      options.format = checkFormat(value, contract, service);
      options.sidecarQuery[key] = options.format;
    } else if (pageRange.names.includes(key)) {
      if (!compiled(pageRange.pattern).test(value)) {
        throw badValue(key, value, `${key === PAGES ? 'true, false or ' : ''}a page range such as '${pageRange.example}' (1-based)`);
      }
      if (pageRange.names.some((name) => name in options.sidecarQuery)) {
        throw new BadOption(`Give the page range once (in ${pageRange.names.map((n) => `'${n}'`).join(' or ')}), not both.`, { option: key });
      }
      options.sidecarQuery[key] = value;
    } else {
      const spec = specs.get(key);
      if (spec === undefined) {
        const accepted = [...new Set([PAGES, ...pageRange.names, FORMAT, ...specs.keys()])];
        throw new BadOption(`unknown option '${key}'; ${service} accepts: ${accepted.join(', ')}`, { option: key, accepted });
      }
      checkValue(spec, value, booleans);
      options.sidecarQuery[key] = value;
    }
  }
  return options;
}

/**
 * A `format` value: one of OUTPUT_FORMATS (else 400 naming them), and one `service` offers (else 400
 * naming the services that offer it, from the contract).
 */
function checkFormat(raw: string, contract: SidecarContract | null, service: string): OutputFormat {
  const value = raw.toLowerCase();
  const known = OUTPUT_FORMATS.find((f) => f === value);
  if (known === undefined) {
    throw new BadOption(`Option 'format' must be one of ${orList(OUTPUT_FORMATS)}; got '${raw.slice(0, 40)}'.`, {
      option: FORMAT,
      value: raw.slice(0, 100),
      accepted: [...OUTPUT_FORMATS],
    });
  }
  const offered = (name: string): boolean => formatsOf(contract, name).includes(known);
  if (!offered(service)) {
    const offering = Object.keys(contract?.services ?? {}).filter(offered);
    throw new BadOption(
      `format=${known} is not offered by ${service}${offering.length > 0 ? `; it is offered by ${offering.join(', ')}` : ''}. ${service} offers ${orList(formatsOf(contract, service))}.`,
      { option: FORMAT, value: known, offered_by: offering, accepted: formatsOf(contract, service) },
    );
  }
  return known;
}

/** The formats a service offers, as its sidecar's contract says (text and json when it says nothing). */
export function formatsOf(contract: SidecarContract | null, service: string): readonly string[] {
  return contract?.services[service]?.formats ?? ['text', 'json'];
}

/** What `service` takes, from the contract; 503 when the gateway has no contract to check against. */
function serviceOptions(
  contract: SidecarContract | null,
  service: string,
): { pageRange: SidecarContract['page_range']; options: Map<string, OptionSpec>; booleans: SidecarContract['booleans'] } {
  const declared = contract?.services[service];
  if (contract === null || declared === undefined) {
    throw new ServiceUnavailable(
      `The gateway could not read the options of OCR service '${service}' when it started (the sidecars' contract; see its log): restart it once \`python -m mdso_sidecar --contract\` works.`,
      undefined,
      { service },
    );
  }
  return { pageRange: contract.page_range, options: new Map(declared.options.map((o) => [o.name, o])), booleans: contract.booleans };
}

/** The value as its declaration takes it (the sidecar parses it again with the same declaration). */
function checkValue(spec: OptionSpec, value: string, booleans: SidecarContract['booleans']): void {
  switch (spec.type) {
    case 'enum':
      if (!spec.choices.includes(value)) throw badEngineValue(spec, value, `expected ${orList(spec.choices)}`, { accepted: spec.choices });
      return;
    case 'bool': {
      const word = value.toLowerCase();
      if (!booleans.true.includes(word) && !booleans.false.includes(word)) {
        throw badEngineValue(spec, value, 'expected true or false', { accepted: ['true', 'false'] });
      }
      return;
    }
    case 'int': {
      const digits = value.replace(/^0+(?=[0-9])/, '');
      if (!/^[0-9]{1,18}$/.test(digits) || Number(digits) < spec.minimum || Number(digits) > spec.maximum) {
        throw badEngineValue(spec, value, `expected a whole number from ${spec.minimum} to ${spec.maximum}`, {});
      }
      return;
    }
    case 'str':
      if (spec.pattern !== null && !compiled(spec.pattern).test(value)) throw badEngineValue(spec, value, `not of the expected form, e.g. ${spec.example}`, {});
  }
}

const patterns = new Map<string, RegExp>();

/** The contract's patterns, compiled once each (they are anchored and linear: engines/base.py). */
function compiled(pattern: string): RegExp {
  let re = patterns.get(pattern);
  if (re === undefined) {
    re = new RegExp(pattern, 'u');
    patterns.set(pattern, re);
  }
  return re;
}

const orList = (values: readonly string[]): string => (values.length > 1 ? `${values.slice(0, -1).join(', ')} or ${values.at(-1) ?? ''}` : (values[0] ?? ''));

function badValue(option: string, value: string, expected: string): BadOption {
  return new BadOption(`Option '${option}' must be ${expected}.`, { option, value: value.slice(0, 100) });
}

/** Worded as the engine words it (engines/base.py, OptionSpec.parse). */
function badEngineValue(spec: OptionSpec, value: string, expected: string, details: Record<string, unknown>): BadOption {
  const shown = value.slice(0, 100);
  return new BadOption(`${spec.name} '${shown}': ${expected}`, { option: spec.name, value: shown, ...details });
}

/** One documented query option of POST /ocr/{service} (the OpenAPI document is built from these). */
export interface OcrOptionDoc {
  name: string;
  /** Services taking the option; 'all' for the page options. */
  services: readonly string[] | 'all';
  description: string;
  schema: { type: 'string' | 'boolean' | 'integer'; enum?: string[]; pattern?: string; minimum?: number; maximum?: number; default?: string | boolean | number };
  /** As a query string carries it. */
  example: string;
}

/** The gateway's own option. */
const PAGES_DOC: OcrOptionDoc = {
  name: PAGES,
  services: 'all',
  description:
    "`true` adds the per-page list to the answer. A page range (e.g. `1-3,7`) selects pages instead, like `page_range`: with `true`/`false` it toggles the detail, with a range it selects.",
  schema: { type: 'string', default: 'false' },
  example: 'true',
};

/**
 * Every option of POST /ocr/{service}: `pages`, the page range, then each engine option in the order
 * the services declare them. An option several services declare alike is documented once, naming
 * them; declared differently, each declaration is described with the services it belongs to.
 */
export function documentedOptions(contract: SidecarContract): OcrOptionDoc[] {
  const range = contract.page_range;
  const rangeDoc: OcrOptionDoc = {
    name: range.names[0] ?? 'page_range',
    services: 'all',
    description: range.doc,
    schema: { type: 'string', pattern: range.pattern },
    example: range.example,
  };
  const byName = new Map<string, { spec: OptionSpec; services: string[] }[]>();
  for (const [service, { options }] of Object.entries(contract.services)) {
    for (const spec of options) {
      const variants = byName.get(spec.name) ?? [];
      const same = variants.find((v) => JSON.stringify(v.spec) === JSON.stringify(spec));
      if (same) same.services.push(service);
      else variants.push({ spec, services: [service] });
      byName.set(spec.name, variants);
    }
  }
  const engineDocs = [...byName].map(([name, variants]): OcrOptionDoc => {
    const [first] = variants;
    if (first === undefined) throw new Error(`option ${name} has no declaration`);
    if (variants.length === 1) return { name, services: first.services, description: first.spec.doc, schema: schemaOf(first.spec), example: first.spec.example };
    // Declared differently by different services: each declaration with its services and default.
    const types = new Set(variants.map((v) => v.spec.type));
    const only = types.size === 1 ? first.spec.type : 'str';
    return {
      name,
      services: variants.flatMap((v) => v.services),
      description: variants
        .map((v) => `${v.services.join(', ')}: ${v.spec.doc}${v.spec.default === null ? '' : ` Default: \`${v.spec.default}\`.`}`)
        .join(' '),
      schema:
        only === 'enum'
          ? { type: 'string', enum: [...new Set(variants.flatMap((v) => (v.spec.type === 'enum' ? v.spec.choices : [])))] }
          : { type: only === 'bool' ? 'boolean' : only === 'int' ? 'integer' : 'string' },
      example: first.spec.example,
    };
  });
  return [PAGES_DOC, rangeDoc, formatDoc(contract), ...engineDocs];
}

/** `format`, with the services that offer markdown named from the contract. */
function formatDoc(contract: SidecarContract): OcrOptionDoc {
  const markdown = Object.keys(contract.services).filter((s) => formatsOf(contract, s).includes('markdown'));
  return {
    name: FORMAT,
    services: 'all',
    description:
      'The shape of the answer. `text` (default): the usual answer, nothing more computed. ' +
      '`json`: the usual answer (the same `text`, byte for byte) with `format: "json"` and the per-page list always included, each page with its size ' +
      '(`width`, `height` in pixels of the page as read, upright; `width_pt`, `height_pt` in PDF points; `dpi`), `granularity` and `blocks` → `lines` → `words`, ' +
      'each with `box` = [left, top, right, bottom] in those pixels (origin top-left, x right, y down; points = pixels × 72 / dpi) and `conf` (0–1). ' +
      '`granularity` says what the reader really measured: `word` (tesseract; rapidocr; a PDF text layer), `line` (rapidocr lines without character positions), `block` (dotsocr: its layout cells; lines and words carry their cell\'s box, `conf` null), ' +
      '`page` (olmocr, nanonets, marker: their models give no positions, so every box is the whole page and `conf` is null). ' +
      'Each page also lists its `identifiers` (SIREN, SIRET, VAT numbers, IBANs, RGE numbers, postal codes: as read, whether their check digits hold, their box, and the corrected `candidates` one OCR confusion away when the check fails; the text is never rewritten). ' +
      `\`markdown\`: the markdown of the services that write it (${markdown.join(', ') || 'none here'}), with \`format: "markdown"\`; other services answer 400 naming those. ` +
      '`hocr`, `alto`, `pdf`: a file instead of JSON, sent as an attachment named after the upload: one hOCR file (`text/vnd.hocr+html`), one ALTO 4 file (`application/xml`), ' +
      'or the input made searchable (`application/pdf`: its pages untouched, an invisible text layer where the words were read); `X-Failed-Pages` / `X-Blank-Pages` say what `failed_pages` / `blank_pages` would. ' +
      'No format costs a second OCR pass: each is built from what the reader already computed.',
    schema: { type: 'string', enum: [...OUTPUT_FORMATS], default: 'text' },
    example: 'json',
  };
}

function schemaOf(spec: OptionSpec): OcrOptionDoc['schema'] {
  const fallback = spec.default ?? undefined;
  switch (spec.type) {
    case 'enum':
      return { type: 'string', enum: spec.choices, ...(fallback === undefined ? {} : { default: fallback }) };
    case 'bool':
      return { type: 'boolean', ...(fallback === undefined ? {} : { default: fallback === 'true' }) };
    case 'int':
      return { type: 'integer', minimum: spec.minimum, maximum: spec.maximum, ...(fallback === undefined ? {} : { default: Number(fallback) }) };
    case 'str':
      return { type: 'string', ...(spec.pattern === null ? {} : { pattern: spec.pattern }), ...(fallback === undefined ? {} : { default: fallback }) };
  }
}
