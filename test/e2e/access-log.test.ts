// The logs end to end, on the real gateway: the access line (client address, X-Forwarded-For only
// from TRUST_PROXY's proxies, user agent, the name of the key that authenticated and never the key,
// OCR options and never the file name, level by status) and the sidecar lines the primary relays
// (one timestamp, the sidecar's own pid).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_KEY, type Gateway, fixture, getJson, longScannedPdf, ocrForm, postOcr, startGateway, waitFor } from '../helpers/gateway.js';

type Line = Record<string, unknown>;

/** The gateway's log lines: JSON in production; `HH:mm:ss.SSS level [component] message {json}` otherwise. */
function records(gw: Gateway): Line[] {
  const out: Line[] = [];
  for (const line of gw.logs().split('\n')) {
    try {
      if (line.startsWith('{')) {
        out.push(JSON.parse(line) as Line);
        continue;
      }
      const m = /^\S+ (\w+)\s+\[([^\]]+)\] (\S+) (\{.*\})$/.exec(line);
      if (m !== null) out.push({ level: m[1], component: m[2], message: m[3], ...(JSON.parse(m[4] ?? '{}') as Line) });
    } catch {
      // not a log line (the generated key's banner)
    }
  }
  return out;
}

/** The access line of the request sent with this x-request-id (written once its answer is out). */
async function accessLine(gw: Gateway, requestId: string): Promise<Line> {
  let found: Line | undefined;
  await waitFor(
    gw,
    () => {
      found = records(gw).find((r) => r.message === 'request' && r.request_id === requestId);
      return Promise.resolve(found !== undefined);
    },
    10_000,
  );
  return found as Line;
}

async function get(gw: Gateway, path: string, headers: Record<string, string>): Promise<number> {
  const res = await fetch(`${gw.url}${path}`, { headers });
  await res.body?.cancel();
  return res.status;
}

describe('access log and relayed sidecar lines (production JSON)', () => {
  const SECRET = 'named-secret-5f1c2d9e7a';
  let gw: Gateway;
  before(async () => {
    gw = await startGateway({ NODE_ENV: 'production', LOG_LEVEL: 'info', API_KEYS: `quote-checker:${SECRET}`, TIMEOUT: '3' });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('names the key, gives the client address, user agent and options, never the key or the file name', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(fixture('client', 'Devis_test.png'), 'Devis_test.png', 'image/png'), {
      query: '?lang=fra&pages=true',
      headers: {
        'x-api-key': SECRET,
        'x-request-id': 'access-ocr-1',
        'x-forwarded-for': '203.0.113.7',
        'user-agent': `probe\tagent-é/${'x'.repeat(400)}`,
      },
    });
    assert.equal(r.status, 200);
    const line = await accessLine(gw, 'access-ocr-1');
    assert.equal(line.level, 'info');
    assert.equal(line.status, 200);
    assert.equal(line.api_key_name, 'quote-checker');
    // Without TRUST_PROXY, X-Forwarded-For is anyone's to write: the socket's address is logged.
    assert.equal(line.client_ip, '127.0.0.1');
    const ua = String(line.user_agent);
    assert.ok(ua.startsWith('probe?agent-?/xxx'), ua);
    assert.ok(ua.length <= 201, `user agent cut short (${ua.length} characters)`);
    assert.deepEqual(line.options, { lang: 'fra', pages: true });
    assert.doesNotMatch(JSON.stringify(line), /Devis_test/);

    assert.equal(await get(gw, '/services', { 'x-api-key': API_KEY, 'x-request-id': 'access-key1' }), 200);
    assert.equal((await accessLine(gw, 'access-key1')).api_key_name, 'key1');

    assert.ok(!gw.logs().includes(SECRET), 'the API_KEYS key never reaches the log');
    assert.ok(!gw.logs().includes(API_KEY), 'the API_KEY key never reaches the log');
  });

  it('logs a 4xx answer at warn, without a key name when no key matched', async () => {
    assert.equal(await get(gw, '/health', { 'x-api-key': `${SECRET}-wrong`, 'x-request-id': 'access-401' }), 401);
    const line = await accessLine(gw, 'access-401');
    assert.equal(line.level, 'warn');
    assert.equal(line.status, 401);
    assert.equal(line.api_key_name, undefined);
    assert.ok(!gw.logs().includes(`${SECRET}-wrong`), 'a refused key never reaches the log either');
  });

  it('logs a 5xx answer at error', async () => {
    const r = await postOcr(gw, 'tesseract', ocrForm(longScannedPdf(40), 'long.pdf', 'application/pdf'), {
      headers: { 'x-request-id': 'access-504' },
    });
    assert.equal(r.status, 504, JSON.stringify(r.json).slice(0, 300));
    const line = await accessLine(gw, 'access-504');
    assert.equal(line.level, 'error');
    assert.equal(line.status, 504);
  });

  it("relays the sidecar's lines with one timestamp and the sidecar's pid", async () => {
    const health = await getJson(gw, '/health');
    const sidecarPid = (health.json.sidecars as Record<string, { pid: number }>).tesseract?.pid;
    assert.equal(typeof sidecarPid, 'number');
    const all = records(gw);
    const primaryPid = all.find((r) => r.component === 'primary')?.pid;
    assert.notEqual(primaryPid, sidecarPid);
    // Lines the sidecar wrote itself carry its Python logger's name.
    const relayed = all.filter((r) => r.service === 'tesseract' && typeof r.logger === 'string');
    assert.ok(relayed.length > 0, 'sidecar lines are relayed');
    for (const line of relayed) {
      assert.equal(line.pid, sidecarPid, JSON.stringify(line));
      assert.equal(line.sidecar_pid, sidecarPid);
      const times = Object.keys(line).filter((k) => /^(ts|time|timestamp|@timestamp|asctime)$/i.test(k));
      assert.deepEqual(times, ['timestamp'], JSON.stringify(line));
      assert.match(String(line.timestamp), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    }
  });
});

describe('access log with TRUST_PROXY=loopback and a generated key', () => {
  let gw: Gateway;
  let key: string;
  before(async () => {
    gw = await startGateway({ TRUST_PROXY: 'loopback', API_KEY: undefined, LOG_LEVEL: 'info' });
    key = /x-api-key: (\S+)/.exec(gw.logs())?.[1] ?? '';
    assert.notEqual(key, '');
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('takes the client address from X-Forwarded-For as far as the trusted proxies vouch for it', async () => {
    assert.equal(await get(gw, '/services', { 'x-api-key': key, 'x-request-id': 'xff-1', 'x-forwarded-for': '203.0.113.7' }), 200);
    const line = await accessLine(gw, 'xff-1');
    assert.equal(line.client_ip, '203.0.113.7');
    assert.equal(line.api_key_name, 'generated');

    // A loopback proxy vouches for its own peer only: the address before it is the client's word.
    assert.equal(await get(gw, '/services', { 'x-api-key': key, 'x-request-id': 'xff-2', 'x-forwarded-for': '198.51.100.9, 203.0.113.7' }), 200);
    assert.equal((await accessLine(gw, 'xff-2')).client_ip, '203.0.113.7');

    assert.equal(await get(gw, '/services', { 'x-api-key': key, 'x-request-id': 'xff-3' }), 200);
    assert.equal((await accessLine(gw, 'xff-3')).client_ip, '127.0.0.1');
    // The generated key is printed once at start, for the operator, and never logged.
    assert.equal(gw.logs().split(key).length - 1, 1);
  });
});
