// Query options of POST /ocr/{service}. The gateway owns `pages` (per-page detail) and the page
// range; every other option is forwarded to the sidecar, whose engine validates it (unknown option
// or bad value → 400 naming it), so that each engine documents its own options in one place.
import { BadOption } from './errors.js';
import type { ServiceName } from '../services.js';

/** Between the pages in the answer's `text` (per-page text with `pages=true`). */
export const PAGE_BREAK = '\n\n--- Page Break ---\n\n';

export interface OcrOptions {
  /** Include the per-page list in the answer (`pages=true`). */
  includePages: boolean;
  /** Options forwarded to the sidecar as query parameters. */
  sidecarQuery: Record<string, string>;
}

const OPTION_NAME = /^[a-z][a-z0-9_]{0,31}$/;
/** Every option value, page ranges included, is refused above this length before it is looked at. */
export const MAX_VALUE_LENGTH = 200;
/** What a page range looks like, for the API description (validation is `normalizePageRange`). */
const RANGE_PATTERN = '^[0-9 ,-]+$';
const BOOLEAN: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false };

/**
 * `pages` is both the original per-page flag (`pages=true`) and a page range (`pages=1-3,7`), told
 * apart by value; `page_range` is the unambiguous spelling of the range.
 */
/**
 * The options of a request: its query, and the form fields sent before the file part (what
 * `curl -F lang=deu -F file=@x` does), read exactly like query options. A field also in the query
 * is an option given twice (400).
 */
export function parseRequestOptions(query: Record<string, unknown>, fields: Record<string, unknown>): OcrOptions {
  const merged: Record<string, unknown> = { ...query };
  for (const [key, value] of Object.entries(fields)) merged[key] = key in merged ? [merged[key], value] : value;
  return parseOcrOptions(merged);
}

export function parseOcrOptions(query: Record<string, unknown>): OcrOptions {
  const options: OcrOptions = { includePages: false, sidecarQuery: {} };
  for (const [key, raw] of Object.entries(query)) {
    if (!OPTION_NAME.test(key)) throw new BadOption(`Unknown option '${key.slice(0, 40)}'.`, { option: key.slice(0, 40) });
    if (typeof raw !== 'string') throw new BadOption(`Option '${key}' is given more than once.`, { option: key });
    // The length is checked before anything else reads the value: every later step is then bounded.
    if (raw.length > MAX_VALUE_LENGTH) throw badValue(key, raw, `at most ${MAX_VALUE_LENGTH} characters`);
    const value = raw.trim();
    switch (key) {
      case 'pages': {
        const flag = BOOLEAN[value.toLowerCase()];
        const range = flag === undefined ? normalizePageRange(value) : null;
        if (flag !== undefined) options.includePages = flag;
        else if (range !== null) setRange(options, range, key);
        else throw badValue(key, value, "true, false or a page range such as '1-3,7'");
        break;
      }
      case 'page_range': {
        const range = normalizePageRange(value);
        if (range === null) throw badValue(key, value, "a page range such as '1-3,7' (1-based)");
        setRange(options, range, key);
        break;
      }
      case 'lang':
        // `fra+eng` arrives as "fra eng" (in a query string `+` is a space); `fra,eng` is common too.
        options.sidecarQuery[key] = value.split(/[\s,+]+/).filter((part) => part !== '').join('+');
        break;
      default:
        options.sidecarQuery[key] = value;
    }
  }
  return options;
}

