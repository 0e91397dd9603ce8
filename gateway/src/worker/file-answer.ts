// The answer of POST /ocr/{service} when it is a file (format=hocr, alto, pdf): the sidecar's bytes
// streamed on to the client as they come (never held whole in the worker), named after the upload.
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { Response } from 'express';
import type { SidecarAnswer } from '../sidecar-client.js';

/** The name each file format gets, after the upload's: `devis.pdf` → `devis.ocr.pdf`, never the input's own name. */
const SUFFIXES: Record<string, string> = { hocr: '.hocr', alto: '.alto.xml', pdf: '.ocr.pdf' };

/** The sidecar's headers that describe the document read, relayed as they are. */
const RELAYED = ['content-length', 'x-page-count', 'x-document-pages', 'x-failed-pages', 'x-blank-pages'] as const;

const NAME_CHARS = 100;

/**
 * The upload's name made a download name: its last path segment (either slash), without its
 * extension, control characters, quotes or separators, at most NAME_CHARS characters; `document`
 * when nothing is left. Then the format's suffix.
 */
export function attachmentName(uploadName: string | undefined, format: string): string {
  const base = (uploadName ?? '').toWellFormed().split(/[/\\]/).pop() ?? '';
  const stem = base
    .replace(/\.[^.]{1,10}$/, '')
    .replace(/^[\s.]+/, '')
    // Cut before the trims below: `[\s.]+$` is quadratic on a long run of spaces mid-name (a 16 KB
    // name blocked the worker half a second); the name is cut to NAME_CHARS after them anyway.
    .slice(0, 2 * NAME_CHARS)
    // Control characters (C0, DEL, C1), quotes and characters a file system or header reads specially.
    .replace(/[\u0000-\u001f\u007f-\u009f"'`*:;<>?|%\\/]/g, '_')
    .replace(/^[\s.]+|[\s.]+$/g, '')
    .slice(0, NAME_CHARS);
  return `${stem === '' ? 'document' : stem}${SUFFIXES[format] ?? '.bin'}`;
}

/** RFC 6266: an ASCII `filename` for old clients, and the exact name as RFC 8187 `filename*`. */
export function contentDisposition(name: string): string {
  const ascii = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\x20-\x7e]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

/**
 * Sends `answer.file` as the response: the sidecar's content type, a Content-Disposition named after
 * the upload, the page headers. Resolves once the file is sent; a client that goes away or a sidecar
 * that stops mid-file ends the response (the client sees a cut transfer, never a wrong file).
 */
export async function sendFileAnswer(
  res: Response,
  answer: SidecarAnswer & { file: Readable },
  uploadName: string | undefined,
  format: string,
): Promise<void> {
  res.status(200);
  res.setHeader('Content-Type', String(answer.headers['content-type'] ?? 'application/octet-stream'));
  res.setHeader('Content-Disposition', contentDisposition(attachmentName(uploadName, format)));
  res.setHeader('X-Content-Type-Options', 'nosniff');
  for (const name of RELAYED) {
    const value = answer.headers[name];
    if (typeof value === 'string') res.setHeader(name, value);
  }
  // The route already watches this response's 'close' (deadline, upload, access log, client gone);
  // the pipeline adds its own: more than Node's default of 10 on one response, and no leak.
  res.setMaxListeners(res.getMaxListeners() + 8);
  try {
    await pipeline(answer.file, res);
  } catch {
    // Headers are out: nothing to answer any more. The access log says how much was sent.
    res.destroy();
  }
}
