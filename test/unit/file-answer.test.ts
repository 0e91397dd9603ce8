// The download name of a file answer (format=hocr, alto, pdf): derived from the upload's name, safe
// in a header and on any file system, never the input's own name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { attachmentName, contentDisposition } from '../../gateway/src/worker/file-answer.js';

describe('file answer names', () => {
  it('keeps the upload name without its extension, with the format suffix', () => {
    assert.equal(attachmentName('Devis_test.pdf', 'pdf'), 'Devis_test.ocr.pdf');
    assert.equal(attachmentName('scan.jpeg', 'hocr'), 'scan.hocr');
    // A long run of spaces inside the name is cut, not trimmed in quadratic time.
    assert.equal(attachmentName(`a${' '.repeat(64_000)}b.pdf`, 'pdf'), 'a.ocr.pdf');
    assert.equal(attachmentName('scan.tiff', 'alto'), 'scan.alto.xml');
  });

  it('drops paths, separators, quotes and control characters', () => {
    assert.equal(attachmentName('../../etc/passwd', 'pdf'), 'passwd.ocr.pdf');
    assert.equal(attachmentName('C:\\Users\\x\\devis "2".pdf', 'pdf'), 'devis _2_.ocr.pdf');
    assert.equal(attachmentName('a\r\nSet-Cookie: x=1.pdf', 'pdf'), 'a__Set-Cookie_ x=1.ocr.pdf');
    assert.equal(attachmentName('...', 'pdf'), 'document.ocr.pdf');
    assert.equal(attachmentName(undefined, 'hocr'), 'document.hocr');
    assert.equal(attachmentName('x'.repeat(500) + '.pdf', 'pdf').length, 100 + '.ocr.pdf'.length);
  });

  it('says a non-ASCII name exactly (RFC 8187) and in ASCII for old clients', () => {
    const header = contentDisposition(attachmentName('Devis n°3 – Œuvre.pdf', 'pdf'));
    assert.equal(header, `attachment; filename="Devis n_3 _ _uvre.ocr.pdf"; filename*=UTF-8''Devis%20n%C2%B03%20%E2%80%93%20%C5%92uvre.ocr.pdf`);
    assert.doesNotMatch(header, /[\r\n]/);
  });
});