function setRange(options: OcrOptions, range: string, key: string): void {
  if (options.sidecarQuery.page_range !== undefined) {
    throw new BadOption(`Give the page range once (in 'pages' or 'page_range'), not both.`, { option: key });
  }
  options.sidecarQuery.page_range = range;
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';

/**
 * A page range ("1-3, 7", "5-") without its spaces, or null when it is not one. Plain string
 * walking, no regular expression: linear in the (capped) length whatever the input (a backtracking
 * pattern here took seconds on 80 characters and never returned on 200, freezing the worker).
 */
export function normalizePageRange(value: string): string | null {
  const spans: string[] = [];
  for (const part of value.split(',')) {
    const span = normalizeSpan(part);
    if (span === null) return null;
    spans.push(span);
  }
  return spans.join(',');
}

/** "3", "1-3" or "5-", spaces allowed around the numbers and the dash but not inside a number. */
function normalizeSpan(part: string): string | null {
  const tokens: string[] = [];
  let number = '';
  const endNumber = (): void => {
    if (number !== '') tokens.push(number);
    number = '';
  };
  for (const c of part) {
    if (isDigit(c)) {
      // Two numbers in a row ("1 2") are not a span.
      if (number === '' && tokens.length > 0 && tokens[tokens.length - 1] !== '-') return null;
      number += c;
    } else if (c === '-') {
      endNumber();
      tokens.push('-');
    } else if (c.trim() === '') {
      endNumber();
    } else {
      return null;
    }
  }
  endNumber();
  const [first, dash, last] = tokens;
  if (first === undefined || !isDigit(first[0] ?? '')) return null;
  if (tokens.length === 1) return first;
  if (dash !== '-' || tokens.length > 3 || (last !== undefined && !isDigit(last[0] ?? ''))) return null;
  return `${first}-${last ?? ''}`;
}

function badValue(option: string, value: string, expected: string): BadOption {
  return new BadOption(`Option '${option}' must be ${expected}.`, { option, value: value.slice(0, 100) });
}

/** One documented query option of POST /ocr/{service} (the OpenAPI document is built from these). */
export interface OcrOptionDoc {
  name: string;
  /** Services taking the option; 'all' for the gateway's own options. */
  services: readonly ServiceName[] | 'all';
  description: string;
  schema: { type: 'string' | 'boolean'; enum?: string[]; pattern?: string; default?: string | boolean };
  example: string;
}

/**
 * `pages` and `page_range` are parsed above; the others are validated by the service's engine
 * (sidecars/mdso_sidecar/engines/<service>.py, which test/e2e/openapi.test.ts checks names them).
 */
export const OCR_OPTIONS: readonly OcrOptionDoc[] = [
  {
    name: 'pages',
    services: 'all',
    description:
      "`true` adds the per-page list to the answer. A page range (e.g. `1-3,7`) selects pages instead, like `page_range`: with `true`/`false` it toggles the detail, with a range it selects.",
    schema: { type: 'string', default: 'false' },
    example: 'true',
  },
  {
    name: 'page_range',
    services: 'all',
    description: 'OCR only these pages (1-based; `5-` = page 5 to the end). A range outside the document answers 400.',
    schema: { type: 'string', pattern: RANGE_PATTERN },
    example: '1-3,7',
  },
  {
    name: 'lang',
    services: ['tesseract', 'hybrid'],
    description:
      'Languages for this request (installed ones only; default TESSERACT_LANG), joined by `+`, a space or a comma: `fra+eng` typed in a query string arrives as `fra eng` and means the same.',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_ +,]+$' },
    example: 'fra+eng',
  },
  {
    name: 'mode',
    services: ['tesseract', 'hybrid'],
    description:
      "`ocr` OCRs every page (default). `auto` uses a PDF page's own text layer when it is good (at least 30 characters, at most 5% unmapped glyphs) and OCRs the other pages. `text` returns text layers only, never OCR: a page without a usable one comes back empty (`blank: true`) with `meta.note` saying why. Each page's `source` says which path it took (`text-layer` or `ocr`).",
    schema: { type: 'string', enum: ['ocr', 'auto', 'text'], default: 'ocr' },
    example: 'auto',
  },
  {
    name: 'layout',
    services: ['tesseract', 'hybrid'],
    description:
      "`rows` (default) joins the lines that sit on one row of the page left to right, so a table reads row by row (an item with its price, `Total TTC` with its amount). `blocks` keeps Tesseract's own order, block by block: a table column by column.",
    schema: { type: 'string', enum: ['rows', 'blocks'], default: 'rows' },
    example: 'blocks',
  },
  {
    name: 'format',
    services: ['nanonets'],
    description: "`text` strips the model's tags (`<page_number>`, `<watermark>`, tables...) to plain text; `markdown` keeps them.",
    schema: { type: 'string', enum: ['markdown', 'text'], default: 'markdown' },
    example: 'text',
  },
  {
    name: 'force_ocr',
    services: ['marker'],
    description: "`false` uses a page's text layer when it has one (default MARKER_FORCE_OCR=true: OCR every page).",
    schema: { type: 'boolean' },
    example: 'false',
  },
];
