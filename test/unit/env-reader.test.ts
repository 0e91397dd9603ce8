// One reader of .env and one list of services: the gateway's configuration, its CLI (which
// scripts/bootstrap asks what to install) and scripts/download-models see the same ENABLED_SERVICES
// for .env files with comments, quotes, `export` lines and inline comments. Then scripts/bootstrap's
// install stamps and build skip, run on fake venvs (a python that records its pip calls) and a fake tsc.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig, withDotenv } from '../../gateway/src/config.js';
import { projectRoot } from '../../gateway/src/paths.js';
import { KNOWN_SERVICES, REGISTRY, requirementPlan } from '../../gateway/src/services.js';

const ROOT = projectRoot();
const CLI = path.join(ROOT, 'dist', 'gateway', 'src', 'cli', 'env.js');
const BOOTSTRAP = path.join(ROOT, 'scripts', 'bootstrap');

let tmp: string;
before(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'mdso-env-'));
});
after(() => rmSync(tmp, { recursive: true, force: true }));

/** The process environment without what the cases set, so a developer's own settings never leak in. */
function baseEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && k !== 'ENABLED_SERVICES' && k !== 'DOTENV_CONFIG_PATH' && k !== 'MODEL_DIR') env[k] = v;
  }
  return { ...env, ...extra };
}

