"""hybrid: tesseract and rapidocr in one service, the better reader for each page.

Tesseract reads clean scans and rendered pages best (row order, French dictionary, exact spacing in
amounts) and fast; rapidocr (PP-OCR) reads what Tesseract's layout analysis gives up on: camera
photos with shade, curl and clutter, receipts, faxes, large display type (docs/ACCURACY.md, "Real
photos"), and the figures of bills' narrow tables. Every page is read by Tesseract first; when its
reading is not confident (mean word confidence below HYBRID_MIN_CONFIDENCE), finds only a few words or
is a page of figures (digit_merge.figure_dense), rapidocr reads the page too and its
reading is answered when it found text, line by line: a line on which rapidocr's recognition broke down
is answered with Tesseract's words in the same place (line_merge.py; docs/ACCURACY.md, "Line-level
combination"). The page's `source` says which reader's text it is (`ocr:tesseract`, `ocr:rapidocr`:
rapidocr's lines and order); `meta` gives Tesseract's confidence, the readers that ran and, for a page
read by both, how many lines are Tesseract's (`tesseract_lines`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from PIL import Image

from ..intake import RenderPolicy, TextLayer
from ..layout import Box, Line, PageLayout, Word, apply, compose, invert, scaled, turned
from ..models import NoWeights
from ..output_format import FORMAT_OPTION, wants_layout
from ..settings import Settings, int_setting
from .base import Engine, EngineOptions, PageText
from .digit_merge import figure_dense, merged
from .line_merge import BoxT, Piece, mended, words_in_lines
from .rapidocr import MAX_SIDE as RAPIDOCR_MAX_SIDE
from .rapidocr import RapidocrEngine
from .reading_order import rows_text
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
        # rapidocr uses every core for a page only while no other page is being read, by either reader.
        self.in_flight = self.rapidocr.in_flight
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
        with self.in_flight.page():
            return self._read_both(image, options, render)

    def _read_both(
        self, image: Image.Image, options: EngineOptions, render: Callable[[RenderPolicy], Image.Image]
    ) -> PageText:
        # Tesseract's word boxes are kept for a page rapidocr reads too (they mend rapidocr's broken
        # lines): computed from the recognition already made, only for those pages.
        first = self.tesseract.read_page(image, options, layout_when=self._second_reading)
        confidence = self.tesseract.last_confidence()
        photo = "photo" in (first.meta or {})
        facts: dict[str, Any] = {**(first.meta or {}), "tesseract_confidence": confidence}
        if not self._second_reading(confidence, first.text, photo):
            return replace(first, source="ocr:tesseract", meta={**facts, "readers": ["tesseract"]})
        # Only the format reaches rapidocr (lang, mode and layout are Tesseract's).
        rapid_options = _format_only(options)
        if len(first.text.split()) >= SPARSE_WORDS and first.layout is not None:
            # rapidocr reads the page as Tesseract found it: upright by its orientation (found on the
            # photo's straightened sheet; rapidocr's own OSD, on the whole photo, is seldom sure of a
            # turned page there), a photo's sheet straightened (rapidocr's rows then follow the page's
            # lines, not the perspective). docs/ACCURACY.md, "Photos read by both".
            rotation, back = first.rotation, first.layout.to_input
            view, scale = _as_tesseract_read(image, first.layout, rotation, render, self.rapidocr)
            try:
                second, lines = self.rapidocr.read_lines(view, rapid_options, orient=False)
            finally:
                view.close()
        else:
            # Tesseract read (almost) nothing: rapidocr reads its own render, turned by its own OSD.
            colour = render(self.rapidocr.render_policy)
            scale = colour.width / max(1, image.width)
            try:
                second, lines = self.rapidocr.read_lines(colour, rapid_options)
            finally:
                if colour is not image:
                    colour.close()
            rotation = second.rotation
            back = turned(rotation, image.width, image.height)
        # From the pixels rapidocr read to those of the page handed here.
        to_image = compose(back, _scale(1 / scale)) if scale else None
        facts["readers"] = ["tesseract", "rapidocr"]
        if not second.text.strip():
            # Tesseract's layout only when the request asked for one (not the one kept for mending).
            kept = first.layout if wants_layout(options) else None
            return replace(first, source="ocr:tesseract", meta=facts, layout=kept)
        if to_image is None:
            return replace(second, source="ocr:rapidocr", meta=facts, layout=None)
        words = _input_words(first.layout)
        pieces = [Piece(line.text, _mapped(line.box, to_image), score) for line, score in lines]
        found = words_in_lines(pieces, words)
        mends = [mended(line.text, line.conf, own) for line, own in zip(pieces, found, strict=True)]
        facts["tesseract_lines"] = sum(m is not None for m in mends)
        if not facts["tesseract_lines"]:
            text, layout = second.text, second.layout
        else:
            text = rows_text(
                [
                    line if m is None else replace(line, text=m)
                    for (line, _), m in zip(lines, mends, strict=True)
                ]
            )
            layout = second.layout
            if layout is not None:
                layout = _mended_layout(layout, mends, found, invert(to_image))
        if figure_dense(first.text):
            # A bill: rapidocr's text, with the spaces Tesseract read next to a digit where rapidocr
            # read none (`PDL:39290650746106`, `1890` for "1 890"; digit_merge.py). Text only: the
            # layout stays the readers' own.
            text = merged(text, first.text, spaces="digit-side", commas=False)
        if layout is not None:
            layout = scaled(layout, 1 / scale, back)
        return replace(second, text=text, rotation=rotation, source="ocr:rapidocr", meta=facts, layout=layout)

    def _second_reading(self, confidence: int, text: str, photo: bool) -> bool:
        """Whether rapidocr reads the page too: a camera photo (photo.py found its sheet or its shaded
        paper), whose lines rapidocr reads better (docs/ACCURACY.md, "Photos read by both"), or
        Tesseract's reading is not confident, or sparse, or a page of figures in tables (a bill:
        digit_merge.figure_dense), whose digit groups and decimal commas Tesseract loses in narrow type
        and rapidocr keeps (docs/ACCURACY.md, "Bills, line by line")."""
        return (
            photo
            or confidence < self.min_confidence
            or len(text.split()) < SPARSE_WORDS
            or figure_dense(text)
        )


def _mended_layout(
    layout: PageLayout, mends: list[str | None], found: list[list[Piece]], back: Sequence[float]
) -> PageLayout:
    """rapidocr's layout (rapidocr.page_layout: one line per line it read, in the order of its `lines`)
    with each mended line's words Tesseract's, their boxes brought back from the hybrid's page by `back`
    to the layout's pixels."""
    index = 0
    blocks = []
    for block in layout.blocks:
        lines = []
        for line in block.lines:
            if index < len(mends) and mends[index] is not None:
                words = tuple(Word(w.text, Box(*_mapped(w.box, back)), w.conf) for w in found[index])
                conf = sum(w.conf for w in words) / len(words)
                lines.append(Line(words, Box.around(w.box for w in words), conf))
            else:
                lines.append(line)
            index += 1
        blocks.append(replace(block, lines=tuple(lines)))
    return replace(layout, blocks=tuple(blocks))


