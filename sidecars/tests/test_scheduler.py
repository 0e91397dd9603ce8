"""The page scheduler: fair across requests (round-robin, not FIFO) and rendering pipelined with
recognition, measured with engines whose page costs are known sleeps."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from mdso_sidecar import intake
from mdso_sidecar.engines.base import EngineOptions, PageText
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.intake import RenderPolicy
from mdso_sidecar.pipeline import JobControl, OcrResult, Pipeline
from mdso_sidecar.settings import load_settings
from mdso_sidecar.sniff import DocumentKind

from .conftest import write_tiff

PAGE_S = 0.1


class TimedPages(TesseractEngine):
    """Every page takes PAGE_S of 'recognition'."""

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        time.sleep(PAGE_S)
        return PageText(text="page")


def make_pipeline(threads: int) -> Pipeline:
    engine = TimedPages(load_settings("tesseract", {"OCR_THREADS": str(threads)}))
    engine.load()
    return Pipeline(engine, max_pages=200)


def test_one_page_request_is_not_starved_by_a_30_page_one(tmp_path: Path) -> None:
    pipeline = make_pipeline(2)
    big, small = write_tiff(tmp_path / "big.tif", 30), write_tiff(tmp_path / "small.tif", 1)
    finished: dict[str, float] = {}

    def run(name: str, path: Path) -> OcrResult:
        result = pipeline.process(path, DocumentKind.TIFF, None, {}, JobControl(name))
        finished[name] = time.monotonic()
        return result

    try:
        started = time.monotonic()
        big_thread = threading.Thread(target=run, args=("big", big))
        other_big = threading.Thread(target=run, args=("big2", big))
        big_thread.start()
        other_big.start()
        time.sleep(5 * PAGE_S)  # both big ones are well under way
        small_sent = time.monotonic()
        result = run("small", small)
        big_thread.join()
        other_big.join()
    finally:
        pipeline.shutdown()
    assert [p.text for p in result.pages] == ["page"]
    # 60 pages on 2 threads: ~3 s. Round-robin serves the small page within about two page times
    # (the pages already rendered or being read); FIFO would put it behind ~55 pages.
    small_latency = finished["small"] - small_sent
    assert small_latency < 6 * PAGE_S, small_latency
    assert finished["big"] - finished["small"] > 1.5, (finished, started)
    assert finished["big2"] - finished["small"] > 1.5


def test_rendering_overlaps_recognition_with_one_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render = intake.ImageDocument.render

    def slow_render(self: intake.ImageDocument, page: int, policy: RenderPolicy) -> Image.Image:
        time.sleep(PAGE_S)
        return render(self, page, policy)

    monkeypatch.setattr(intake.ImageDocument, "render", slow_render)
    pipeline = make_pipeline(1)
    try:
        path = write_tiff(tmp_path / "ten.tif", 10)
        started = time.monotonic()
        result = pipeline.process(path, DocumentKind.TIFF, None, {}, JobControl("t"))
        elapsed = time.monotonic() - started
    finally:
        pipeline.shutdown()
    assert [p.page for p in result.pages] == list(range(1, 11))
    # Serial render-then-read would take 10 x 2 x PAGE_S = 2 s; pipelined ~11 x PAGE_S.
    assert elapsed < 1.6, elapsed


def test_page_engines_take_every_accepted_request() -> None:
    pipeline = make_pipeline(2)
    try:
        assert pipeline.request_slots(16) == 16
    finally:
        pipeline.shutdown()
