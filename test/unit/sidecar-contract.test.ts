// The sidecars' contract as the gateway reads it: printed by the Python package, checked once where it
// is read (a malformed one is refused saying where), and a command that fails says why.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseContract } from '../../gateway/src/ipc/sidecar-wire.js';
import { KNOWN_SERVICES } from '../../gateway/src/services.js';
import { mainInterpreter, readSidecarContract } from '../../gateway/src/sidecar-contract.js';

describe('the sidecars\' contract', () => {
  it('is read from the Python package: every known service, the page range, the error types', async () => {
    const contract = await readSidecarContract(mainInterpreter(''));
    assert.deepEqual(Object.keys(contract.services), KNOWN_SERVICES);
    assert.ok(contract.errors.some((e) => e.type === 'BadOption' && e.status === 400));
    assert.ok(contract.booleans.true.includes('true') && contract.booleans.false.includes('false'));
  });

  it('says why it could not be read', async () => {
    await assert.rejects(readSidecarContract('/bin/false'), /\/bin\/false -m mdso_sidecar --contract failed/);
    await assert.rejects(readSidecarContract('/nonexistent/python'), /--contract failed/);
  });

  it('refuses a malformed contract, saying where', () => {
    const good = {
      services: { a: { options: [{ name: 'mode', type: 'enum', choices: ['x', 'y'], doc: 'Mode.', example: 'x', default: null }] } },
      page_range: { names: ['page_range'], doc: 'Pages.', example: '1', pattern: '^[0-9 ,-]+$' },
      booleans: { true: ['true'], false: ['false'] },
      errors: [{ type: 'BadOption', status: 400, retry_after: null, when: 'a bad option' }],
    };
    assert.deepEqual(parseContract(good), good);
    const broken = (change: (c: typeof good) => void): unknown => {
      const c = structuredClone(good);
      change(c);
      return c;
    };
    for (const [contract, where] of [
      [broken((c) => Object.assign(c.services.a.options[0] ?? {}, { type: 'float' })), /services\.a\.options\[0\]\.type/],
      [broken((c) => Object.assign(c.services.a.options[0] ?? {}, { choices: 'x' })), /services\.a\.options\[0\]\.choices must be a list/],
      [broken((c) => Object.assign(c.page_range, { pattern: '[0-9]+' })), /page_range\.pattern must be anchored/],
      [broken((c) => Object.assign(c.page_range, { pattern: '^[0-9$' })), /page_range\.pattern: /],
      [broken((c) => Object.assign(c.errors[0] ?? {}, { status: 200 })), /errors\[0\]\.status: 200 is not an error status/],
      [broken((c) => Object.assign(c, { services: [] })), /services must be an object/],
    ] as const) {
      assert.throws(() => parseContract(contract), where);
    }
  });
});
