// The sidecar client (undici over a Unix socket): streamed uploads, answers given before the
// upload is read, a sidecar that goes away, our aborts, keep-alive reuse.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { closeSidecarAgents, getSidecarHealth, isConnectionError, postToSidecar } from '../../gateway/src/sidecar-client.js';

/** `count` chunks of 64 KiB, produced lazily (backpressure applies). */
function upload(count: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      this.push(sent < count ? Buffer.alloc(65_536, sent % 251) : null);
      sent += 1;
    },
  });
}

describe('sidecar client', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-client-'));
  const socketPath = path.join(dir, 'test.sock');
  let connections = 0;
  let server: http.Server;

  before(async () => {
    server = http.createServer((req: IncomingMessage, res: ServerResponse) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/health') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ state: 'ready', service: 'test', pid: 1 }));
        return;
      }
      if (url.searchParams.get('mode') === 'early') {
        // Refuses at once, without reading the upload, then closes the connection.
        res.writeHead(400, { 'content-type': 'application/json', connection: 'close', 'retry-after': '3' });
        res.end(JSON.stringify({ error: 'bad option', type: 'BadOption' }));
        return;
      }
      if (url.searchParams.get('mode') === 'crash') {
        req.once('data', () => req.socket.destroy());
        return;
      }
      if (url.searchParams.get('mode') === 'half') {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
          res.write('{"pages": [');
          setTimeout(() => req.socket.destroy(), 50);
        });
        return;
      }
      if (url.searchParams.get('mode') === 'slow') return; // never answers
      if (url.searchParams.get('format') === 'pdf') {
        // A file answer, written in pieces: it reaches the caller unread, as a stream.
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/pdf', 'x-failed-pages': '2' });
          res.write('%PDF-1.7\n');
          setTimeout(() => res.end('%%EOF\n'), 50);
        });
        return;
      }
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ bytes, query: Object.fromEntries(url.searchParams), type: req.headers['content-type'], id: req.headers['x-request-id'] }));
      });
    });
    server.on('connection', () => (connections += 1));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  });
  after(async () => {
    closeSidecarAgents();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (query: Record<string, string>, chunks: number, signal = new AbortController().signal) =>
    postToSidecar({ socketPath, body: upload(chunks), query, headers: { 'content-type': 'application/pdf', 'x-request-id': 'r1' }, signal });

  it('streams an upload and parses the JSON answer, keeping connections for the next ones', async () => {
    const first = await post({ page_range: '1-2' }, 100);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, { bytes: 100 * 65_536, query: { page_range: '1-2' }, type: 'application/pdf', id: 'r1' });
    // undici may open a second connection while the first is being released; after that, none.
    await post({}, 3);
    const opened = connections;
    for (let i = 0; i < 6; i += 1) await post({}, 3);
    assert.equal(connections, opened, 'keep-alive: no new connection');
  });

  it('reads the health answer', async () => {
    assert.deepEqual(await getSidecarHealth(socketPath, 2000), { state: 'ready', service: 'test', pid: 1 });
  });

  it('returns an answer given before the upload was read (the cut upload is no error)', async () => {
    const r = await post({ mode: 'early' }, 2000);
    assert.equal(r.status, 400);
    assert.deepEqual(r.body, { error: 'bad option', type: 'BadOption' });
    assert.equal(r.headers['retry-after'], '3');
    // The client still works afterwards.
    assert.equal((await post({}, 2)).status, 200);
  });

  it('reports a sidecar that went away as a connection error', async () => {
    await assert.rejects(post({ mode: 'crash' }, 2000), (err) => isConnectionError(err));
    await assert.rejects(post({ mode: 'half' }, 1), (err) => isConnectionError(err));
    await assert.rejects(
      postToSidecar({ socketPath: path.join(dir, 'none.sock'), body: upload(1), query: {}, headers: {}, signal: new AbortController().signal }),
      (err) => isConnectionError(err),
    );
  });

  it('stops on our abort, which is not a connection error', async () => {
    const controller = new AbortController();
    const pending = post({ mode: 'slow' }, 1, controller.signal);
    setTimeout(() => controller.abort(), 100);
    await assert.rejects(pending, (err) => !isConnectionError(err));
    await assert.rejects(getSidecarHealth(path.join(dir, 'none.sock'), 500));
  });

  it('hands a 200 that is not JSON (a file format) back unread, as a stream', async () => {
    const answer = await post({ format: 'pdf' }, 2);
    assert.equal(answer.status, 200);
    assert.equal(answer.body, undefined);
    assert.equal(answer.headers['x-failed-pages'], '2');
    assert.ok(answer.file !== undefined);
    const chunks: Buffer[] = [];
    for await (const chunk of answer.file) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).toString(), '%PDF-1.7\n%%EOF\n');
  });
});
