// The OCR services the gateway knows how to run as sidecars, read from the sidecars' engine registry
// (sidecars/mdso_sidecar/engines/services.json), the one list that the Python engines, scripts/bootstrap
// (through cli/env.ts) and scripts/download-models read too.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from './paths.js';

export const REGISTRY_FILE = path.join(projectRoot(), 'sidecars', 'mdso_sidecar', 'engines', 'services.json');

/** One service of the registry (the fields the gateway side reads). */
export interface ServiceEntry {
  name: string;
  /** The venv its sidecar runs in, relative to the project root. */
  venv: string;
  /** Requirement files (paths from the project root) installed into `venv` for it. */
  requirements: readonly string[];
}

export interface Registry {
  /** The main venv: every sidecar's runtime (`requirements`), the test tools (`devRequirements`). */
  python: { venv: string; requirements: readonly string[]; devRequirements: readonly string[] };
  services: readonly ServiceEntry[];
}

/** Reads and checks a registry file; throws naming the file and the entry that is wrong. */
export function readRegistry(file = REGISTRY_FILE): Registry {
  const bad = (what: string): Error => new Error(`${file}: ${what}`);
  const strings = (value: unknown, what: string): string[] => {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== '')) throw bad(`${what} must be a list of file names`);
    return value as string[];
  };
  const data = JSON.parse(readFileSync(file, 'utf8')) as {
    python?: { venv?: unknown; requirements?: unknown; dev_requirements?: unknown };
    services?: unknown;
  };
  const mainVenv = data.python?.venv;
  if (typeof mainVenv !== 'string' || mainVenv === '') throw bad('python.venv must name a directory');
  const python = {
    venv: mainVenv,
    requirements: strings(data.python?.requirements, 'python.requirements'),
    devRequirements: strings(data.python?.dev_requirements, 'python.dev_requirements'),
  };
  if (!Array.isArray(data.services) || data.services.length === 0) throw bad('services must be a non-empty list');
  const services: ServiceEntry[] = [];
  for (const raw of data.services as Array<Record<string, unknown>>) {
    const name = raw.name;
    if (typeof name !== 'string' || !/^[a-z][a-z0-9_]{0,31}$/.test(name)) throw bad(`bad service name ${JSON.stringify(name)}`);
    if (services.some((s) => s.name === name)) throw bad(`service ${name} is listed twice`);
    const venv = raw.venv ?? mainVenv;
    if (typeof venv !== 'string' || venv === '') throw bad(`${name}: venv must name a directory`);
    services.push({ name, venv, requirements: strings(raw.requirements, `${name}: requirements`) });
  }
  return { python, services };
}

export const REGISTRY = readRegistry();

/** Service names in registry order (that of /services examples, the OpenAPI enum and error messages). */
export const KNOWN_SERVICES = REGISTRY.services.map((s) => s.name) as [string, ...string[]];

/** A name from KNOWN_SERVICES (checked at run time: the list is data). */
export type ServiceName = string;

export function isKnownService(name: string): name is ServiceName {
  return KNOWN_SERVICES.includes(name);
}

export class BadEnabledServices extends Error {
  override name = 'BadEnabledServices';
}

/** ENABLED_SERVICES's word for "no local sidecar": a front box whose services all run elsewhere (REMOTE_SERVICES). */
export const NO_LOCAL_SERVICES = 'none';

/**
 * The services ENABLED_SERVICES names, as the gateway's configuration reads them: comma-separated,
 * trimmed, lower-case, each once, `hybrid` when unset or blank, none for `none` (the configuration
 * then requires REMOTE_SERVICES). BadEnabledServices names a bad value.
 */
export function enabledServices(value: string | undefined): ServiceName[] {
  if (value === undefined || value.trim() === '') return ['hybrid'];
  if (value.trim().toLowerCase() === NO_LOCAL_SERVICES) return [];
  const names: ServiceName[] = [];
  for (const raw of value.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '' || names.includes(name)) continue;
    if (!isKnownService(name)) {
      throw new BadEnabledServices(
        `ENABLED_SERVICES names unknown service ${JSON.stringify(name)} (known: ${KNOWN_SERVICES.join(', ')}; ${NO_LOCAL_SERVICES} alone for no local service)`,
      );
    }
    names.push(name);
  }
  if (names.length === 0) throw new BadEnabledServices(`ENABLED_SERVICES must name at least one service (or say ${NO_LOCAL_SERVICES})`);
  return names;
}

/** One requirement file to install into one venv. */
export interface Requirement {
  venv: string;
  file: string;
}

/**
 * What scripts/bootstrap installs for `services`: the main venv's runtime always, then each service's
 * files into its venv, each (venv, file) once, in that order. `dev` adds the test tools and every
 * service that runs in the main venv (the tests run them, the VLMs on a tiny checkpoint).
 */
export function requirementPlan(services: readonly ServiceName[], dev: boolean, registry = REGISTRY): Requirement[] {
  const plan: Requirement[] = [];
  const add = (venv: string, files: readonly string[]): void => {
    for (const file of files) if (!plan.some((r) => r.venv === venv && r.file === file)) plan.push({ venv, file });
  };
  add(registry.python.venv, registry.python.requirements);
  const wanted = registry.services.filter((s) => services.includes(s.name) || (dev && s.venv === registry.python.venv));
  for (const service of wanted) add(service.venv, service.requirements);
  if (dev) add(registry.python.venv, registry.python.devRequirements);
  return plan;
}
