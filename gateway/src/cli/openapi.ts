// Prints the OpenAPI document a gateway with the default settings serves, built as the primary builds
// it (the sidecars' contract read from the Python package), without starting one: `npm run
// lint:openapi` lints it offline. PYTHON names the interpreter as for the gateway.
import { loadConfig } from '../config.js';
import { buildOpenApi } from '../api/openapi.js';
import { mainInterpreter, readSidecarContract } from '../sidecar-contract.js';

try {
  const contract = await readSidecarContract(mainInterpreter(process.env.PYTHON?.trim() ?? ''));
  process.stdout.write(`${JSON.stringify(buildOpenApi(loadConfig({}), contract))}\n`);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
