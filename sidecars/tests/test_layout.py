"""format=json: each page's layout (layout.py), from the engines' own readings. Word boxes land on the
words of a page drawn with known words at known positions; a turned page's boxes are upright and
`to_input` maps them back onto the image as handed; the text is the default answer's, byte for byte;
the default path computes no layout at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium  # type: ignore[import-untyped]
import pytest
from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from mdso_sidecar.engines.base import DocumentJob, Engine, EngineOptions, PageText
from mdso_sidecar.engines.hybrid import HybridEngine
from mdso_sidecar.engines.rapidocr import RapidocrEngine
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.intake import PdfDocument, RenderPolicy
from mdso_sidecar.layout import (
    IDENTITY,
    Box,
    PageLayout,
    apply,
    compose,
    invert,
    layout_json,
    page_level,
    text_layer_layout,
    turned,
)
from mdso_sidecar.pipeline import Pipeline
from mdso_sidecar.server import _page_json
from mdso_sidecar.settings import load_settings

from .conftest import FIXTURES, loaded_engine
from .test_pipeline import run

# Words drawn on a white page at 150 dpi, each line at a known place (x, y of its first word).
LINES = (
    ("Devis numero 2024", (120, 160)),
    ("Pompe chaleur installation", (120, 300)),
    ("Total TTC 8450 euros", (120, 440)),
    ("Entreprise Martin Paris", (640, 620)),
    ("Garantie decennale assurance", (120, 800)),
    ("Signature client acceptation", (120, 980)),
)
PAGE_SIZE = (1240, 1754)


def drawn_page() -> tuple[Image.Image, dict[str, Box]]:
    """A page of known words, and the box each word was drawn in (textbbox)."""
    image = Image.new("L", PAGE_SIZE, 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=44)
    truth: dict[str, Box] = {}
    for line, (start, y) in LINES:
        x = float(start)
        for word in line.split():
            left, top, right, bottom = draw.textbbox((x, y), word, font=font)
            draw.text((x, y), word, fill=0, font=font)
            truth[word] = Box(left, top, right, bottom)
            x = right + draw.textlength(" ", font=font)
    return image, truth


def overlap(a: Box, b: Box) -> float:
    """Intersection over the smaller box's area."""
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a.right - a.left) * (a.bottom - a.top), (b.right - b.left) * (b.bottom - b.top))
    return width * height / smaller


def assert_words_on_truth(layout: PageLayout, truth: dict[str, Box], at_least: int) -> None:
    found = {w.text: w for w in layout.words() if w.text in truth}
    assert len(found) >= at_least, sorted(found)
    for text, word in found.items():
        assert overlap(word.box, truth[text]) > 0.6, (text, word.box, truth[text])
        assert 0.0 <= word.conf <= 1.0


def json_of(engine: Engine, image: Image.Image) -> PageText:
    return engine.recognize_page(image, {"format": "json"})


@pytest.fixture(scope="module")
def tesseract() -> TesseractEngine:
    return loaded_engine(TesseractEngine, "tesseract")


@pytest.fixture(scope="module")
def rapidocr() -> RapidocrEngine:
    return loaded_engine(RapidocrEngine, "rapidocr")


def test_tesseract_word_boxes_land_on_the_words(tesseract: TesseractEngine) -> None:
    image, truth = drawn_page()
    read = json_of(tesseract, image)
    assert read.layout is not None and read.layout.granularity == "word"
    assert (read.layout.width, read.layout.height) == PAGE_SIZE
    assert read.layout.to_input == IDENTITY
    assert_words_on_truth(read.layout, truth, at_least=len(truth) - 2)
    # Lines hold their words, blocks their lines, as Tesseract grouped them.
    lines = [line.text for block in read.layout.blocks for line in block.lines]
    assert "Pompe chaleur installation" in lines


def test_default_reading_computes_no_layout(tesseract: TesseractEngine, rapidocr: RapidocrEngine) -> None:
    image, _ = drawn_page()
    assert tesseract.recognize_page(image, {}).layout is None
    assert rapidocr.recognize_page(image, {}).layout is None


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_turned_page_boxes_are_upright_and_map_back_to_the_input(
    tesseract: TesseractEngine, turn: int
) -> None:
    image, truth = drawn_page()
    # PIL turns counter-clockwise: the engine turns it back `turn` degrees clockwise.
    handed = image.rotate(turn, expand=True, fillcolor=255)
    read = json_of(tesseract, handed)
    assert read.rotation == turn
    assert read.layout is not None
    assert (read.layout.width, read.layout.height) == PAGE_SIZE
    assert_words_on_truth(read.layout, truth, at_least=10)
    # Back on the image as handed: where PIL's turn put each true box.
    for word in read.layout.words():
        if word.text not in truth:
            continue
        corners = [apply(read.layout.to_input, x, y) for x, y in _corners(word.box)]
        expected = [_pil_turned(turn, x, y) for x, y in _corners(truth[word.text])]
        assert overlap(_around(corners), _around(expected)) > 0.6, word.text


