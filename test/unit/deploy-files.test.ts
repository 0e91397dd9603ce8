// The deployment files (docker/Dockerfile, docker/docker-compose.{dev,prod}.yml, docker/nginx.conf)
// cannot be run here (no Docker engine): check them against the project instead. Every environment
// variable they set is one the project reads (names collected from config.ts's schema, .env.example
// and the sidecar sources), every path they copy, mount or run exists, the ports agree with PORT.
// Then start the gateway outside Docker with the prod compose file's environment (tesseract only).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import dotenv from 'dotenv';
import YAML from 'yaml';
import { KNOWN_SERVICES } from '../../gateway/src/services.js';
import { API_KEY, type Gateway, ROOT, getJson, startGateway } from '../helpers/gateway.js';

const DOCKER = path.join(ROOT, 'docker');
const read = (...p: string[]): string => readFileSync(path.join(ROOT, ...p), 'utf8');

function pyFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === '__pycache__' ? [] : pyFiles(full);
    return e.name.endsWith('.py') ? [full] : [];
  });
}

/** Every environment variable name the project reads, collected from its sources. */
function knownVariables(): Set<string> {
  const known = new Set<string>();
  const prefixes = KNOWN_SERVICES.map((s) => s.toUpperCase());
  // gateway/src/config.ts: the schema's keys, and per-service `${name.toUpperCase()}_X` variables.
  const config = read('gateway', 'src', 'config.ts');
  const schema = /const schema = z\.object\(\{([\s\S]*?)\n\}\);/.exec(config)?.[1];
  assert.ok(schema, 'config.ts schema not found');
  for (const m of schema.matchAll(/^\s{2}([A-Z][A-Z0-9_]*):/gm)) known.add(m[1]!);
  for (const m of config.matchAll(/\$\{name\.toUpperCase\(\)\}_([A-Z][A-Z0-9_]*)/g)) for (const p of prefixes) known.add(`${p}_${m[1]!}`);
  // Variables the gateway hands its sidecars (sidecar-supervisor.ts's env object) and DOTENV_CONFIG_PATH.
  for (const m of read('gateway', 'src', 'primary', 'sidecar-supervisor.ts').matchAll(/\b([A-Z][A-Z0-9_]{2,}): /g)) known.add(m[1]!);
  if (config.includes('DOTENV_CONFIG_PATH')) known.add('DOTENV_CONFIG_PATH');
  // .env.example: set or commented-out assignments.
  for (const m of read('.env.example').matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)) known.add(m[1]!);
  // The sidecars: string literals naming variables, and f-strings `{prefix}_X` per service.
  for (const file of pyFiles(path.join(ROOT, 'sidecars', 'mdso_sidecar'))) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/["']([A-Z][A-Z0-9]*_[A-Z0-9_]+)["']/g)) known.add(m[1]!);
    for (const m of text.matchAll(/\{[a-z_.()]+(?:\.upper\(\)[^}]*)?\}_([A-Z][A-Z0-9_]*)/g)) for (const p of prefixes) known.add(`${p}_${m[1]!}`);
  }
  return known;
}

