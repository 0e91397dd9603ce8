// The deployment files (docker/Dockerfile, docker/docker-compose.{dev,prod}.yml, docker/nginx.conf)
// cannot be run here (no Docker engine): check them against the project instead. Every environment
// variable they set is one the project reads (names collected from config.ts's schema, .env.example
// and the sidecar sources), every path they copy, mount or run exists, the ports agree with PORT.
// The Dockerfile's last stage is the production image and each compose file names its target; every
// image built has what its CMD, HEALTHCHECK and shell scripts run (read from its stages: base image
// family, COPY, apt-get install, venvs), and installs the Python plan the gateway's CLI writes from the
// engine registry for its SERVICES. Then start the gateway outside Docker with the prod compose
// file's environment (tesseract only).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import dotenv from 'dotenv';
import YAML from 'yaml';
import { SHARED_SETTINGS_FILE } from '../../gateway/src/config.js';
import { KNOWN_SERVICES, REGISTRY_FILE, type Requirement, enabledServices, requirementPlan } from '../../gateway/src/services.js';
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

/** A Dockerfile instruction (continuation lines joined) and the stage it belongs to ('' before the first FROM). */
interface Instruction {
  op: string;
  args: string;
  stage: string;
}

/** Dockerfile instructions with continuation lines joined. */
function dockerfile(): Instruction[] {
  const lines = read('docker', 'Dockerfile').split('\n');
  const out: Instruction[] = [];
  let stage = '';
  let buf = '';
  for (const raw of lines) {
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

// --- What each image stage holds, and what it runs --------------------------------------------
// No Docker engine here: a stage's contents are read from the Dockerfile (its base image's family,
// then what it and its parent stages COPY and install), and everything its CMD, HEALTHCHECK and
// shell scripts run must be among them.

const PATH_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
/** On PATH in every Debian and Ubuntu image: the essential and required packages (bash, coreutils, findutils, grep, sed, passwd, apt). */
const DEBIAN_TOOLS = [
  'sh', 'bash', 'env', 'dirname', 'basename', 'realpath', 'readlink', 'mktemp', 'sleep', 'touch', 'tr', 'cat', 'cp', 'mv', 'rm',
  'mkdir', 'ln', 'chown', 'chmod', 'head', 'tail', 'seq', 'sort', 'nohup', 'find', 'xargs', 'grep', 'sed', 'apt-get', 'apt-cache', 'dpkg',
  'useradd', 'groupadd',
];
/** The base images the Dockerfile may build on, and the executables they carry on PATH. A new base image is added here. */
const IMAGE_FAMILIES: { image: RegExp; carries: readonly string[] }[] = [
  { image: /^node:\d+(?:\.\d+)*-(?:bookworm|bullseye|trixie)(?:-slim)?$/, carries: [...DEBIAN_TOOLS, 'node', 'npm', 'npx'] },
  { image: /^(?:debian|ubuntu):[\w.-]+$/, carries: DEBIAN_TOOLS },
  { image: /^nvidia\/cuda:[\d.]+-(?:cudnn-)?(?:base|runtime|devel)-ubuntu\d+\.\d+$/, carries: DEBIAN_TOOLS },
];
/** Executables of the Debian/Ubuntu packages a stage may `apt-get install` (the others install none we run). */
const APT_EXECUTABLES: Record<string, readonly string[]> = {
  python3: ['python3'],
  'tesseract-ocr': ['tesseract'],
  curl: ['curl'],
  procps: ['ps', 'pgrep', 'pkill'],
};
/** bash keywords and builtins: they need nothing but the shell. */
const SHELL_BUILTINS = new Set(
  ('[ [[ : . source alias break builtin cd continue declare echo eval exit export false getopts hash jobs kill let local ' +
    'command exec printf pwd read readonly return set shift shopt test trap true type ulimit umask unset wait').split(' '),
);
/** Commands that run the rest of their words: checked as that command. */
const RUNS_THE_REST = new Set(['exec', 'command', 'env', 'nohup']);
const SHELL_KEYWORDS = new Set(['if', 'then', 'else', 'elif', 'while', 'until', 'do', '!', 'in', 'time']);

/** The simple commands a shell script runs, as word lists: `$(…)` bodies included; comments, single-quoted
 *  text, here-documents, case patterns, assignments, redirections and calls of the script's own functions
 *  left out. Enough for our scripts, not a shell parser. */
function shellCommands(script: string): string[][] {
  const functions = new Set([...script.matchAll(/^\s*(?:function\s+)?(\w+)\s*\(\)/gm)].map((m) => m[1]!));
  let text = script
    .replace(/<<-?\s*(['"]?)(\w+)\1([^\n]*)\n[\s\S]*?\n\s*\2(?:\n|$)/g, '$3\n')
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .replace(/\s#\s.*$/gm, '')
    .replace(/'[^']*'/g, "''");
  const bodies: string[] = [];
  for (let before = ''; before !== text; ) {
    before = text;
    text = text.replace(/\$\(([^()]*)\)/g, (_m, body: string) => {
      bodies.push(body);
      return '$SUB';
    });
  }
  const commands: string[][] = [];
  for (const chunk of [text, ...bodies]) {
    const plain = chunk
      .replace(/"(?:[^"\\]|\\.)*"/g, '""')
      .replace(/(?:\d*|&)(?:>>|<>|[<>])&(?:\d+-?|-)|(?:\d*|&)(?:<<<|>>|<>|[<>])\s*[^\s;&|()<>]*/g, ' ')
      .replace(/\b\w+\(\)\s*/g, '')
      .replace(/(\bin|;;)\s*(?!esac\b)\(?[^()\n;]*\)/g, '$1;');
    for (const segment of plain.split(/;;|&&|\|\||[;&|\n(){}]/)) {
      const words = segment.trim().split(/\s+/).filter((w) => w !== '');
      while (words.length > 0 && (SHELL_KEYWORDS.has(words[0]!) || /^[A-Za-z_]\w*(?:\[[^\]]*\])?\+?=/.test(words[0]!))) words.shift();
      if (words.length === 0 || ['for', 'case', 'select', 'esac', 'fi', 'done'].includes(words[0]!) || functions.has(words[0]!)) continue;
      commands.push(words);
    }
  }
  return commands;
}

const PACKAGE = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
/** node_modules/.bin names → the package that provides them (what `npx <bin>` needs). */
function binPackages(): Map<string, string> {
  const bins = new Map<string, string>();
  for (const pkg of [...Object.keys(PACKAGE.dependencies), ...Object.keys(PACKAGE.devDependencies)]) {
    const manifest = path.join(ROOT, 'node_modules', pkg, 'package.json');
    if (!existsSync(manifest)) continue;
    const bin = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin?: string | Record<string, string> }).bin;
    if (typeof bin === 'string') bins.set(pkg.split('/').at(-1)!, pkg);
    else for (const name of Object.keys(bin ?? {})) bins.set(name, pkg);
  }
  return bins;
}

/** What a built stage holds and how it starts. */
interface StageContents {
  target: string;
  /** The external base image, build args applied. */
  image: string;
  /** Every instruction from the base image down to the target (parent stages first). */
  instructions: Instruction[];
  workdir: string;
  user: string | undefined;
  env: Record<string, string>;
  cmd: string[] | undefined;
  healthcheck: string | undefined;
  /** Names on PATH. */
  executables: Set<string>;
  /** Absolute paths put in the image (files, directories, venv interpreters). */
  paths: string[];
  /** path → owner, from COPY --chown and RUN chown -R. */
  owners: Map<string, string>;
  /** Packages in <workdir>/node_modules. */
  nodeModules: Set<string>;
  /** Repository files with a shebang COPYed in, and where. */
  scripts: { source: string; at: string }[];
  /** The Python install plan its venvs were made from (`<venv> <file>` lines a build stage wrote). */
  pythonPlan: Requirement[];
}

function stageContents(all: Instruction[], target: string, buildArgs: Record<string, string>): StageContents {
  const froms = all.filter((i) => i.op === 'FROM');
  const argDefaults = Object.fromEntries(
    all.slice(0, all.indexOf(froms[0]!)).filter((i) => i.op === 'ARG').map((i) => [i.args.split('=')[0]!, i.args.split('=').slice(1).join('=')]),
  );
  // The chain of stages from an external image down to the target.
  const chain: string[] = [];
  let image = target;
  for (;;) {
    const from = froms.find((i) => i.stage === image);
    if (from === undefined) break;
    assert.ok(!chain.includes(image), `stage ${image} derives from itself`);
    chain.unshift(image);
    image = from.args.split(/\s+/).filter((w) => !w.startsWith('--'))[0]!;
  }
  assert.ok(chain.length > 0, `no stage ${target}`);
  image = image.replace(/\$\{?(\w+)\}?/g, (_m, name: string) => buildArgs[name] ?? argDefaults[name] ?? '');
  const family = IMAGE_FAMILIES.find((f) => f.image.test(image));
  assert.ok(family, `${target}: base image ${image} is not one the test knows: add it to IMAGE_FAMILIES with what it carries`);
  const c: StageContents = {
    target,
    image,
    instructions: all.filter((i) => chain.includes(i.stage)),
    workdir: '/',
    user: undefined,
    env: {},
    cmd: undefined,
    healthcheck: undefined,
    executables: new Set(family.carries),
    paths: [],
    owners: new Map(),
    nodeModules: new Set(),
    scripts: [],
    pythonPlan: [],
  };
  const put = (at: string): void => {
    c.paths.push(at);
    if (PATH_DIRS.includes(path.posix.dirname(at))) c.executables.add(path.posix.basename(at));
  };
  for (const i of c.instructions) {
    if (i.op === 'WORKDIR') c.workdir = path.posix.resolve(c.workdir, i.args);
    if (i.op === 'USER') c.user = i.args;
    if (i.op === 'ENV') for (const m of i.args.matchAll(/([A-Za-z_]\w*)=(\S*)/g)) c.env[m[1]!] = m[2]!;
    if (i.op === 'CMD') c.cmd = JSON.parse(i.args) as string[];
    if (i.op === 'HEALTHCHECK') c.healthcheck = i.args;
    if (i.op === 'COPY') {
      const words = i.args.split(/\s+/);
      const options = Object.fromEntries(words.filter((w) => w.startsWith('--')).map((w) => w.slice(2).split('=') as [string, string]));
      const [dest, ...sources] = words.filter((w) => !w.startsWith('--')).reverse() as [string, ...string[]];
      const destAt = path.posix.resolve(c.workdir, dest);
      for (const source of sources.reverse()) {
        const at = dest.endsWith('/') || sources.length > 1 ? path.posix.join(destAt, path.posix.basename(source)) : destAt;
        put(at);
        if (options.chown !== undefined) c.owners.set(at, options.chown);
        if (options.from === undefined) {
          const file = path.join(ROOT, source);
          if (existsSync(file) && !statSync(file).isDirectory() && readFileSync(file, 'utf8').startsWith('#!')) c.scripts.push({ source, at });
        } else if (at === path.posix.join(c.workdir, 'node_modules')) {
          const which = nodeModulesOf(all, options.from, source);
          c.nodeModules = new Set([...Object.keys(PACKAGE.dependencies), ...(which === 'all' ? Object.keys(PACKAGE.devDependencies) : [])]);
        }
      }
    }
    if (i.op === 'RUN') {
      for (const m of i.args.matchAll(/apt-get install\s+([^&;|]*)/g)) {
        for (const pkg of m[1]!.split(/\s+/)) for (const exe of APT_EXECUTABLES[pkg] ?? []) c.executables.add(exe);
      }
      for (const m of i.args.matchAll(/\bpython3 -m venv (\S+?);?(?:\s|$)/g)) {
        assert.ok(c.executables.has('python3'), `${target}: python3 -m venv before python3 is installed`);
        if (m[1]!.includes('$')) continue; // a venv of a plan: below
        for (const exe of ['python', 'python3', 'pip']) put(path.posix.join(path.posix.resolve(c.workdir, m[1]!), 'bin', exe));
      }
      if (/\bpython3 -m venv "?[^\s"]*\$/.test(i.args)) {
        // Venvs named by a plan file another stage wrote: every venv of that plan, under WORKDIR.
        const copied = c.instructions.slice(0, c.instructions.indexOf(i)).filter((p) => p.op === 'COPY' && p.args.includes('--from='));
        const copy = copied.find((p) => i.args.includes(p.args.split(/\s+/).at(-1)!));
        assert.ok(copy, `${target}: creates venvs from a plan no COPY --from brings`);
        const [source] = copy.args.split(/\s+/).filter((w) => !w.startsWith('--'));
        c.pythonPlan = pythonPlanOf(all, /--from=(\S+)/.exec(copy.args)![1]!, source!, buildArgs);
        for (const venv of new Set(c.pythonPlan.map((r) => r.venv))) {
          assert.match(i.args, new RegExp(`python3 -m venv "${c.workdir}/\\$`), `${target}: the plan's venvs go under ${c.workdir}`);
          for (const exe of ['python', 'python3', 'pip']) put(path.posix.join(c.workdir, venv, 'bin', exe));
        }
      }
      for (const m of i.args.matchAll(/\bln -s\w* (\S+) (\S+)/g)) put(path.posix.resolve(c.workdir, m[2]!));
      // The compiler's output directory (tsconfig.build.json's outDir, dist/).
      for (const m of i.args.matchAll(/\btsc -p (\S+)/g)) {
        const outDir = (JSON.parse(read(m[1]!)) as { compilerOptions?: { outDir?: string } }).compilerOptions?.outDir;
        assert.ok(outDir, `${target}: tsc -p ${m[1]!} names no outDir`);
        put(path.posix.resolve(c.workdir, outDir));
      }
      for (const m of i.args.matchAll(/\bchown -R (\S+) (\S+)/g)) c.owners.set(path.posix.resolve(c.workdir, m[2]!), m[1]!);
    }
  }
  return c;
}

/**
 * The Python install plan that stage `stage` writes to `file`: the gateway CLI's `requirements` for the
 * services of the SERVICES build argument (as the stage turns it into ENABLED_SERVICES), computed here
 * with the CLI's own requirementPlan. The stage must hold what the CLI reads: the project root's
 * package.json, the compiled CLI, the engine registry and the shared settings.
 */
function pythonPlanOf(all: Instruction[], stage: string, file: string, buildArgs: Record<string, string>): Requirement[] {
  const own = all.filter((i) => i.stage === stage);
  const at = own.findIndex((i) => i.op === 'RUN' && new RegExp(`\\bnode \\S+ requirements > ${file}$`).test(i.args));
  assert.ok(at !== -1, `stage ${stage} does not write ${file} with the CLI's \`requirements\``);
  const run = own[at]!.args;
  const cli = /\bnode (\S+) requirements/.exec(run)![1]!;
  assert.equal(cli, 'dist/gateway/src/cli/env.js', `${stage}: ${file} comes from ${cli}, not the gateway's env CLI`);
  assert.ok(!run.includes('--dev'), `${stage}: the image installs the test tools`);
  builtFrom(cli);
  const producer = stageContents(all, stage, buildArgs);
  for (const needed of [cli, 'package.json', path.relative(ROOT, REGISTRY_FILE), path.relative(ROOT, SHARED_SETTINGS_FILE)]) {
    assert.ok(hasPath(producer, path.posix.join(producer.workdir, needed)), `${stage}: the CLI needs ${needed}, which the stage lacks`);
  }
  // ENABLED_SERVICES from SERVICES, spaces made commas: `${SERVICES// /,}` (a bash stage).
  assert.match(run, /^ENABLED_SERVICES="\$\{SERVICES\/\/ \/,\}" /, `${stage}: ${file} is not the plan of SERVICES`);
  const arg = own.slice(0, at).find((i) => i.op === 'ARG' && i.args.split('=')[0] === 'SERVICES');
  assert.ok(arg, `${stage}: no ARG SERVICES before the plan is written`);
  const services = buildArgs.SERVICES ?? arg.args.split('=').slice(1).join('=');
  return requirementPlan(enabledServices(services.replaceAll(' ', ',')), false);
}

/** Which node_modules `COPY --from=<stage> <source>` brings: all packages, or production only (after `npm prune --omit=dev`). */
function nodeModulesOf(all: Instruction[], stage: string, source: string): 'all' | 'production' {
  const run = all
    .filter((i) => i.stage === stage && i.op === 'RUN')
    .map((i) => i.args)
    .join(' && ');
  const workdir = all.filter((i) => i.stage === stage && i.op === 'WORKDIR').at(-1)?.args ?? '/';
  const prune = run.search(/npm prune --omit=dev/);
  if (source === path.posix.join(workdir, 'node_modules')) return prune === -1 ? 'all' : 'production';
  const copy = run.indexOf(`cp -r node_modules ${source}`);
  assert.ok(copy !== -1, `COPY --from=${stage} ${source}: not a node_modules the ${stage} stage makes`);
  return prune === -1 || copy < prune ? 'all' : 'production';
}

const hasPath = (c: StageContents, at: string): boolean => c.paths.some((p) => at === p || at.startsWith(`${p}/`));

/** What is missing for `words` to run in the stage: the command, the script it runs, the packages npx/node need. */
function missingToRun(c: StageContents, words: string[], where: string, bins: Map<string, string>): string[] {
  const [cmd, ...rest] = words;
  if (cmd === undefined || /^["$']/.test(cmd)) return [];
  const name = path.posix.basename(cmd);
  const found =
    SHELL_BUILTINS.has(cmd) ||
    (!cmd.includes('/')
      ? c.executables.has(cmd)
      : PATH_DIRS.includes(path.posix.dirname(cmd))
        ? c.executables.has(name)
        : hasPath(c, path.posix.resolve(c.workdir, cmd)));
  if (!found) return [`${where}: runs ${cmd}, which ${c.target} (on ${c.image}) does not have`];
  if (RUNS_THE_REST.has(name)) {
    const first = rest.findIndex((w) => !w.startsWith('-') && !/^[A-Za-z_]\w*=/.test(w));
    return first === -1 ? [] : missingToRun(c, rest.slice(first), where, bins);
  }
  if (SHELL_BUILTINS.has(cmd)) return [];
  // The operand: the script or bin it runs, unless code is given inline (node -e, bash -c) before it.
  const at = rest.findIndex((w) => !w.startsWith('-'));
  if (at === -1 || rest.slice(0, at).some((w) => ['-e', '--eval', '-p', '--print', '-c'].includes(w))) return [];
  const operand = rest[at]!;
  if (/^["$']/.test(operand)) return [];
  const missing: string[] = [];
  if (cmd === 'npx') {
    const pkg = bins.get(operand);
    if (pkg === undefined || !c.nodeModules.has(pkg)) missing.push(`${where}: npx ${operand}: no package of ${c.target}'s node_modules provides it`);
  } else if (['node', 'bash', 'sh'].includes(path.posix.basename(cmd))) {
    const at = path.posix.resolve(c.workdir, operand);
    const modules = path.posix.join(c.workdir, 'node_modules');
    if (at.startsWith(`${modules}/`)) {
      const rel = at.slice(modules.length + 1);
      const pkg = rel.split('/').slice(0, rel.startsWith('@') ? 2 : 1).join('/');
      if (!c.nodeModules.has(pkg)) missing.push(`${where}: runs ${operand}, but ${c.target}'s node_modules lacks ${pkg}`);
      else assert.ok(existsSync(path.join(ROOT, 'node_modules', rel)), `${where}: ${operand} is not in the ${pkg} package`);
    } else if (!hasPath(c, at)) {
      missing.push(`${where}: runs ${operand}, which ${c.target} does not have`);
    } else {
      if (at.startsWith(path.posix.join(c.workdir, 'dist/'))) builtFrom(path.posix.relative(c.workdir, at));
      const script = c.scripts.find((s) => s.at === at);
      if (script !== undefined && cmd !== 'node') missing.push(...missingInScript(c, script, bins));
    }
  }
  return missing;
}

/** What a shell script copied into the stage runs that the stage does not have (its interpreter included). */
function missingInScript(c: StageContents, script: { source: string; at: string }, bins: Map<string, string>): string[] {
  const text = read(script.source);
  const interpreter = text.split('\n')[0]!.slice(2).trim().split(/\s+/);
  const missing = missingToRun(c, interpreter, `${script.source} (#!)`, bins);
  if (!['bash', 'sh'].includes(path.posix.basename(interpreter.at(-1)!))) return missing;
  for (const words of shellCommands(text)) missing.push(...missingToRun(c, words, script.source, bins));
  return [...new Set(missing)];
}

/** Everything the stage starts (CMD, HEALTHCHECK, the scripts copied in) that it does not have. */
function missingInStage(c: StageContents): string[] {
  const bins = binPackages();
  const missing: string[] = [];
  assert.ok(c.cmd, `${c.target}: no CMD`);
  missing.push(...missingToRun(c, c.cmd, `${c.target} CMD`, bins));
  assert.ok(c.healthcheck, `${c.target}: no HEALTHCHECK`);
  const probe = /^(?:--\S+\s+)*CMD\s+(.*)$/.exec(c.healthcheck)?.[1] ?? '';
  const probes = probe.startsWith('[') ? [JSON.parse(probe) as string[]] : shellCommands(probe);
  for (const words of probes) missing.push(...missingToRun(c, words, `${c.target} HEALTHCHECK`, bins));
  for (const script of c.scripts) missing.push(...missingInScript(c, script, bins));
  return [...new Set(missing)];
}

/** The image variants the project builds: a plain build, the documented BASE_IMAGE alternatives, each compose service's target. */
function builds(all: Instruction[]): { what: string; target: string; args: Record<string, string> }[] {
  const last = all.filter((i) => i.op === 'FROM').at(-1)!.stage;
  const documented = new Set([...`${read('README.md')}\n${read('docker', 'Dockerfile')}`.matchAll(/--build-arg BASE_IMAGE=([\w./:-]+)/g)].map((m) => m[1]!));
  const out = [
    { what: 'docker build (no --target)', target: last, args: {} },
    ...[...documented].map((image) => ({ what: `docker build --build-arg BASE_IMAGE=${image}`, target: last, args: { BASE_IMAGE: image } })),
  ];
  for (const file of ['docker-compose.dev.yml', 'docker-compose.prod.yml']) {
    for (const [name, s] of Object.entries(compose(file).services)) {
      if (s.build === undefined) continue;
      const args = Object.fromEntries(Object.entries(s.build.args ?? {}).map(([k, v]) => [k, String(v).replace(/^\$\{\w+:-(.*)\}$/, '$1')]));
      out.push({ what: `${file} ${name}`, target: s.build.target ?? last, args });
    }
  }
  return out;
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
    // .dockerignore keeps secrets and weights out of the build context.
    for (const p of ['.env', 'models', 'node_modules', '.venv']) assert.ok(ignored.includes(p), `.dockerignore lacks ${p}`);
  });

  it('shellCommands reads what a script runs (the reader the image checks rely on)', () => {
    const script = [
      '#!/usr/bin/env bash',
      'set -eu  # strict',
      'cd "$(dirname "$0")/.."',
      'npx tsc --watch & x=$(mktemp) 2>/dev/null',
      "trap 'kill \"$p\"' TERM",
      'say() { echo "$1 (done)" >&2; }',
      'case "$c" in',
      '  a:* | *"-m x "*) say hi; tesseract --version || true ;;',
      'esac',
      'python3 - <<\'EOF\' | sort',
      'import nothing_runs_here',
      'EOF',
    ].join('\n');
    const first = shellCommands(script).map((w) => w[0]);
    assert.deepEqual([...new Set(first)].sort(), ['cd', 'dirname', 'echo', 'mktemp', 'npx', 'python3', 'set', 'sort', 'tesseract', 'trap', 'true']);
  });

  it('Dockerfile: the last stage is the production image (what a plain `docker build` gives); dev is a stage of its own', () => {
    const last = instructions.filter((i) => i.op === 'FROM').at(-1)!.stage;
    const prod = stageContents(instructions, last, {});
    assert.equal(prod.env.NODE_ENV, 'production', `the last stage (${last}) is what a build without --target gives: NODE_ENV=${prod.env.NODE_ENV}`);
    assert.ok(!prod.instructions.some((i) => i.args.includes('dev-watch')), `the last stage (${last}) carries or runs the dev watch loop`);
    assert.ok(Object.keys(PACKAGE.dependencies).every((p) => prod.nodeModules.has(p)), `${last}: node_modules lacks dependencies`);
    const devOnly = Object.keys(PACKAGE.devDependencies).filter((p) => prod.nodeModules.has(p));
    assert.deepEqual(devOnly, [], `${last}: ships devDependencies`);
    assert.ok(stages.has('dev'), 'no dev stage (docker-compose.dev.yml)');
    const dev = stageContents(instructions, 'dev', {});
    assert.equal(dev.env.NODE_ENV, 'development');
    assert.deepEqual(dev.cmd, ['bash', 'docker/dev-watch.sh']);
    assert.ok(!prod.instructions.some((i) => i.stage === 'dev'), `${last} derives from dev`);
    // Every `docker build` the docs show names its target, the production one.
    for (const [file, text] of [['README.md', read('README.md')], ['docker/Dockerfile', read('docker', 'Dockerfile')]] as const) {
      const lines = text.split('\n').filter((l) => /\bdocker build\b/.test(l));
      for (const line of lines) assert.match(line, new RegExp(`--target ${last}\\b`), `${file}: \`${line.trim()}\` names no --target ${last}`);
    }
  });

  it('compose: every service that builds names its target (prod compose: the production stage; dev compose: dev)', () => {
    const last = instructions.filter((i) => i.op === 'FROM').at(-1)!.stage;
    for (const [file, expected] of [['docker-compose.prod.yml', last], ['docker-compose.dev.yml', 'dev']] as const) {
      const built = Object.entries(compose(file).services).filter(([, s]) => s.build !== undefined);
      assert.ok(built.length > 0, `${file} builds nothing`);
      for (const [name, s] of built) {
        assert.equal(s.build!.target, expected, `${file}: ${name} builds ${s.build!.target ?? 'no target (the last stage)'}, not ${expected}`);
      }
    }
  });

  it('each image built (plain build, documented BASE_IMAGEs, compose targets) has what its CMD, HEALTHCHECK and scripts run', () => {
    // The sidecars' interpreter: the gateway takes <root>/<the registry's main venv>/bin/python when it exists.
    const registry = JSON.parse(read('sidecars', 'mdso_sidecar', 'engines', 'services.json')) as { python: { venv: string } };
    assert.equal(registry.python.venv, '.venv', 'the main venv the images build is not the one the gateway looks for');
    const seen = new Set<string>();
    const venvs = new Set<string>();
    for (const b of builds(instructions)) {
      const c = stageContents(instructions, b.target, b.args);
      if (seen.has(`${b.target} ${c.image}`)) continue;
      seen.add(`${b.target} ${c.image}`);
      const what = `${b.what} (stage ${b.target} on ${c.image})`;
      assert.deepEqual(missingInStage(c), [], what);
      assert.ok(hasPath(c, path.posix.join(c.workdir, '.venv', 'bin', 'python')), `${what}: no .venv/bin/python for the sidecars`);
      // Unprivileged, checks /livez, models at MODEL_DIR, offline.
      assert.ok(c.user !== undefined && !/^(root|0)(:|$)/.test(c.user), `${what}: must end as a non-root user`);
      assert.ok(c.healthcheck?.includes('/livez') && c.healthcheck.includes('process.env.PORT'), `${what}: HEALTHCHECK must probe /livez on PORT`);
      assert.equal(c.env.MODEL_DIR, '/models');
      assert.equal(c.env.HF_HUB_OFFLINE, '1');
      assert.ok(c.instructions.some((i) => i.op === 'VOLUME' && i.args.includes('/models')), `${what}: no VOLUME /models`);
      // The Python side: the registry's plan for the image's SERVICES (written in the build stage by the
      // gateway's CLI), each venv it names created, each file it names copied in; every file a plan of
      // any SERVICES could name is there too.
      assert.ok(c.pythonPlan.length > 0, `${what}: installs no Python plan`);
      for (const r of requirementPlan(KNOWN_SERVICES, false)) assert.ok(hasPath(c, path.posix.join(c.workdir, r.file)), `${what}: ${r.file} is not copied in`);
      for (const r of c.pythonPlan) {
        assert.ok(hasPath(c, path.posix.join(c.workdir, r.venv, 'bin', 'python')), `${what}: the plan's ${r.venv} is not created`);
        venvs.add(r.venv);
      }
      // The watch loop's tsc --watch rewrites dist/ with the stage's tsconfig, as the stage's user.
      if (c.scripts.some((s) => s.source === 'docker/dev-watch.sh')) {
        for (const f of ['tsconfig.json', 'tsconfig.build.json']) assert.ok(hasPath(c, path.posix.join(c.workdir, f)), `${what}: no ${f} for tsc --watch`);
        const dist = path.posix.join(c.workdir, 'dist');
        const owner = [...c.owners].find(([p]) => dist === p || dist.startsWith(`${p}/`))?.[1];
        assert.equal(owner?.split(':')[0], c.user?.split(':')[0], `${what}: ${dist} must belong to ${c.user ?? 'root'} (tsc --watch writes it)`);
      }
    }
    assert.ok(seen.size >= 3, 'at least the production image on both base images and the dev image');
    assert.ok(venvs.size > 1, 'some image builds a service with a venv of its own (marker in the prod compose file)');
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
        assert.ok(b.target !== undefined && stages.has(b.target), `${name}: build names no stage of the Dockerfile as target (${String(b.target)})`);
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
      'proxy_request_buffering off;',
      'X-Forwarded-For $proxy_add_x_forwarded_for;',
      'X-Forwarded-Proto $scheme;',
      'X-Forwarded-Host $host;',
      'X-Request-Id $mdso_request_id;',
    ]) {
      assert.ok(active.includes(directive), `nginx.conf lacks ${directive}`);
    }
    // nginx's limits sit above the gateway's (MAX_UPLOAD_MB 100, TIMEOUT 300 s): the gateway answers first.
    assert.ok(Number(/client_max_body_size (\d+)M;/.exec(active)?.[1]) >= 100, 'client_max_body_size below MAX_UPLOAD_MB');
    assert.ok(Number(/proxy_read_timeout (\d+)s;/.exec(active)?.[1]) > 300, 'proxy_read_timeout not above TIMEOUT');
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
