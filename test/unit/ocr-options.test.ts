// Query options of POST /ocr: the per-page flag, page ranges, languages, and clear 400s.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BadOption } from '../../gateway/src/api/errors.js';
import { normalizePageRange, parseOcrOptions } from '../../gateway/src/api/ocr-options.js';

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

  it('parses page ranges in linear time: adversarial values at the length cap answer at once', () => {
    // With the former backtracking pattern each value below took longer than the age of the universe.
    for (const value of [`${'1-  ,'.repeat(39)}x`, `${'1 - ,'.repeat(39)},`, `${'1-'.repeat(99)}`, ' '.repeat(199), `${'1,'.repeat(99)}-`]) {
      assert.equal(normalizePageRange(value), null, value.slice(0, 20));
      assert.throws(() => parseOcrOptions({ page_range: value }), BadOption);
    }
    assert.equal(normalizePageRange(' 1 - 3 ,7, 5 - '), '1-3,7,5-');
    assert.equal(normalizePageRange('12'), '12');
    for (const bad of ['', ',', '1,', ',1', '1 2', '1--2', '-3', '1-2-3', '1-a', 'x', '1-2 3']) assert.equal(normalizePageRange(bad), null, bad);
  });

  it('reads a language list joined by +, a space (what + becomes in a query string) or a comma', () => {
    for (const lang of ['fra+eng', 'fra eng', 'fra,eng', ' fra ,  eng ']) assert.deepEqual(parseOcrOptions({ lang }).sidecarQuery, { lang: 'fra+eng' });
  });

  it('refuses every option value above 200 characters before reading it', () => {
    for (const key of ['pages', 'page_range', 'lang', 'mode']) {
      assert.throws(() => parseOcrOptions({ [key]: '1'.repeat(201) }), (err: unknown) => err instanceof BadOption && /at most 200 characters/.test(err.message));
    }
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
