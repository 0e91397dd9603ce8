// Configuration: defaults for a bare machine, the original variables' meaning, one-line errors;
// named API keys (API_KEYS) and the proxies trusted for the client's address (TRUST_PROXY).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, SHARED, SHARED_SETTINGS_FILE, loadConfig } from '../../gateway/src/config.js';
import { projectRoot } from '../../gateway/src/paths.js';

/** The table sidecars/tests/test_settings.py feeds the sidecar's reader too. */
const VALUES = JSON.parse(readFileSync(path.join(projectRoot(), 'test', 'fixtures', 'settings-values.json'), 'utf8')) as Record<
  'true' | 'false' | 'invalid_boolean' | 'invalid_whole_number',
  string[]
>;

/** Checks the one line loadConfig throws for `variable`: the sidecar's words after its "VARIABLE: ". */
function configError(variable: string, problem: string, got: string): (err: unknown) => boolean {
  const line = `Invalid configuration: ${variable} ${problem} (got ${JSON.stringify(got)})`;
  return (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.message, line);
    return true;
  };
}

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

describe('settings shared with the sidecars (sidecars/mdso_sidecar/settings.json)', () => {
  it('reads the file the sidecar reads', () => {
    assert.equal(SHARED_SETTINGS_FILE, path.join(projectRoot(), 'sidecars', 'mdso_sidecar', 'settings.json'));
    const file = JSON.parse(readFileSync(SHARED_SETTINGS_FILE, 'utf8')) as Record<string, unknown>;
    delete file.about;
    assert.deepEqual(SHARED, file);
  });

  it('reads a boolean as true from each of true, 1, yes, on in any case', () => {
    for (const value of VALUES.true) assert.equal(loadConfig({ METRICS_PUBLIC: value }).metricsPublic, true, value);
  });

  it('reads a boolean as false from each of false, 0, no, off in any case', () => {
    for (const value of VALUES.false) assert.equal(loadConfig({ METRICS_PUBLIC: value }).metricsPublic, false, value);
  });

  it("refuses any other boolean word with the sidecar's words", () => {
    for (const value of VALUES.invalid_boolean) {
      assert.throws(() => loadConfig({ METRICS_PUBLIC: value }), configError('METRICS_PUBLIC', SHARED.messages.boolean, value));
    }
    assert.equal(SHARED.messages.boolean, 'must be true or false (also 1/0, yes/no, on/off)');
  });

  it('reads TRUST_PROXY off as false and refuses on like true', () => {
    assert.equal(loadConfig({ TRUST_PROXY: 'OFF' }).trustProxy, false);
    assert.throws(() => loadConfig({ TRUST_PROXY: 'on' }), /TRUST_PROXY must name the proxies/);
    assert.equal(loadConfig({ TRUST_PROXY: '1' }).trustProxy, 1);
  });

  for (const name of ['MAX_UPLOAD_MB', 'MAX_PAGES'] as const) {
    const { min, max, default: fallback } = SHARED.variables[name];
    const read = (value: string | undefined): number => {
      const c = loadConfig(value === undefined ? {} : { [name]: value });
      return name === 'MAX_PAGES' ? c.maxPages : c.maxUploadBytes / 1024 / 1024;
    };
    it(`bounds ${name} to ${min}..${max} (default ${fallback}), the sidecar's bounds`, () => {
      assert.equal(read(undefined), fallback);
      assert.equal(read(String(min)), min);
      assert.equal(read(` ${max} `), max);
      const problem = SHARED.messages.whole_number.replace('{min}', String(min)).replace('{max}', String(max));
      assert.equal(read(`${'0'.repeat(30)}${min}`), min);
      for (const value of [String(min - 1), String(max + 1), '9'.repeat(5000), ...VALUES.invalid_whole_number]) {
        assert.throws(() => read(value), configError(name, problem, value), value);
      }
    });
  }

  it('reads LOG_LEVEL from its words and their aliases, in any case, and refuses others', () => {
    const level = SHARED.variables.LOG_LEVEL;
    assert.equal(loadConfig({}).logLevel, level.default);
    for (const choice of level.choices) assert.equal(loadConfig({ LOG_LEVEL: choice.toUpperCase() }).logLevel, choice);
    for (const [alias, meaning] of Object.entries(level.aliases)) assert.equal(loadConfig({ LOG_LEVEL: alias }).logLevel, meaning);
    const problem = SHARED.messages.choice.replace('{choices}', level.choices.join(', '));
    assert.throws(() => loadConfig({ LOG_LEVEL: 'verbose' }), configError('LOG_LEVEL', problem, 'verbose'));
  });
});