function runCli(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { env: baseEnv(env), encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function envFile(name: string, text: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

/** The services scripts/download-models --dry-run lists (one "<service>: …" line each). */
function downloadModelsServices(env: Record<string, string>): string[] {
  const r = spawnSync(path.join(ROOT, 'scripts', 'download-models'), ['--dry-run'], {
    env: baseEnv({ ...env, MODEL_DIR: path.join(tmp, 'models') }),
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  return [...r.stdout.matchAll(/^([a-z][a-z0-9_]*): /gm)].map((m) => m[1]!);
}

describe('one .env reader', () => {
  const cases: Array<[string, string, Record<string, string>, string[]]> = [
    ['an inline comment after the value', '# services\nENABLED_SERVICES=tesseract,rapidocr   # photos too\n', {}, ['tesseract', 'rapidocr']],
    ['double quotes and a comment', '\nENABLED_SERVICES="tesseract, rapidocr"  # quoted\n', {}, ['tesseract', 'rapidocr']],
    ['single quotes', "API_KEY='a#b'\nENABLED_SERVICES='rapidocr,hybrid'\n", {}, ['rapidocr', 'hybrid']],
    ['an export line', 'export ENABLED_SERVICES=marker,tesseract # marker on the GPU\n', {}, ['marker', 'tesseract']],
    ['spaces, capitals and a repeat', '  ENABLED_SERVICES = Tesseract , RAPIDOCR,tesseract\n', {}, ['tesseract', 'rapidocr']],
    ['the last of two lines', 'ENABLED_SERVICES=olmocr\nENABLED_SERVICES=nanonets # this one\n', {}, ['nanonets']],
    ['the real environment winning', 'ENABLED_SERVICES=tesseract,rapidocr # photos\n', { ENABLED_SERVICES: 'olmocr' }, ['olmocr']],
  ];
  for (const [what, text, extra, expected] of cases) {
    it(`the gateway, its CLI and download-models agree: ${what}`, () => {
      const env = { DOTENV_CONFIG_PATH: envFile('case.env', text), ...extra };
      const gateway = loadConfig(withDotenv(env)).services.map((s) => s.name);
      assert.deepEqual(gateway, expected);
      const cli = runCli(['services'], env);
      assert.equal(cli.status, 0, cli.stderr);
      assert.deepEqual(cli.stdout.trim().split('\n'), expected);
      assert.deepEqual(downloadModelsServices(env), expected);
    });
  }

  it('unset or empty: the gateway runs hybrid, download-models fetches every service with weights', () => {
    for (const text of ['# nothing set\n', 'ENABLED_SERVICES=   # empty\n']) {
      const env = { DOTENV_CONFIG_PATH: envFile('empty.env', text) };
      assert.deepEqual(
        loadConfig(withDotenv(env)).services.map((s) => s.name),
        ['hybrid'],
      );
      assert.equal(runCli(['services'], env).stdout, 'hybrid\n');
      assert.deepEqual(downloadModelsServices(env), ['marker', 'nanonets', 'olmocr', 'dotsocr']);
    }
    assert.equal(runCli(['services'], { DOTENV_CONFIG_PATH: path.join(tmp, 'missing.env') }).stdout, 'hybrid\n');
  });

  it('bootstrap installs what the gateway enables (rapidocr after an inline comment)', () => {
    const env = { DOTENV_CONFIG_PATH: envFile('photos.env', 'ENABLED_SERVICES=tesseract,rapidocr   # photos too\n') };
    const r = runCli(['requirements'], env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, '.venv sidecars/requirements.txt\n.venv sidecars/requirements-rapidocr.txt\n');
    const dev = runCli(['requirements', '--dev'], env).stdout;
    for (const file of ['requirements.txt', 'requirements-rapidocr.txt', 'requirements-vlm.txt', 'requirements-dev.txt']) {
      assert.ok(dev.includes(`.venv sidecars/${file}\n`), `--dev lacks ${file}`);
    }
    assert.deepEqual(requirementPlan(['marker'], false), [
      { venv: '.venv', file: 'sidecars/requirements.txt' },
      { venv: '.venv-marker', file: 'sidecars/requirements-marker.txt' },
    ]);
  });

  it('the CLI reads any variable as the gateway does, and runs a command with that environment', () => {
    const file = envFile('vars.env', "export MODEL_DIR='/srv/my models' # weights\nLOG_LEVEL=debug\n");
    assert.equal(runCli(['get', 'MODEL_DIR'], { DOTENV_CONFIG_PATH: file }).stdout, '/srv/my models\n');
    assert.equal(runCli(['get', 'LOG_LEVEL'], { DOTENV_CONFIG_PATH: file, LOG_LEVEL: 'warn' }).stdout, 'warn\n');
    assert.equal(runCli(['get', 'NOT_SET_ANYWHERE'], { DOTENV_CONFIG_PATH: file }).stdout, '\n');
    const child = `process.stdout.write(process.env.MODEL_DIR + '|' + process.env.LOG_LEVEL); process.exit(3)`;
    const r = runCli(['run', '--', process.execPath, '-e', child], { DOTENV_CONFIG_PATH: file, LOG_LEVEL: 'warn' });
    assert.equal(r.stdout, '/srv/my models|warn');
    assert.equal(r.status, 3, 'the command exit code is passed on');
  });

  it('an unknown service stops the CLI (exit 2) with the gateway message', () => {
    const env = { DOTENV_CONFIG_PATH: envFile('bad.env', 'ENABLED_SERVICES=tesseract,paddle # typo\n') };
    assert.throws(() => loadConfig(withDotenv(env)), ConfigError);
    let message = '';
    try {
      loadConfig(withDotenv(env));
    } catch (err) {
      message = (err as Error).message;
    }
    const r = runCli(['requirements'], env);
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), message);
    assert.equal(r.stdout, '');
  });
});

describe('one list of services', () => {
  it('is the engine registry, and every requirement file it names exists', () => {
    const registry = JSON.parse(readFileSync(path.join(ROOT, 'sidecars', 'mdso_sidecar', 'engines', 'services.json'), 'utf8')) as {
      services: Array<{ name: string }>;
    };
    assert.deepEqual(
      KNOWN_SERVICES,
      registry.services.map((s) => s.name),
    );
    const files = [...REGISTRY.python.requirements, ...REGISTRY.python.devRequirements, ...REGISTRY.services.flatMap((s) => s.requirements)];
    for (const file of files) assert.ok(existsSync(path.join(ROOT, file)), `${file} does not exist`);
  });

  it('download-models knows every service: those without weights say so and exit 0', () => {
    const r = spawnSync(path.join(ROOT, 'scripts', 'download-models'), ['tesseract', 'rapidocr', 'hybrid'], {
      env: baseEnv({ MODEL_DIR: path.join(tmp, 'models'), DOTENV_CONFIG_PATH: path.join(tmp, 'missing.env') }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    for (const service of ['tesseract', 'rapidocr', 'hybrid']) assert.match(r.stdout, new RegExp(`^${service}: nothing to download`, 'm'));
    assert.ok(!existsSync(path.join(tmp, 'models')), 'nothing fetched, nothing created');
  });
});

/** Runs scripts/bootstrap's functions (it only defines them when sourced) in `cwd`. */
function bootstrapFunction(call: string, cwd: string, env: Record<string, string>, input = ''): { status: number | null; stderr: string } {
  const r = spawnSync('bash', ['-c', `source "$1" && ${call}`, 'bash', BOOTSTRAP], { cwd, env: baseEnv(env), input, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('bootstrap install stamps (fake venvs)', () => {
  let root: string;
  let log: string;
  const plans: Record<string, string> = {};

  before(() => {
    root = path.join(tmp, 'stamps');
    log = path.join(root, 'pip.log');
    mkdirSync(path.join(root, 'sidecars'), { recursive: true });
    for (const f of readdirSync(path.join(ROOT, 'sidecars')).filter((f) => f.endsWith('.txt'))) {
      copyFileSync(path.join(ROOT, 'sidecars', f), path.join(root, 'sidecars', f));
    }
    // The plans npm start (bootstrap) and npm test (bootstrap --dev) install, from the real CLI.
    for (const [name, args] of [
      ['start', ['requirements']],
      ['test', ['requirements', '--dev']],
      ['marker', ['requirements']],
    ] as const) {
      const env = { DOTENV_CONFIG_PATH: path.join(tmp, 'missing.env'), ...(name === 'marker' ? { ENABLED_SERVICES: 'tesseract,marker' } : {}) };
      const r = runCli([...args], env);
      assert.equal(r.status, 0, r.stderr);
      plans[name] = r.stdout;
    }
  });

  /** A venv whose python answers its version and records `-m pip …` calls (fails when FAKE_PIP_FAIL is set). */
  function fakeVenv(venv: string): void {
    mkdirSync(path.join(root, venv, 'bin'), { recursive: true });
    const python = path.join(root, venv, 'bin', 'python');
    writeFileSync(
      python,
      `#!/bin/sh
if [ "$1" = -c ]; then echo "\${FAKE_PYTHON_VERSION:-3.11}"; exit 0; fi
shift 2
echo "${venv} $*" | sed "s#${root}/##g" >>"${log}"
[ -z "\${FAKE_PIP_FAIL:-}" ]
`,
    );
    chmodSync(python, 0o755);
  }

  /** Runs install_requirements with one plan; returns the pip calls it made. */
  function install(plan: string, env: Record<string, string> = {}): string[] {
    rmSync(log, { force: true });
    const r = bootstrapFunction(`install_requirements "${root}"`, root, env, plans[plan]);
    if (env.FAKE_PIP_FAIL === undefined) assert.equal(r.status, 0, r.stderr);
    else assert.notEqual(r.status, 0);
    return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  }

  function fresh(): void {
    for (const venv of ['.venv', '.venv-marker']) rmSync(path.join(root, venv), { recursive: true, force: true });
    fakeVenv('.venv');
    fakeVenv('.venv-marker');
  }

  const pip = (venv: string, ...args: string[]) => `${venv} install --quiet --disable-pip-version-check ${args.join(' ')}`;
  const r = (f: string) => `-r sidecars/requirements${f}.txt`;
  const c = (f: string) => `-c sidecars/requirements${f}.txt`;

  it('start, test, start: the test run adds only the test extras, the second start installs nothing', () => {
    fresh();
    assert.deepEqual(install('start'), [pip('.venv', r(''), r('-rapidocr'))]);
    assert.deepEqual(install('test'), [pip('.venv', r('-vlm'), r('-dev'), c(''), c('-rapidocr'))]);
    assert.deepEqual(install('start'), []);
    assert.deepEqual(install('test'), []);
  });

  it('test, then start: the start installs nothing', () => {
    fresh();
    assert.deepEqual(install('test'), [pip('.venv', r(''), r('-rapidocr'), r('-vlm'), r('-dev'))]);
    assert.deepEqual(install('start'), []);
  });

  it('a changed file, another Python, a failed pip and a service with its own venv', () => {
    fresh();
    install('test');
    const vlm = path.join(root, 'sidecars', 'requirements-vlm.txt');
    writeFileSync(vlm, `${readFileSync(vlm, 'utf8')}# a new pin\n`);
    assert.deepEqual(install('start'), [], 'start does not use the changed file');
    assert.deepEqual(install('test'), [pip('.venv', r('-vlm'), c(''), c('-rapidocr'), c('-dev'))]);
    assert.deepEqual(install('test'), []);
    // The venv's Python changed minor version: every file again.
    assert.deepEqual(install('start', { FAKE_PYTHON_VERSION: '3.12' }), [pip('.venv', r(''), r('-rapidocr'))]);
    // pip failed: nothing is stamped, the next run tries again.
    fresh();
    install('start', { FAKE_PIP_FAIL: '1' });
    assert.deepEqual(install('start'), [pip('.venv', r(''), r('-rapidocr'))]);
    // marker's own venv gets only its file; the main venv keeps its stamps.
    assert.deepEqual(install('marker'), [pip('.venv-marker', r('-marker'))]);
    assert.deepEqual(install('marker'), []);
  });
});

describe('bootstrap build skip (fake tsc)', () => {
  it('rebuilds from scratch on any source change or foreign dist/, skips otherwise', () => {
    const dir = path.join(tmp, 'build');
    const bin = path.join(dir, 'bin');
    for (const d of ['gateway/src', 'test', '.stamps', 'bin']) mkdirSync(path.join(dir, d), { recursive: true });
    writeFileSync(path.join(dir, 'gateway/src/main.ts'), 'export {};\n');
    writeFileSync(path.join(dir, 'test/a.test.ts'), 'export {};\n');
    writeFileSync(path.join(dir, 'tsconfig.json'), '{}\n');
    writeFileSync(path.join(dir, 'package-lock.json'), '{}\n');
    const calls = path.join(dir, 'tsc.log');
    writeFileSync(path.join(bin, 'npx'), `#!/bin/sh\necho "$*" >>"${calls}"\nmkdir -p dist/gateway/src && echo built >dist/gateway/src/main.js\n`);
    chmodSync(path.join(bin, 'npx'), 0o755);
    const builds = (): number => (existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n').length : 0);
    const build = (): number => {
      const before = builds();
      const r = bootstrapFunction('build_gateway .stamps/dist', dir, { PATH: `${bin}:${process.env.PATH ?? ''}` });
      assert.equal(r.status, 0, r.stderr);
      return builds() - before;
    };
    assert.equal(build(), 1);
    assert.equal(readFileSync(calls, 'utf8'), 'tsc -p tsconfig.json\n');
    assert.equal(build(), 0, 'nothing changed');
    writeFileSync(path.join(dir, 'gateway/src/main.ts'), 'export const a = 1;\n');
    assert.equal(build(), 1, 'a source changed');
    writeFileSync(path.join(dir, 'dist/stale.js'), '');
    assert.equal(build(), 1, 'dist/ holds a file the build did not write');
    assert.ok(!existsSync(path.join(dir, 'dist/stale.js')), 'rebuilt from scratch');
    utimesSync(path.join(dir, 'dist/gateway/src/main.js'), new Date(), new Date(Date.now() + 5000));
    assert.equal(build(), 1, 'another build wrote dist/');
    rmSync(path.join(dir, 'test/a.test.ts'));
    assert.equal(build(), 1, 'a source removed');
    rmSync(path.join(dir, 'dist'), { recursive: true });
    assert.equal(build(), 1, 'dist/ removed');
    assert.equal(build(), 0);
  });
});
