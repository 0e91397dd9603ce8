"""The hybrid engine: Tesseract's reading when it is confident, rapidocr's when it is not, each page
saying which reader's text it is."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar.engines.hybrid import HybridEngine
from mdso_sidecar.engines.rapidocr import RapidocrEngine
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.errors import BadOption, EngineUnavailable
from mdso_sidecar.pipeline import Pipeline
from mdso_sidecar.settings import SettingsError, load_settings

from .conftest import EXPECTED, FIXTURES, loaded_engine
from .test_pipeline import run


def _engine(**env: str) -> HybridEngine:
    return loaded_engine(HybridEngine, "hybrid", **env)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(_engine(), max_pages=10)


@pytest.mark.parametrize("name", ["Devis_test.png", "Devis_test.pdf"])
def test_clean_pages_are_tesseract_s(pipeline: Pipeline, name: str) -> None:
    (page,) = run(pipeline, FIXTURES / name).pages
    for expected in EXPECTED:
        assert expected in page.text, page.text
    assert page.source == "ocr:tesseract"
    assert page.meta is not None
    assert page.meta["readers"] == ["tesseract"]
    assert page.meta["tesseract_confidence"] >= 86


def test_unconfident_reading_goes_to_rapidocr() -> None:
    # No reading is confident enough at 100: every page is read by both, rapidocr's text answered.
    pipeline = Pipeline(_engine(HYBRID_MIN_CONFIDENCE="100"), max_pages=10)
    (page,) = run(pipeline, FIXTURES / "Devis_test.png").pages
    assert page.source == "ocr:rapidocr"
    assert page.meta is not None and page.meta["readers"] == ["tesseract", "rapidocr"]
    for expected in ("SIRET 12345678900000", "FR86504321234", "Pompe à chaleur"):
        assert expected in page.text, page.text


def test_large_display_type_is_found(pipeline: Pipeline, tmp_path: Path) -> None:
    # A page whose only text is a title in a very large font.
    image = Image.new("L", (2480, 3508), 255)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 260)
    ImageDraw.Draw(image).text((500, 1500), "Page 1", fill=0, font=font)
    path = tmp_path / "title.png"
    image.save(path)
    (page,) = run(pipeline, path).pages
    assert "Page 1" in page.text, page
    assert not page.blank
    assert page.source == "ocr:rapidocr"


def test_blank_page_stays_blank(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.new("L", (1240, 1754), 255).save(path)
    (page,) = run(pipeline, path).pages
    assert page.blank and page.text == ""
    assert page.meta is not None and page.meta["readers"] == ["tesseract", "rapidocr"]


def test_takes_tesseract_s_options(pipeline: Pipeline) -> None:
    engine = pipeline.engine
    options = {"lang": "fra+eng", "layout": "blocks"}
    assert engine.parse_options(options) == options
    with pytest.raises(BadOption, match="unknown option 'dpi'"):
        engine.parse_options({"dpi": "300"})


def test_bad_confidence_setting_is_named() -> None:
    with pytest.raises(SettingsError, match="HYBRID_MIN_CONFIDENCE"):
        HybridEngine(load_settings("hybrid", {"HYBRID_MIN_CONFIDENCE": "150"}))


def test_unavailable_when_rapidocr_models_are_missing(tmp_path: Path) -> None:
    engine = HybridEngine(load_settings("hybrid", {"RAPIDOCR_MODEL_DIR": str(tmp_path)}))
    with pytest.raises(EngineUnavailable, match=str(tmp_path)):
        engine.load()


def test_each_reader_reads_what_its_own_service_reads(tmp_path: Path) -> None:
    # A JPEG: the grey decode Tesseract's service reads differs from a grey copy of a colour render,
    # and rapidocr reads colour. The hybrid's two readings must be the two services' readings.
    path = tmp_path / "quote.jpg"
    Image.open(FIXTURES / "Devis_test.png").convert("RGB").save(path, "JPEG", quality=80)
    tesseract = TesseractEngine(load_settings("tesseract", {}))
    tesseract.load()
    tesseract_only = run(Pipeline(tesseract, 10), path).pages[0]
    kept = run(Pipeline(_engine(HYBRID_MIN_CONFIDENCE="0"), 10), path).pages[0]
    assert kept.source == "ocr:tesseract" and kept.text == tesseract_only.text
    rapid = RapidocrEngine(load_settings("rapidocr", {}))
    rapid.load()
    rapidocr_only = run(Pipeline(rapid, 10), path).pages[0]
    handed = run(Pipeline(_engine(HYBRID_MIN_CONFIDENCE="100"), 10), path).pages[0]
    assert handed.source == "ocr:rapidocr" and handed.text == rapidocr_only.text
