// End to end: durable jobs on the embedded engine (no REDIS_URL), through real gateways and a real
// tesseract sidecar. A job answers exactly what the synchronous route answers; bad input is refused
// with the synchronous route's 4xx before 202; a running job is held with SIGSTOP of its sidecar
// (never a tight deadline); another key's job is invisible; TTL and restarts leave no file behind.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { API_KEY, type Gateway, alive, fixture, longScannedPdf, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';
import {
  cancelJob,
  filesUnder,
  getJob,
  jobResult,
  killBox,
  pdfForm,
  pollJob,
  sidecarOf,
  submitJob,
  waitJob,
  withoutTimings,
} from '../helpers/jobs.js';

const ALICE = 'alice-key-0123456789';
const BOB = 'bob-key-0123456789';
// A sidecar held with SIGSTOP must not be restarted by its supervisor meanwhile.
const HOLDABLE = { HEALTH_FAILURES_BEFORE_RESTART: '0', HEALTH_POLL_MS: '300' };

describe('durable jobs, embedded engine', () => {
  let gw: Gateway;
  let dataDir: string;
  let longPdf: Buffer;

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'mdso-jobs-'));
    longPdf = longScannedPdf(12);
    gw = await startGateway({ ...HOLDABLE, JOB_DATA_DIR: dataDir, API_KEYS: `alice:${ALICE},bob:${BOB}`, MAX_UPLOAD_MB: '5', MAX_PAGES: '12' });
    await waitFor(gw, async () => (await sidecarOf(gw, 'tesseract')).state === 'ready', 120_000);
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    assert.deepEqual(filesUnder(dataDir), [], 'a stopped gateway leaves no job file');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('/health says jobs run here and are not durable', async () => {
    const res = await fetch(`${gw.url}/health`, { headers: { 'x-api-key': API_KEY } });
    assert.deepEqual(((await res.json()) as { jobs: unknown }).jobs, { engine: 'embedded', durable: false });
  });

  it('submit → status → result: the body the synchronous route answers', async () => {
    const sync = await postOcr(gw, 'tesseract', pdfForm('Devis_multi_pages.pdf'), { query: '?pages=true&lang=fra' });
    assert.equal(sync.status, 200, JSON.stringify(sync.json));
    const submitted = await submitJob(gw, 'tesseract', pdfForm('Devis_multi_pages.pdf'), '?pages=true&lang=fra');
    assert.equal(submitted.status, 202, JSON.stringify(submitted.json));
    const job = submitted.json;
    assert.match(job.job_id, /^[0-9a-f]{32}$/);
    assert.ok(['queued', 'running'].includes(job.status));
    assert.equal(submitted.headers.get('location'), `/jobs/${job.job_id}`);
    assert.equal(job.status_url, `/jobs/${job.job_id}`);
    assert.equal(job.result_url, `/jobs/${job.job_id}/result`);
    assert.equal(job.pages_total, 2, 'the pages are known before 202');

    const done = await waitJob(gw, job.job_id, (j) => j.status === 'done');
    assert.equal(done.pages_done, 2);
    assert.ok(done.started_at !== null && done.finished_at !== null && done.expires_at !== null);
    assert.equal(done.error, null);
    const result = await jobResult(gw, job.job_id);
    assert.equal(result.status, 200);
    assert.deepEqual(withoutTimings(result.json), withoutTimings(sync.json));
    assert.equal(typeof result.json.duration_ms, 'number');
  });

  it('refuses bad input before 202 with the synchronous route\'s 4xx (type, emptiness, pages, size, options, no file)', async () => {
    const cases: [string, FormData, string][] = [
      ['a zip named .pdf', ocrForm(fixture('client', 'Devis_test.zip'), 'Devis_test.pdf', 'application/pdf'), ''],
      ['an empty file', ocrForm(fixture('client', 'empty.pdf'), 'empty.pdf', 'application/pdf'), ''],
      ['more pages than MAX_PAGES', ocrForm(longScannedPdf(13), 'long.pdf', 'application/pdf'), ''],
      ['a page range past the end', pdfForm(), '?page_range=5'],
      ['an option tesseract does not take', pdfForm(), '?force_ocr=true'],
      ['a bad option value', pdfForm(), '?pages=maybe'],
      ['more than MAX_UPLOAD_MB', ocrForm(Buffer.alloc(6 * 1024 * 1024, 0x25), 'big.pdf', 'application/pdf'), ''],
      ['no file part', ocrForm(fixture('client', 'Devis_test.pdf'), 'Devis_test.pdf', 'application/pdf', 'document'), ''],
    ];
    for (const [what, form, query] of cases) {
      // The same form twice: a FormData's Blob can be sent again.
      const sync = await postOcr(gw, 'tesseract', form, { query });
      const job = await submitJob(gw, 'tesseract', form, query);
      assert.ok(sync.status >= 400 && sync.status < 500, `${what}: sync ${sync.status}`);
      assert.equal(job.status, sync.status, `${what}: ${JSON.stringify(job.json)} vs ${JSON.stringify(sync.json)}`);
      assert.equal((job.json as unknown as { type: string }).type, sync.json.type, what);
    }
    const unknown = await submitJob(gw, 'nanonets', pdfForm());
    assert.equal(unknown.status, 404, 'a service this box does not run');
    assert.equal((await submitJob(gw, 'tesseract', pdfForm(), '', 'wrong-key')).status, 401);
    await waitFor(gw, () => Promise.resolve(filesUnder(path.join(dataDir, 'incoming')).length === 0), 10_000);
  });

  it('GET ?wait= long-polls until the status changes, bounded', async () => {
    const job = (await submitJob(gw, 'tesseract', pdfForm())).json;
    const ended = await waitJob(gw, job.job_id, (j) => j.status === 'done');
    // Ended, it changes no more: answered at once, not at the bound (60 s; a busy machine answers a
    // GET in far less than the 45 s allowed here).
    const t0 = Date.now();
    const again = await getJob(gw, job.job_id, '?wait=60');
    assert.equal(again.json.status, ended.status);
    assert.ok(Date.now() - t0 < 45_000, `an ended job waited ${Date.now() - t0} ms`);
    // A job that may still change waits for the change or the bound: a queued job behind a frozen
    // sidecar stays queued for the whole wait.
    const { pid } = await sidecarOf(gw, 'tesseract');
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(gw, async () => (await sidecarOf(gw, 'tesseract')).state === 'unresponsive', 60_000);
      const held = (await submitJob(gw, 'tesseract', pdfForm())).json;
      const t1 = Date.now();
      const still = await getJob(gw, held.job_id, '?wait=1');
      assert.equal(still.json.status, 'queued');
      assert.ok(Date.now() - t1 >= 900, 'waited for a change');
      process.kill(pid, 'SIGCONT');
      assert.equal((await waitJob(gw, held.job_id, (j) => j.status === 'done')).status, 'done');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.equal((await getJob(gw, job.job_id, '?wait=soon')).status, 400);
  });

  it('cancels a queued job (it never runs) and a running one (its sidecar stops at the next page)', async () => {
    const running = (await submitJob(gw, 'tesseract', ocrForm(longPdf, 'long.pdf', 'application/pdf'))).json;
    assert.equal(running.pages_total, 12);
    await pollJob(gw, running.job_id, (j) => j.status === 'running' && j.pages_done >= 1);
    const { pid } = await sidecarOf(gw, 'tesseract');
    process.kill(pid, 'SIGSTOP');
    try {
      // Seen by the health poller: the next upload is not inspected by a sidecar that cannot answer.
      await waitFor(gw, async () => (await sidecarOf(gw, 'tesseract')).state === 'unresponsive', 60_000);
      const queued = await submitJob(gw, 'tesseract', pdfForm());
      assert.equal(queued.status, 202);
      assert.equal(queued.json.status, 'queued');
      assert.equal(queued.json.queue_position, 1);
      const cancelledQueued = await cancelJob(gw, queued.json.job_id);
      assert.equal(cancelledQueued.status, 200);
      assert.equal(cancelledQueued.json.status, 'cancelled');
      const cancelledRunning = await cancelJob(gw, running.job_id);
      assert.equal(cancelledRunning.json.status, 'cancelled');
      assert.equal((await jobResult(gw, running.job_id)).status, 409);
      // Cancelling again changes nothing.
      assert.equal((await cancelJob(gw, queued.json.job_id)).json.status, 'cancelled');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    // The sidecar sees its request go and stops: it is no longer reading the document.
    await waitFor(gw, async () => (await sidecarOf(gw, 'tesseract')).in_flight.length === 0, 120_000);
    await waitFor(gw, () => Promise.resolve(/request cancelled/.test(gw.logs())), 30_000);
    const last = (await getJob(gw, running.job_id)).json;
    assert.equal(last.status, 'cancelled');
    assert.ok(last.pages_done < 12, `stopped before the end (${last.pages_done} of 12)`);
    // The queue goes on: the next job runs.
    const next = (await submitJob(gw, 'tesseract', pdfForm())).json;
    assert.equal((await waitJob(gw, next.job_id, (j) => j.status === 'done')).status, 'done');
    assert.ok(alive(pid));
  });

  it('answers as /openapi.json documents (Job, OcrAnswer, Error) and counts jobs in /metrics', async () => {
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as { components: unknown };
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    ajv.addSchema({ $id: 'openapi.json', components: doc.components });
    const check = (name: string, body: unknown): void => {
      const validate = ajv.getSchema(`openapi.json#/components/schemas/${name}`);
      assert.ok(validate, name);
      assert.ok(validate(body), `${name}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body).slice(0, 500)}`);
    };
    const submitted = await submitJob(gw, 'tesseract', pdfForm(), '?pages=true');
    check('Job', submitted.json);
    const done = await waitJob(gw, submitted.json.job_id, (j) => j.status === 'done');
    check('Job', done);
    check('OcrAnswer', (await jobResult(gw, done.job_id)).json);
    check('Error', (await jobResult(gw, '0'.repeat(32))).json);
    const failed = await submitJob(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.zip'), 'x.pdf', 'application/pdf'));
    check('Error', failed.json);

    const metrics = await (await fetch(`${gw.url}/metrics`, { headers: { 'x-api-key': API_KEY } })).text();
    const value = (line: RegExp): number => Number(line.exec(metrics)?.[1] ?? 'NaN');
    assert.ok(value(/^mdso_jobs\{state="done"\} (\d+)$/m) >= 1, metrics.split('\n').filter((l) => l.includes('mdso_job')).join('\n'));
    assert.ok(value(/^mdso_jobs\{state="cancelled"\} (\d+)$/m) >= 0);
    assert.ok(value(/^mdso_job_queue_wait_seconds_count\{service="tesseract"\} (\d+)$/m) >= 1);
    assert.ok(value(/^mdso_job_duration_seconds_count\{service="tesseract",state="done"\} (\d+)$/m) >= 1);
    assert.ok(value(/^mdso_http_requests_total\{route="\/jobs\/\{id\}",service="",status="200"\} (\d+)$/m) >= 1, 'routes labelled by pattern');
  });

  it("hides another key's job (404), and 404/409 for an unknown or unfinished one", async () => {
    const mine = await submitJob(gw, 'tesseract', pdfForm(), '', ALICE);
    assert.equal(mine.status, 202);
    const id = mine.json.job_id;
    assert.equal((await getJob(gw, id, '', BOB)).status, 404);
    assert.equal((await jobResult(gw, id, BOB)).status, 404);
    assert.equal((await cancelJob(gw, id, BOB)).status, 404);
    assert.equal((await getJob(gw, id, '', ALICE)).status, 200);
    assert.equal((await getJob(gw, '0'.repeat(32), '', ALICE)).status, 404);
    assert.equal((await getJob(gw, '../etc', '', ALICE)).status, 404);
    await waitJob(gw, id, (j) => j.status === 'done', 180_000, ALICE);
    assert.equal((await jobResult(gw, id, ALICE)).status, 200);
    assert.equal((await getJob(gw, id, '', BOB)).status, 404, 'still hidden once done');
  });
});

