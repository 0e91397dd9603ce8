// End to end, docker/nginx.conf run by the real nginx in front of the real gateway: every error a
// client can get through it has the gateway's JSON shape, the gateway's 504 comes before nginx's,
// nginx's and the gateway's logs share the request id, and uploads stream through unspooled.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, type Socket, connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiError, BadRequest, FileTooLarge, GatewayTimeout, RouteNotFound, ServiceUnavailable, UploadTimeout, errorBody } from '../../gateway/src/api/errors.js';
import { loadConfig } from '../../gateway/src/config.js';
import { API_KEY, ROOT, type Gateway, fixture, freePort, ocrForm, startGateway, waitFor } from '../helpers/gateway.js';
import { NGINX_CONF, type Nginx, directiveValues, nginxBinary, nginxTimeMs, rewriteSite, startNginx } from '../helpers/nginx.js';

const NGINX = nginxBinary();
const CONF = readFileSync(NGINX_CONF, 'utf8');
/** The gateway's TIMEOUT when none is set (gateway/src/config.ts). */
const GATEWAY_TIMEOUT_MS = loadConfig({}).timeoutMs;
const TIMEOUT_DIRECTIVES = ['proxy_read_timeout', 'proxy_send_timeout'] as const;

// The gateway's type names, from its own classes.
const TYPE = {
  FileTooLarge: new FileTooLarge(1).type,
  Timeout: new GatewayTimeout(1000).type,
  ServiceUnavailable: new ServiceUnavailable('', undefined).type,
  BadRequest: new BadRequest('').type,
  NotFound: new RouteNotFound('').type,
  UploadTimeout: new UploadTimeout('').type,
};
const ERROR_KEYS = Object.keys(errorBody(new ApiError('x'))).sort();
// The ids the gateway takes as they are (gateway/src/worker/request-context.ts).
const REQUEST_ID = /^[\w.:-]{1,128}$/;
const NGINX_REQUEST_ID = /^[0-9a-f]{32}$/;

/** nginx running docker/nginx.conf in front of `upstream`, with `overrides` (directive → value). */
function nginxFor(upstream: string, overrides: Record<string, string> = {}): Promise<Nginx> {
  assert.ok(NGINX !== null);
  return startNginx(NGINX, ({ port, ipv6, accessLog }) => rewriteSite(CONF, { upstream, port, ipv6, accessLog, overrides }));
}

const hostPort = (url: string): string => new URL(url).host;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await fetch(url, init);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** The answer is the gateway's error shape: {"error", "type", "details", "detail"}, JSON, with a request id. */
function assertErrorShape(a: Answer, status: number, type: string): Record<string, unknown> {
  assert.equal(a.status, status, a.text.slice(0, 500));
  assert.match(a.headers.get('content-type') ?? '', /^application\/json/, a.text.slice(0, 500));
  const body = JSON.parse(a.text) as Record<string, unknown>;
  assert.deepEqual(Object.keys(body).sort(), ERROR_KEYS);
  assert.equal(body.type, type);
  assert.equal(typeof body.error, 'string');
  assert.ok((body.error as string).length > 20, 'the message names the problem');
  assert.equal(body.detail, body.error);
  assert.equal(typeof body.details, 'object');
  assert.match(a.headers.get('x-request-id') ?? '', REQUEST_ID);
  return body;
}

/** nginx's access log entry for `requestId` (written once the answer is out: waited for). */
async function accessEntry(nginx: Nginx, requestId: string): Promise<Record<string, unknown>> {
  let entry: Record<string, unknown> | undefined;
  await waitFor(
    null,
    () => {
      entry = nginx.accessEntries().find((e) => e.request_id === requestId);
      return Promise.resolve(entry !== undefined);
    },
    10_000,
  );
  assert.ok(entry);
  return entry;
}

/** One raw HTTP/1.1 exchange (for requests fetch will not send); nginx closes after these answers. */
async function raw(url: string, request: string): Promise<Answer> {
  const { hostname, port } = new URL(url);
  const data = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => socket.end(request));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
  const text = data.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  assert.ok(end > 0, `no HTTP answer: ${text.slice(0, 200)}`);
  const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Headers();
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers.append(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return { status: Number(statusLine.split(' ')[1]), headers, text: text.slice(end + 4) };
}

/**
 * A valid one-page PDF with a text layer, padded to about `bytes` by an unreferenced stream: the
 * sidecar reads its text (mode=text, no OCR) only if every byte arrived, the xref table at the end too.
 */
