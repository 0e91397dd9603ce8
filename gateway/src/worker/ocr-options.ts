// Query options of POST /ocr/{service}. The gateway owns `pages` (per-page detail) and the page
// range; every other option is forwarded to the sidecar, whose engine validates it (unknown option
// or bad value → 400 naming it), so that each engine documents its own options in one place.
import { BadOption } from '../errors.js';
import type { ServiceName } from '../services.js';

/** Between the pages in the answer's `text` (per-page text with `pages=true`). */
export const PAGE_BREAK = '\n\n--- Page Break ---\n\n';

export interface OcrOptions {
  /** Include the per-page list in the answer (`pages=true`). */
  includePages: boolean;
  /** Options forwarded to the sidecar as query parameters. */
  sidecarQuery: Record<string, string>;
}

const RANGE = /^\s*\d+\s*(-\s*\d*\s*)?(,\s*\d+\s*(-\s*\d*\s*)?)*$/;
const OPTION_NAME = /^[a-z][a-z0-9_]{0,31}$/;
const MAX_VALUE_LENGTH = 200;
const BOOLEAN: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false };

/**
 * `pages` is both the original per-page flag (`pages=true`) and a page range (`pages=1-3,7`), told
 * apart by value; `page_range` is the unambiguous spelling of the range.
 */
export function parseOcrOptions(query: Record<string, unknown>): OcrOptions {
  const options: OcrOptions = { includePages: false, sidecarQuery: {} };
  for (const [key, raw] of Object.entries(query)) {
    if (!OPTION_NAME.test(key)) throw new BadOption(`Unknown option '${key.slice(0, 40)}'.`, { option: key.slice(0, 40) });
    if (typeof raw !== 'string') throw new BadOption(`Option '${key}' is given more than once.`, { option: key });
    const value = raw.trim();
    switch (key) {
      case 'pages': {
        const flag = BOOLEAN[value.toLowerCase()];
        if (flag !== undefined) options.includePages = flag;
        else if (RANGE.test(value)) setRange(options, value, key);
        else throw badValue(key, value, "true, false or a page range such as '1-3,7'");
        break;
      }
      case 'page_range':
        if (!RANGE.test(value)) throw badValue(key, value, "a page range such as '1-3,7' (1-based)");
        setRange(options, value, key);
        break;
      default:
        if (value.length > MAX_VALUE_LENGTH) throw badValue(key, value, `at most ${MAX_VALUE_LENGTH} characters`);
        options.sidecarQuery[key] = value;
    }
  }
  return options;
}

function setRange(options: OcrOptions, value: string, key: string): void {
  if (options.sidecarQuery.page_range !== undefined) {
    throw new BadOption(`Give the page range once (in 'pages' or 'page_range'), not both.`, { option: key });
  }
  options.sidecarQuery.page_range = value.replace(/\s+/g, '');
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
    schema: { type: 'string', pattern: RANGE.source },
    example: '1-3,7',
  },
  {
    name: 'lang',
    services: ['tesseract'],
    description: 'Languages for this request, joined by `+` (installed ones only; default TESSERACT_LANG).',
    schema: { type: 'string', pattern: '^[A-Za-z0-9_]+(\\+[A-Za-z0-9_]+)*$' },
    example: 'fra+eng',
  },
  {
    name: 'mode',
    services: ['tesseract'],
    description:
      "`ocr` OCRs every page (default). `auto` uses a PDF page's own text layer when it is good (at least 30 characters, at most 5% unmapped glyphs) and OCRs the other pages. `text` returns text layers only, never OCR: a page without a usable one comes back empty (`blank: true`) with `meta.note` saying why. Each page's `source` says which path it took (`text-layer` or `ocr`).",
    schema: { type: 'string', enum: ['ocr', 'auto', 'text'], default: 'ocr' },
    example: 'auto',
  },
  {
    name: 'layout',
    services: ['tesseract'],
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
