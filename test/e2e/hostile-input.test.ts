// End to end, real gateway + real tesseract sidecar: bad, broken and hostile documents. Each gets a
// specific 4xx JSON answer naming the problem (or a 200 where the file is readable); a client that
// leaves mid-upload costs nothing; the logs carry no document content and no key; and afterwards the
// same sidecar (no restart) serves, with no temp file left behind.
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { API_KEY, type Gateway, fixture, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';
import { HOSTILE_CASES, type HostileInputs, filesUnder, makeHostileInputs, runHostileCase, sidecarHealth, uploadThenDisconnect } from '../helpers/hostile-inputs.js';

describe('hostile input', () => {
  let gw: Gateway;
  let inputs: HostileInputs;
  let sidecarPid: number | null;
  before(async () => {
    inputs = makeHostileInputs();
    // LOG_LEVEL=debug (the harness default): the most the logs ever say.
    gw = await startGateway({ MAX_PAGES: '200', LOG_LEVEL: 'debug' });
    sidecarPid = (await sidecarHealth(gw)).pid;
  });
  after(async () => {
    inputs.remove();
    assert.equal(await gw.stop(), 0);
  });

  for (const c of HOSTILE_CASES) {
    it(`${c.name}: ${c.status[0] ?? '?'}${c.type !== undefined ? ` ${c.type}` : ''}`, async () => {
      const outcome = await runHostileCase(gw, inputs, c);
      assert.ok(outcome.ok, outcome.detail);
    });
  }

  it('drops a client that leaves mid-upload: the sidecar cancels, its spool file is removed', async () => {
    const requestId = 'half-upload-1';
    // 20 MB announced, up to 10 MB sent: the socket is destroyed once the sidecar has spooled 1 MB.
    await uploadThenDisconnect(gw, {
      requestId,
      totalBytes: 20 * 1024 * 1024,
      sendBytes: 10 * 1024 * 1024,
      until: () => Promise.resolve(filesUnder(gw.tmpDir).some((f) => (statSync(f, { throwIfNoEntry: false })?.size ?? 0) > 1024 * 1024)),
    });
    const lines = () => gw.logs().split('\n').filter((l) => l.includes(requestId));
    await waitFor(gw, () => Promise.resolve(lines().some((l) => /request cancelled/.test(l))), 10_000);
    const sidecarLines = lines().filter((l) => /sidecar_pid/.test(l));
    assert.ok(!sidecarLines.some((l) => /page done/.test(l)), `no OCR started:\n${sidecarLines.join('\n')}`);
    await waitFor(gw, () => Promise.resolve(filesUnder(gw.tmpDir).length === 0), 10_000);
    const ok = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'a.png', 'image/png'));
    assert.equal(ok.status, 200);
    assert.match(String(ok.json.text), /12345678900000/);
  });

  it('logs neither the extracted text nor the API key', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.pdf'), 'Devis_test.pdf', 'application/pdf'), { query: '?pages=true' });
    assert.equal(r.status, 200);
    assert.match(String(r.json.text), /12345678900000/);
    assert.match(String(r.json.text), /Pompe/);
    const logs = gw.logs();
    assert.match(logs, /request done/, 'the sidecar logged at debug level');
    for (const secret of ['12345678900000', 'Pompe', 'DUPOND', API_KEY]) {
      assert.ok(!logs.includes(secret), `the logs contain ${JSON.stringify(secret)}`);
    }
  });

  it('is still healthy afterwards: same sidecar, no restart, no temp file left', async () => {
    const s = await sidecarHealth(gw);
    assert.equal(s.state, 'ready');
    assert.equal(s.pid, sidecarPid);
    assert.equal(s.restarts, 0);
    await waitFor(gw, async () => (await sidecarHealth(gw)).in_flight.length === 0, 10_000);
    assert.deepEqual(filesUnder(gw.tmpDir), []);
  });
});