function paddedTextPdf(bytes: number, text: string): Buffer {
  const content = `BT /F1 14 Tf 72 760 Td (${text}) Tj ET`;
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n')];
  const offsets: number[] = [];
  let length = parts[0]?.length ?? 0;
  const add = (obj: Buffer | string): void => {
    const b = typeof obj === 'string' ? Buffer.from(obj, 'latin1') : obj;
    parts.push(b);
    length += b.length;
  };
  const object = (n: number, body: string, stream?: Buffer): void => {
    offsets[n] = length;
    if (stream === undefined) return add(`${n} 0 obj\n${body}\nendobj\n`);
    add(`${n} 0 obj\n<< /Length ${stream.length} >>\nstream\n`);
    add(stream);
    add('\nendstream\nendobj\n');
  };
  object(1, '<< /Type /Catalog /Pages 2 0 R >>');
  object(2, '<< /Type /Pages /Kids [3 0 R] /Count 1 >>');
  object(3, '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>');
  object(4, '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>');
  object(5, '', Buffer.from(content, 'latin1'));
  object(6, '', Buffer.alloc(bytes, 'padding '));
  const xref = length;
  add(`xref\n0 7\n0000000000 65535 f \n${offsets.slice(1).map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`);
  add(`trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`);
  return Buffer.concat(parts);
}

/**
 * A `python` for the gateway's sidecar that runs tests/fault_sidecar.py (the real sidecar, each page
 * FAULT_PAGE_DELAY_S slower): OCR that outlasts TIMEOUT however fast this machine is.
 */