interface ComposeService {
  build?: { context: string; dockerfile: string; target?: string; args?: Record<string, string> };
  image?: string;
  env_file?: string | string[];
  environment?: Record<string, string> | string[];
  ports?: string[];
  volumes?: string[];
  command?: string[] | string;
  profiles?: string[];
  deploy?: { resources?: { reservations?: { devices?: { driver: string; capabilities: string[] }[] } } };
  logging?: { driver: string; options?: Record<string, string> };
  restart?: string;
}
interface Compose {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

const compose = (name: string): Compose => YAML.parse(readFileSync(path.join(DOCKER, name), 'utf8')) as Compose;

function environmentOf(s: ComposeService): Record<string, string> {
  if (Array.isArray(s.environment)) {
    return Object.fromEntries(s.environment.map((kv) => [kv.split('=')[0]!, kv.split('=').slice(1).join('=')]));
  }
  return s.environment ?? {};
}

/** The container's environment: env_file(s), then `environment` (which wins, as in compose). */
function containerEnv(s: ComposeService): Record<string, string> {
  const files = s.env_file === undefined ? [] : Array.isArray(s.env_file) ? s.env_file : [s.env_file];
  const merged: Record<string, string> = {};
  for (const f of files) Object.assign(merged, dotenv.parse(readFileSync(path.join(DOCKER, f), 'utf8')));
  return { ...merged, ...environmentOf(s) };
}

/** Paths ignored by git (.gitignore), e.g. models/: data an operator fills, not in the repository. */
function gitIgnored(rel: string): boolean {
  const patterns = read('.gitignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  const first = rel.split('/')[0]!;
  return patterns.some((p) => p.replace(/\/$/, '') === first || p.replace(/\/$/, '') === rel);
}

/** Dockerfile instructions with continuation lines joined. */
function dockerfile(): { op: string; args: string; stage: string }[] {
  const lines = read('docker', 'Dockerfile').split('\n');
  const out: { op: string; args: string; stage: string }[] = [];
  let stage = '';
  let buf = '';
  for (const raw of lines) {
    if (raw.trim().startsWith('#') && buf === '') continue;
    if (raw.trim().startsWith('#')) continue;
    buf += raw.endsWith('\\') ? `${raw.slice(0, -1)} ` : raw;
    if (raw.endsWith('\\')) continue;
    const m = /^\s*([A-Z]+)\s+(.*)$/.exec(buf);
    buf = '';
    if (m === null) continue;
    const [, op, args] = m as unknown as [string, string, string];
    if (op === 'FROM') stage = /\bAS\s+(\S+)/i.exec(args)?.[1] ?? '';
    out.push({ op, args: args.trim(), stage });
  }
  return out;
}

/** dist/X.js exists after the build stage's `tsc -p tsconfig.build.json` when X.ts is in its include. */
function builtFrom(distPath: string): string {
  const build = JSON.parse(read('tsconfig.build.json')) as { include: string[]; compilerOptions: { outDir: string } };
  assert.equal(build.compilerOptions.outDir, 'dist');
  const source = distPath.replace(/^dist\//, '').replace(/\.js$/, '.ts');
  assert.ok(existsSync(path.join(ROOT, source)), `${distPath} would come from ${source}, which does not exist`);
  assert.ok(
    build.include.some((g) => source.startsWith(g.replace(/\*\*\/\*\.ts$/, ''))),
    `${source} is not compiled by tsconfig.build.json (include ${build.include.join(', ')})`,
  );
  return source;
}

describe('deployment files', () => {
  const known = knownVariables();
  const instructions = dockerfile();
  const stages = new Set(instructions.filter((i) => i.op === 'FROM').map((i) => i.stage));
  const args = new Set(instructions.filter((i) => i.op === 'ARG').map((i) => i.args.split('=')[0]!));

  it('collects the known variables from the sources', () => {
    for (const name of ['PORT', 'WORKERS', 'API_KEY', 'ENABLED_SERVICES', 'METRICS_PUBLIC', 'MODEL_DIR', 'OLMOCR_BACKEND', 'OLMOCR_ENDPOINT', 'MARKER_PYTHON', 'HF_HUB_OFFLINE']) {
      assert.ok(known.has(name), `${name} not found in the sources`);
    }
    assert.ok(!known.has('NOT_A_SETTING'));
  });

  it('Dockerfile: ENV names are read by the project; COPY sources exist; CMD runs the built entry point', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const i of instructions) {
      if (i.op === 'ENV') {
        for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)) assert.ok(known.has(m[1]!), `Dockerfile sets ${m[1]!}, which nothing reads`);
      }
      if (i.op === 'COPY' && !i.args.includes('--from=')) {
        const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          assert.ok(existsSync(path.join(ROOT, src)), `COPY ${src}: no such file in the repository`);
          assert.ok(!ignored.includes(src) && !ignored.includes(src.split('/')[0]!), `COPY ${src} is excluded by .dockerignore`);
        }
      }
      if (i.op === 'COPY' && i.args.includes('--from=')) {
        const stage = /--from=(\S+)/.exec(i.args)?.[1];
        assert.ok(stage !== undefined && stages.has(stage), `COPY --from=${String(stage)}: no such stage`);
      }
      if (i.op === 'FROM') {
        for (const m of i.args.matchAll(/\$\{([A-Z_]+)\}/g)) assert.ok(args.has(m[1]!), `FROM uses undeclared ARG ${m[1]!}`);
      }
      if (i.op === 'CMD' || i.op === 'ENTRYPOINT') {
        const argv = JSON.parse(i.args) as string[];
        for (const a of argv) {
          if (a.startsWith('dist/')) builtFrom(a);
          else if (/\.(sh|js|py)$/.test(a)) assert.ok(existsSync(path.join(ROOT, a)), `${i.op} runs ${a}, which does not exist`);
        }
      }
    }
    // The runtime image does not run as root, checks /livez, mounts models at MODEL_DIR, offline.
    const runtime = instructions.filter((i) => i.stage === 'runtime');
    const user = runtime.filter((i) => i.op === 'USER').at(-1);
    assert.ok(user !== undefined && user.args !== 'root' && user.args !== '0', 'the runtime stage must end as a non-root user');
    const health = runtime.find((i) => i.op === 'HEALTHCHECK');
    assert.ok(health?.args.includes('/livez') && health.args.includes('process.env.PORT'), 'HEALTHCHECK must probe /livez on PORT');
    const env = runtime.filter((i) => i.op === 'ENV').map((i) => i.args).join(' ');
    assert.match(env, /MODEL_DIR=\/models/);
    assert.match(env, /HF_HUB_OFFLINE=1/);
    assert.ok(runtime.some((i) => i.op === 'VOLUME' && i.args.includes('/models')));
    // Every requirements file the SERVICES logic installs is copied in.
    for (const req of ['requirements.txt', 'requirements-vlm.txt', 'requirements-rapidocr.txt', 'requirements-marker.txt']) {
      assert.ok(existsSync(path.join(ROOT, 'sidecars', req)));
      assert.ok(runtime.some((i) => i.op === 'RUN' && i.args.includes(`sidecars/${req}`)), `${req} is never installed`);
    }
    assert.ok(runtime.some((i) => i.op === 'RUN' && i.args.includes('/app/.venv-marker')), 'marker gets its own venv');
    // .dockerignore keeps secrets and weights out of the build context.
    for (const p of ['.env', 'models', 'node_modules', '.venv']) assert.ok(ignored.includes(p), `.dockerignore lacks ${p}`);
  });

  for (const file of ['docker-compose.dev.yml', 'docker-compose.prod.yml']) {
    it(`${file}: variables, env_file, paths, build, ports`, () => {
      const doc = compose(file);
      for (const [name, s] of Object.entries(doc.services)) {
        const ours = s.build !== undefined || s.image?.startsWith('mdso-ocr') === true;
        if (s.env_file !== undefined) {
          for (const f of Array.isArray(s.env_file) ? s.env_file : [s.env_file]) {
            assert.ok(existsSync(path.join(DOCKER, f)), `${name}: env_file ${f} does not exist`);
          }
        }
        for (const v of s.volumes ?? []) {
          const [source, target] = v.split(':') as [string, string];
          if (source.startsWith('.') || source.startsWith('/')) {
            const rel = path.relative(ROOT, path.resolve(DOCKER, source));
            assert.ok(existsSync(path.join(ROOT, rel)) || gitIgnored(rel), `${name}: mounts ${source}, which is not in the repository`);
            if (target.startsWith('/app/')) {
              assert.equal(target.slice('/app/'.length), rel, `${name}: ${source} must be mounted where the image has it`);
            }
          } else {
            assert.ok(doc.volumes !== undefined && source in doc.volumes, `${name}: volume ${source} is not declared`);
          }
        }
        if (!ours) continue;
        const env = environmentOf(s);
        for (const key of Object.keys(env)) assert.ok(known.has(key), `${name}: sets ${key}, which nothing reads`);
        const b = s.build!;
        assert.ok(existsSync(path.resolve(DOCKER, b.context, b.dockerfile)), `${name}: no ${b.dockerfile}`);
        if (b.target !== undefined) assert.ok(stages.has(b.target), `${name}: no stage ${b.target}`);
        for (const arg of Object.keys(b.args ?? {})) assert.ok(args.has(arg), `${name}: build arg ${arg} is not an ARG of the Dockerfile`);
        const full = containerEnv(s);
        for (const p of s.ports ?? []) {
          const container = String(p).split(':').at(-1);
          assert.equal(container, full.PORT, `${name}: publishes ${p} but PORT is ${full.PORT}`);
        }
        for (const svc of (full.ENABLED_SERVICES ?? '').replace(/^\$\{\w+:-(.*)\}$/, '$1').split(',')) {
          assert.ok((KNOWN_SERVICES as readonly string[]).includes(svc), `${name}: unknown service ${svc}`);
          const built = (b.args?.SERVICES ?? 'hybrid').replace(/^\$\{\w+:-(.*)\}$/, '$1');
          assert.ok(built.split(/[ ,]+/).includes(svc), `${name}: ${svc} is enabled but not built in (SERVICES=${built})`);
        }
        if (env.MODEL_DIR !== undefined) {
          assert.ok((s.volumes ?? []).some((v) => v.split(':')[1] === env.MODEL_DIR), `${name}: nothing mounted at MODEL_DIR`);
        }
      }
    });
  }

  it('prod compose: GPU reservation, restart, log rotation, vLLM profile consistent with the olmocr settings', () => {
    const doc = compose('docker-compose.prod.yml');
    const ocr = doc.services.ocr!;
    const env = containerEnv(ocr);
    assert.equal(env.NODE_ENV, 'production');
    assert.equal(env.WORKERS, '4');
    assert.equal(env.PORT, '8080');
    assert.match(env.ENABLED_SERVICES ?? '', /marker/);
    assert.equal(ocr.restart, 'unless-stopped');
    assert.equal(ocr.deploy?.resources?.reservations?.devices?.[0]?.driver, 'nvidia');
    assert.equal(ocr.logging?.driver, 'json-file');
    assert.ok(ocr.logging?.options?.['max-size'] && ocr.logging.options['max-file']);
    const vllm = doc.services.vllm!;
    assert.deepEqual(vllm.profiles, ['vllm']);
    assert.match(vllm.image ?? '', /^vllm\/vllm-openai:/);
    const command = vllm.command as string[];
    const served = command[command.indexOf('--served-model-name') + 1];
    assert.equal(served, 'allenai/olmOCR-2-7B-1025');
    assert.equal(env.OLMOCR_SERVED_MODEL, served);
    // The served model is olmocr's default model, and vLLM reads it where the layout puts it.
    assert.match(read('.env.example'), new RegExp(`OLMOCR_MODEL=${served}\\b`));
    const modelPath = command[command.indexOf('--model') + 1]!;
    const mount = (vllm.volumes ?? []).map((v) => v.split(':')).find(([, t]) => modelPath.startsWith(`${t!}/`));
    assert.ok(mount, `vllm: ${modelPath} is not under a mounted volume`);
    assert.equal(modelPath, `${mount[1]!}/olmocr/${served.split('/').at(-1)!}`, 'docs/MODELS.md layout: MODEL_DIR/olmocr/<model name>');
    const endpoint = new URL(env.OLMOCR_ENDPOINT ?? '');
    assert.equal(endpoint.hostname, 'vllm');
    assert.equal(endpoint.port, command[command.indexOf('--port') + 1]);
    assert.match(environmentOf(ocr).OLMOCR_BACKEND ?? '', /openai|\$\{OLMOCR_BACKEND/);
  });

  it('nginx.conf: limits, timeouts, forwarded headers, streaming uploads, upstream on PORT', () => {
    const conf = read('docker', 'nginx.conf');
    const active = conf
      .split('\n')
      .filter((l) => !l.trim().startsWith('#'))
      .join('\n');
    for (const directive of [
      'client_max_body_size 100M;',
      'proxy_read_timeout 300s;',
      'proxy_request_buffering off;',
      'X-Forwarded-For $proxy_add_x_forwarded_for;',
      'X-Forwarded-Proto $scheme;',
      'X-Forwarded-Host $host;',
      'X-Request-Id $mdso_request_id;',
    ]) {
      assert.ok(active.includes(directive), `nginx.conf lacks ${directive}`);
    }
    assert.match(conf, /#\s*ssl_certificate\s+\S+/);
    const upstream = /server\s+(\w+):(\d+);/.exec(active);
    const prod = compose('docker-compose.prod.yml');
    assert.ok(upstream && upstream[1]! in prod.services, 'the upstream is a service of the prod compose file');
    assert.equal(upstream[2], containerEnv(prod.services[upstream[1]!]!).PORT);
    const nginx = prod.services.nginx!;
    assert.ok((nginx.volumes ?? []).some((v) => v.startsWith('./nginx.conf:')));
  });
});

