// Configuration: defaults for a bare machine, the original variables' meaning, one-line errors;
// named API keys (API_KEYS) and the proxies trusted for the client's address (TRUST_PROXY).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../gateway/src/config.js';

describe('loadConfig', () => {
  it('gives a bare machine the documented defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 8000);
    assert.equal(c.workers, 1);
    // The CPU default: tesseract, and rapidocr for the pages tesseract is unsure of.
    assert.deepEqual(
      c.services.map((s) => s.name),
      ['hybrid'],
    );
    assert.equal(c.timeoutMs, 300_000);
    assert.equal(c.maxUploadBytes, 100 * 1024 * 1024);
    assert.equal(c.maxRequests, 0);
    assert.deepEqual(c.apiKeys, []);
    assert.equal(c.trustProxy, false);
  });

  it('accepts several comma-separated API keys for rotation, named key1, key2… for the logs', () => {
    assert.deepEqual(loadConfig({ API_KEY: ' old-key , new-key ,' }).apiKeys, [
      { name: 'key1', key: 'old-key' },
      { name: 'key2', key: 'new-key' },
    ]);
  });

  it('reads API_KEYS as name:key pairs, split at the first colon, alongside API_KEY', () => {
    const c = loadConfig({ API_KEY: 'plain-key', API_KEYS: ' quote-checker : abc:def , ops:xyz,' });
    assert.deepEqual(c.apiKeys, [
      { name: 'key1', key: 'plain-key' },
      { name: 'quote-checker', key: 'abc:def' },
      { name: 'ops', key: 'xyz' },
    ]);
    assert.deepEqual(loadConfig({ NODE_ENV: 'production', API_KEYS: 'ops:xyz' }).apiKeys, [{ name: 'ops', key: 'xyz' }]);
  });

  for (const [what, env] of [
    ['a repeated name', { API_KEYS: 'ops:key-one,ops:key-two' }],
    ['a name API_KEY already gives', { API_KEY: 'key-one', API_KEYS: 'key1:key-two' }],
    ['an entry without a colon', { API_KEYS: 'ops:key-one,key-two' }],
    ['an empty name', { API_KEYS: ':key-two' }],
    ['an empty key', { API_KEYS: 'ops: ' }],
    ['a name with spaces', { API_KEYS: 'my ops:key-two' }],
    ['one key under two names', { API_KEY: 'key-two', API_KEYS: 'ops:key-two' }],
  ] as const) {
    it(`refuses API_KEYS with ${what}, naming the variable and never a key`, () => {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) =>
          err instanceof ConfigError && err.message.includes('API_KEYS') && !err.message.includes('key-two') && !err.message.includes('\n'),
      );
    });
  }

  it('refuses to start in production without an API key', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /API_KEY or API_KEYS must be set/);
  });

  it("reads TRUST_PROXY as express's trust proxy: false, a hop count, or named ranges, addresses and CIDRs", () => {
    assert.equal(loadConfig({ TRUST_PROXY: 'false' }).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '0' }).trustProxy, false);
    assert.equal(loadConfig({ TRUST_PROXY: '2' }).trustProxy, 2);
    assert.deepEqual(loadConfig({ TRUST_PROXY: 'loopback' }).trustProxy, ['loopback']);
    assert.deepEqual(loadConfig({ TRUST_PROXY: 'Loopback, 10.0.0.0/8, 192.168.1.7, fd00::/8' }).trustProxy, [
      'loopback',
      '10.0.0.0/8',
      '192.168.1.7',
      'fd00::/8',
    ]);
  });

  for (const value of ['true', 'proxy.local', '10.0.0.0/33', '10.0.0.1/8/2', 'loopback,', '-1', '1.5']) {
    it(`names TRUST_PROXY when it is invalid (${value})`, () => {
      assert.throws(
        () => loadConfig({ TRUST_PROXY: value }),
        (err: unknown) => err instanceof ConfigError && err.message.includes('TRUST_PROXY') && !err.message.includes('\n'),
      );
    });
  }

  for (const [name, value] of [
    ['WORKERS', 'abc'],
    ['WORKERS', '0'],
    ['PORT', '70000'],
    ['TIMEOUT', '-5'],
    ['LOG_LEVEL', 'verbose'],
    ['MAX_UPLOAD_MB', '1.5'],
  ] as const) {
    it(`names ${name} when it is invalid (${value})`, () => {
      assert.throws(
        () => loadConfig({ [name]: value }),
        (err: unknown) => err instanceof ConfigError && err.message.includes(name) && !err.message.includes('\n'),
      );
    });
  }

  it('rejects an unknown service and lists the known ones', () => {
    assert.throws(() => loadConfig({ ENABLED_SERVICES: 'tesseract,paddle' }), /unknown service "paddle".*known: tesseract/);
  });

  it('pins each service to its own GPUs when <SERVICE>_CUDA_VISIBLE_DEVICES is set', () => {
    const c = loadConfig({ ENABLED_SERVICES: 'tesseract', CUDA_VISIBLE_DEVICES: '0,1', TESSERACT_CUDA_VISIBLE_DEVICES: '1' });
    assert.equal(c.services[0]?.cudaVisibleDevices, '1');
    assert.equal(loadConfig({ CUDA_VISIBLE_DEVICES: '0' }).services[0]?.cudaVisibleDevices, '0');
  });

  it('accepts WORKER_CLASS and warns that it is ignored', () => {
    const c = loadConfig({ WORKER_CLASS: 'uvicorn.workers.UvicornWorker' });
    assert.match(c.warnings.join('\n'), /WORKER_CLASS.*ignored/);
  });

  it('treats empty values as unset', () => {
    assert.equal(loadConfig({ PORT: '', WORKERS: ' ' }).port, 8000);
  });

  it('reads LOG_LEVEL case-insensitively and maps warning to warn', () => {
    assert.equal(loadConfig({ LOG_LEVEL: 'WARNING' }).logLevel, 'warn');
  });
});
