// Query options of POST /ocr: the per-page flag, page ranges (their characters: the grammar is the
// sidecar's), and every engine option as the sidecars' contract declares it. The contract is read from
// the Python package itself: nothing about an engine's options is written in this test or the gateway.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { BadOption, ServiceUnavailable } from '../../gateway/src/api/errors.js';
import { OUTPUT_FORMATS, documentedOptions, parseOcrOptions, parseRequestOptions } from '../../gateway/src/api/ocr-options.js';
import type { OptionSpec, SidecarContract } from '../../gateway/src/ipc/sidecar-wire.js';
import { mainInterpreter, readSidecarContract } from '../../gateway/src/sidecar-contract.js';

/** A value `spec` refuses; null when it takes any. */
function refusedValue(spec: OptionSpec): string | null {
  switch (spec.type) {
    case 'enum':
      return 'no-such-choice';
    case 'bool':
      return 'maybe';
    case 'int':
      return String(spec.maximum + 1);
    case 'str':
      return spec.pattern === null ? null : '\u0000!';
  }
}

const isBadOption = (pattern: RegExp, option?: string) => (err: unknown) =>
  err instanceof BadOption && err.status === 400 && pattern.test(err.message) && (option === undefined || err.details.option === option);

describe('parseOcrOptions', () => {
  let contract: SidecarContract;
  const parse = (query: Record<string, unknown>, service = 'tesseract') => parseOcrOptions(query, contract, service);

  before(async () => {
    contract = await readSidecarContract(mainInterpreter(''));
  });

  it('reads pages=true as the per-page flag', () => {
    assert.deepEqual(parse({ pages: 'true' }), { includePages: true, format: 'text', sidecarQuery: {} });
    assert.equal(parse({ pages: 'FALSE' }).includePages, false);
  });

  it('forwards a page range under the name the client used, for the sidecar to parse', () => {
    assert.deepEqual(parse({ pages: ' 1-3, 7 ' }).sidecarQuery, { pages: '1-3, 7' });
    assert.deepEqual(parse({ page_range: '2-', pages: 'true' }), { includePages: true, format: 'text', sidecarQuery: { page_range: '2-' } });
    assert.deepEqual(contract.page_range.names, ['page_range', 'pages']);
  });

  it("checks a range's characters only, in linear time: its grammar is the sidecar's (page_range.py)", () => {
    // Made of a range's characters: forwarded as they are, whatever their shape (the sidecar answers 400).
    for (const value of [`${'1 - ,'.repeat(39)},`, `${'1-'.repeat(99)}`, `${'1,'.repeat(99)}-`, '1 2', '0', '5-2']) {
      assert.deepEqual(parse({ page_range: value }).sidecarQuery, { page_range: value.trim() }, value.slice(0, 20));
    }
    // Anything else is refused at once, naming the option as the client wrote it.
    for (const value of [`${'1-  ,'.repeat(39)}x`, 'a-b', '١', '1\t2', '1;2']) {
      assert.throws(() => parse({ page_range: value }), isBadOption(/^Option 'page_range' must be a page range such as '1-3,7'/, 'page_range'));
      assert.throws(() => parse({ pages: value }), isBadOption(/^Option 'pages' must be true, false or a page range/, 'pages'));
    }
  });

  it('takes every option a service declares, with its example and default, and refuses it on the others', () => {
    const services = Object.entries(contract.services);
    assert.ok(services.some(([, s]) => s.options.length > 0), 'some service declares options');
    for (const [service, { options }] of services) {
      for (const spec of options) {
        for (const value of [spec.example, ...(spec.default === null ? [] : [spec.default])]) {
          assert.deepEqual(parse({ [spec.name]: value }, service).sidecarQuery, { [spec.name]: value }, `${service} ${spec.name}=${value}`);
        }
        const refused = refusedValue(spec);
        if (refused !== null) assert.throws(() => parse({ [spec.name]: refused }, service), isBadOption(new RegExp(`^${spec.name} '`), spec.name), `${service} ${spec.name}`);
        for (const [other, declared] of services) {
          if (declared.options.some((o) => o.name === spec.name)) continue;
          const accepted = ['pages', 'page_range', 'format', ...declared.options.map((o) => o.name)];
          assert.throws(
            () => parse({ [spec.name]: spec.example }, other),
            (err: unknown) =>
              isBadOption(new RegExp(`^unknown option '${spec.name}'; ${other} accepts: ${accepted.join(', ')}$`), spec.name)(err) &&
              JSON.stringify((err as BadOption).details.accepted) === JSON.stringify(accepted),
            `${other} ${spec.name}`,
          );
        }
      }
    }
  });

  it("knows the sidecar's formats: OUTPUT_FORMATS is the contract's list, text its default", () => {
    assert.deepEqual(contract.format, { choices: [...OUTPUT_FORMATS], default: 'text' });
  });

  it('takes format: text by default, json and the formats a service offers, passed on; 400 naming the accepted values or the services offering one', () => {
    assert.equal(parse({}).format, 'text');
    assert.deepEqual(parse({}).sidecarQuery, {});
    assert.deepEqual(parse({ format: 'json' }), { includePages: false, format: 'json', sidecarQuery: { format: 'json' } });
    assert.equal(parse({ format: 'JSON' }).format, 'json');
    for (const later of ['hocr', 'alto', 'pdf']) assert.equal(parse({ format: later }).format, later);
    assert.equal(parse({ format: 'markdown' }, 'nanonets').format, 'markdown');
    assert.throws(
      () => parse({ format: 'docx' }),
      (err: unknown) =>
        isBadOption(/^Option 'format' must be one of text, json, markdown, hocr, alto or pdf; got 'docx'\.$/, 'format')(err) &&
        JSON.stringify((err as BadOption).details.accepted) === JSON.stringify(['text', 'json', 'markdown', 'hocr', 'alto', 'pdf']),
    );
    for (const service of ['tesseract', 'rapidocr', 'hybrid']) {
      assert.throws(() => parse({ format: 'markdown' }, service), isBadOption(new RegExp(`^format=markdown is not offered by ${service}; it is offered by marker, nanonets, olmocr\\.`), 'format'));
    }
  });

  it('forwards a language list as given: the engine reads fra+eng, fra eng and fra,eng alike', () => {
    for (const lang of ['fra+eng', 'fra eng', 'fra,eng']) assert.deepEqual(parse({ lang }).sidecarQuery, { lang });
  });

  it('reads form fields before the file like the query, and the same option in both as given twice', () => {
    assert.deepEqual(parseRequestOptions({ pages: 'true' }, { mode: 'auto' }, contract, 'tesseract'), { includePages: true, format: 'text', sidecarQuery: { mode: 'auto' } });
    assert.throws(() => parseRequestOptions({ mode: 'auto' }, { mode: 'ocr' }, contract, 'tesseract'), isBadOption(/given more than once/, 'mode'));
  });

  it('refuses every option value above 200 characters before reading it', () => {
    for (const key of ['pages', 'page_range', 'lang', 'mode', 'no_such_option']) {
      assert.throws(() => parse({ [key]: '1'.repeat(201) }), isBadOption(/at most 200 characters/, key));
    }
  });

  for (const query of [{ pages: 'maybe' }, { page_range: 'a-b' }, { 'Bad-Name': '1' }, { lang: 'x'.repeat(300) }, { pages: ['1', '2'] }, { pages: '1', page_range: '2' }]) {
    it(`rejects ${JSON.stringify(query)} naming the option`, () => {
      assert.throws(
        () => parse(query),
        (err: unknown) => err instanceof BadOption && err.status === 400 && Object.keys(query).some((k) => err.message.includes(k.slice(0, 40))),
      );
    });
  }

  it('answers 503 when the gateway could not read the contract', () => {
    assert.throws(() => parseOcrOptions({}, null, 'tesseract'), (err: unknown) => err instanceof ServiceUnavailable && /contract/.test(err.message));
  });
});