def test_photo_to_input_maps_onto_the_photo(tesseract: TesseractEngine) -> None:
    """A sheet photographed on a desk: the boxes are in the straightened sheet's pixels, and to_input
    (the inverse of the straightening warp) puts each word back where it stands in the photo."""
    sheet, truth = drawn_page()
    photo = Image.new("L", (1800, 2400), 60)
    photo.paste(sheet.resize((1240, 1754)), (280, 320))
    read = json_of(tesseract, photo)
    assert read.layout is not None and (read.meta or {}).get("photo")
    assert read.layout.to_input != IDENTITY
    placed = {w: Box(b.left + 280, b.top + 320, b.right + 280, b.bottom + 320) for w, b in truth.items()}
    found = [w for w in read.layout.words() if w.text in placed]
    assert len(found) >= 10
    for word in found:
        corners = [apply(read.layout.to_input, x, y) for x, y in _corners(word.box)]
        assert overlap(_around(corners), placed[word.text]) > 0.6, word.text


def test_rapidocr_line_and_word_boxes(rapidocr: RapidocrEngine) -> None:
    image, truth = drawn_page()
    default = rapidocr.recognize_page(image, {})
    read = json_of(rapidocr, image)
    assert read.text == default.text
    assert read.layout is not None and read.layout.granularity in ("word", "line")
    lines = {line.text: line for block in read.layout.blocks for line in block.lines}
    line = lines["Total TTC 8450 euros"]
    assert overlap(line.box, Box.around(truth[w] for w in ("Total", "TTC", "8450", "euros"))) > 0.6
    assert 0.0 <= line.conf <= 1.0
    if read.layout.granularity == "word":
        assert_words_on_truth(read.layout, truth, at_least=12)


@pytest.fixture(scope="module")
def pipelines(tesseract: TesseractEngine, rapidocr: RapidocrEngine) -> Iterator[dict[str, Pipeline]]:
    hybrid = HybridEngine(load_settings("hybrid", {"OCR_THREADS": "2"}))
    hybrid.tesseract, hybrid.rapidocr = tesseract, rapidocr
    # Every page read by rapidocr too, and its reading answered: its boxes, from its own render.
    always = {"OCR_THREADS": "2", "HYBRID_MIN_CONFIDENCE": "100"}
    hybrid_rapidocr = HybridEngine(load_settings("hybrid", always))
    hybrid_rapidocr.tesseract, hybrid_rapidocr.rapidocr = tesseract, rapidocr
    engines: dict[str, Engine] = {
        "tesseract": tesseract, "rapidocr": rapidocr, "hybrid": hybrid, "hybrid-rapidocr": hybrid_rapidocr
    }
    made = {name: Pipeline(engine, max_pages=10) for name, engine in engines.items()}
    yield made
    for pipeline in made.values():
        pipeline.shutdown()


@pytest.mark.parametrize("service", ["tesseract", "rapidocr", "hybrid", "hybrid-rapidocr"])
def test_json_text_is_the_default_text_byte_for_byte(
    pipelines: dict[str, Pipeline], service: str, tmp_path: Path
) -> None:
    image, _ = drawn_page()
    turned_page = image.rotate(90, expand=True, fillcolor=255)
    path = tmp_path / "pages.tif"
    image.save(path, save_all=True, append_images=[turned_page], dpi=(150, 150))
    default = run(pipelines[service], path)
    asked = run(pipelines[service], path, format="json")
    assert [p.text for p in asked.pages] == [p.text for p in default.pages]
    assert [p.text.encode() for p in asked.pages] == [p.text.encode() for p in default.pages]
    for page in default.pages:
        assert page.layout is None and page.geometry is None and "layout" not in _page_json(page)
    if service == "hybrid-rapidocr":
        assert {p.source for p in asked.pages} == {"ocr:rapidocr"}
    for page in asked.pages:
        body = _page_json(page)["layout"]
        assert body["dpi"] == pytest.approx(150, rel=0.01)
        assert (body["width"], body["height"]) == PAGE_SIZE
        assert body["width_pt"] == pytest.approx(PAGE_SIZE[0] * 72 / 150, abs=1)
        assert body["granularity"] in ("word", "line")
        assert "Total TTC 8450 euros" in [line["text"] for b in body["blocks"] for line in b["lines"]]
        for block in body["blocks"]:
            for line in block["lines"]:
                for word in line["words"]:
                    left, top, right, bottom = word["box"]
                    assert 0 <= left <= right <= body["width"] and 0 <= top <= bottom <= body["height"]
                    assert 0 <= word["conf"] <= 1


