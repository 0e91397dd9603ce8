"""dots.ocr: its layout answers (recorded shapes: a quote page, a truncated answer, a page with only a
header and a footer, a table page, a loop) played by a fake OpenAI-compatible server to the real
engine and openai backend, and by a real sidecar process; the parsing, resizing and box rules; the
transformers backend's checks of a remote-code checkpoint; the unavailable path."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image

from mdso_sidecar.engines.dotsocr import (
    IMAGE_PLACEHOLDER,
    MODEL_ID,
    PROMPT,
    TEMPERATURES,
    DotsocrEngine,
)
from mdso_sidecar.engines.dotsocr_output import (
    FACTOR,
    MAX_PIXELS,
    MIN_PIXELS,
    Cell,
    LayoutAnswerError,
    page_text,
    parse_cells,
    reading_order,
    scale_boxes,
    smart_resize,
)
from mdso_sidecar.engines.vlm.backend import Generation
from mdso_sidecar.engines.vlm.openai_backend import OpenAIBackend
from mdso_sidecar.engines.vlm.profile import Accepted
from mdso_sidecar.engines.vlm.transformers_backend import TransformersBackend, remote_code_missing
from mdso_sidecar.errors import EngineUnavailable, ModelAnswerInvalid
from mdso_sidecar.layout import IDENTITY, layout_json
from mdso_sidecar.settings import load_settings

from ..conftest import FIXTURES, Sidecar
from .test_openai_backend import FakeOpenAI, completion, serve_fake

# -- recorded-shape answers of dots.ocr's layout prompt (boxes in the model's resize of the page) ----

HEADER = {"bbox": [98, 70, 1540, 126], "category": "Page-header", "text": "Devis n° 2024-117 du 12/03/2024"}
FOOTER = {
    "bbox": [140, 2250, 1510, 2300],
    "category": "Page-footer",
    "text": "Rénov SARL — SIRET 123 456 789 00012 — RGE E123456 — page 1/1",
}
TABLE_HTML = (
    "<table><thead><tr><th>Désignation</th><th>Qté</th><th>Prix HT</th></tr></thead><tbody>"
    "<tr><td>Pompe à chaleur air/eau</td><td>1</td><td>9 500,00 €</td></tr>"
    "<tr><td>Main d&#x27;oeuvre</td><td>8</td><td>480,00 €</td></tr></tbody></table>"
)
QUOTE_PAGE = [
    HEADER,
    {"bbox": [98, 160, 700, 220], "category": "Title", "text": "# DEVIS"},
    {"bbox": [1200, 150, 1560, 300], "category": "Picture"},
    {"bbox": [98, 320, 900, 420], "category": "Text", "text": "**Client :** M. Dupont\n75008 Paris"},
    {"bbox": [98, 500, 1560, 900], "category": "Table", "text": TABLE_HTML},
    {"bbox": [98, 950, 700, 1000], "category": "Formula", "text": "$$9980 \\times 1{,}2 = 11976$$"},
    FOOTER,
]
QUOTE_TEXT = (
    "Devis n° 2024-117 du 12/03/2024\n\n"
    "DEVIS\n\n"
    "Client : M. Dupont\n75008 Paris\n\n"
    "Désignation\tQté\tPrix HT\n"
    "Pompe à chaleur air/eau\t1\t9 500,00 €\n"
    "Main d'oeuvre\t8\t480,00 €\n\n"
    "$$9980 \\times 1{,}2 = 11976$$\n\n"
    "Rénov SARL — SIRET 123 456 789 00012 — RGE E123456 — page 1/1"
)
# The model read the footer first: the page's text still starts with the header.
FURNITURE_ONLY = [FOOTER, HEADER]
TABLE_ONLY = [{"bbox": [60, 80, 1600, 2200], "category": "Table", "text": TABLE_HTML}]
TRUNCATED = json.dumps(QUOTE_PAGE, ensure_ascii=False)[:300]
LOOPING = json.dumps([{"bbox": [1, 2, 3, 4], "category": "Text", "text": " ".join(["Total"] * 40)}])

PAGE_SIZE = (1654, 2339)  # A4 at dots.ocr's 200 dpi
SERVED = MODEL_ID


def answer(cells: list[dict[str, object]]) -> str:
    return json.dumps(cells, ensure_ascii=False)


# -- parsing and geometry ---------------------------------------------------------------------------


def test_prompt_is_the_layout_prompt() -> None:
    # The layout prompt (not the plain-OCR one, which drops page headers and footers), as dots.ocr wrote it.
    assert PROMPT.startswith("Please output the layout information from the PDF image, including each")
    assert "'Page-footer', 'Page-header'" in PROMPT and "Table: Format its text as HTML." in PROMPT
    assert PROMPT.endswith("The entire output must be a single JSON object.\n")


def test_smart_resize_follows_the_processor_rules() -> None:
    assert smart_resize(*PAGE_SIZE) == (1652, 2352)  # each side to the nearest multiple of 28
    assert smart_resize(10, 10) == (56, 56)  # grown to MIN_PIXELS
    for size in ((5000, 5000), (3000, 9000), (7, 3000), (1288, 910)):
        width, height = smart_resize(*size)
        assert width % FACTOR == 0 and height % FACTOR == 0
        assert MIN_PIXELS <= width * height <= MAX_PIXELS, size
    big = smart_resize(6000, 8000)
    assert abs(big[0] / big[1] - 0.75) < 0.02  # the aspect kept


def test_parse_and_text_of_a_quote_page() -> None:
    cells = parse_cells(answer(QUOTE_PAGE))
    assert [cell.category for cell in cells] == [str(c["category"]) for c in QUOTE_PAGE]
    assert cells[2].text == ""  # the picture has no text field
    assert page_text(reading_order(cells)) == QUOTE_TEXT


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (TRUNCATED, "not valid JSON"),
        ("", "not valid JSON"),
        ('{"cells": "none"}', "expected a list of cells"),
        ('[{"bbox": [1, 2, 3], "category": "Text", "text": "x"}]', "bbox is not"),
        ('[{"bbox": [1, 2, "a", 4], "category": "Text", "text": "x"}]', "not a number"),
        ('[{"bbox": [1, 2, 3, 4], "text": "x"}]', "no category"),
        ('[{"bbox": [1, 2, 3, 4], "category": "Text", "text": 5}]', "text is not a string"),
        ('["Devis"]', "cell 0 is not an object"),
        (LOOPING, "repeats 'Total'"),
        (answer([{"bbox": [1, 2, 3, 4], "category": "Text", "text": "01" * 40}]), "repeats '01'"),
    ],
)
def test_malformed_answers_are_refused(raw: str, why: str) -> None:
    with pytest.raises(LayoutAnswerError, match=why):
        parse_cells(raw)


def test_lenient_where_nothing_is_lost() -> None:
    # A fenced answer, one cell without its list, swapped corners, dot leaders and an empty page.
    fenced = "```json\n" + answer([HEADER]) + "\n```"
    assert parse_cells(fenced)[0].text == HEADER["text"]
    (single,) = parse_cells(json.dumps({"bbox": [30, 40, 10, 20], "category": "Text", "text": "a"}))
    assert single.box == (10, 20, 30, 40)
    for text in ("Total HT " + "." * 80 + " 9 980,00 €", "Signature : " + "_" * 60, "| --- " * 30):
        assert parse_cells(answer([{"bbox": [1, 2, 3, 4], "category": "Text", "text": text}]))
    assert parse_cells("[]") == []


def test_header_and_footer_are_kept_in_reading_order() -> None:
    cells = reading_order(parse_cells(answer(FURNITURE_ONLY)))
    assert [cell.category for cell in cells] == ["Page-header", "Page-footer"]
    assert page_text(cells) == f"{HEADER['text']}\n\n{FOOTER['text']}"


def test_boxes_scale_back_to_the_page() -> None:
    model_width, model_height = smart_resize(*PAGE_SIZE)
    cell = Cell("Text", (0, 0, model_width / 2, model_height), "x")
    (scaled,) = scale_boxes([cell], PAGE_SIZE, PAGE_SIZE)
    assert scaled.box == pytest.approx((0, 0, PAGE_SIZE[0] / 2, PAGE_SIZE[1]))
    # After an out-of-memory retry the model saw a smaller image: its boxes still land on the page.
    shown = (827, 1170)
    small_width, small_height = smart_resize(*shown)
    (scaled,) = scale_boxes([Cell("Text", (0, 0, small_width, small_height * 2), "x")], shown, PAGE_SIZE)
    assert scaled.box == (0, 0, PAGE_SIZE[0], PAGE_SIZE[1])  # clamped to the page


# -- the engine through a fake OpenAI-compatible server ------------------------------------------


class FakeDotsServer(FakeOpenAI):
    """FakeOpenAI (its script and records) serving the dots.ocr model name."""

    def do_GET(self) -> None:
        self._send(200, json.dumps({"object": "list", "data": [{"id": SERVED, "object": "model"}]}))


@pytest.fixture
def dots_server() -> Iterator[str]:
    yield from serve_fake(FakeDotsServer)


def dotsocr(endpoint: str, **env: str) -> DotsocrEngine:
    settings = load_settings(
        "dotsocr",
        {"DOTSOCR_BACKEND": "openai", "DOTSOCR_ENDPOINT": endpoint, "DOTSOCR_REQUEST_TIMEOUT": "5", **env},
    )
    engine = DotsocrEngine(settings)
    engine.load()
    assert isinstance(engine.backend, OpenAIBackend)
    engine.backend.backoff_s = 0.01
    return engine


@pytest.fixture
def a4() -> Iterator[Image.Image]:
    image = Image.new("RGB", PAGE_SIZE, "white")
    yield image
    image.close()


def test_quote_page_through_the_server(dots_server: str, a4: Image.Image) -> None:
    engine = dotsocr(dots_server)
    FakeOpenAI.script.append((200, completion(answer(QUOTE_PAGE)), 0))
    page = engine.recognize_page(a4, {})
    assert page.text == QUOTE_TEXT and page.source == "ocr" and page.rotation == 0
    assert page.meta is not None and page.meta["attempts"] == 1
    cells = page.meta["cells"]
    assert [cell["category"] for cell in cells] == [str(c["category"]) for c in QUOTE_PAGE]
    # Boxes in the page's pixels: the model's frame is 1652x2352 for a 1654x2339 page.
    assert cells[0]["bbox"] == [98, 70, 1542, 125]
    assert cells[-1]["bbox"] == [140, 2238, 1512, 2287]
    (body,) = FakeOpenAI.bodies
    assert body["model"] == SERVED and body["temperature"] == TEMPERATURES[0] == 0.1
    assert body["max_tokens"] == 16_384
    (user,) = body["messages"]  # no system turn
    image_part, text_part = user["content"]
    assert text_part == {"type": "text", "text": IMAGE_PLACEHOLDER + PROMPT}
    url = image_part["image_url"]["url"]
    assert Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).size == PAGE_SIZE


def test_format_json_gives_one_block_per_cell(dots_server: str, a4: Image.Image) -> None:
    engine = dotsocr(dots_server)
    FakeOpenAI.script.append((200, completion(answer(QUOTE_PAGE)), 0))
    page = engine.recognize_page(a4, {"format": "json"})
    assert page.text == QUOTE_TEXT  # the same text as without a layout
    layout = page.layout
    assert layout is not None and layout.granularity == "block"
    assert (layout.width, layout.height) == PAGE_SIZE and layout.to_input == IDENTITY
    # Every cell but the picture, in text order, each with its box in the page's pixels.
    kinds = [block.kind for block in layout.blocks]
    assert kinds == ["page-header", "title", "text", "table", "formula", "page-footer"]
    header, *_, footer = layout.blocks
    assert header.box.to_json() == [98, 70, 1542, 125] and footer.box.to_json() == [140, 2238, 1512, 2287]
    assert [line.text for line in footer.lines] == [
        "Rénov SARL — SIRET 123 456 789 00012 — RGE E123456 — page 1/1"
    ]
    table = layout.blocks[3]
    assert [line.text for line in table.lines][1] == "Pompe à chaleur air/eau\t1\t9 500,00 €"
    assert all(word.box == table.box for line in table.lines for word in line.words)
    # No confidence is claimed for a reader that measures none.
    answered = layout_json(layout, 200.0)
    assert answered["granularity"] == "block" and "no confidence" in answered["note"]
    assert all(line["conf"] is None for block in answered["blocks"] for line in block["lines"])
    # Without format, no layout is made.
    FakeOpenAI.script.append((200, completion(answer(QUOTE_PAGE)), 0))
    assert engine.recognize_page(a4, {}).layout is None


def test_truncated_answer_is_asked_again_warmer(dots_server: str, a4: Image.Image) -> None:
    engine = dotsocr(dots_server)
    FakeOpenAI.script += [
        (200, completion(TRUNCATED, finish="length"), 0),
        (200, completion(TRUNCATED), 0),  # cut off without saying so
        (200, completion(answer(FURNITURE_ONLY)), 0),
    ]
    page = engine.recognize_page(a4, {})
    assert [body["temperature"] for body in FakeOpenAI.bodies] == [0.1, 0.3, 0.5]
    assert page.source == "ocr" and page.meta is not None and page.meta["attempts"] == 3
    # A page with only a header and a footer: both are its text (the quote's number and ids live there).
    assert page.text == f"{HEADER['text']}\n\n{FOOTER['text']}"


def test_table_page_becomes_rows(dots_server: str, a4: Image.Image) -> None:
    engine = dotsocr(dots_server)
    FakeOpenAI.script.append((200, completion(answer(TABLE_ONLY)), 0))
    page = engine.recognize_page(a4, {})
    assert page.text.splitlines() == [
        "Désignation\tQté\tPrix HT",
        "Pompe à chaleur air/eau\t1\t9 500,00 €",
        "Main d'oeuvre\t8\t480,00 €",
    ]


def test_malformed_answers_fall_back_to_tesseract(dots_server: str, a4: Image.Image) -> None:
    engine = dotsocr(dots_server)
    FakeOpenAI.script += [
        (200, completion(TRUNCATED, finish="length"), 0),
        (200, completion(LOOPING), 0),
        (200, completion('{"layout": "not cells"}'), 0),
    ]
    page = engine.recognize_page(a4, {})
    assert len(FakeOpenAI.bodies) == len(TEMPERATURES)
    assert page.source == "fallback:tesseract"
    assert page.meta is not None and page.meta["attempts"] == 3
    assert "expected a list of cells" in page.meta["fallback_reason"]


def test_without_fallback_the_page_fails(dots_server: str, a4: Image.Image) -> None:
    engine = dotsocr(dots_server, DOTSOCR_FALLBACK="none", DOTSOCR_MAX_ATTEMPTS="1")
    FakeOpenAI.script.append((200, completion(TRUNCATED), 0))
    with pytest.raises(ModelAnswerInvalid, match="dotsocr gave no usable answer"):
        engine.recognize_page(a4, {})


# -- a real sidecar process, its model served by the fake server ----------------------------------

Factory = Callable[..., Sidecar]


def test_sidecar_reads_the_client_png_through_vllm(sidecar_factory: Factory, dots_server: str) -> None:
    env = {"DOTSOCR_BACKEND": "openai", "DOTSOCR_ENDPOINT": dots_server}
    sidecar = sidecar_factory(env, service="dotsocr")
    health = sidecar.wait_state("ready", timeout=60)
    assert health["model"] == f"{SERVED} (openai endpoint {dots_server}, model {SERVED})"
    FakeOpenAI.script.append((200, completion(answer(QUOTE_PAGE)), 0))
    response = sidecar.client.post("/ocr", content=(FIXTURES / "Devis_test.png").read_bytes())
    assert response.status_code == 200, response.text
    (page,) = response.json()["pages"]
    assert page["text"] == QUOTE_TEXT and page["source"] == "ocr" and page["error"] is None
    assert [cell["category"] for cell in page["meta"]["cells"]] == [str(c["category"]) for c in QUOTE_PAGE]
    width, height = Image.open(FIXTURES / "Devis_test.png").size
    for cell in page["meta"]["cells"]:  # in the render's pixels, within the page
        left, top, right, bottom = cell["bbox"]
        assert 0 <= left <= right <= width and 0 <= top <= bottom <= height
    # Garbage three times: tesseract reads the page, and the answer says so.
    FakeOpenAI.script += [(200, completion("quQu img tr f"), 0)] * 3
    response = sidecar.client.post("/ocr", content=(FIXTURES / "Devis_test.png").read_bytes())
    assert response.status_code == 200, response.text
    (page,) = response.json()["pages"]
    assert page["source"] == "fallback:tesseract" and "12345678900000" in page["text"]
    assert sidecar.stop() == 0


# -- in process: the remote-code checkpoint's checks, without its code -----------------------------


def test_in_process_backend_loads_the_checkpoints_own_code(tmp_path: Path) -> None:
    settings = load_settings("dotsocr", {"MODEL_DIR": str(tmp_path)})
    model = tmp_path / "dotsocr" / "dots_ocr"  # no period in the directory: see models.model_dir_name
    model.mkdir(parents=True)
    config = {
        "model_type": "dots_ocr",
        "auto_map": {
            "AutoConfig": "configuration_dots.DotsOCRConfig",
            "AutoModelForCausalLM": "modeling_dots_ocr.DotsOCRForCausalLM",
        },
    }
    (model / "config.json").write_text(json.dumps(config))
    engine = DotsocrEngine(settings)
    backend = engine.make_backend()
    assert isinstance(backend, TransformersBackend)
    assert backend.path == model and backend.remote_code and backend.model_class == "AutoModelForCausalLM"
    assert remote_code_missing(model, "AutoModelForCausalLM") == (
        "missing configuration_dots.py, modeling_dots_ocr.py"
    )
    # A snapshot copied without its code is unavailable (named), before torch is even imported.
    with pytest.raises(EngineUnavailable, match=r"incomplete: .*missing configuration_dots\.py"):
        backend.load()
    for name in ("configuration_dots.py", "modeling_dots_ocr.py"):
        (model / name).write_text("")
    assert remote_code_missing(model, "AutoModelForCausalLM") is None
    (model / "config.json").write_text(json.dumps({"model_type": "dots_ocr"}))
    assert "names no modelling code" in str(remote_code_missing(model, "AutoModelForCausalLM"))


def test_unavailable_without_weights(tmp_path: Path) -> None:
    engine = DotsocrEngine(load_settings("dotsocr", {"MODEL_DIR": str(tmp_path)}))
    with pytest.raises(EngineUnavailable) as caught:
        engine.load()
    message = str(caught.value)
    assert str(tmp_path / "dotsocr" / "dots_ocr") in message
    assert "scripts/download-models dotsocr" in message


def test_the_1_5_release_is_selectable(tmp_path: Path) -> None:
    engine = DotsocrEngine(load_settings("dotsocr", {"DOTSOCR_MODEL": "rednote-hilab/dots.mocr"}))
    assert engine.prompt == PROMPT  # dots.mocr was trained on the same layout prompt
    with pytest.raises(EngineUnavailable, match="dotsocr/dots_mocr"):
        DotsocrEngine(
            load_settings("dotsocr", {"DOTSOCR_MODEL": "rednote-hilab/dots.mocr", "MODEL_DIR": str(tmp_path)})
        ).load()
    # An empty page is an answer: no cell, no text.
    verdict = engine.profile.postprocess(Generation(text="[]", finish_reason="stop"), {})
    assert isinstance(verdict, Accepted) and verdict.text == "" and verdict.meta == {"cells": []}
