"""The rapidocr engine: models from the wheel, French text and numbers, rows, orientation, and an
`unavailable` that names what is missing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from mdso_sidecar.engines.rapidocr import MODEL_FILES, RapidocrEngine, bundled_model_dir
from mdso_sidecar.errors import BadOption, EngineUnavailable
from mdso_sidecar.pipeline import Pipeline
from mdso_sidecar.settings import load_settings

from .conftest import EXPECTED, FIXTURES, loaded_engine
from .test_pipeline import run
from .test_reading_order import _table_image


def _engine(**env: str) -> RapidocrEngine:
    return loaded_engine(RapidocrEngine, "rapidocr", **env)


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(_engine(), max_pages=10)


@pytest.mark.parametrize("name", ["Devis_test.png", "Devis_test.pdf"])
def test_reads_client_fixtures(pipeline: Pipeline, name: str) -> None:
    (page,) = run(pipeline, FIXTURES / name).pages
    for expected in (*EXPECTED, "FR86504321234", "123 rue de l’échiquier"):
        assert expected in page.text, page.text


def test_table_read_row_by_row(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "table.png"
    _table_image().save(path)
    rows = run(pipeline, path).pages[0].text.splitlines()
    assert "Pompe à chaleur air/eau 1 8 450,00" in rows
    assert "Total TTC 16 245,00" in rows


def test_turned_page_is_read_upright(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "turned.png"
    with Image.open(FIXTURES / "Devis_test.png") as image:
        image.convert("RGB").rotate(90, expand=True, fillcolor="white").save(path)
    (page,) = run(pipeline, path).pages
    assert page.rotation == 90
    assert "SIRET 12345678900000" in page.text


def test_options_rejected_by_name(pipeline: Pipeline) -> None:
    with pytest.raises(BadOption, match="unknown option 'lang'"):
        pipeline.engine.parse_options({"lang": "fra"})


def test_models_come_from_the_wheel() -> None:
    folder = bundled_model_dir()
    assert folder is not None
    assert all((folder / name).is_file() for name in MODEL_FILES.values())


def test_missing_models_make_it_unavailable_naming_the_directory(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable) as caught:
        _engine(RAPIDOCR_MODEL_DIR=str(tmp_path))
    message = str(caught.value)
    assert str(tmp_path) in message
    assert all(name in message for name in MODEL_FILES.values())
    assert "requirements-rapidocr.txt" in message


def test_damaged_models_make_it_unavailable(tmp_path: Path) -> None:
    for name in MODEL_FILES.values():
        (tmp_path / name).write_bytes(b"not an onnx model")
    with pytest.raises(EngineUnavailable, match=f"could not load its models from {tmp_path}"):
        _engine(RAPIDOCR_MODEL_DIR=str(tmp_path))


def test_a_page_read_alone_uses_every_core_pages_side_by_side_one_each() -> None:
    # The readers' thread counts, as the engine asks for them: the first page is held inside its
    # reading while a second starts.
    engine = RapidocrEngine(load_settings("rapidocr", {"OCR_THREADS": "2"}))
    asked: list[int] = []
    hold, inside, release = threading.Event(), threading.Event(), threading.Event()
    real = engine._reader()

    def reader(threads: int = 1) -> Any:
        asked.append(threads)

        def read(image: Image.Image, **kwargs: Any) -> Any:
            if hold.is_set() and not inside.is_set():
                inside.set()
                release.wait(timeout=600)
            return real(image, **kwargs)

        return read

    engine._reader = reader  # type: ignore[method-assign]
    page = Image.open(FIXTURES / "Devis_test.png")
    alone = engine.recognize_page(page, {})
    assert asked == [2] and "SIRET 12345678900000" in alone.text
    asked.clear()
    hold.set()
    first = threading.Thread(target=engine.recognize_page, args=(page, {}))
    first.start()
    assert inside.wait(timeout=600)
    beside = engine.recognize_page(page, {})
    release.set()
    first.join()
    assert asked == [2, 1] and "SIRET 12345678900000" in beside.text
    # Both finished: the next page is alone again.
    asked.clear()
    engine.recognize_page(page, {})
    assert asked == [2]