describe('durable jobs, embedded engine: expiry and restarts', () => {
  it('refuses to start a second gateway on a JOB_DATA_DIR in use, which would empty it; the first one\'s job is untouched', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mdso-jobs-'));
    const first = await startGateway({ ...HOLDABLE, JOB_DATA_DIR: dataDir });
    try {
      // A job held queued behind a frozen sidecar: its upload is a file the second start would remove.
      const { pid } = await sidecarOf(first, 'tesseract');
      process.kill(pid, 'SIGSTOP');
      await waitFor(first, async () => (await sidecarOf(first, 'tesseract')).state === 'unresponsive', 60_000);
      const job = (await submitJob(first, 'tesseract', pdfForm())).json;
      const before = filesUnder(dataDir);
      assert.equal(before.length, 1, before.join(', '));

      const second = await startGateway({ JOB_DATA_DIR: dataDir }, { waitReady: false });
      const code = await second.exited;
      assert.equal(code, 2, second.logs().slice(-2000));
      assert.ok(second.logs().includes(`JOB_DATA_DIR ${dataDir} is in use by another gateway (pid ${String(first.proc.pid)})`), second.logs().slice(-2000));
      await second.stop();
      assert.deepEqual(filesUnder(dataDir), before, "the first gateway's job files are intact");

      process.kill(pid, 'SIGCONT');
      assert.equal((await waitJob(first, job.job_id, (j) => j.status === 'done')).status, 'done');
    } finally {
      assert.equal(await first.stop(), 0);
    }
    // Stopped, it gives the directory back: the next gateway starts on it.
    assert.deepEqual(filesUnder(dataDir, { withClaim: true }), []);
    const next = await startGateway({ JOB_DATA_DIR: dataDir });
    assert.equal(await next.stop(), 0);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('deletes a job and its files JOB_TTL after it ends', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mdso-jobs-'));
    const gw = await startGateway({ JOB_DATA_DIR: dataDir, JOB_TTL: '2' });
    try {
      const job = (await submitJob(gw, 'tesseract', pdfForm())).json;
      const done = await waitJob(gw, job.job_id, (j) => j.status === 'done');
      assert.ok(done.expires_at !== null && Date.parse(done.expires_at) - Date.parse(done.finished_at ?? '') === 2000);
      await waitFor(gw, async () => (await getJob(gw, job.job_id)).status === 404, 60_000);
      assert.equal((await jobResult(gw, job.job_id)).status, 404);
      assert.deepEqual(filesUnder(dataDir), []);
    } finally {
      assert.equal(await gw.stop(), 0);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('leaves no orphan file after a stop, nor after a crash once restarted', async () => {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), 'mdso-jobs-'));
    const longPdf = longScannedPdf(6);
    try {
      // A crash (kill -9) with a job running and one queued: their uploads stay until the next start.
      const first = await startGateway({ ...HOLDABLE, JOB_DATA_DIR: dataDir });
      const running = (await submitJob(first, 'tesseract', ocrForm(longPdf, 'long.pdf', 'application/pdf'))).json;
      await pollJob(first, running.job_id, (j) => j.status === 'running');
      const { pid } = await sidecarOf(first, 'tesseract');
      process.kill(pid, 'SIGSTOP');
      await waitFor(first, async () => (await sidecarOf(first, 'tesseract')).state === 'unresponsive', 60_000);
      assert.equal((await submitJob(first, 'tesseract', pdfForm())).status, 202);
      assert.equal(filesUnder(path.join(dataDir, 'embedded', 'uploads')).length, 2);
      await killBox(first);
      await first.stop().catch(() => null);
      assert.ok(filesUnder(dataDir).length >= 2, 'the crash left the uploads');

      // The restart removes them; a job then held running is cleaned up by a graceful stop.
      const second = await startGateway({ ...HOLDABLE, JOB_DATA_DIR: dataDir });
      assert.deepEqual(filesUnder(dataDir), [], 'nothing left from before the restart');
      assert.equal((await getJob(second, running.job_id)).status, 404, 'the embedded engine forgets jobs on restart');
      const held = (await submitJob(second, 'tesseract', ocrForm(longPdf, 'long.pdf', 'application/pdf'))).json;
      await pollJob(second, held.job_id, (j) => j.status === 'running');
      const sidecar = await sidecarOf(second, 'tesseract');
      process.kill(sidecar.pid, 'SIGSTOP');
      await waitFor(second, async () => (await sidecarOf(second, 'tesseract')).state === 'unresponsive', 60_000);
      assert.equal((await submitJob(second, 'tesseract', pdfForm())).status, 202);
      assert.ok(filesUnder(dataDir).length >= 2);
      process.kill(sidecar.pid, 'SIGCONT');
      assert.equal(await second.stop(), 0);
      assert.deepEqual(filesUnder(dataDir), [], 'a stop removes every job file');
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
