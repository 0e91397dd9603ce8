"""The tesseract engine through the real pipeline: fixtures read right, rotated pages turned upright,
failed pages reported, cancellation and deadline honoured. Faults come from engines subclassing the
real one.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar.engines.base import EngineOptions, PageText
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.errors import (
    BadOption,
    CorruptDocument,
    DeadlineExceeded,
    EngineUnavailable,
    NoPageRead,
    RequestCancelled,
)
from mdso_sidecar.page_range import parse_page_range
from mdso_sidecar.pipeline import JobControl, OcrResult, Pipeline
from mdso_sidecar.settings import load_settings
from mdso_sidecar.sniff import DocumentKind, sniff

from .conftest import EXPECTED, FIXTURES, text_page, write_tiff


def make_engine(cls: type[TesseractEngine] = TesseractEngine, **env: str) -> TesseractEngine:
    engine = cls(load_settings("tesseract", {"OCR_THREADS": "2", **env}))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(make_engine(), max_pages=200)


def run(pipeline: Pipeline, path: Path, control: JobControl | None = None, **options: str) -> OcrResult:
    kind = sniff(path.read_bytes()[:1024])
    page_range = parse_page_range(options.pop("page_range")) if "page_range" in options else None
    return pipeline.process(path, kind, page_range, options, control or JobControl("test"))


@pytest.mark.parametrize("name", ["Devis_test.png", "Devis_test.pdf"])
def test_reads_client_fixtures(pipeline: Pipeline, name: str) -> None:
    result = run(pipeline, FIXTURES / name)
    assert result.document_pages == 1
    (page,) = result.pages
    for expected in EXPECTED:
        assert expected in page.text
    assert page.error is None
    assert page.blank is False
    assert page.rotation == 0
    assert page.source == "ocr"


def test_multi_page_pdf_and_page_range(pipeline: Pipeline) -> None:
    result = run(pipeline, FIXTURES / "Devis_multi_pages.pdf")
    assert [(p.page, p.text) for p in result.pages] == [(1, "Page 1"), (2, "Page 2")]
    result = run(pipeline, FIXTURES / "Devis_multi_pages.pdf", page_range="2-")
    assert [(p.page, p.text) for p in result.pages] == [(2, "Page 2")]
    assert result.document_pages == 2


@pytest.mark.parametrize(("turn_ccw", "reported"), [(90, 90), (180, 180), (270, 270)])
def test_rotated_pages_turned_upright(
    pipeline: Pipeline, tmp_path: Path, turn_ccw: int, reported: int
) -> None:
    path = tmp_path / "rotated.png"
    Image.open(FIXTURES / "Devis_test.png").rotate(turn_ccw, expand=True).save(path)
    (page,) = run(pipeline, path).pages
    assert "SIRET 12345678900000" in page.text
    # PIL turned it counter-clockwise; the engine reports the clockwise turn that undid it.
    assert page.rotation == reported


def test_sparse_pages_survive_the_contrast_stretch(pipeline: Pipeline, tmp_path: Path) -> None:
    # One line of text on a small grey page (under 1 % ink), upscaled by the render policy: a 1 %
    # contrast cut would reach the paper and read page 2 as empty (seen on a 5-page TIFF).
    frames = []
    for n in range(1, 6):
        page = Image.new("L", (900, 1270), 255)
        font = ImageFont.load_default(size=60)
        ImageDraw.Draw(page).text((80, 100), f"Page {n} SIRET {n}2345", fill=0, font=font)
        frames.append(page)
    path = tmp_path / "sparse.tiff"
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_deflate")
    result = run(pipeline, path)
    assert [p.text for p in result.pages] == [f"Page {n} SIRET {n}2345" for n in range(1, 6)]


def test_blank_page_reported_blank(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("RGB", (1240, 1754), "white").save(path)
    (page,) = run(pipeline, path).pages
    assert (page.text, page.blank, page.error) == ("", True, None)


def test_lang_option_validated(pipeline: Pipeline) -> None:
    engine = pipeline.engine
    assert engine.parse_options({"lang": "eng"}) == {"lang": "eng"}
    assert engine.parse_options({"lang": "fra+eng"}) == {"lang": "fra+eng"}
    # `fra+eng` typed in a URL arrives as "fra eng"; a comma joins languages too; empty parts are dropped.
    for same in ["fra eng", "fra,eng", " fra ,  eng ", "fra+eng+"]:
        assert engine.parse_options({"lang": same}) == {"lang": "fra+eng"}, same
    for bad in ["xyz", "osd", "+"]:
        with pytest.raises(BadOption, match=r"installed languages: (\w+, )*eng, (\w+, )*fra\b") as refused:
            engine.parse_options({"lang": bad})
        installed = refused.value.details["installed"]
        assert installed == sorted(installed) and {"eng", "fra"} <= set(installed) and "osd" not in installed
    # What the declaration refuses (LANG's pattern), the installed languages are not even looked at.
    for bad in ["", "fra-eng", "fra;eng"]:
        with pytest.raises(BadOption, match=r"lang '.*': not of the expected form, e\.g\. fra\+eng"):
            engine.parse_options({"lang": bad})
    with pytest.raises(BadOption, match="unknown option 'dpi'"):
        engine.parse_options({"dpi": "300"})
    assert engine.describe() == "tesseract 5.5.4 (fra+eng)"


def test_missing_language_makes_engine_unavailable() -> None:
    engine = TesseractEngine(load_settings("tesseract", {"TESSERACT_LANG": "fra+xyz"}))
    with pytest.raises(EngineUnavailable) as caught:
        engine.load()
    assert "xyz.traineddata" in str(caught.value)
    assert str(engine.tessdata) in str(caught.value)


def test_missing_tessdata_dir_makes_engine_unavailable(tmp_path: Path) -> None:
    engine = TesseractEngine(load_settings("tesseract", {"TESSDATA_PREFIX": str(tmp_path / "none")}))
    with pytest.raises(EngineUnavailable, match="does not exist"):
        engine.load()


class FailingOnOddPages(TesseractEngine):
    """Fault injection: pages with "1" or "3" in their text crash the engine."""

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        read = super().recognize_page(image, options)
        if read.text.endswith(("1", "3")):
            raise RuntimeError("simulated engine crash")
        return read


def test_failed_pages_reported_and_all_failed_is_an_error(tmp_path: Path) -> None:
    pipeline = Pipeline(make_engine(FailingOnOddPages), max_pages=200)
    try:
        path = write_tiff(tmp_path / "three.tif", 3)
        result = run(pipeline, path)
        assert [(p.page, p.error is None) for p in result.pages] == [(1, False), (2, True), (3, False)]
        assert result.pages[0].text == ""
        assert result.pages[0].error == "the engine failed on this page (internal error)"
        assert "Traceback" not in (result.pages[0].error or "")
        with pytest.raises(NoPageRead) as caught:
            run(pipeline, path, page_range="1,3")
        assert [p["page"] for p in caught.value.details["pages"]] == [1, 3]
    finally:
        pipeline.shutdown()


def test_corrupt_single_image_is_corrupt_document(pipeline: Pipeline, tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    text_page("Bonjour").save(whole)
    path = tmp_path / "cut.png"
    path.write_bytes(whole.read_bytes()[:3000])
    with pytest.raises(CorruptDocument):
        run(pipeline, path)


class SlowPages(TesseractEngine):
    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        time.sleep(0.3)
        return PageText(text="page")


def test_cancel_skips_pages_not_started(tmp_path: Path) -> None:
    pipeline = Pipeline(make_engine(SlowPages, OCR_THREADS="1"), max_pages=200)
    try:
        path = write_tiff(tmp_path / "ten.tif", 10)
        control = JobControl("cancel-me")
        threading.Timer(0.45, control.cancel).start()
        started = time.monotonic()
        with pytest.raises(RequestCancelled):
            run(pipeline, path, control)
        assert time.monotonic() - started < 1.5
        assert control.pages_total == 10
        assert 1 <= control.pages_done <= 3
    finally:
        pipeline.shutdown()


def test_deadline_stops_new_pages(tmp_path: Path) -> None:
    pipeline = Pipeline(make_engine(SlowPages, OCR_THREADS="1"), max_pages=200)
    try:
        path = write_tiff(tmp_path / "ten.tif", 10)
        control = JobControl("late", deadline=time.time() + 0.45)
        with pytest.raises(DeadlineExceeded):
            run(pipeline, path, control)
        assert control.pages_done < 10
        with pytest.raises(DeadlineExceeded):
            run(pipeline, path, JobControl("already-late", deadline=time.time() - 1))
    finally:
        pipeline.shutdown()


def test_sniffed_kind_drives_the_reader(pipeline: Pipeline, tmp_path: Path) -> None:
    # A PNG named .pdf is read as the PNG it is.
    path = tmp_path / "devis.pdf"
    path.write_bytes((FIXTURES / "Devis_test.png").read_bytes())
    assert sniff(path.read_bytes()[:1024]) is DocumentKind.PNG
    assert "Nice" in run(pipeline, path).pages[0].text
