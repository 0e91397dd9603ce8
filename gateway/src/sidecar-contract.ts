// The sidecars' contract, read from the Python package itself (`python -m mdso_sidecar --contract`):
// each service's options, the page range, the error types. The primary reads it once at start and
// hands it to the workers (their option validation) and to the OpenAPI document; cli/openapi.ts and
// the tests read it the same way. One source, no generated file to go stale.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { type SidecarContract, parseContract } from './ipc/sidecar-wire.js';
import { projectRoot } from './paths.js';
import { REGISTRY, type Registry } from './services.js';

/** Long enough for a cold start on a slow disk (it takes under a second warm). */
const CONTRACT_TIMEOUT_MS = 60_000;

/**
 * The interpreter of the services that run in the main venv: PYTHON when set, else the main venv's
 * python when it exists, else python3 on the PATH. The contract is read with it.
 */
export function mainInterpreter(
  configured: string,
  root = projectRoot(),
  registry: Registry = REGISTRY,
  exists: (file: string) => boolean = existsSync,
): string {
  if (configured !== '') return configured;
  const main = path.resolve(root, registry.python.venv, 'bin', 'python');
  return exists(main) ? main : 'python3';
}

/** Runs the contract command with `python` and checks what it prints; throws saying why it could not. */
export async function readSidecarContract(python: string, root = projectRoot()): Promise<SidecarContract> {
  const env: Record<string, string> = {};
  // Like a sidecar: the package from the checkout, and never the API keys.
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && key !== 'API_KEY' && key !== 'API_KEYS') env[key] = value;
  Object.assign(env, { PYTHONPATH: path.join(root, 'sidecars') });
  const command = `${python} -m mdso_sidecar --contract`;
  const result = await execa(python, ['-m', 'mdso_sidecar', '--contract'], {
    env,
    extendEnv: false,
    cwd: root,
    stdin: 'ignore',
    reject: false,
    timeout: CONTRACT_TIMEOUT_MS,
    maxBuffer: 4 * 1024 * 1024,
  });
  if (result.failed) {
    const why = result.stderr.trim().split('\n').at(-1) ?? '';
    throw new Error(`${command} failed (${result.shortMessage})${why === '' ? '' : `: ${why}`}`);
  }
  let printed: unknown;
  try {
    printed = JSON.parse(result.stdout);
  } catch {
    throw new Error(`${command} printed no JSON: ${result.stdout.slice(0, 200)}`);
  }
  try {
    return parseContract(printed);
  } catch (err) {
    throw new Error(`${command} printed a contract the gateway cannot read: ${err instanceof Error ? err.message : String(err)}`);
  }
}
