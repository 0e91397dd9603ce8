"""The tesseract service's `mode` option on a mixed PDF (pages with a text layer, a scanned page):
ocr reads every page, auto takes good text layers and OCRs the rest, text never OCRs. Also the text
layer's quality check and non-square fax pixels."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from PIL import Image

from mdso_sidecar.errors import BadOption
from mdso_sidecar.intake import ImageDocument, RenderPolicy, TextLayer, text_layer_of
from mdso_sidecar.pipeline import Pipeline
from mdso_sidecar.sniff import DocumentKind

from .conftest import text_page
from .test_pipeline import make_engine, run

LAYER_TEXT = "DEVIS D-2024-117 SIRET 123 456 789 00012 Total TTC 1 234,56 EUR"


def _text_pdf(path: Path, line: str) -> Path:
    """A one-page born-digital PDF: Helvetica text in a content stream (a real text layer)."""
    stream = f"BT /F1 16 Tf 60 760 Td ({line}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


@pytest.fixture(scope="module")
def mixed_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Page 1: text layer; page 2: a scanned image (no text layer); page 3: text layer."""
    tmp = tmp_path_factory.mktemp("modes")
    first = _text_pdf(tmp / "first.pdf", LAYER_TEXT)
    last = _text_pdf(tmp / "last.pdf", "Page 3/3 - Conditions de paiement : 30 jours fin de mois")
    scan = tmp / "scan.pdf"
    text_page("Facture 4242").save(scan, "PDF", resolution=150)
    merged = pdfium.PdfDocument.new()
    sources = [pdfium.PdfDocument(str(p)) for p in (first, scan, last)]
    try:
        for source in sources:
            merged.import_pages(source)
        path = tmp / "mixed.pdf"
        merged.save(str(path))
    finally:
        for source in sources:
            source.close()
        merged.close()
    return path


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(make_engine(), max_pages=200)


def test_mode_ocr_reads_every_page(pipeline: Pipeline, mixed_pdf: Path) -> None:
    for options in ({}, {"mode": "ocr"}):
        pages = run(pipeline, mixed_pdf, **options).pages
        assert [p.source for p in pages] == ["ocr", "ocr", "ocr"]
        assert "D-2024-117" in pages[0].text
        assert "4242" in pages[1].text
        assert all(p.meta is None for p in pages)


def test_mode_auto_uses_good_text_layers_and_ocrs_the_rest(pipeline: Pipeline, mixed_pdf: Path) -> None:
    first, second, third = run(pipeline, mixed_pdf, mode="auto").pages
    assert (first.source, first.text, first.blank) == ("text-layer", LAYER_TEXT, False)
    assert first.meta == {"text_layer_chars": len(LAYER_TEXT.replace(" ", "")), "unmapped_share": 0.0}
    assert second.source == "ocr"
    assert "Facture 4242" in second.text
    assert third.source == "text-layer"
    assert third.text.startswith("Page 3/3")


def test_mode_text_never_ocrs(pipeline: Pipeline, mixed_pdf: Path, tmp_path: Path) -> None:
    first, second, third = run(pipeline, mixed_pdf, mode="text").pages
    assert (first.source, first.text) == ("text-layer", LAYER_TEXT)
    assert (second.source, second.text, second.blank, second.error) == ("text-layer", "", True, None)
    assert second.meta is not None
    assert "no text layer" in str(second.meta["note"])
    assert third.source == "text-layer"
    image = tmp_path / "page.png"
    text_page("Facture 4242").save(image)
    (page,) = run(pipeline, image, mode="text").pages
    assert (page.text, page.blank) == ("", True)
    assert page.meta == {"note": "not a PDF: an image has no text layer"}


def test_mode_option_validated(pipeline: Pipeline) -> None:
    engine = pipeline.engine
    assert engine.parse_options({"mode": "auto", "lang": "fra"}) == {"mode": "auto", "lang": "fra"}
    with pytest.raises(BadOption, match="mode 'fast': expected ocr"):
        engine.parse_options({"mode": "fast"})
    with pytest.raises(BadOption, match="accepts: page_range, format, lang, mode"):
        engine.parse_options({"psm": "6"})


def test_text_layer_quality_decides() -> None:
    engine = make_engine()
    assert text_layer_of("a\r\nb\x00  \r\n") == TextLayer(text="a\nb", chars=2, unmapped=0)
    garbled = text_layer_of("\ufffd\ue001\ufffd" * 20 + "Total 120,00")
    assert garbled.unmapped == 60
    assert engine.from_text_layer(garbled, {"mode": "auto"}) is None  # OCR instead
    read = engine.from_text_layer(garbled, {"mode": "text"})
    assert read is not None and read.text == ""
    assert "map to no text" in str((read.meta or {})["note"])
    short = text_layer_of("Page 2")  # a page number over a scanned image: OCR reads the page
    assert engine.from_text_layer(short, {"mode": "auto"}) is None
    assert engine.from_text_layer(short, {"mode": "text"}) is not None


def test_fax_pixels_made_square(tmp_path: Path) -> None:
    path = tmp_path / "fax.tif"
    Image.new("1", (1700, 1100), 1).save(path, "TIFF", compression="group4", dpi=(200, 100))
    document = ImageDocument(path, DocumentKind.TIFF)
    image = document.render(1, RenderPolicy(image_max_side=10_000, grayscale=True))
    assert image.size == (1700, 2200)