function slowSidecarPython(dir: string): string {
  const file = path.join(dir, 'python');
  writeFileSync(
    file,
    [
      '#!/bin/sh',
      'if [ "$1" = "-m" ] && [ "$2" = "mdso_sidecar" ]; then shift 2; set -- -m tests.fault_sidecar "$@"; fi',
      `exec "${path.join(ROOT, '.venv', 'bin', 'python')}" "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o755);
  return file;
}

async function waitReady(gw: Gateway): Promise<void> {
  await waitFor(gw, async () => (await fetch(`${gw.url}/readyz`)).ok, 120_000);
}

describe('nginx in front (docker/nginx.conf)', { skip: NGINX === null ? 'no nginx binary (scripts/bootstrap --dev installs nginx-light)' : false }, () => {
  it("names its own errors with the gateway's type names", () => {
    const block = /map \$status \$mdso_error_type \{([^}]*)\}/.exec(CONF);
    assert.ok(block?.[1] !== undefined, 'the map of error types');
    const types = [...block[1].matchAll(/^\s*\S+\s+(\w+);/gm)].map((m) => m[1]);
    assert.ok(types.length > 3);
    const known = new Set([...Object.values(TYPE), new ApiError('').type]);
    for (const type of types) assert.ok(known.has(type ?? ''), `${type ?? ''} is a gateway error type`);
  });

  it('orders its proxy timeouts above the gateway TIMEOUT, so that the gateway answers first', () => {
    for (const name of TIMEOUT_DIRECTIVES) {
      const values = directiveValues(CONF, name);
      assert.ok(values.length > 0, `${name} is set`);
      for (const v of values) {
        // Comfortably above: the gateway's answer needs time to leave, and nginx's timer may start first.
        assert.ok(nginxTimeMs(v) >= GATEWAY_TIMEOUT_MS + 30_000, `${name} ${v} must stay above TIMEOUT (${GATEWAY_TIMEOUT_MS / 1000} s) by 30 s or more`);
      }
    }
  });

  describe('with the gateway behind it', () => {
    let gw: Gateway;
    let nginx: Nginx;
    before(async () => {
      gw = await startGateway();
      nginx = await nginxFor(hostPort(gw.url));
      await waitReady(gw);
    });
    after(async () => {
      await nginx?.stop();
      assert.equal(await gw?.stop(), 0);
    });

    it("passes the client's X-Request-Id to the gateway, which echoes it, and logs it", async () => {
      const id = 'quote-checker.42:a-b';
      const a = await send(`${nginx.url}/livez`, { headers: { 'x-request-id': id } });
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('x-request-id'), id);
      const entry = await accessEntry(nginx, id);
      assert.equal(entry.status, 200);
      assert.equal(entry.upstream_status, '200');
      for (const field of ['request_time', 'request_length', 'bytes_sent']) assert.equal(typeof entry[field], 'number', field);
      assert.match(String(entry.upstream_response_time), /^\d+\.\d+$/);
      await waitFor(gw, () => Promise.resolve(gw.logs().includes(`"request_id":"${id}"`)), 10_000);
    });

    it('makes a request id when the client sends none (or one the gateway would replace): the same in both logs and the answer', async () => {
      for (const headers of [{} as Record<string, string>, { 'x-request-id': 'has spaces and / slashes' }, { 'x-request-id': 'x'.repeat(129) }]) {
        const a = await send(`${nginx.url}/livez`, { headers });
        assert.equal(a.status, 200);
        const id = a.headers.get('x-request-id') ?? '';
        assert.match(id, NGINX_REQUEST_ID, "nginx's $request_id, not one the gateway made");
        assert.equal((await accessEntry(nginx, id)).status, 200);
        await waitFor(gw, () => Promise.resolve(gw.logs().includes(`"request_id":"${id}"`)), 10_000);
      }
    });

    it("relays the gateway's own error answers untouched", async () => {
      const a = await send(`${nginx.url}/ocr/tesseract`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY },
        body: ocrForm(Buffer.from('PK\u0003\u0004 not a quote'), 'a.zip', 'application/zip'),
      });
      const body = assertErrorShape(a, 415, 'UnsupportedFileType');
      assert.equal((body.details as Record<string, unknown>).answered_by, undefined);
    });

    it('streams a 60 MB upload to the gateway without spooling it to disk', async () => {
      const phrase = 'Devis de 60 MB lu au travers de nginx par la passerelle OCR';
      const pdf = paddedTextPdf(60 * 1024 * 1024, phrase);
      const a = await send(`${nginx.url}/ocr/tesseract?mode=text`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'x-request-id': 'big-upload' },
        body: ocrForm(pdf, 'big.pdf', 'application/pdf'),
      });
      assert.equal(a.status, 200, a.text.slice(0, 500));
      const json = JSON.parse(a.text) as Record<string, unknown>;
      assert.equal(json.page_count, 1);
      assert.ok(String(json.text).includes(phrase), String(json.text));
      // nginx unlinks a spooled body's temp file as soon as it opens it (a look into
      // client_body_temp_path sees nothing either way); it logs the spooling itself, at warn.
      assert.match(nginx.errorLog(), /start worker process/, 'this is the error log nginx writes');
      assert.doesNotMatch(nginx.errorLog(), /buffered to a temporary file/, 'nginx spooled the upload to disk');
      assert.ok(Number((await accessEntry(nginx, 'big-upload')).request_length) > pdf.length);
    });

    it("answers its own protocol errors in the gateway's JSON shape", async () => {
      const cases: { name: string; request: string; status: number; type: string }[] = [
        { name: 'garbage request line', request: 'NOT HTTP\r\n\r\n', status: 400, type: TYPE.BadRequest },
        { name: 'headers too large', request: `GET /livez HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 400, type: TYPE.BadRequest },
        { name: 'URL too long', request: `GET /${'a'.repeat(10_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, status: 414, type: TYPE.BadRequest },
        { name: 'TRACE', request: 'TRACE / HTTP/1.1\r\nHost: x\r\n\r\n', status: 405, type: TYPE.BadRequest },
        { name: 'unknown transfer coding', request: 'POST /ocr/tesseract HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n', status: 501, type: TYPE.BadRequest },
        { name: 'HTTP/2.0 request line', request: 'GET / HTTP/2.0\r\nHost: x\r\n\r\n', status: 505, type: TYPE.BadRequest },
        { name: 'its own error location', request: 'GET /.mdso-error HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 404, type: TYPE.NotFound },
      ];
      for (const c of cases) {
        const a = await raw(nginx.url, c.request);
        const body = assertErrorShape(a, c.status, c.type);
        assert.equal((body.details as Record<string, unknown>).answered_by, 'nginx', c.name);
        assert.equal((await accessEntry(nginx, a.headers.get('x-request-id') ?? '')).status, c.status, c.name);
      }
    });
  });

  it('answers 413 above client_max_body_size as JSON FileTooLarge, Content-Length or chunked', async () => {
    // The gateway would take these (MAX_UPLOAD_MB 100): nginx is the one refusing.
    const gw = await startGateway();
    let nginx: Nginx | undefined;
    try {
      nginx = await nginxFor(hostPort(gw.url), { client_max_body_size: '1m' });
      await waitReady(gw);
      const big = Buffer.alloc(2 * 1024 * 1024, 'x');
      const sized = await send(`${nginx.url}/ocr/tesseract`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'x-request-id': 'too-large' },
        body: ocrForm(big, 'big.png', 'image/png'),
      });
      const body = assertErrorShape(sized, 413, TYPE.FileTooLarge);
      assert.equal((body.details as Record<string, unknown>).answered_by, 'nginx');
      assert.equal(sized.headers.get('x-request-id'), 'too-large');
      assert.equal((await accessEntry(nginx, 'too-large')).status, 413);

      // Without Content-Length nginx finds out while streaming to the gateway: still its JSON 413.
      const form = new Response(ocrForm(big, 'big.png', 'image/png'));
      const chunked = await send(`${nginx.url}/ocr/tesseract`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'content-type': form.headers.get('content-type') ?? '' },
        body: form.body,
        duplex: 'half',
      });
      assertErrorShape(chunked, 413, TYPE.FileTooLarge);
    } finally {
      await nginx?.stop();
      assert.equal(await gw.stop(), 0);
    }
  });

  it("lets the gateway's JSON 504 reach the client: nginx's timeouts, scaled with TIMEOUT, stay above it", async () => {
    // TIMEOUT 5 s, nginx's timeouts scaled by the same factor (360 s → 6 s): still ordered. The page
    // takes longer than both (a slow fault sidecar), so with timeouts equal or reversed nginx's
    // HTML 504 could come first, as it did one request in three.
    const timeoutS = 5;
    const scale = (timeoutS * 1000) / GATEWAY_TIMEOUT_MS;
    const overrides = Object.fromEntries(
      TIMEOUT_DIRECTIVES.map((name) => {
        const [value] = directiveValues(CONF, name);
        assert.ok(value !== undefined);
        return [name, `${Math.round(nginxTimeMs(value) * scale)}ms`];
      }),
    );
    const pageDelayS = Math.ceil(Math.max(...Object.values(overrides).map(nginxTimeMs)) / 1000) + 2;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-slow-sidecar-'));
    let gw: Gateway | undefined;
    let nginx: Nginx | undefined;
    try {
      gw = await startGateway({ TIMEOUT: String(timeoutS), PYTHON: slowSidecarPython(dir), FAULT_PAGE_DELAY_S: String(pageDelayS) });
      nginx = await nginxFor(hostPort(gw.url), overrides);
      await waitReady(gw);
      const a = await send(`${nginx.url}/ocr/tesseract`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY, 'x-request-id': 'slow-document' },
        body: ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'),
      });
      const body = assertErrorShape(a, 504, TYPE.Timeout);
      assert.equal((body.details as Record<string, unknown>).timeout_s, timeoutS, "the gateway's answer, not nginx's");
      const entry = await accessEntry(nginx, 'slow-document');
      assert.equal(entry.upstream_status, '504');
    } finally {
      await nginx?.stop();
      const code = gw === undefined ? 0 : await gw.stop();
      rmSync(dir, { recursive: true, force: true });
      assert.equal(code, 0);
    }
  });

  it('answers its own 504 as JSON when the upstream accepts but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent: Server = createServer((s) => {
      sockets.add(s);
      s.resume(); // read the request, answer nothing
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    assert.ok(address !== null && typeof address === 'object');
    let nginx: Nginx | undefined;
    try {
      nginx = await nginxFor(`127.0.0.1:${address.port}`, { proxy_read_timeout: '1s', proxy_send_timeout: '1s' });
      const a = await send(`${nginx.url}/ocr/tesseract`, {
        method: 'POST',
        headers: { 'x-api-key': API_KEY },
        body: ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'),
      });
      const body = assertErrorShape(a, 504, TYPE.Timeout);
      assert.equal((body.details as Record<string, unknown>).answered_by, 'nginx');
      assert.equal((await accessEntry(nginx, a.headers.get('x-request-id') ?? '')).status, 504);
    } finally {
      await nginx?.stop();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('answers 502 as JSON (with Retry-After) when the gateway is down', async () => {
    const nginx = await nginxFor(`127.0.0.1:${await freePort()}`);
    try {
      for (const init of [
        {},
        { method: 'POST', headers: { 'x-api-key': API_KEY }, body: ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png') },
      ] as RequestInit[]) {
        const a = await send(`${nginx.url}/ocr/tesseract`, init);
        const body = assertErrorShape(a, 502, TYPE.ServiceUnavailable);
        assert.equal((body.details as Record<string, unknown>).answered_by, 'nginx');
        assert.match(a.headers.get('retry-after') ?? '', /^\d+$/);
        assert.equal((await accessEntry(nginx, a.headers.get('x-request-id') ?? '')).status, 502);
      }
    } finally {
      await nginx.stop();
    }
  });
});
