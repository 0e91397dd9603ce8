"""RapidOCR: PaddleOCR's PP-OCRv6 text detector and multilingual recogniser (French accents, €, ², «»)
on onnxruntime, CPU. The models ship inside the rapidocr wheel (3.9+); nothing is downloaded.

Measured on the eval (docs/ACCURACY.md): it reads more of a quote's numbers than tesseract on phone
photos (numeric-token recall 0.993 vs 0.983), faxes (0.956 vs 0.899) and turned pages, level on scans,
at ~5x tesseract's time per page. Pages are turned upright with Tesseract's OSD (orientation.py) and
its boxes are read row by row (reading_order.py), like tesseract's lines.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from .. import layout as lay
from ..errors import EngineUnavailable
from ..intake import RenderPolicy
from ..log import get_logger
from ..models import NoWeights
from ..output_format import wants_layout
from ..settings import Settings, int_setting
from .base import Engine, EngineOptions, PageText
from .orientation import Orienter
from .reading_order import Line, rows_text

log = get_logger(__name__)

# The three models of the wheel (rapidocr 3.10.0), as RAPIDOCR_MODEL_DIR must hold them.
MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
# Nothing for scripts/download-models to fetch (its output says why).
WEIGHTS = NoWeights(
    "its PP-OCRv6 models come inside the rapidocr wheel (sidecars/requirements-rapidocr.txt), installed "
    "by scripts/bootstrap"
)
INSTALL = (
    "pip install -r sidecars/requirements-rapidocr.txt (bash scripts/bootstrap does it when rapidocr is "
    "enabled)"
)
# Threads onnxruntime may use for a page read while no other is (RAPIDOCR_ALONE_THREADS; default
# OCR_THREADS, at most 4: beyond that the small models gain little). 1: one core a page, always.
ALONE_THREADS_MAX = 4
# RapidOCR scales every page to at most 2000 px (its Global.max_side_len) before detection: pages are
# rendered to that size directly rather than at 300 dpi and then shrunk.
MAX_SIDE = 2000


class PagesInFlight:
    """How many pages an engine is reading right now, across the pipeline's threads: a page read while
    no other is may use every core the sidecar was given (onnxruntime's own threads), since the
    pipeline's other threads are idle; pages read side by side take one core each, as the pipeline
    schedules them (docs/ACCURACY.md, "Speed")."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    @contextmanager
    def page(self) -> Iterator[None]:
        with self._lock:
            self._count += 1
        try:
            yield
        finally:
            with self._lock:
                self._count -= 1

    def alone(self) -> bool:
        """Whether at most one page (the caller's) is being read."""
        with self._lock:
            return self._count <= 1


def bundled_model_dir() -> Path | None:
    """The models folder of the installed rapidocr package, found without importing it."""
    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class RapidocrEngine(Engine):
    name = "rapidocr"
    render_policy = RenderPolicy(pdf_dpi=300, max_side=MAX_SIDE, image_max_side=MAX_SIDE)
    thread_safe = True  # one RapidOCR (three onnxruntime sessions) per pipeline thread
    page_seconds_prior = 4.0

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        configured = settings.env.get("RAPIDOCR_MODEL_DIR", "").strip()
        self.model_dir: Path | None = Path(configured) if configured else bundled_model_dir()
        self._orienter = Orienter(settings.tesseract.tessdata)
        self._local = threading.local()
        self._version = ""
        # Shared with the hybrid, which counts its own pages (Tesseract's readings included).
        self.in_flight = PagesInFlight()
        default_threads = max(1, min(ALONE_THREADS_MAX, settings.ocr_threads))
        self.alone_threads = int_setting(settings.env, "RAPIDOCR_ALONE_THREADS", default_threads, 1, 64)

    def describe(self) -> str:
        return f"rapidocr {self._version} (PP-OCRv6 small, onnxruntime)"

    def load(self) -> None:
        if importlib.util.find_spec("rapidocr") is None or importlib.util.find_spec("onnxruntime") is None:
            raise EngineUnavailable(f"rapidocr or onnxruntime is not installed in this Python; {INSTALL}")
        if self.model_dir is None:
            raise EngineUnavailable(f"no rapidocr model directory: set RAPIDOCR_MODEL_DIR; {INSTALL}")
        missing = [name for name in MODEL_FILES.values() if not (self.model_dir / name).is_file()]
        if missing:
            raise EngineUnavailable(
                f"rapidocr models not found in {self.model_dir}: {', '.join(missing)} missing. They ship in "
                f"the rapidocr 3.10.0 wheel ({INSTALL}); RAPIDOCR_MODEL_DIR points elsewhere if set"
            )
        try:
            self._version = version("rapidocr")
        except PackageNotFoundError:
            self._version = "?"
        self._orienter.check()
        # RapidOCR opens its models on first use: read a drawn line now, so a damaged file is reported
        # at start rather than on the first request.
        probe = Image.new("RGB", (640, 80), "white")
        font = ImageFont.load_default(size=36)
        ImageDraw.Draw(probe).text((10, 20), "Devis 1 150,00", fill="black", font=font)
        try:
            self._reader()(probe)
        # onnxruntime's errors (InvalidProtobuf, NoSuchFile...) derive from Exception and nothing narrower.
        except Exception as exc:  # noqa: BLE001
            raise EngineUnavailable(
                f"rapidocr could not load its models from {self.model_dir} ({exc}); reinstall: {INSTALL}"
            ) from None

    def _reader(self, threads: int = 1) -> Any:
        """This pipeline thread's RapidOCR whose onnxruntime sessions use `threads` threads (one for
        pages read side by side, alone_threads for a page read alone): created on first use."""
        readers: dict[int, Any] | None = getattr(self._local, "readers", None)
        if readers is None:
            readers = self._local.readers = {}
        reader = readers.get(threads)
        if reader is None:
            rapid_ocr = importlib.import_module("rapidocr").RapidOCR
            assert self.model_dir is not None
            params: dict[str, Any] = {
                "Global.log_level": "warning",
                "EngineConfig.onnxruntime.intra_op_num_threads": threads,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
            for part, file in MODEL_FILES.items():
                params[f"{part}.model_path"] = str(self.model_dir / file)
            reader = readers[threads] = rapid_ocr(params=params)
        return reader

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        with self.in_flight.page():
            return self.read_lines(image, options)[0]

    def read_lines(
        self, image: Image.Image, options: EngineOptions, orient: bool = True
    ) -> tuple[PageText, list[tuple[Line, float]]]:
        """recognize_page, and the lines its text was put together from, each with its recognition
        score (0-1), in the order of the layout's lines (boxes and baselines in the pixels of the
        upright page: the page's rotation turns them back), for a caller that changes their text and
        puts the page together again with reading_order.rows_text (hybrid.py). orient=False: the
        image is upright already (the hybrid turned it as Tesseract found it), OSD is not asked."""
        upright, rotation = self._orienter.upright(image) if orient else (image, 0)
        layout = wants_layout(options)
        # return_word_box: the recogniser's character positions split each line into words, from the
        # same recognition (its text and line boxes are the same: tests/test_layout.py).
        reader = self._reader(self.alone_threads if self.in_flight.alone() else 1)
        result = reader(upright.convert("RGB"), **({"return_word_box": True} if layout else {}))
        boxes = getattr(result, "boxes", None)
        texts = getattr(result, "txts", None)
        scores = getattr(result, "scores", None)
        lines: list[tuple[Line, float]] = []
        if boxes is not None and texts is not None:
            for index, (quad, text) in enumerate(zip(boxes, texts, strict=False)):
                score = _unit(scores[index]) if scores is not None and index < len(scores) else 0.0
                xs = [float(point[0]) for point in quad]
                ys = [float(point[1]) for point in quad]
                # Corners: top-left, top-right, bottom-right, bottom-left; the bottom edge is the baseline.
                bottom_left, bottom_right = quad[3], quad[2]
                lines.append((Line(
                    box=(round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))),
                    baseline=((round(float(bottom_left[0])), round(float(bottom_left[1]))),
                              (round(float(bottom_right[0])), round(float(bottom_right[1])))),
                    text=str(text),
                ), score))
        found = None
        if layout:
            found = replace(
                page_layout(result, upright.width, upright.height),
                to_input=lay.turned(rotation, image.width, image.height),
            )
        text = rows_text([line for line, _ in lines])
        return PageText(text=text, rotation=rotation, layout=found), lines


