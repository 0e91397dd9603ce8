// End to end: job callbacks, to a real HTTP receiver on this machine (allowed by configuration, as a
// private address must be). Signed with HMAC-SHA256 of the body; retried with backoff after a refusal;
// callback hosts the configuration does not allow are refused before 202 (no SSRF by default).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Gateway, startGateway, waitFor } from '../helpers/gateway.js';
import { type Delivery, type JobBody, pdfForm, signatureOf, startReceiver, submitJob, waitJob } from '../helpers/jobs.js';

const SECRET = 'callback-secret-0123456789abcdef';

describe('job callbacks', () => {
  let gw: Gateway;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let receiverUrl: string;
  let deliveries: Delivery[];
  /** Status the receiver answers for each delivery, in order (then 200). */
  let answers: number[];

  before(async () => {
    receiver = await startReceiver();
    ({ url: receiverUrl, deliveries, answers } = receiver);
    gw = await startGateway({ JOB_CALLBACK_SECRET: SECRET, JOB_CALLBACK_ALLOWED_HOSTS: '127.0.0.1' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
    await receiver.close();
  });

  it('POSTs the ended job, signed, and retries with backoff until a 2xx', async () => {
    answers.push(500, 503);
    const submitted = await submitJob(gw, 'tesseract', pdfForm(), `?callback_url=${encodeURIComponent(receiverUrl)}`);
    assert.equal(submitted.status, 202, JSON.stringify(submitted.json));
    const id = submitted.json.job_id;
    await waitJob(gw, id, (j) => j.status === 'done');
    await waitFor(gw, () => Promise.resolve(deliveries.length >= 3), 60_000);
    const [first, second, third] = deliveries;
    assert.ok(first && second && third);
    for (const d of [first, second, third]) {
      assert.equal(d.body, first.body, 'the same body each time');
      assert.equal(d.headers['x-mdso-job-id'], id);
      assert.equal(d.headers['content-type'], 'application/json');
      assert.equal(d.headers['x-mdso-signature'], signatureOf(SECRET, d.body), 'HMAC-SHA256 of the body with JOB_CALLBACK_SECRET');
    }
    const job = JSON.parse(first.body) as JobBody;
    assert.equal(job.job_id, id);
    assert.equal(job.status, 'done');
    // Backoff: the second retry waited longer than the first.
    assert.ok(third.at - second.at > second.at - first.at - 200, `backoff grows: ${second.at - first.at} then ${third.at - second.at} ms`);
    assert.ok(second.at - first.at >= 900, 'the first retry waits about a second');
    // A 2xx ends the deliveries.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    assert.equal(deliveries.length, 3);
  });

  it('refuses callback hosts the configuration does not allow, and other URLs, before 202', async () => {
    for (const url of [
      'http://10.1.2.3/hook',
      'http://169.254.169.254/latest/meta-data',
      'http://[::1]:9/hook',
      'http://192.168.0.1/hook',
      'ftp://127.0.0.1/hook',
      'http://user:pw@127.0.0.1/hook',
      'not a url',
    ]) {
      const r = await submitJob(gw, 'tesseract', pdfForm(), `?callback_url=${encodeURIComponent(url)}`);
      assert.equal(r.status, 400, `${url}: ${JSON.stringify(r.json)}`);
      assert.equal((r.json as unknown as { type: string }).type, 'BadCallbackUrl', url);
    }
  });

  it('refuses callback_url when no secret is configured (callbacks are always signed)', async () => {
    const plain = await startGateway({ JOB_CALLBACK_ALLOWED_HOSTS: '127.0.0.1' });
    try {
      const r = await submitJob(plain, 'tesseract', pdfForm(), `?callback_url=${encodeURIComponent(receiverUrl)}`);
      assert.equal(r.status, 400);
      assert.match(String((r.json as unknown as { error: string }).error), /JOB_CALLBACK_SECRET/);
    } finally {
      assert.equal(await plain.stop(), 0);
    }
  });
});