def test_text_layer_boxes_from_a_generated_pdf(pipelines: dict[str, Pipeline], tmp_path: Path) -> None:
    """mode=auto on a born-digital page: the words are the PDF's, their boxes its characters', in the
    pixels of the render OCR would have read (300 dpi: 1 pt = 300/72 px, origin top-left)."""
    path = tmp_path / "digital.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    pdf.setFont("Helvetica", 12)
    placed = {"Facture": (72, 760), "SIRET": (72, 700), "12345678900000": (120, 700), "Total": (300, 500)}
    for word, (x, y) in placed.items():
        pdf.drawString(x, y, word)
    pdf.drawString(72, 400, "Une ligne de texte assez longue pour passer le seuil du mode auto.")
    pdf.save()
    (page,) = run(pipelines["tesseract"], path, mode="auto", format="json").pages
    assert page.source == "text-layer" and page.layout is not None
    assert page.layout.granularity == "word"
    scale = 300 / 72
    assert (page.layout.width, page.layout.height) == (round(A4[0] * scale), round(A4[1] * scale) + 1) or (
        abs(page.layout.width - A4[0] * scale) <= 1 and abs(page.layout.height - A4[1] * scale) <= 1
    )
    words = {w.text: w for w in page.layout.words()}
    for word, (x, y) in placed.items():
        box = words[word].box
        # The baseline at y points from the bottom; Helvetica's capitals stand ~8.6 pt above it.
        assert abs(box.left - x * scale) < 2 * scale, word
        assert abs(box.bottom - (A4[1] - y) * scale) < 3 * scale, word
        assert box.top < box.bottom and words[word].conf == 1.0
    assert page.text == run(pipelines["tesseract"], path, mode="auto").pages[0].text


def test_text_layer_grouping() -> None:
    chars = [
        ("A", (0, 0), (10, 20)), ("b", (10, 5), (18, 20)), (" ", (18, 20), (18, 20)),
        ("c", (25, 5), (33, 20)),
        ("\r", (33, 20), (33, 20)), ("\n", (33, 20), (33, 20)),
        ("d", (0, 30), (8, 50)), ("’", (9, 30), (11, 36)), ("é", (12, 30), (20, 50)),
        ("x", (0, 200), (8, 220)),
    ]
    layout = text_layer_layout(chars, 100, 300)
    assert [[line.text for line in block.lines] for block in layout.blocks] == [["Ab c", "d’é"], ["x"]]


class _NoLayout(Engine):
    """A reader that gives text and no positions (as the VLMs do)."""

    name = "tesseract"

    def load(self) -> None:
        pass

    def describe(self) -> str:
        return "no layout"

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        return PageText(text="Devis 42\n\nTotal 100", rotation=90)


