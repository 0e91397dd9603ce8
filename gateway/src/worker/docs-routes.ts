// GET /openapi.json and /docs (+ its assets): open, they reveal no data. The document comes from the
// primary (built there once, see api/openapi.ts) and is kept once fetched; /docs renders it with
// swagger-ui-dist's static assets, read from node_modules (no CDN) when asked, not held in memory.
import { createRequire } from 'node:module';
import path from 'node:path';
import type { NextFunction, Request, Response, Router } from 'express';
import express from 'express';
import { ServiceUnavailable } from '../api/errors.js';
import type { PrimaryClient } from './primary-client.js';

const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>mdso-ocr API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

const DOCS_INIT = `window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;

const ASSET_TYPES: Record<string, string> = { 'swagger-ui.css': 'text/css', 'swagger-ui-bundle.js': 'text/javascript', 'init.js': 'text/javascript' };

export function docsRouter(primary: PrimaryClient): Router {
  const router = express.Router();
  let document: string | null = null;
  let dist: string | null = null;

  router.get('/openapi.json', async (_req: Request, res: Response) => {
    if (document === null) {
      try {
        document = await primary.request('openapi');
      } catch (err) {
        throw new ServiceUnavailable(`The API description could not be built: ${err instanceof Error ? err.message : String(err)}.`, 5);
      }
    }
    res.type('application/json').send(document);
  });
  router.get(['/docs', '/docs/'], (_req: Request, res: Response) => {
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    res.type('text/html').send(DOCS_HTML);
  });
  router.get('/docs/:asset', (req: Request, res: Response, next: NextFunction) => {
    const name = String(req.params.asset);
    const type = Object.hasOwn(ASSET_TYPES, name) ? ASSET_TYPES[name] : undefined;
    if (type === undefined) return next();
    dist ??= path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
    res.setHeader('Content-Security-Policy', DOCS_CSP);
    // The assets change only with the swagger-ui-dist version: cacheable, unlike API answers.
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.type(type);
    // Streamed from disk: a 1.5 MB bundle is never held whole in a worker.
    if (name === 'init.js') res.send(DOCS_INIT);
    else res.sendFile(path.join(dist, name), { headers: { 'Content-Type': type } }, (err?: Error) => {
      if (err) next(err);
    });
  });
  return router;
}