describe('loadConfig only validates', () => {
  it('leaves finding an interpreter to the supervisor, keeping what PYTHON and <SERVICE>_PYTHON say', () => {
    const bare = loadConfig({ ENABLED_SERVICES: 'tesseract,marker' });
    assert.equal(bare.python, '');
    assert.deepEqual(
      bare.services.map((s) => s.python),
      [undefined, undefined],
    );
    const set = loadConfig({ ENABLED_SERVICES: 'tesseract,marker', PYTHON: ' /opt/py/bin/python ', MARKER_PYTHON: '/opt/marker/bin/python' });
    assert.equal(set.python, '/opt/py/bin/python');
    assert.deepEqual(
      set.services.map((s) => s.python),
      [undefined, '/opt/marker/bin/python'],
    );
  });

  it('has no apiKeyGenerated (the generated key is named "generated")', () => {
    assert.equal('apiKeyGenerated' in loadConfig({}), false);
  });

  it('reads the durable jobs\' settings: embedded by default, Redis with REDIS_URL', () => {
    const c = loadConfig({});
    assert.equal(c.jobs.redisUrl, '');
    assert.equal(c.jobs.ttlMs, 86_400_000);
    assert.equal(c.jobs.dataDir, path.join(projectRoot(), 'data', 'jobs'));
    assert.equal(c.jobs.callbackSecret, '');
    assert.deepEqual(c.jobs.callbackAllowedHosts, []);
    assert.equal(c.jobs.concurrency, 1);
    const r = loadConfig({ REDIS_URL: 'redis://cache:6379/2', JOB_TTL: '60', JOB_CALLBACK_ALLOWED_HOSTS: 'Hooks.internal, 10.0.0.0/8', JOB_CALLBACK_SECRET: 'x'.repeat(32) });
    assert.equal(r.jobs.redisUrl, 'redis://cache:6379/2');
    assert.equal(r.jobs.ttlMs, 60_000);
    assert.deepEqual(r.jobs.callbackAllowedHosts, ['hooks.internal', '10.0.0.0/8']);
  });

  for (const [name, value, words] of [
    ['REDIS_URL', 'localhost:6379', /^Invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/],
    ['JOB_TTL', '0', /^Invalid configuration: JOB_TTL /],
    ['JOB_REDIS_MAX_BYTES', '12', /^Invalid configuration: JOB_REDIS_MAX_BYTES /],
    ['JOB_CALLBACK_SECRET', 'short', /^Invalid configuration: JOB_CALLBACK_SECRET must be at least 16 characters/],
    ['JOB_CALLBACK_ALLOWED_HOSTS', 'https://x', /^Invalid configuration: JOB_CALLBACK_ALLOWED_HOSTS must be a comma list/],
  ] as const) {
    it(`names ${name} when it is invalid (${value})`, () => {
      assert.throws(() => loadConfig({ [name]: value }), (err: unknown) => err instanceof ConfigError && words.test(err.message) && !err.message.includes('\n'));
    });
  }
});

