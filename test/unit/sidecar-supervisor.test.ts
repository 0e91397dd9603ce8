// The interpreter a sidecar runs on, found by the supervisor when it starts one (loadConfig only
// validates): <SERVICE>_PYTHON, the service's own venv from the engine registry, PYTHON, the main venv.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { sidecarInterpreter } from '../../gateway/src/primary/sidecar-supervisor.js';
import type { Registry } from '../../gateway/src/services.js';

const REGISTRY: Registry = {
  python: { venv: '.venv', requirements: [], devRequirements: [] },
  services: [
    { name: 'tesseract', venv: '.venv', requirements: [] },
    { name: 'marker', venv: '.venv-marker', requirements: [] },
  ],
};

describe('sidecarInterpreter', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'mdso-interpreter-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const venv = (name: string): string => {
    const python = path.join(root, name, 'bin', 'python');
    mkdirSync(path.dirname(python), { recursive: true });
    writeFileSync(python, '');
    return python;
  };
  const find = (name: string, own: string | undefined, configured: string): string =>
    sidecarInterpreter({ name, cudaVisibleDevices: undefined, python: own }, configured, root, REGISTRY);

  it('falls back to python3 on a bare checkout, and to PYTHON when set', () => {
    assert.equal(find('tesseract', undefined, ''), 'python3');
    assert.equal(find('marker', undefined, ''), 'python3');
    assert.equal(find('marker', undefined, '/opt/py'), '/opt/py');
  });

  it("runs a service in its own venv when it exists, before PYTHON; the others in the main venv unless PYTHON says", () => {
    const main = venv('.venv');
    assert.equal(find('tesseract', undefined, ''), main);
    assert.equal(find('tesseract', undefined, '/opt/py'), '/opt/py');
    assert.equal(find('marker', undefined, ''), main);
    const marker = venv('.venv-marker');
    assert.equal(find('marker', undefined, '/opt/py'), marker);
  });

  it('takes <SERVICE>_PYTHON over everything', () => {
    assert.equal(find('marker', '/opt/marker/python', '/opt/py'), '/opt/marker/python');
  });
});
