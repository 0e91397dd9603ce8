// End to end: malformed and hostile HTTP reaches the gateway — each gets a specific 4xx JSON answer,
// and the service stays healthy with the same sidecar.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { API_KEY, type Gateway, fixture, getJson, startGateway } from '../helpers/gateway.js';

/** Sends raw bytes on a fresh connection and returns the status line's code and the body. */
async function raw(gw: Gateway, head: string, body: Buffer = Buffer.alloc(0)): Promise<{ status: number; body: string }> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let data = '';
    socket.setTimeout(15_000, () => socket.destroy(new Error('no answer within 15 s')));
    socket.on('data', (c: Buffer) => (data += c.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(head.replace(/\n/g, '\r\n'));
    // No half-close: node's HTTP server treats a client FIN as an aborted request.
    socket.write(body);
  });
}

function multipartHead(contentType: string, length: number | null): string {
  return (
    `POST /ocr/tesseract HTTP/1.1\nHost: x\nx-api-key: ${API_KEY}\nConnection: close\nContent-Type: ${contentType}\n` +
    (length === null ? 'Transfer-Encoding: chunked\n' : `Content-Length: ${length}\n`) +
    '\n'
  );
}

function part(name: string, filename: string | Buffer | null, content: Buffer, boundary = 'B0undary'): Buffer {
  const type = filename === null ? 'text/plain' : 'application/octet-stream';
  const disposition = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"`),
    filename === null ? Buffer.alloc(0) : Buffer.concat([Buffer.from('; filename="'), Buffer.isBuffer(filename) ? filename : Buffer.from(filename), Buffer.from('"')]),
    Buffer.from(`\r\nContent-Type: ${type}\r\n\r\n`),
  ]);
  return Buffer.concat([disposition, content, Buffer.from('\r\n')]);
}

describe('hostile HTTP', () => {
  let gw: Gateway;
  let sidecarPid: number;
  before(async () => {
    gw = await startGateway({ MAX_UPLOAD_MB: '2' });
    const h = await getJson(gw, '/health');
    sidecarPid = (h.json.sidecars as Record<string, { pid: number }>).tesseract?.pid ?? 0;
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('answers 400 to multipart without a boundary', async () => {
    const body = Buffer.from('whatever');
    const r = await raw(gw, multipartHead('multipart/form-data', body.length), body);
    assert.equal(r.status, 400);
    assert.match(r.body, /[Bb]oundary/);
  });

  it('answers 400 to a form whose boundary never closes', async () => {
    const body = part('file', 'a.png', fixture('client', 'Devis_test.png')).subarray(0, 5000);
    const r = await raw(gw, multipartHead('multipart/form-data; boundary=B0undary', body.length), body);
    assert.equal(r.status, 400, r.body);
    assert.match(r.body, /Unexpected end of form|[Mm]alformed/);
  });

  it('answers 400 to a huge text field', async () => {
    const body = Buffer.concat([part('note', null, Buffer.alloc(200_000, 'a')), part('file', 'a.png', fixture('client', 'Devis_test.png')), Buffer.from('--B0undary--\r\n')]);
    const r = await raw(gw, multipartHead('multipart/form-data; boundary=B0undary', body.length), body);
    assert.ok(r.status === 400 || r.status === 413, `status ${r.status}: ${r.body}`);
    assert.match(r.body, /field/);
  });

  it('answers 413 at once to a multi-gigabyte Content-Length, without waiting for the body', async () => {
    const r = await raw(gw, multipartHead('multipart/form-data; boundary=B0undary', 5 * 1024 ** 3), Buffer.from('--B0undary\r\n'));
    assert.equal(r.status, 413);
    assert.match(r.body, /MAX_UPLOAD_MB/);
  });

  for (const [label, filename] of [
    ['../ path traversal', '../../../../etc/passwd'],
    ['10 KB of characters', `${'a'.repeat(10_000)}.png`],
    ['invalid UTF-8', Buffer.from([0x64, 0xff, 0xfe, 0xc3, 0x28, 0x2e, 0x70, 0x6e, 0x67])],
    ['HTML', '<script>alert(1)</script>.png'],
  ] as const) {
    it(`reads a file whose name has ${label}, never echoing the name`, async () => {
      const body = Buffer.concat([part('file', filename, fixture('client', 'Devis_test.png')), Buffer.from('--B0undary--\r\n')]);
      const r = await raw(gw, multipartHead('multipart/form-data; boundary=B0undary', body.length), body);
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, /12345678900000/);
      assert.doesNotMatch(r.body, /passwd|<script>|aaaaaaaa/);
    });
  }

  for (const [label, filename] of [
    ['a NUL byte', Buffer.from('devis\u0000.png')],
    ['20 KB of characters (an oversized part header)', 'é'.repeat(10_000)],
  ] as const) {
    it(`answers 400 to a part header with ${label}`, async () => {
      const body = Buffer.concat([part('file', filename, fixture('client', 'Devis_test.png')), Buffer.from('--B0undary--\r\n')]);
      const r = await raw(gw, multipartHead('multipart/form-data; boundary=B0undary', body.length), body);
      assert.equal(r.status, 400, r.body);
      assert.match(r.body, /Malformed part header/);
    });
  }

  it('is still healthy, with the same sidecar', async () => {
    const h = await getJson(gw, '/health');
    assert.equal(h.json.status, 'healthy');
    assert.equal((h.json.sidecars as Record<string, { pid: number; restarts: number }>).tesseract?.pid, sidecarPid);
  });
});