def test_readers_without_positions_answer_the_page_level_layout(tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    Image.new("L", (600, 800), 255).save(path, dpi=(200, 200))
    pipeline = Pipeline(_NoLayout(load_settings("tesseract", {"OCR_THREADS": "1"})), max_pages=1)
    try:
        (page,) = run(pipeline, path, format="json").pages
    finally:
        pipeline.shutdown()
    assert page.layout is not None and page.layout.granularity == "page"
    body: dict[str, Any] = _page_json(page)["layout"]
    assert "no positions" in body["note"]
    # Turned 90 degrees: the upright page is 800 x 600.
    assert (body["width"], body["height"]) == (800, 600)
    (block,) = body["blocks"]
    assert block["box"] == [0, 0, 800, 600]
    assert [line["text"] for line in block["lines"]] == ["Devis 42", "Total 100"]
    for line in block["lines"]:
        assert line["conf"] is None and line["words"][0]["box"] == [0, 0, 800, 600]


def test_page_level_and_homographies() -> None:
    assert page_level("", 10, 20).blocks == ()
    for rotation in (0, 90, 180, 270):
        back = turned(rotation, 300, 200)
        # A turn's homography and its inverse compose to the identity.
        assert compose(back, invert(back)) == pytest.approx(IDENTITY)
    # Turned 90 clockwise, the top-left corner of the upright page was the input's bottom-left.
    assert apply(turned(90, 300, 200), 0, 0) == pytest.approx((0, 200))
    layout = page_level("a", 10, 20)
    assert layout_json(layout, None)["width_pt"] == pytest.approx(10 * 72 / 300, abs=0.01)


def _pil_turned(turn: int, x: float, y: float) -> tuple[float, float]:
    """Where Image.rotate(turn, expand=True) (counter-clockwise) puts a point of a PAGE_SIZE page."""
    width, height = PAGE_SIZE
    return {90: (y, width - x), 180: (width - x, height - y), 270: (height - y, x)}[turn]


def _corners(box: Box) -> list[tuple[float, float]]:
    return [(box.left, box.top), (box.right, box.top), (box.right, box.bottom), (box.left, box.bottom)]


def _around(points: list[tuple[float, float]]) -> Box:
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    return Box(min(xs), min(ys), max(xs), max(ys))


def test_sidecar_answers_the_layout_only_when_asked(sidecar_factory: Any) -> None:
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    data = (FIXTURES / "Devis_test.pdf").read_bytes()
    default = sidecar.client.post("/ocr", content=data).json()
    asked = sidecar.client.post("/ocr", content=data, params={"format": "json"}).json()
    assert "layout" not in default["pages"][0]
    assert asked["pages"][0]["text"] == default["pages"][0]["text"]
    layout = asked["pages"][0]["layout"]
    sizes = (layout["width"], layout["dpi"], layout["width_pt"], layout["granularity"])
    assert sizes == (2550, 300, 612, "word")
    words = [w["text"] for b in layout["blocks"] for line in b["lines"] for w in line["words"]]
    assert "12345678900000" in words
    for value, status, says in (
        ("markdown", 400, "format=markdown is not offered by tesseract; it offers text, json"),
        ("hocr", 400, "format=hocr is not available yet"),
        ("docx", 400, "format 'docx': expected one of text, json, markdown, hocr, alto, pdf"),
    ):
        refused = sidecar.client.post("/ocr", content=data, params={"format": value})
        assert refused.status_code == status and refused.json()["error"] == says
        assert refused.json()["type"] == "BadOption"
    assert sidecar.stop() == 0


class _WholeDocument(_NoLayout):
    """A whole-document reader (as marker is): pages read its own way, no positions."""

    whole_document = True

    def recognize_document(self, job: DocumentJob) -> list[PageText | Exception]:
        return [PageText(text=f"Page {page}") for page in job.pages]


def test_whole_document_readers_answer_the_page_level_layout_of_the_page(tmp_path: Path) -> None:
    """marker reads PDFs itself: the page's size is the one its render policy would give (A4 at the
    policy's 300 dpi)."""
    path = tmp_path / "two.pdf"
    pdf = canvas.Canvas(str(path), pagesize=A4)
    for _ in range(2):
        pdf.drawString(72, 760, "Devis")
        pdf.showPage()
    pdf.save()
    pipeline = Pipeline(_WholeDocument(load_settings("tesseract", {"OCR_THREADS": "1"})), max_pages=2)
    try:
        default = run(pipeline, path).pages
        pages = run(pipeline, path, format="json").pages
    finally:
        pipeline.shutdown()
    assert [p.layout for p in default] == [None, None]
    for page in pages:
        body = _page_json(page)["layout"]
        assert body["granularity"] == "page" and body["dpi"] == pytest.approx(300)
        assert (body["width_pt"], body["height_pt"]) == pytest.approx((A4[0], A4[1]), abs=0.5)
        assert body["blocks"][0]["lines"][0]["text"] == f"Page {page.page}"


def test_text_layer_of_a_page_displayed_turned(tmp_path: Path) -> None:
    """A PDF page with /Rotate 90: its words are grouped along its own text (not one line per
    character), and their boxes are where the render, displayed turned, shows them."""
    flat, turned_pdf = tmp_path / "flat.pdf", tmp_path / "turned.pdf"
    pdf = canvas.Canvas(str(flat), pagesize=A4)
    pdf.setFont("Helvetica", 24)
    pdf.drawString(72, 700, "Facture SIRET 12345678900000")
    pdf.save()
    document = pdfium.PdfDocument(str(flat))
    document[0].set_rotation(90)
    document.save(str(turned_pdf))
    document.close()
    opened = PdfDocument(turned_pdf)
    try:
        policy = RenderPolicy(pdf_dpi=100, grayscale=True)
        image = opened.render(1, policy)
        layout = opened.text_layer_layout(1, policy)
    finally:
        opened.close()
    assert (layout.width, layout.height) == image.size == (1170, 827)
    (block,) = layout.blocks
    (line,) = block.lines
    assert line.text == "Facture SIRET 12345678900000"
    ink = np.argwhere(np.asarray(image) < 128)
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0)
    assert abs(line.box.left - left) <= 2 and abs(line.box.right - right) <= 2
    assert abs(line.box.top - top) <= 2 and abs(line.box.bottom - bottom) <= 2
