// The gateway's reading of its settings, for the shell scripts: scripts/bootstrap asks it which
// services are enabled and what they need installed, scripts/download-models runs download.py under
// it. One .env reader for all (dotenv, the real environment winning, DOTENV_CONFIG_PATH), one list
// of services (the engine registry), so a script never disagrees with the gateway it prepares.
import { spawn } from 'node:child_process';
import { withDotenv } from '../config.js';
import { BadEnabledServices, enabledServices, requirementPlan } from '../services.js';

const USAGE = `usage: node dist/gateway/src/cli/env.js <command>
  get NAME               NAME's value as the gateway sees it (empty when unset)
  services               the enabled services (ENABLED_SERVICES), one a line
  requirements [--dev]   "<venv> <requirement file>" lines scripts/bootstrap installs for them
                         (--dev: and what the tests need)
  run -- CMD [ARG...]    CMD with the environment the gateway would see (.env values added)`;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function enabled(env: Record<string, string | undefined>): string[] {
  try {
    return enabledServices(env.ENABLED_SERVICES);
  } catch (err) {
    if (err instanceof BadEnabledServices) fail(`Invalid configuration: ${err.message}`);
    throw err;
  }
}

/** Runs `argv` with `env`; this process ends as the child did (same exit code, or same signal). */
function run(argv: string[], env: Record<string, string | undefined>): void {
  const [command, ...args] = argv;
  if (command === undefined) fail(USAGE);
  const child = spawn(command, args, { stdio: 'inherit', env });
  // A signal sent to this process alone (a supervisor's SIGTERM) reaches the command too.
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  for (const signal of signals) process.on(signal, forward);
  child.on('error', (err) => fail(`cannot run ${command}: ${err.message}`, 127));
  child.on('exit', (code, signal) => {
    for (const s of signals) process.off(s, forward);
    if (signal !== null) process.kill(process.pid, signal);
    else process.exit(code ?? 1);
  });
}

const [command, ...rest] = process.argv.slice(2);
const env = withDotenv(process.env);
switch (command) {
  case 'get': {
    if (rest.length !== 1) fail(USAGE);
    process.stdout.write(`${env[rest[0]!] ?? ''}\n`);
    break;
  }
  case 'services':
    if (rest.length !== 0) fail(USAGE);
    process.stdout.write(`${enabled(env).join('\n')}\n`);
    break;
  case 'requirements': {
    if (rest.length > 1 || (rest.length === 1 && rest[0] !== '--dev')) fail(USAGE);
    const plan = requirementPlan(enabled(env), rest[0] === '--dev');
    process.stdout.write(plan.map((r) => `${r.venv} ${r.file}\n`).join(''));
    break;
  }
  case 'run':
    if (rest[0] !== '--') fail(USAGE);
    run(rest.slice(1), env);
    break;
  default:
    fail(USAGE);
}
