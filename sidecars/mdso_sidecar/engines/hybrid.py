"""hybrid: tesseract and rapidocr in one service, the better reader for each page.

Tesseract reads clean scans and rendered pages best (row order, French dictionary, exact spacing in
amounts) and fast; rapidocr (PP-OCR) reads what Tesseract's layout analysis gives up on: camera
photos with shade, curl and clutter, receipts, faxes, large display type (docs/ACCURACY.md, "Real
photos"). Every page is read by Tesseract first; when its reading is not confident (mean word
confidence below HYBRID_MIN_CONFIDENCE) or finds only a few words, rapidocr reads the page too and its
reading is answered when it found text. The page's `source` says which reader's text it is
(`ocr:tesseract`, `ocr:rapidocr`); `meta` gives Tesseract's confidence and the readers that ran.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PIL import Image

from ..intake import RenderPolicy, TextLayer
from ..layout import scaled, turned
from ..models import NoWeights
from ..output_format import FORMAT_OPTION
from ..settings import Settings, int_setting
from .base import Engine, EngineOptions, PageText
from .rapidocr import MAX_SIDE as RAPIDOCR_MAX_SIDE
from .rapidocr import RapidocrEngine
from .tesseract import TesseractEngine

# Nothing for scripts/download-models to fetch (its output says why).
WEIGHTS = NoWeights(
    "Tesseract's language data comes from Debian packages and rapidocr's models inside its wheel, both "
    "installed by scripts/bootstrap"
)

# Measured (docs/ACCURACY.md, hybrid): the eval's scans, turned pages, faxes and photos read at a mean
# word confidence of 87-95; the 27 real photos at 64-84 (rapidocr reads all of those better), but for
# one Danish page at 90 that both read alike (5.0 vs 4.8 % CER).
DEFAULT_MIN_CONFIDENCE = 86
# A page of fewer words is read by both: Tesseract reads display type poorly (a title "Page 1" in
# 70 pt came back "Page l" at confidence 85), and two readings of a few words cost little.
SPARSE_WORDS = 12


class HybridEngine(Engine):
    name = "hybrid"
    # Each reader reads the render its own service reads: Tesseract this grey one; rapidocr, when it is
    # needed, its own colour render of the page (recognize_rendered). rapidocr reads grey renders
    # worse (cz_05: 17.7 % CER against 8.9 %), and Tesseract reads a grey copy of a colour render
    # differently from the grey JPEG decode (the eval's photos: "5,5 %" read "55 %").
    render_policy = TesseractEngine.render_policy
    thread_safe = True
    page_seconds_prior = 4.0
    # lang, mode and layout are Tesseract's; rapidocr reads every Latin script without being told.
    options = TesseractEngine.options

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.tesseract = TesseractEngine(settings)
        self.rapidocr = RapidocrEngine(settings)
        self.min_confidence = int_setting(
            settings.env, "HYBRID_MIN_CONFIDENCE", DEFAULT_MIN_CONFIDENCE, 0, 100
        )

    def describe(self) -> str:
        return f"{self.tesseract.describe()} + {self.rapidocr.describe()}"

    def load(self) -> None:
        # Either reader missing makes the service unavailable, with that reader's own message.
        self.tesseract.load()
        self.rapidocr.load()

    def check_options(self, options: dict[str, str]) -> EngineOptions:
        return self.tesseract.check_options(options)

    def wants_text_layer(self, options: EngineOptions) -> bool:
        return self.tesseract.wants_text_layer(options)

    def from_text_layer(self, layer: TextLayer | None, options: EngineOptions) -> PageText | None:
        return self.tesseract.from_text_layer(layer, options)

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        # Without a way to render the page again, rapidocr reads a copy of this one.
        return self.recognize_rendered(image, options, lambda _policy: _for_rapidocr(image))

    def recognize_rendered(
        self, image: Image.Image, options: EngineOptions, render: Callable[[RenderPolicy], Image.Image]
    ) -> PageText:
        first = self.tesseract.recognize_page(image, options)
        confidence = self.tesseract.last_confidence()
        facts: dict[str, Any] = {**(first.meta or {}), "tesseract_confidence": confidence}
        if confidence >= self.min_confidence and len(first.text.split()) >= SPARSE_WORDS:
            return replace(first, source="ocr:tesseract", meta={**facts, "readers": ["tesseract"]})
        colour = render(self.rapidocr.render_policy)
        try:
            # Only the format reaches rapidocr (lang, mode and layout are Tesseract's).
            second = self.rapidocr.recognize_page(colour, _format_only(options))
        finally:
            if colour is not image:
                colour.close()
        facts["readers"] = ["tesseract", "rapidocr"]
        if not second.text.strip():
            return replace(first, source="ocr:tesseract", meta=facts)
        layout = second.layout
        if layout is not None and colour.width:
            # rapidocr read its own render: its boxes brought to the pixels of the page handed here.
            factor = image.width / colour.width
            layout = scaled(layout, factor, turned(second.rotation, image.width, image.height))
        return replace(second, source="ocr:rapidocr", meta=facts, layout=layout)


def _for_rapidocr(image: Image.Image) -> Image.Image:
    """A copy of the page at the size rapidocr detects at, in colour."""
    scale = min(1.0, RAPIDOCR_MAX_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _format_only(options: EngineOptions) -> EngineOptions:
    return {FORMAT_OPTION: options[FORMAT_OPTION]} if FORMAT_OPTION in options else {}