def _input_words(layout: PageLayout | None) -> list[Piece]:
    """Tesseract's words, boxes in the pixels of the page handed to the hybrid."""
    if layout is None:
        return []
    return [Piece(w.text, _mapped(_tuple(w.box), layout.to_input), w.conf) for w in layout.words()]


def _tuple(box: Box) -> BoxT:
    return (box.left, box.top, box.right, box.bottom)


def _mapped(box: BoxT, matrix: Sequence[float]) -> BoxT:
    """The box around a box's corners taken through a homography."""
    left, top, right, bottom = box
    points = [apply(matrix, x, y) for x in (left, right) for y in (top, bottom)]
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return (min(xs), min(ys), max(xs), max(ys))


def _as_tesseract_read(
    image: Image.Image,
    tesseract: PageLayout,
    rotation: int,
    render: Callable[[RenderPolicy], Image.Image],
    rapidocr: RapidocrEngine,
) -> tuple[Image.Image, float]:
    """The page in colour as Tesseract read it, for rapidocr: Tesseract's upright page (its layout's
    to_input maps that page to `image`, the page as handed), and the view's scale against that page.

    - A page Tesseract only turned, or read as it was: rapidocr's own render, turned by the same
      quarter turns (exact, no resampling).
    - A photo whose sheet Tesseract straightened: a colour render at Tesseract's scale warped through
      the same homography (bicubic), then brought down to rapidocr's MAX_SIDE (Lanczos). Warping
      rapidocr's smaller render, or warping straight to the smaller size, lost lone digits
      (docs/ACCURACY.md, "Photos read by both")."""
    if _same(tesseract.to_input, turned(rotation, image.width, image.height)):
        colour = render(rapidocr.render_policy)
        scale = colour.width / max(1, image.width)
        if not rotation % 360:
            return (colour.copy() if colour is image else colour), scale
        view = colour.rotate((360 - rotation) % 360, expand=True)
        if colour is not image:
            colour.close()
        return view, scale
    # OpenCV and NumPy: imported on the first page that needs them (engines/__init__.py).
    import cv2  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    colour = render(replace(TesseractEngine.render_policy, grayscale=False))
    try:
        # Tesseract's upright page -> the page as handed -> the colour render of it.
        to_colour = compose(_scale(colour.width / max(1, image.width)), tesseract.to_input)
        warped = cv2.warpPerspective(
            np.asarray(colour.convert("RGB")),
            np.array(to_colour, dtype=np.float64).reshape(3, 3),
            (max(1, tesseract.width), max(1, tesseract.height)),
            flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(255, 255, 255),
        )
    finally:
        if colour is not image:
            colour.close()
    view = Image.fromarray(warped)
    scale = min(1.0, RAPIDOCR_MAX_SIDE / max(view.size))
    if scale < 1.0:
        smaller = view.resize(
            (max(1, round(view.width * scale)), max(1, round(view.height * scale))), Image.Resampling.LANCZOS
        )
        view.close()
        view = smaller
        # The size actually made: boxes scale back by it.
        scale = view.width / max(1, tesseract.width)
    return view, scale


def _same(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(abs(x - y) < 1e-9 for x, y in zip(a, b, strict=True))


def _scale(factor: float) -> tuple[float, ...]:
    return (factor, 0.0, 0.0, 0.0, factor, 0.0, 0.0, 0.0, 1.0)


def _for_rapidocr(image: Image.Image) -> Image.Image:
    """A copy of the page at the size rapidocr detects at, in colour."""
    scale = min(1.0, RAPIDOCR_MAX_SIDE / max(image.size))
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.convert("RGB").resize(size, Image.Resampling.LANCZOS)


def _format_only(options: EngineOptions) -> EngineOptions:
    return {FORMAT_OPTION: options[FORMAT_OPTION]} if FORMAT_OPTION in options else {}
