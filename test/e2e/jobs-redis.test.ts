// End to end: durable jobs on the Redis engine (BullMQ), two gateways as two boxes sharing one real
// Redis (redis-server on a free port, started and stopped here). Box A runs rapidocr and tesseract,
// box B tesseract only: a job posted to a box without its service is run by the other; a box killed
// with kill -9 mid-job gives the job back and the other finishes it; results are readable from
// either; cancel (queued and running), signed callbacks and expiry work across boxes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, longScannedPdf, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';
import { type JobBody, cancelJob, getJob, jobResult, killBox, pdfForm, pollJob, sidecarOf, signatureOf, startReceiver, submitJob, waitJob, withoutTimings } from '../helpers/jobs.js';
import { type RedisServer, startRedis } from '../helpers/redis.js';

const TTL_S = 30;
const SECRET = 'callback-secret-0123456789abcdef';

describe('durable jobs on Redis, two boxes', () => {
  let redis: RedisServer;
  let a: Gateway;
  let b: Gateway;
  let longPdf: Buffer;
  const box = (env: Record<string, string>): Promise<Gateway> =>
    startGateway({
      REDIS_URL: redis.url,
      JOB_TTL: String(TTL_S),
      JOB_STALL_TIMEOUT: '5',
      HEALTH_FAILURES_BEFORE_RESTART: '0',
      JOB_CALLBACK_SECRET: SECRET,
      JOB_CALLBACK_ALLOWED_HOSTS: '127.0.0.1',
      ...env,
    });
  const ready = async (gw: Gateway, service: string): Promise<void> => waitFor(gw, async () => (await sidecarOf(gw, service)).state === 'ready', 120_000);

  before(async () => {
    redis = await startRedis();
    longPdf = longScannedPdf(8);
    [a, b] = await Promise.all([box({ ENABLED_SERVICES: 'rapidocr,tesseract' }), box({ ENABLED_SERVICES: 'tesseract' })]);
    await Promise.all([ready(a, 'rapidocr'), ready(a, 'tesseract'), ready(b, 'tesseract')]);
  });
  after(async () => {
    await Promise.allSettled([a.stop(), b.stop()]);
    await redis.stop();
  });

  it('/health says the jobs are durable, on Redis', async () => {
    const res = await fetch(`${b.url}/health`, { headers: { 'x-api-key': 'test-key-0123456789' } });
    assert.deepEqual(((await res.json()) as { jobs: unknown }).jobs, { engine: 'redis', durable: true });
  });

  it('runs a job posted to a box without its service on the other box; its result is readable from both', async () => {
    const sync = await postOcr(a, 'rapidocr', pdfForm(), { query: '?pages=true' });
    assert.equal(sync.status, 200, JSON.stringify(sync.json));
    const submitted = await submitJob(b, 'rapidocr', pdfForm(), '?pages=true');
    assert.equal(submitted.status, 202, JSON.stringify(submitted.json));
    assert.equal(submitted.json.pages_total, 1, "checked before 202 by box B's own sidecar");
    const done = await waitJob(b, submitted.json.job_id, (j) => j.status === 'done' || j.status === 'failed');
    assert.equal(done.status, 'done', JSON.stringify(done));
    const fromA = await jobResult(a, submitted.json.job_id);
    const fromB = await jobResult(b, submitted.json.job_id);
    assert.equal(fromA.status, 200);
    assert.deepEqual(fromA.json, fromB.json, 'one stored result');
    assert.deepEqual(withoutTimings(fromA.json), withoutTimings(sync.json));
    assert.equal((await getJob(a, submitted.json.job_id)).json.status, 'done');
  });

  it('refuses bad input before 202 on a box without the service too', async () => {
    const zip = ocrForm(Buffer.from('PK\x03\x04zip'), 'x.pdf', 'application/pdf');
    const r = await submitJob(b, 'rapidocr', zip);
    assert.equal(r.status, 415, JSON.stringify(r.json));
    assert.equal((await submitJob(b, 'rapidocr', pdfForm(), '?lang=fra')).status, 400, 'rapidocr takes no lang');
  });

  it('cancels a queued job (it never runs) and a running one (its sidecar stops), from the other box', async () => {
    // Only box A runs rapidocr, one job at a time: the second waits.
    const running = (await submitJob(b, 'rapidocr', ocrForm(longPdf, 'long.pdf', 'application/pdf'))).json;
    await pollJob(b, running.job_id, (j) => j.status === 'running' && j.pages_done >= 1);
    const { pid } = await sidecarOf(a, 'rapidocr');
    process.kill(pid, 'SIGSTOP');
    try {
      await waitFor(a, async () => (await sidecarOf(a, 'rapidocr')).state === 'unresponsive', 60_000);
      const queued = (await submitJob(a, 'rapidocr', pdfForm())).json;
      assert.equal(queued.status, 'queued');
      assert.equal(queued.queue_position, 1);
      assert.equal((await cancelJob(b, queued.job_id)).json.status, 'cancelled');
      assert.equal((await cancelJob(b, running.job_id)).json.status, 'cancelled');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor(a, async () => (await sidecarOf(a, 'rapidocr')).in_flight.length === 0, 120_000);
    const last = (await getJob(a, running.job_id)).json;
    assert.equal(last.status, 'cancelled');
    assert.equal((await jobResult(a, running.job_id)).status, 409);
    // The queue goes on.
    const next = (await submitJob(a, 'rapidocr', pdfForm())).json;
    assert.equal((await waitJob(a, next.job_id, (j) => j.status === 'done' || j.status === 'failed')).status, 'done');
  });

  it('finishes on the other box a job whose box is killed with kill -9 mid-job', async () => {
    const sync = await postOcr(b, 'tesseract', ocrForm(longPdf, 'long.pdf', 'application/pdf'), { query: '?lang=eng' });
    assert.equal(sync.status, 200);
    const job = (await submitJob(a, 'tesseract', ocrForm(longPdf, 'long.pdf', 'application/pdf'), '?lang=eng')).json;
    await pollJob(a, job.job_id, (j) => j.status === 'running' && j.pages_done >= 1);
    // Which box reads it: the one whose sidecar reports the job's pages.
    const onA = (await sidecarOf(a, 'tesseract')).in_flight.some((r) => r.request_id === job.job_id);
    const [victim, survivor] = onA ? [a, b] : [b, a];
    await killBox(victim);
    const done = await waitJob(survivor, job.job_id, (j) => j.status === 'done' || j.status === 'failed');
    assert.equal(done.status, 'done', JSON.stringify(done));
    const result = await jobResult(survivor, job.job_id);
    assert.deepEqual(withoutTimings(result.json), withoutTimings(sync.json));
    // The killed box, restarted, sees the same job and the same result.
    const restarted = await box({ ENABLED_SERVICES: onA ? 'rapidocr,tesseract' : 'tesseract' });
    if (onA) a = restarted;
    else b = restarted;
    assert.deepEqual((await jobResult(restarted, job.job_id)).json, result.json);
    await Promise.all(onA ? [ready(a, 'rapidocr'), ready(a, 'tesseract')] : [ready(b, 'tesseract')]);
  });

  it('gives a running job back when its box stops gracefully (SIGTERM); another box finishes it', async () => {
    const job = (await submitJob(b, 'tesseract', ocrForm(longPdf, 'long.pdf', 'application/pdf'))).json;
    await pollJob(b, job.job_id, (j) => j.status === 'running' && j.pages_done >= 1);
    const onA = (await sidecarOf(a, 'tesseract')).in_flight.some((r) => r.request_id === job.job_id);
    const [stopping, other] = onA ? [a, b] : [b, a];
    assert.equal(await stopping.stop(), 0);
    const done = await waitJob(other, job.job_id, (j) => j.status !== 'running' && j.status !== 'queued');
    assert.equal(done.status, 'done', 'given back, not cancelled nor failed');
    assert.equal(((await jobResult(other, job.job_id)).json as { page_count: number }).page_count, 8);
    const restarted = await box({ ENABLED_SERVICES: onA ? 'rapidocr,tesseract' : 'tesseract' });
    if (onA) {
      a = restarted;
      await Promise.all([ready(a, 'rapidocr'), ready(a, 'tesseract')]);
    } else {
      b = restarted;
      await ready(b, 'tesseract');
    }
  });

  it('calls back, signed, from the box that ran the job, retrying after a refusal; refuses a private callback host', async () => {
    const receiver = await startReceiver();
    try {
      receiver.answers.push(502);
      // Posted to box B, run by box A (the only one with rapidocr): A calls back.
      const job = (await submitJob(b, 'rapidocr', pdfForm(), `?callback_url=${encodeURIComponent(receiver.url)}`)).json;
      await waitJob(b, job.job_id, (j) => j.status === 'done');
      await waitFor(a, () => Promise.resolve(receiver.deliveries.length >= 2), 60_000);
      for (const d of receiver.deliveries) {
        assert.equal(d.headers['x-mdso-signature'], signatureOf(SECRET, d.body));
        assert.equal((JSON.parse(d.body) as JobBody).status, 'done');
      }
      assert.equal(receiver.deliveries[0]?.body, receiver.deliveries[1]?.body);
      const refused = await submitJob(a, 'tesseract', pdfForm(), `?callback_url=${encodeURIComponent('http://10.0.0.1/hook')}`);
      assert.equal(refused.status, 400);
      assert.equal((refused.json as unknown as { type: string }).type, 'BadCallbackUrl');
    } finally {
      await receiver.close();
    }
  });

  it('answers 503 JobStorageFull + Retry-After when an upload would take Redis past JOB_REDIS_MAX_BYTES', async () => {
    // 1 MB: less than an empty Redis holds with the queues, and than twice this upload.
    const small = await box({ ENABLED_SERVICES: 'tesseract', JOB_REDIS_MAX_BYTES: String(1024 * 1024) });
    try {
      const r = await submitJob(small, 'tesseract', ocrForm(longPdf, 'long.pdf', 'application/pdf'));
      assert.equal(r.status, 503, JSON.stringify(r.json));
      assert.equal((r.json as unknown as { type: string }).type, 'JobStorageFull');
      assert.ok(Number(r.headers.get('retry-after')) > 0);
    } finally {
      assert.equal(await small.stop(), 0);
    }
  });

  it('deletes a job, its upload and its result JOB_TTL after it ends', async () => {
    const job = (await submitJob(a, 'tesseract', pdfForm())).json;
    await waitJob(a, job.job_id, (j) => j.status === 'done');
    assert.ok((await redis.client.keys(`mdso-ocr:job:${job.job_id}*`)).length > 0);
    await waitFor(a, async () => (await getJob(a, job.job_id)).status === 404, (TTL_S + 30) * 1000);
    assert.equal((await jobResult(b, job.job_id)).status, 404);
    assert.deepEqual(await redis.client.keys(`mdso-ocr:job:${job.job_id}*`), []);
  });
});