def page_layout(result: Any, width: int, height: int) -> lay.PageLayout:
    """RapidOCR's reading as a layout: its lines (the box around each detected quadrilateral, its
    recognition score), in one block (it finds no blocks), each split into words where its recogniser
    gave character positions (return_word_box); a line without them is one word with the line's box
    (granularity "line")."""
    boxes = getattr(result, "boxes", None)
    texts = getattr(result, "txts", None)
    scores = getattr(result, "scores", None)
    if boxes is None or texts is None:
        return lay.PageLayout(width=width, height=height, blocks=(), granularity="word")
    word_results = tuple(getattr(result, "word_results", ()) or ())
    lines: list[lay.Line] = []
    every_line_split = True
    for index, (quad, text) in enumerate(zip(boxes, texts, strict=False)):
        score = float(scores[index]) if scores is not None and index < len(scores) else 0.0
        line_box = _quad_box(quad)
        split = word_results[index] if index < len(word_results) else ()
        words = tuple(
            lay.Word(text=str(word), box=_quad_box(corners), conf=_unit(conf))
            for word, conf, corners in split
            if corners is not None and str(word).strip()
        )
        if not words:
            every_line_split = False
            words = (lay.Word(text=str(text), box=line_box, conf=_unit(score)),)
        lines.append(lay.Line(words=words, box=line_box, conf=_unit(score)))
    blocks = (lay.Block(tuple(lines), lay.Box.around(line.box for line in lines)),) if lines else ()
    return lay.PageLayout(
        width=width, height=height, blocks=blocks, granularity="word" if every_line_split else "line"
    )


def _quad_box(quad: Any) -> lay.Box:
    xs = [float(point[0]) for point in quad]
    ys = [float(point[1]) for point in quad]
    return lay.Box(min(xs), min(ys), max(xs), max(ys))


def _unit(value: Any) -> float:
    return max(0.0, min(1.0, float(value)))