describe('documentedOptions', () => {
  const contract = (services: SidecarContract['services']): SidecarContract => ({
    services,
    page_range: { names: ['page_range', 'pages'], doc: 'Pages to read.', example: '1-3,7', pattern: '^[0-9 ,-]+$' },
    booleans: { true: ['true', 'yes'], false: ['false', 'no'] },
    errors: [],
  });
  const size = (choices: string[], doc: string): OptionSpec => ({ name: 'size', type: 'enum', choices, doc, example: choices[0] ?? '', default: null });

  it('documents pages, the page range, then each option once, naming the services that declare it alike', () => {
    const docs = documentedOptions(
      contract({
        a: { options: [size(['s', 'm'], 'How big.'), { name: 'dpi', type: 'int', minimum: 72, maximum: 600, doc: 'Resolution.', example: '300', default: '150' }] },
        b: { options: [size(['s', 'm'], 'How big.')] },
        c: { options: [] },
      }),
    );
    assert.deepEqual(
      docs.map((d) => [d.name, d.services]),
      [
        ['pages', 'all'],
        ['page_range', 'all'],
        ['format', 'all'],
        ['size', ['a', 'b']],
        ['dpi', ['a']],
      ],
    );
    assert.deepEqual(docs[4]?.schema, { type: 'integer', minimum: 72, maximum: 600, default: 150 });
    assert.deepEqual(docs[1]?.schema, { type: 'string', pattern: '^[0-9 ,-]+$' });
  });

  it('documents an option two services declare differently with each declaration and its services', () => {
    const [, , , doc] = documentedOptions(contract({ a: { options: [size(['s', 'm'], 'Small sizes.')] }, b: { options: [size(['m', 'l'], 'Large sizes.')] } }));
    assert.deepEqual(doc?.services, ['a', 'b']);
    assert.deepEqual(doc?.schema, { type: 'string', enum: ['s', 'm', 'l'] });
    assert.equal(doc?.description, 'a: Small sizes. b: Large sizes.');
  });

  it("checks an int option's digits and bounds", () => {
    const c = contract({ a: { options: [{ name: 'dpi', type: 'int', minimum: 72, maximum: 600, doc: 'Resolution.', example: '300', default: null }] } });
    assert.deepEqual(parseOcrOptions({ dpi: '0300' }, c, 'a').sidecarQuery, { dpi: '0300' });
    for (const bad of ['71', '601', '-1', '3e2', '9'.repeat(30)]) {
      assert.throws(() => parseOcrOptions({ dpi: bad }, c, 'a'), isBadOption(/^dpi '.*': expected a whole number from 72 to 600$/, 'dpi'), bad);
    }
  });
});
