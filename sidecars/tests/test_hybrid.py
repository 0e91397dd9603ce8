"""The hybrid engine: Tesseract's reading when it is confident, rapidocr's when it is not, each page
saying which reader's text it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar import layout as lay
from mdso_sidecar.engines.base import EngineOptions, PageText
from mdso_sidecar.engines.hybrid import HybridEngine
from mdso_sidecar.engines.line_merge import Piece, mended
from mdso_sidecar.engines.rapidocr import RapidocrEngine
from mdso_sidecar.engines.reading_order import Line, rows_text
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.errors import BadOption, EngineUnavailable
from mdso_sidecar.output_format import wants_layout
from mdso_sidecar.pipeline import Pipeline
from mdso_sidecar.settings import SettingsError, load_settings

from .conftest import EXPECTED, FIXTURES, loaded_engine
from .test_photo import AMOUNTS, LABELS, _page, _photo
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


# -- line by line: rapidocr's broken lines mended with Tesseract's words (line_merge.py) -------------

_TESSERACT_WORDS = [  # (text, box in the hybrid's page, confidence): two lines, the second indented
    ("Dobry", (100, 40, 260, 100), 0.7),
    ("den,", (280, 40, 380, 100), 0.6),
    ("pane.", (400, 40, 520, 100), 0.7),
    ("Z", (200, 140, 230, 200), 0.8),
    ("Bratislavy", (250, 140, 500, 200), 0.8),
    ("som", (520, 140, 600, 200), 0.8),
    ("odišiel", (620, 140, 800, 200), 0.7),
]
# rapidocr's reading of its own render, half the size: the first line with its accents, the second
# broken (a few letters scattered with spaces, at a low score).
_RAPIDOCR_LINES = [("Dobrý deň, pane.", (50, 20, 260, 50), 0.99), ("Z        d", (100, 70, 400, 100), 0.7)]


class _FakeTesseract:
    def __init__(self, confidence: int, text: str = "Dobry den, pane.\nZ Bratislavy som odišiel") -> None:
        self.confidence = confidence
        self.text = text
        self.layout_asked: list[bool] = []

    def reading(self, with_layout: bool) -> PageText:
        text = self.text
        if not with_layout:
            return PageText(text=text)
        words = tuple(lay.Word(t, lay.Box(*box), conf) for t, box, conf in _TESSERACT_WORDS)
        lines = (
            lay.Line(words[:3], lay.Box.around(w.box for w in words[:3]), 0.7),
            lay.Line(words[3:], lay.Box.around(w.box for w in words[3:]), 0.8),
        )
        block = lay.Block(lines, lay.Box.around(line.box for line in lines))
        return PageText(text=text, layout=lay.PageLayout(1000, 400, (block,), "word"))

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        return self.reading(wants_layout(options))

    def read_page(self, image: Image.Image, options: EngineOptions, layout_when: Any = None) -> PageText:
        asked = layout_when is not None and layout_when(self.confidence, self.reading(False).text, False)
        self.layout_asked.append(asked)
        return self.reading(wants_layout(options) or asked)

    def last_confidence(self) -> int:
        return self.confidence


class _FakeRapidocr:
    render_policy = RapidocrEngine.render_policy

    def __init__(self) -> None:
        self.calls = 0

    def read_lines(
        self, image: Image.Image, options: EngineOptions, orient: bool = True
    ) -> tuple[PageText, list[tuple[Line, float]]]:
        self.calls += 1
        lines = [(Line(box, None, text), score) for text, box, score in _RAPIDOCR_LINES]
        layout = None
        if wants_layout(options):
            rows = tuple(
                lay.Line((lay.Word(text, lay.Box(*box), score),), lay.Box(*box), score)
                for text, box, score in _RAPIDOCR_LINES
            )
            layout = lay.PageLayout(500, 200, (lay.Block(rows, lay.Box.around(r.box for r in rows)),), "line")
        return PageText(text=rows_text([line for line, _ in lines]), layout=layout), lines

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        return self.read_lines(image, options)[0]


def _hybrid_with(confidence: int, **text: str) -> tuple[HybridEngine, _FakeTesseract, _FakeRapidocr]:
    engine = HybridEngine(load_settings("hybrid", {}))
    tesseract, rapidocr = _FakeTesseract(confidence, **text), _FakeRapidocr()
    engine.tesseract, engine.rapidocr = tesseract, rapidocr  # type: ignore[assignment]
    return engine, tesseract, rapidocr


def _read(engine: HybridEngine, options: EngineOptions) -> PageText:
    page = Image.new("L", (1000, 400), 255)
    return engine.recognize_rendered(page, options, lambda _policy: Image.new("RGB", (500, 200), "white"))


@pytest.mark.parametrize("options", [{}, {"format": "json"}])
def test_a_line_rapidocr_broke_is_tesseract_s(options: EngineOptions) -> None:
    engine, tesseract, _ = _hybrid_with(confidence=70)
    page = _read(engine, options)
    # rapidocr's sound line stays rapidocr's (its accents), its broken one is Tesseract's words.
    assert page.text == "Dobrý deň, pane.\nZ Bratislavy som odišiel", page.text
    assert page.source == "ocr:rapidocr"
    assert page.meta is not None and page.meta["tesseract_lines"] == 1
    assert tesseract.layout_asked == [True]
    if options:
        assert page.layout is not None
        first, second = (line for block in page.layout.blocks for line in block.lines)
        assert first.text == "Dobrý deň, pane." and first.box == lay.Box(100, 40, 520, 100)
        # Tesseract's words where they stand on the page handed to the hybrid.
        expected = [(t, lay.Box(*box)) for t, box, _ in _TESSERACT_WORDS[3:]]
        assert [(w.text, w.box) for w in second.words] == expected
    else:
        assert page.layout is None


def test_a_confident_page_is_tesseract_s_alone() -> None:
    # Tesseract reads confidently: rapidocr is not run, and no layout is computed for a text request.
    engine, tesseract, rapidocr = _hybrid_with(90, text="Dobry den, pane. " * 4 + "Z Bratislavy som odišiel")
    page = _read(engine, {})
    assert page.source == "ocr:tesseract" and page.text == tesseract.reading(False).text
    assert page.layout is None and tesseract.layout_asked == [False] and rapidocr.calls == 0


def test_mended_only_a_broken_line() -> None:
    words = [Piece("Bratislavy", (0, 0, 10, 10), 0.8), Piece("som", (0, 0, 10, 10), 0.8)]
    assert mended("Z d", 0.7, words) == "Bratislavy som"
    assert mended("Bratislavy som", 0.7, words) is None  # as many letters: rapidocr's
    assert mended("Z d", 0.95, words) is None  # rapidocr sure of it
    assert mended("Z d", 0.7, [Piece(w.text, w.box, 0.3) for w in words]) is None  # Tesseract unsure
    assert mended("Z d", 0.7, []) is None  # nothing of Tesseract's there


# -- camera photos: read by both, rapidocr on the page as Tesseract found it: upright, straightened --


@pytest.mark.parametrize("turn", [0, 90])
def test_a_photo_is_read_by_both_as_tesseract_found_it(pipeline: Pipeline, tmp_path: Path, turn: int) -> None:
    # A quote photographed on a desk, in perspective, the sheet also turned a quarter in the frame.
    photo, _ = _photo(_quote_page())
    path = tmp_path / "photo.jpg"
    photo.rotate(turn, expand=True).save(path, quality=85)
    (page,) = run(pipeline, path).pages
    assert page.meta is not None and page.meta["readers"] == ["tesseract", "rapidocr"], page.meta
    assert page.meta["photo"] == "sheet straightened and evenly lit"
    assert page.source == "ocr:rapidocr" and page.rotation == turn  # rotate() turns counter-clockwise
    rows = page.text.splitlines()
    for label, amount in zip(LABELS, AMOUNTS, strict=True):
        # Each row read whole, label to amount: rapidocr read the page upright and flat.
        assert any(row.startswith(label.split()[0]) and row.endswith(amount) for row in rows), page.text


def _quote_page() -> Image.Image:
    """test_photo's table of amounts under a company's header and a paragraph, as a quote's first page."""
    page = _page()
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 30)
    header = ["SARL Chauffage Durand", "12 rue des Lilas 67000 Strasbourg", "Devis n° 2024-118 du 14/03/2024"]
    for i, line in enumerate(header):
        draw.text((120, 80 + 50 * i), line, fill=20, font=font)
    prose = [
        "Installation d'une pompe à chaleur air/eau et d'un ballon",
        "thermodynamique, isolation des combles perdus par soufflage,",
        "main d'oeuvre et mise en service comprises. Devis valable",
        "trois mois à compter de sa date d'émission.",
    ]
    for i, line in enumerate(prose):
        draw.text((120, 800 + 50 * i), line, fill=20, font=font)
    return page


