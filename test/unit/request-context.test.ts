// The headers every answer carries (helmet's, and no caching), over a real socket.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { securityHeaders } from '../../gateway/src/worker/request-context.js';

describe('securityHeaders', () => {
  let server: ReturnType<ReturnType<typeof express>['listen']>;
  let url = '';
  before(async () => {
    const app = express();
    app.use(securityHeaders());
    app.get('/answer', (_req, res) => void res.json({ ok: true }));
    app.get('/page', (_req, res) => {
      res.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'self'");
      res.type('text/html').send('<p>page</p>');
    });
    // As the app's own notFound (express's default 404 would write its own policy).
    app.use((_req, res) => void res.status(404).json({ error: 'not found' }));
    server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => server.close());

  it('forbids sniffing, framing, referrers and caching on every answer, found or not', async () => {
    for (const p of ['/answer', '/nowhere']) {
      const res = await fetch(`${url}${p}`);
      await res.arrayBuffer();
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', p);
      assert.equal(res.headers.get('x-frame-options'), 'DENY', p);
      assert.equal(res.headers.get('content-security-policy'), "default-src 'none';frame-ancestors 'none'", p);
      assert.equal(res.headers.get('referrer-policy'), 'no-referrer', p);
      assert.equal(res.headers.get('cache-control'), 'no-store', p);
      assert.equal(res.headers.get('cross-origin-resource-policy'), 'same-origin', p);
      // TLS is the proxy's: a plain-HTTP gateway does not pin HTTPS for the whole domain.
      assert.equal(res.headers.get('strict-transport-security'), null, p);
    }
  });

  it('lets a route widen the policy for its own page (/docs)', async () => {
    const res = await fetch(`${url}/page`);
    await res.text();
    assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; script-src 'self'");
  });
});
