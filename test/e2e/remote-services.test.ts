// End to end, real processes (issue 16, models spread over boxes): a front gateway with no sidecar of
// its own (ENABLED_SERVICES=none) serves tesseract from a real peer gateway (REMOTE_SERVICES),
// through http-proxy-middleware. The proxied answer is the peer's own; the peer's 4xx pass through
// with their bodies; /services, /health, /readyz and /metrics tell the peer's state; the peer is sent
// its own key and this request's id, never the client's key; the upload limit holds on the front; a
// client gone, TIMEOUT or an upload over the limit cut the peer's request (the peer logs 499); a peer
// stopped, or refusing the front's key, gets 502. Nothing depends on this machine's speed: the slow peer
// is a frozen (SIGSTOP) one.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { API_KEY, type Gateway, fixture, getJson, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';
import { filesUnder } from '../helpers/hostile-inputs.js';

/** The peer's only key: the front's (API_KEY, the client's) is never accepted there. */
const PEER_KEY = 'peer-only-key-5f1c2a9e7d';

type Body = Record<string, unknown>;

async function postPeer(peer: Gateway, form: FormData, query = ''): Promise<{ status: number; json: Body }> {
  const res = await fetch(`${peer.url}/ocr/tesseract${query}`, { method: 'POST', headers: { 'x-api-key': PEER_KEY }, body: form });
  return { status: res.status, json: (await res.json()) as Body };
}