def test_a_photo_s_json_boxes_land_on_its_words() -> None:
    # format=json of a photo read through the straightened, turned view: every word rapidocr read is
    # mapped back onto the photo where Tesseract found the same word.
    photo, _ = _photo(_quote_page())
    photo = photo.rotate(90, expand=True)
    engine = _engine()
    read = engine.recognize_rendered(photo.convert("L"), {"format": "json"}, lambda p: photo.convert(p.mode))
    own = engine.tesseract.read_page(photo.convert("L"), {"format": "json"})
    assert read.source == "ocr:rapidocr" and read.rotation == 90
    assert read.layout is not None and own.layout is not None

    def centres(layout: lay.PageLayout) -> dict[str, tuple[float, float]]:
        found: dict[str, tuple[float, float]] = {}
        for w in layout.words():
            middle = ((w.box.left + w.box.right) / 2, (w.box.top + w.box.bottom) / 2)
            found.setdefault(w.text, lay.apply(layout.to_input, *middle))
        return found

    ours, tesseract_s = centres(read.layout), centres(own.layout)
    shared = [w for w in ours if w in tesseract_s and len(w) >= 4]
    assert len(shared) >= 15, (ours, tesseract_s)
    for word in shared:
        (x, y), (tx, ty) = ours[word], tesseract_s[word]
        assert abs(x - tx) < 15 and abs(y - ty) < 15, (word, ours[word], tesseract_s[word])