describe('remote services (REMOTE_SERVICES)', () => {
  /** The one line loadConfig throws, checked to name `variable` and never to hold `secret`. */
  const oneLine =
    (variable: string, pattern: RegExp, secret?: string) =>
    (err: unknown): boolean => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.message.startsWith(`Invalid configuration: ${variable}`), err.message);
      assert.match(err.message, pattern);
      assert.ok(!err.message.includes('\n'), 'one line');
      if (secret !== undefined) assert.ok(!err.message.includes(secret), `the message shows a secret: ${err.message}`);
      return true;
    };

  it('reads service=url pairs, with REMOTE_API_KEY and the per-service <SERVICE>_REMOTE_API_KEY', () => {
    const c = loadConfig({
      ENABLED_SERVICES: 'hybrid',
      REMOTE_SERVICES: ' marker = http://gpu-a:8000/ , Olmocr=https://gpu-b.internal/ocr-b/ ,',
      REMOTE_API_KEY: ' peers-key ',
      OLMOCR_REMOTE_API_KEY: 'olmocr-box-key',
    });
    assert.deepEqual(
      c.services.map((s) => s.name),
      ['hybrid'],
    );
    assert.deepEqual(c.remoteServices, [
      { name: 'marker', url: 'http://gpu-a:8000', apiKey: 'peers-key' },
      { name: 'olmocr', url: 'https://gpu-b.internal/ocr-b', apiKey: 'olmocr-box-key' },
    ]);
    assert.deepEqual(loadConfig({}).remoteServices, [], 'none by default');
  });

  it('runs a front box with no local service: ENABLED_SERVICES=none and REMOTE_SERVICES', () => {
    const c = loadConfig({ ENABLED_SERVICES: 'none', REMOTE_SERVICES: 'marker=http://gpu-a:8000', MARKER_REMOTE_API_KEY: 'k' });
    assert.deepEqual(c.services, []);
    assert.deepEqual(
      c.remoteServices.map((r) => r.name),
      ['marker'],
    );
    assert.throws(() => loadConfig({ ENABLED_SERVICES: 'NONE' }), oneLine('ENABLED_SERVICES', /=none leaves this gateway nothing to serve.*REMOTE_SERVICES/));
  });

  for (const [what, env, variable, pattern] of [
    ['a bad URL', { REMOTE_SERVICES: 'marker=gpu-a:8000' }, 'REMOTE_SERVICES', /marker's URL must be http:\/\/host.*"gpu-a:8000"/],
    ['a URL of another scheme', { REMOTE_SERVICES: 'marker=ftp://gpu-a' }, 'REMOTE_SERVICES', /marker's URL must be http/],
    ['a URL with a query', { REMOTE_SERVICES: 'marker=http://gpu-a:8000/?key=1' }, 'REMOTE_SERVICES', /no query/],
    ['an entry without =', { REMOTE_SERVICES: 'marker=http://gpu-a:8000,olmocr' }, 'REMOTE_SERVICES', /entry 2 must be service=url/],
    ['an unknown service', { REMOTE_SERVICES: 'paddle=http://gpu-a:8000' }, 'REMOTE_SERVICES', /unknown service "paddle" \(known: tesseract/],
    ['a service named twice', { REMOTE_SERVICES: 'marker=http://a:1,marker=http://b:1' }, 'REMOTE_SERVICES', /names marker twice/],
    ['a service both local and remote', { ENABLED_SERVICES: 'tesseract,marker', REMOTE_SERVICES: 'marker=http://a:1' }, 'REMOTE_SERVICES', /marker, which ENABLED_SERVICES runs here too/],
    ['the default local service made remote', { REMOTE_SERVICES: 'hybrid=http://a:1' }, 'REMOTE_SERVICES', /ENABLED_SERVICES \(unset: hybrid\).*ENABLED_SERVICES=none/],
    ['no key for a peer', { REMOTE_SERVICES: 'marker=http://a:1', REMOTE_API_KEY: ' ' }, 'REMOTE_SERVICES', /no key.*REMOTE_API_KEY or MARKER_REMOTE_API_KEY/],
  ] as const) {
    it(`refuses ${what} with one line naming ${variable}`, () => {
      assert.throws(() => loadConfig({ REMOTE_API_KEY: 'k', ...env }), oneLine(variable, pattern));
    });
  }

  it('never shows a key or credentials in its errors', () => {
    assert.throws(
      () => loadConfig({ REMOTE_SERVICES: 'marker=http://admin:s3cret-pass@gpu-a:8000', REMOTE_API_KEY: 'k' }),
      oneLine('REMOTE_SERVICES', /must not hold credentials/, 's3cret-pass'),
    );
    assert.throws(
      () => loadConfig({ REMOTE_SERVICES: 'marker=http://gpu-a:8000', MARKER_REMOTE_API_KEY: 'bad key with spaces' }),
      oneLine('MARKER_REMOTE_API_KEY', /printable ASCII/, 'bad key'),
    );
  });

  it("warns when a peer is sent one of this gateway's own keys", () => {
    const c = loadConfig({ API_KEY: 'shared-key', REMOTE_SERVICES: 'marker=http://gpu-a:8000', REMOTE_API_KEY: 'shared-key' });
    assert.match(c.warnings.join('\n'), /marker's peer is one of this gateway's own API keys/);
    assert.ok(!c.warnings.join('\n').includes('shared-key'));
  });
});
