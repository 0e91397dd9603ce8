// Configuration: defaults for a bare machine, the original variables' meaning, one-line errors.
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
  });

  it('accepts several comma-separated API keys for rotation', () => {
    assert.deepEqual(loadConfig({ API_KEY: ' old-key , new-key ,' }).apiKeys, ['old-key', 'new-key']);
  });

  it('refuses to start in production without an API key', () => {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }), /API_KEY must be set/);
  });

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
