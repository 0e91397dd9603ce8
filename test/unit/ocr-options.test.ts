// Query options of POST /ocr: the per-page flag, page ranges, languages, and clear 400s.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadOption } from '../../gateway/src/errors.js';
import { parseOcrOptions } from '../../gateway/src/worker/ocr-options.js';

describe('parseOcrOptions', () => {
  it('reads pages=true as the per-page flag', () => {
    assert.deepEqual(parseOcrOptions({ pages: 'true' }), { includePages: true, sidecarQuery: {} });
    assert.equal(parseOcrOptions({ pages: 'false' }).includePages, false);
  });

  it('reads a page range from pages or page_range', () => {
    assert.deepEqual(parseOcrOptions({ pages: '1-3, 7' }).sidecarQuery, { page_range: '1-3,7' });
    assert.deepEqual(parseOcrOptions({ page_range: '2-', pages: 'true' }), { includePages: true, sidecarQuery: { page_range: '2-' } });
  });

  it("forwards the engines' own options for the sidecar to validate", () => {
    assert.deepEqual(parseOcrOptions({ lang: 'fra+eng', format: 'text' }).sidecarQuery, { lang: 'fra+eng', format: 'text' });
  });

  for (const query of [{ pages: 'maybe' }, { page_range: 'a-b' }, { 'Bad-Name': '1' }, { lang: 'x'.repeat(300) }, { pages: ['1', '2'] }, { pages: '1', page_range: '2' }]) {
    it(`rejects ${JSON.stringify(query)} naming the option`, () => {
      assert.throws(
        () => parseOcrOptions(query),
        (err: unknown) => err instanceof BadOption && err.status === 400 && Object.keys(query).some((k) => err.message.includes(k.slice(0, 40))),
      );
    });
  }
});
