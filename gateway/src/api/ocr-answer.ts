// The public answer of an OCR, built from a sidecar's answer: one function for POST /ocr/{service}
// and for the durable jobs (GET /jobs/{id}/result), so that both answer the same body; and the
// error a sidecar's error answer stands for.
import { type ApiError, SidecarError } from './errors.js';
import { type OutputFormat, PAGE_BREAK } from './ocr-options.js';
import type { OcrAnswer } from './schemas.js';
import type { SidecarOcrBody, SidecarPage } from '../ipc/sidecar-wire.js';

const BLANK_PAGE_WARNING = 'No text was found on this page: it is blank, or its text could not be seen (check the scan or photo).';

/** A sidecar answer's status, headers and body (sidecar-client.ts's SidecarAnswer, as this room needs it). */
export interface SidecarReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/**
 * The public answer. `format` (default `text`: the client contract's answer, unchanged): `json` adds
 * `format` and the per-page list, always, each page with its layout; `markdown` adds `format` (the
 * text is the service's markdown, as it always was for the services offering it).
 */
export function publicAnswer(body: SidecarOcrBody, includePages: boolean, durationMs: number, format: OutputFormat = 'text'): OcrAnswer {
  const out: OcrAnswer = {
    text: body.pages.map((p) => p.text).join(PAGE_BREAK),
    service: body.service,
    page_count: body.pages.length,
    duration_ms: durationMs,
    ...(format === 'json' || format === 'markdown' ? { format } : {}),
  };
  const withLayout = format === 'json';
  if (withLayout) includePages = true;
  const failed = body.pages.filter((p) => p.error !== null).map((p) => p.page);
  if (failed.length > 0) out.failed_pages = failed;
  const blank = (p: SidecarPage): boolean => p.error === null && (p.blank ?? p.text.trim() === '');
  const blankPages = body.pages.filter(blank).map((p) => p.page);
  if (blankPages.length > 0) out.blank_pages = blankPages;
  if (includePages) {
    out.pages = body.pages.map((p) => ({
      page: p.page,
      text: p.text,
      source: p.source,
      duration_ms: p.ms,
      error: p.error,
      blank: p.blank ?? p.text.trim() === '',
      ...(blank(p) ? { warning: BLANK_PAGE_WARNING } : {}),
      rotation: p.rotation ?? 0,
      ...(p.meta !== undefined ? { meta: p.meta } : {}),
      ...(withLayout && p.layout !== undefined && p.layout !== null ? p.layout : {}),
      ...(withLayout && p.identifiers !== undefined ? { identifiers: p.identifiers } : {}),
    }));
  }
  return out;
}

export function sidecarError(result: SidecarReply): ApiError {
  const body = (typeof result.body === 'object' && result.body !== null ? result.body : {}) as {
    error?: unknown;
    type?: unknown;
    details?: unknown;
  };
  const retry = Number(result.headers['retry-after']);
  return new SidecarError(
    result.status,
    typeof body.type === 'string' ? body.type : 'SidecarError',
    typeof body.error === 'string' ? withoutServerPaths(body.error) : `The OCR service answered ${result.status}.`,
    typeof body.details === 'object' && body.details !== null ? (body.details as Record<string, unknown>) : {},
    Number.isFinite(retry) ? retry : result.status === 503 ? 5 : undefined,
  );
}

/**
 * `text` from a sidecar or the supervisor (a crash reason, an unavailable engine's message) as a
 * client may read it: absolute paths (the command line of a crashed sidecar, a weights folder) are
 * replaced; GET /health keeps the full text for operators. Linear: one character class, no nesting.
 */
export function withoutServerPaths(text: string): string {
  return text.replace(/(^|[\s'"(=,])\/[^\s'"(),;]+/g, '$1a server path (see GET /health)');
}