/** The peer's access-log line for a request id (written once its answer is out, or its client gone). */
function accessLine(gw: Gateway, requestId: string): string | undefined {
  return gw
    .logs()
    .split('\n')
    .find((l) => / request \{/.test(l) && l.includes(`"request_id":"${requestId}"`) && l.includes('"path":"/ocr/tesseract"'));
}

/** A sample's value in a Prometheus text exposition (its labels in any order), or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort()
    .join(',');
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(line);
    if (m?.[1] !== name) continue;
    const got = (m[2] ?? '').match(/[a-z_]+="[^"]*"/g)?.sort().join(',');
    if (got === wanted) return Number(m[3]);
  }
  return undefined;
}

async function metrics(gw: Gateway): Promise<string> {
  const res = await fetch(`${gw.url}/metrics`, { headers: { 'x-api-key': API_KEY } });
  assert.equal(res.status, 200);
  return res.text();
}

/**
 * A raw multipart upload over its own socket: the head (Content-Length or chunked), a part header,
 * then filler in 64 KB pieces until `sendBytes` are sent or an answer arrives; then the socket is
 * destroyed once `leaveWhen()` says so, or (without it) read to its end. Resolves with what came back.
 */
async function rawUpload(
  gw: Gateway,
  opts: { requestId: string; sendBytes: number; contentLength?: number; leaveWhen?: () => Promise<boolean> },
): Promise<string> {
  const { port } = new URL(gw.url);
  const boundary = 'RemoteBoundary';
  const partHead = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\n`);
  const chunked = opts.contentLength === undefined;
  const head =
    `POST /ocr/tesseract HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: ${API_KEY}\r\nx-request-id: ${opts.requestId}\r\n` +
    `Content-Type: multipart/form-data; boundary=${boundary}\r\n` +
    (chunked ? 'Transfer-Encoding: chunked\r\n\r\n' : `Content-Length: ${opts.contentLength}\r\n\r\n`);
  const frame = (b: Buffer): Buffer => (chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]) : b);
  const socket = connect(Number(port), '127.0.0.1');
  let answer = '';
  socket.on('data', (c: Buffer) => (answer += c.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(head);
  socket.write(frame(partHead));
  const piece = frame(Buffer.alloc(64 * 1024, 0x20));
  let sent = partHead.length;
  while (sent < opts.sendBytes && answer === '' && !socket.destroyed) {
    if (!socket.write(piece)) await Promise.race([new Promise((resolve) => socket.once('drain', resolve)), closed]);
    sent += 64 * 1024;
  }
  if (opts.leaveWhen !== undefined) {
    await waitFor(gw, opts.leaveWhen, 60_000);
    socket.destroy();
  }
  await closed;
  return answer;
}

/** Status and JSON body of a raw HTTP/1.1 answer (Content-Length framed, as express sends JSON). */
function parseAnswer(raw: string): { status: number; json: Body } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  return { status, json: JSON.parse(body) as Body };
}

describe('remote services: a front gateway proxying to a peer gateway (REMOTE_SERVICES)', () => {
  let peer: Gateway;
  let front: Gateway;
  /** A second front: short TIMEOUT and a 1 MB upload limit, on the same peer. */
  let strict: Gateway;
  /** Those started and not stopped yet (a failed start leaves none behind either). */
  const running = new Set<Gateway>();
  const start = async (env: Record<string, string>): Promise<Gateway> => {
    const gw = await startGateway(env);
    running.add(gw);
    return gw;
  };

  before(async () => {
    // The peer polls its sidecar once at start only (HEALTH_POLL_MS at its maximum, 10 minutes): a
    // sidecar frozen with SIGSTOP stays `ready` for it, so a request reaches the frozen sidecar and
    // waits there, as it would behind a slow document, on any machine.
    peer = await start({ API_KEY: PEER_KEY, HEALTH_POLL_MS: '600000' });
    const remote = { ENABLED_SERVICES: 'none', REMOTE_SERVICES: `tesseract=${peer.url}`, REMOTE_API_KEY: PEER_KEY };
    front = await start(remote);
    strict = await start({ ...remote, TIMEOUT: '5', MAX_UPLOAD_MB: '1' });
  });
  after(async () => {
    const codes = await Promise.all([...running].map((gw) => gw.stop()));
    assert.deepEqual(
      codes.filter((c) => c !== 0),
      [],
    );
  });

  it("answers a document with the peer's own answer, under the client's request id", async () => {
    const png = fixture('client', 'Devis_test.png');
    const direct = await postPeer(peer, ocrForm(png, 'Devis_test.png', 'image/png'));
    assert.equal(direct.status, 200, JSON.stringify(direct.json));
    const proxied = await postOcr(front, 'tesseract', ocrForm(png, 'Devis_test.png', 'image/png'), { headers: { 'x-request-id': 'remote-same-1' } });
    assert.equal(proxied.status, 200, JSON.stringify(proxied.json));
    assert.equal(proxied.json.text, direct.json.text);
    assert.match(String(proxied.json.text), /12345678900000/);
    assert.equal(proxied.json.service, 'tesseract');
    assert.equal(proxied.json.page_count, direct.json.page_count);
    assert.equal(proxied.headers.get('x-request-id'), 'remote-same-1');
    // The peer served it under the same id (its access log), with its own key.
    await waitFor(peer, () => Promise.resolve(accessLine(peer, 'remote-same-1') !== undefined), 30_000);
    assert.match(accessLine(peer, 'remote-same-1') ?? '', /"status":200/);
    // ?pages=true reaches the peer as the client wrote it.
    const pdf = await postOcr(front, 'tesseract', ocrForm(fixture('client', 'Devis_multi_pages.pdf'), 'm.pdf', 'application/pdf'), { query: '?pages=true&page_range=2' });
    assert.equal(pdf.status, 200, JSON.stringify(pdf.json));
    assert.deepEqual(
      (pdf.json.pages as { page: number }[]).map((p) => p.page),
      [2],
    );
  });

  it("passes the peer's 4xx answers through with their bodies", async () => {
    for (const [what, form, query, status, type] of [
      ['unsupported file', ocrForm(fixture('client', 'Devis_test.zip'), 'Devis_test.zip', 'application/zip'), '', 415, undefined],
      ['unknown option', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'), '?bogus=1', 400, 'BadOption'],
      ['empty file', ocrForm(fixture('client', 'empty.pdf'), 'empty.pdf', 'application/pdf'), '', 422, undefined],
    ] as const) {
      const direct = await postPeer(peer, form, query);
      const proxied = await postOcr(front, 'tesseract', form, { query });
      assert.equal(direct.status, status, `${what}: ${JSON.stringify(direct.json)}`);
      assert.equal(proxied.status, status, what);
      assert.deepEqual(proxied.json, direct.json, what);
      if (type !== undefined) assert.equal(proxied.json.type, type);
    }
  });

  it('refuses a job for the remote service on a front without Redis, saying where it runs (the embedded engine runs local sidecars only)', async () => {
    const res = await fetch(`${front.url}/jobs/tesseract`, {
      method: 'POST',
      headers: { 'x-api-key': API_KEY },
      body: ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'),
    });
    const body = (await res.json()) as Body;
    assert.equal(res.status, 404, JSON.stringify(body));
    assert.equal(body.type, 'ServiceNotFound');
    assert.match(String(body.error), /peer gateway \(REMOTE_SERVICES\).*REDIS_URL/);
  });

  it('lists the remote service in /services, /health (with the peer state, never its key), /readyz and /metrics', async () => {
    assert.deepEqual((await getJson(front, '/services')).json.services, ['tesseract']);
    const health = await getJson(front, '/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'healthy');
    assert.deepEqual(health.json.services, ['tesseract']);
    assert.deepEqual(health.json.sidecars, {}, 'no local sidecar');
    const remote = (health.json.remote as Record<string, Body>).tesseract;
    assert.ok(remote, JSON.stringify(health.json));
    assert.equal(remote.url, peer.url);
    assert.equal(remote.state, 'ready');
    assert.equal(remote.peer_state, 'ready');
    assert.match(String(remote.model), /tesseract/);
    assert.ok(!Number.isNaN(Date.parse(String(remote.checked_at))), 'checked_at is a date');
    assert.ok(!JSON.stringify(health.json).includes(PEER_KEY), 'no key in /health');
    // As the OpenAPI document says /health answers.
    const doc = (await (await fetch(`${front.url}/openapi.json`)).json()) as { components: unknown };
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
    const check = ajv.getSchema('openapi.json#/components/schemas/Health');
    assert.ok(check);
    assert.ok(check(health.json), ajv.errorsText(check.errors));
    assert.equal((await fetch(`${front.url}/readyz`)).status, 200);
    const text = await metrics(front);
    assert.equal(sample(text, 'mdso_remote_up', { service: 'tesseract', peer: peer.url }), 1);
    assert.ok((sample(text, 'mdso_remote_requests_total', { service: 'tesseract', status_class: '2xx', answered_by: 'peer' }) ?? 0) >= 2, text);
    assert.ok((sample(text, 'mdso_remote_requests_total', { service: 'tesseract', status_class: '4xx', answered_by: 'peer' }) ?? 0) >= 3);
  });

  it("sends the peer its own key, never the client's (which the peer refuses), and logs neither", async () => {
    // The proxied requests above succeeded with the client's key (the front's), which the peer refuses:
    const refused = await postOcr(peer, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(refused.status, 401, 'the peer takes only its own key');
    // …and the front takes only its own: the peer's key is no key to it.
    const res = await fetch(`${front.url}/services`, { headers: { 'x-api-key': PEER_KEY } });
    assert.equal(res.status, 401);
    await res.arrayBuffer();
    for (const gw of [front, peer, strict]) {
      for (const key of [API_KEY, PEER_KEY]) assert.ok(!gw.logs().includes(key), `a key is in the logs of ${gw.url}`);
    }
  });

  it("answers 502, never the client's 401, when the peer refuses the front's key; /health says why", async () => {
    const wrong = await start({ ENABLED_SERVICES: 'none', REMOTE_SERVICES: `tesseract=${peer.url}`, REMOTE_API_KEY: 'not-the-peer-key' });
    try {
      const remote = ((await getJson(wrong, '/health')).json.remote as Record<string, Body>).tesseract;
      assert.equal(remote?.state, 'unreachable');
      assert.match(String(remote?.message), /refused this gateway's key \(401\).*REMOTE_API_KEY or TESSERACT_REMOTE_API_KEY/);
      const r = await postOcr(wrong, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
      assert.equal(r.status, 502, JSON.stringify(r.json));
      assert.equal(r.json.type, 'PeerUnreachable');
      assert.ok(!wrong.logs().includes('not-the-peer-key'), 'the key is not logged');
    } finally {
      running.delete(wrong);
      assert.equal(await wrong.stop(), 0);
    }
  });

  it("cuts the peer's request when the client leaves mid-upload", async () => {
    const requestId = 'remote-abort-1';
    const answer = await rawUpload(front, {
      requestId,
      contentLength: 20 * 1024 * 1024,
      sendBytes: 2 * 1024 * 1024,
      // Left once the upload has streamed through the front into the peer's sidecar spool.
      leaveWhen: () => Promise.resolve(spooled(peer) > 256 * 1024),
    });
    assert.equal(answer, '', 'no answer: the client left');
    await waitFor(peer, () => Promise.resolve(accessLine(peer, requestId) !== undefined), 60_000);
    assert.match(accessLine(peer, requestId) ?? '', /"status":499/, "the peer's client (the front) went away");
    await waitFor(peer, () => Promise.resolve(filesUnder(peer.tmpDir).length === 0), 60_000);
    await waitFor(front, () => Promise.resolve(accessLine(front, requestId) !== undefined), 60_000);
    assert.match(accessLine(front, requestId) ?? '', /"status":499/);
    assert.ok((sample(await metrics(front), 'mdso_remote_requests_total', { service: 'tesseract', status_class: 'client-gone', answered_by: 'gateway' }) ?? 0) >= 1);
  });

  it('enforces MAX_UPLOAD_MB on the front: from Content-Length, then counting a chunked upload (the peer request cut)', async () => {
    const big = await postOcr(strict, 'tesseract', ocrForm(Buffer.alloc(2 * 1024 * 1024, 1), 'big.pdf', 'application/pdf'));
    assert.equal(big.status, 413, JSON.stringify(big.json));
    assert.equal(big.json.type, 'FileTooLarge');
    const requestId = 'remote-too-large-1';
    const raw = await rawUpload(strict, { requestId, sendBytes: 3 * 1024 * 1024 });
    const answer = parseAnswer(raw);
    assert.equal(answer.status, 413, raw.slice(0, 500));
    assert.equal(answer.json.type, 'FileTooLarge');
    await waitFor(peer, () => Promise.resolve(accessLine(peer, requestId) !== undefined), 60_000);
    assert.match(accessLine(peer, requestId) ?? '', /"status":499/, 'the peer saw its request cut');
  });

  it("answers 504 at the front's TIMEOUT while the peer works on, and the peer's request is cut", async () => {
    const sidecar = (await getJson(peer, '/health', PEER_KEY)).json.sidecars as Record<string, { pid: number }>;
    const pid = sidecar.tesseract?.pid;
    assert.ok(typeof pid === 'number');
    const requestId = 'remote-timeout-1';
    process.kill(pid, 'SIGSTOP');
    try {
      const r = await postOcr(strict, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'), { headers: { 'x-request-id': requestId } });
      assert.equal(r.status, 504, JSON.stringify(r.json));
      assert.equal(r.json.type, 'Timeout');
      assert.deepEqual(r.json.details, { timeout_s: 5 });
      // The front cut its request: the peer logs its client gone while its sidecar is still frozen.
      await waitFor(peer, () => Promise.resolve(accessLine(peer, requestId) !== undefined), 60_000);
      assert.match(accessLine(peer, requestId) ?? '', /"status":499/);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.ok((sample(await metrics(strict), 'mdso_remote_requests_total', { service: 'tesseract', status_class: '5xx', answered_by: 'gateway' }) ?? 0) >= 1);
    // The thawed sidecar serves again (it drops the request whose client left).
    const ok = await postOcr(front, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
  });

  it('answers 502 naming the service once the peer is stopped; /health shows it unreachable, /readyz not ready', async () => {
    running.delete(peer);
    assert.equal(await peer.stop(), 0);
    // At once (the front has not polled the stopped peer yet, or has): a 502 either way.
    const r = await postOcr(front, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(r.status, 502, JSON.stringify(r.json));
    assert.equal(r.json.type, 'PeerUnreachable');
    assert.match(String(r.json.error), /OCR service 'tesseract' runs on another gateway/);
    assert.equal((r.json.details as Body).service, 'tesseract');
    assert.ok(!String(r.json.error).includes(peer.url), 'the peer address is for /health, not for clients');
    await waitFor(front, async () => ((await getJson(front, '/health')).json.remote as Record<string, Body>).tesseract?.state === 'unreachable', 60_000);
    const health = (await getJson(front, '/health')).json;
    const remote = (health.remote as Record<string, Body>).tesseract;
    assert.equal(health.status, 'degraded');
    assert.deepEqual(health.services, []);
    assert.match(String(remote?.message), /cannot be reached: ECONNREFUSED/);
    assert.equal(remote?.peer_state, null);
    assert.ok(remote?.last_seen_at !== null, 'it was seen before');
    const readyz = await fetch(`${front.url}/readyz`);
    assert.equal(readyz.status, 503, 'no service, local or remote, can answer');
    await readyz.arrayBuffer();
    // Still listed, as a local sidecar not answering its health checks is (a box restarting).
    assert.deepEqual((await getJson(front, '/services')).json.services, ['tesseract']);
    const again = await postOcr(front, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(again.status, 502);
    assert.equal(again.headers.get('retry-after'), '5');
    assert.equal(sample(await metrics(front), 'mdso_remote_up', { service: 'tesseract', peer: peer.url }), 0);
  });
});

/** Bytes a gateway's sidecars have spooled so far (a file may go between listing and stat). */
function spooled(gw: Gateway): number {
  let sum = 0;
  for (const f of filesUnder(gw.tmpDir)) {
    try {
      sum += statSync(f, { throwIfNoEntry: false })?.size ?? 0;
    } catch {
      // removed meanwhile
    }
  }
  return sum;
}