describe('the prod compose environment, outside Docker (tesseract only)', () => {
  let gw: Gateway;
  before(async () => {
    const env = containerEnv(compose('docker-compose.prod.yml').services.ocr!);
    // What the container would get, less what needs Docker: the port (a free one), the model volume
    // and GPU (tesseract only), interpolations of compose variables.
    const run: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(env)) if (!v.includes('${') && k !== 'PORT' && k !== 'HOST' && k !== 'MODEL_DIR') run[k] = v;
    assert.equal(run.NODE_ENV, 'production');
    assert.equal(run.WORKERS, '4');
    gw = await startGateway({ ...run, ENABLED_SERVICES: 'tesseract', API_KEY, LOG_LEVEL: run.LOG_LEVEL });
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it('serves /livez and /health, and logs JSON lines (requests and tagged sidecar lines)', async () => {
    assert.equal((await fetch(`${gw.url}/livez`)).status, 200);
    const health = await getJson(gw, '/health');
    assert.equal(health.status, 200);
    assert.equal(health.json.status, 'healthy');
    assert.equal((await getJson(gw, '/health', null)).status, 401);
    await new Promise((r) => setTimeout(r, 300));
    const lines = gw
      .logs()
      .split('\n')
      .filter((l) => l.trim() !== '');
    assert.ok(lines.length > 0);
    const records = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        assert.fail(`not a JSON log line in production: ${l}`);
      }
    });
    const access = records.find((r) => r.message === 'request' && r.path === '/health' && r.status === 200);
    assert.ok(access, 'an access log line for /health');
    for (const field of ['request_id', 'duration_ms', 'method', 'timestamp', 'level']) assert.ok(field in access, `access line lacks ${field}`);
    const sidecarLine = records.find((r) => r.service === 'tesseract' && typeof r.sidecar_pid === 'number');
    assert.ok(sidecarLine, 'sidecar lines are tagged with service and sidecar_pid');
    const workers = new Set(records.filter((r) => typeof r.component === 'string' && r.component.startsWith('worker-')).map((r) => r.pid));
    assert.ok(workers.size >= 1);
    assert.ok(!gw.logs().includes(API_KEY), 'the API key never reaches the log');
  });
});
