"""Tesseract through tesserocr: models stay loaded in-process, one API per worker thread, pages read in
parallel (tesserocr releases the GIL while recognising). Pages whose reading does not prove them upright
are turned with Tesseract's OSD and read again (orientation.py), phone photos straightened (photo.py),
lines regrouped by row (reading_order.py).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tesserocr  # type: ignore[import-untyped]  # ships a .pyi but no py.typed marker
from numpy.typing import NDArray
from PIL import Image, ImageOps
from tesserocr import OEM, PSM, RIL, Orientation, PyTessBaseAPI, TextlineOrder, WritingDirection

from ..errors import BadOption, EngineUnavailable
from ..intake import RenderPolicy, TextLayer
from ..log import get_logger
from ..settings import Settings
from .base import Engine, EngineOptions, PageText
from .orientation import Orienter
from .photo import prepare_photo
from .reading_order import Line, rows_text

log = get_logger(__name__)

# Before recognition the page's grey levels are stretched: the darkest 1 % of pixels become black and
# the brightest pixel white (grey paper, faded toner, JPEG haze). Tesseract's LSTM reads the grey line
# images, so contrast reaches recognition, not only binarisation. Measured in-process on the eval pages
# (docs/ACCURACY.md, three seeded corpora: the eval's 2 documents per category, 4 per category, and 4
# per category from another seed), numeric-token recall before -> after: scans 0.939 -> 0.956,
# 0.909 -> 0.938, 0.898 -> 0.933; rotated 0.852 -> 0.907, 0.875 -> 0.898, 0.828 -> 0.911; photos
# 0.802 -> 0.792, 0.772 -> 0.774, 0.822 -> 0.824 (flat); born-digital and fax pages unchanged (already
# black on white). CER moves with tesseract's reading order of the table: scans 38.3 -> 39.2 %,
# 38.5 -> 38.4 %, 37.2 -> 41.4 %; rotated 37.2 -> 23.9 %, 36.7 -> 31.0 %, 35.9 -> 36.8 %. A 0.5 %/0.5 % or
# 2 %/1 % cut, or a plain min-max stretch, did worse on recall.
CONTRAST_CUTOFF = (1.0, 0.0)
# Inside a word Tesseract read, a gap wider than this share of the characters' height next to a digit
# is a space it dropped (see _word_text).
DIGIT_SPACE_GAP = 0.45
# Ruled lines (table borders, column rules, the rule over a footer) are erased before recognition
# (erase_rules): a straight run of ink at least RULE_MIN_LENGTH of the page's long side long (117 px,
# 10 mm on A4 at 300 dpi: longer than the stems of type under ~36 pt; 1/50 took bites out of the client
# fixture's text, upscaled 2.8 times, and 1/16 left the rules of short tables: bills 0.865 against 0.898)
# and at most RULE_MAX_THICKNESS of it thick (5 px at 300 dpi; a 7 pt stem is 2-3 px, a title's 8+).
# Measured on the eval's generated bills (docs/ACCURACY.md, "Dense bills"; numeric-token recall 0.837 ->
# 0.898): Tesseract read a column rule beside narrow figures as "|" or "1" glued to them, and lost the
# layout of tables ruled under tinted rows.
RULE_MIN_LENGTH = 1 / 30
RULE_MAX_THICKNESS = 1 / 700
# Grey levels a rule is darker than the paper or tint around it.
RULE_MIN_CONTRAST = 20
# Grey level below which a pixel counts as ink for the guard in _stretch_contrast.
INK_LEVEL = 128
# A reading proves its page upright (no OSD needed) with a mean word confidence of at least this, at
# least this many words of 3+ letters, and at least this share of them in the dictionary (reads_upright).
UPRIGHT_MIN_CONFIDENCE = 75
UPRIGHT_MIN_WORDS = 12
UPRIGHT_MIN_DICTIONARY = 0.5
# The words counted are those of blocks set as a Latin page is (upright, left to right, lines top to
# bottom); at most this share of all words may stand in other blocks (a mention up the margin).
UPRIGHT_BLOCK = (Orientation.PAGE_UP, WritingDirection.LEFT_TO_RIGHT, TextlineOrder.TOP_TO_BOTTOM)
UPRIGHT_MAX_SIDEWAYS = 0.2


# mode=auto/text: a page's own text layer is used when it has at least this many non-blank characters
# (auto only: fewer is a page number or a stamp over a scanned image, which OCR reads as well) and at
# most this share of them map to no text (U+FFFD, private-use glyphs of fonts without a ToUnicode map).
TEXT_LAYER_MIN_CHARS = 30
TEXT_LAYER_MAX_UNMAPPED = 0.05
MODES = ("ocr", "auto", "text")
# layout=rows (default): the lines Tesseract found, regrouped by the row they sit on (reading_order.py);
# layout=blocks: Tesseract's own order, block by block (a table column by column).
LAYOUTS = ("rows", "blocks")
OPTIONS = ("page_range", "lang", "mode", "layout")


def _tesseract_version() -> str:
    # "tesseract 5.5.4\n leptonica-1.87.0\n ..." -> "5.5.4"
    first: str = tesserocr.tesseract_version().splitlines()[0]
    return first.rsplit(maxsplit=1)[-1]


class TesseractEngine(Engine):
    name = "tesseract"
    # Render scale, measured with scripts/scale_study.py (docs/BENCHMARKS.md; the eval's generated quotes,
    # two seeds, one thread). Scans: 300 dpi reads the numbers best (numeric-token recall 0.972, CER
    # 0.93 %) for 0.86 s a page; 250 dpi 0.954 / 1.37 % for 0.77 s, 200 dpi 0.941 / 1.72 % for 0.72 s.
    # Small images (screenshots, crops) are upscaled towards 150 dpi-for-A4 (1754 px long side): the
    # 636 px fixture reads right either way, but only the upscaled render keeps typographic apostrophes.
    # Phone photos (12 MP) are brought down to 3000 px: over 10 photos 2500 px read a little better (recall
    # 0.942 vs 0.923) and 15 % faster, but the eval's own 4 photos read worse at 2500 (0.962 vs 0.993),
    # 4000 px no better than either and 10 % slower, 2000 px worst (0.921). Grey is enough: Tesseract
    # binarises, and it is a third of RGB's memory.
    render_policy = RenderPolicy(
        pdf_dpi=300,
        max_side=10_000,
        image_max_side=3000,
        image_min_side=1754,
        image_max_upscale=3.0,
        grayscale=True,
    )
    thread_safe = True
    page_seconds_prior = 1.5

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.tessdata: Path = settings.tesseract.tessdata
        self.default_lang = settings.tesseract.lang
        self.version = _tesseract_version()
        self._installed: list[str] = []
        self._orienter = Orienter(self.tessdata)
        # Per thread: {lang: API}. A PyTessBaseAPI must never be used by two threads at once.
        self._local = threading.local()

    def describe(self) -> str:
        return f"tesseract {self.version} ({self.default_lang})"

    def languages(self) -> list[str]:
        return list(self._installed)

    def load(self) -> None:
        fix = (
            "install the language packages (e.g. apt-get install tesseract-ocr-fra tesseract-ocr-eng "
            "tesseract-ocr-osd) or set TESSDATA_PREFIX to a directory holding <lang>.traineddata"
        )
        if not self.tessdata.is_dir():
            raise EngineUnavailable(
                f"tesseract language data directory {self.tessdata} does not exist; {fix}"
            )
        self._installed = sorted(
            path.name.removesuffix(".traineddata") for path in self.tessdata.glob("*.traineddata")
        )
        missing = [lang for lang in self.default_lang.split("+") if lang not in self._installed]
        if missing:
            names = ", ".join(f"{lang}.traineddata" for lang in missing)
            raise EngineUnavailable(
                f"tesseract language data not found: {names} missing in {self.tessdata} "
                f"(installed: {', '.join(self._installed) or 'none'}); {fix}, or set TESSERACT_LANG "
                "to installed languages"
            )
        self._orienter.check()
        # Initialise once here so damaged language files are reported now, not on the first request.
        try:
            api = PyTessBaseAPI(path=str(self.tessdata), lang=self.default_lang, oem=OEM.LSTM_ONLY)
        except RuntimeError as exc:
            raise EngineUnavailable(
                f"tesseract could not load {self.default_lang} from {self.tessdata} ({exc}); "
                f"the language files may be damaged: {fix}"
            ) from None
        api.End()

    def parse_options(self, params: Mapping[str, str]) -> EngineOptions:
        options: dict[str, str] = {}
        for key, value in params.items():
            if key == "mode":
                if value not in MODES:
                    raise BadOption(
                        f"mode {value!r}: expected ocr (OCR every page), auto (a page's own text layer "
                        "when it is good, OCR otherwise) or text (text layers only, never OCR)",
                        {"option": "mode", "value": value, "accepted": list(MODES)},
                    )
                options["mode"] = value
                continue
            if key == "layout":
                if value not in LAYOUTS:
                    raise BadOption(
                        f"layout {value!r}: expected rows (the lines of each row of the page joined left "
                        "to right, tables read row by row) or blocks (Tesseract's own order, block by "
                        "block)",
                        {"option": "layout", "value": value, "accepted": list(LAYOUTS)},
                    )
                options["layout"] = value
                continue
            if key != "lang":
                raise BadOption(
                    f"unknown option {key!r}; tesseract accepts: {', '.join(OPTIONS)}",
                    {"option": key, "accepted": list(OPTIONS)},
                )
            readable = [lang for lang in self._installed if lang != "osd"]
            parts = value.split("+")
            bad = [part for part in parts if part not in readable]
            if not value or bad:
                raise BadOption(
                    f"lang {value!r}: {', '.join(bad) or 'empty'} not installed; installed languages: "
                    f"{', '.join(readable)} (combine with '+', e.g. fra+eng)",
                    {"option": "lang", "value": value, "installed": readable},
                )
            options["lang"] = value
        return options

    def wants_text_layer(self, options: EngineOptions) -> bool:
        return options.get("mode", "ocr") != "ocr"

    def from_text_layer(self, layer: TextLayer | None, options: EngineOptions) -> PageText | None:
        """mode=auto: the page's text layer when it is good, else None (OCR). mode=text: the text
        layer, or an empty page with a note saying why there is none; never OCR."""
        text_only = options.get("mode") == "text"
        if layer is None:
            return _no_text("not a PDF: an image has no text layer") if text_only else None
        facts = {"text_layer_chars": layer.chars, "unmapped_share": round(layer.unmapped_share, 3)}
        if layer.chars == 0:
            return _no_text("no text layer on this page (a scanned image?)", facts) if text_only else None
        if layer.unmapped_share > TEXT_LAYER_MAX_UNMAPPED:
            note = (
                f"text layer unusable: {layer.unmapped_share:.0%} of its characters map to no text "
                "(fonts without a ToUnicode map)"
            )
            return _no_text(note, facts) if text_only else None
        if not text_only and layer.chars < TEXT_LAYER_MIN_CHARS:
            return None
        return PageText(text=layer.text, source="text-layer", meta=facts)

    def _api(self, lang: str) -> PyTessBaseAPI:
        apis: dict[str, PyTessBaseAPI] | None = getattr(self._local, "apis", None)
        if apis is None:
            apis = self._local.apis = {}
        api = apis.get(lang)
        if api is None:
            api = PyTessBaseAPI(path=str(self.tessdata), lang=lang, oem=OEM.LSTM_ONLY, psm=PSM.AUTO)
            apis[lang] = api
        return api

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        # A phone photo: the sheet straightened and evenly lit, or only evenly lit when it fills the
        # frame with part of its paper in shade (photo.py).
        photo = prepare_photo(image)
        page = image if photo is None else photo.image
        meta = None if photo is None else {"photo": photo.note}
        if getattr(self._local, "last_turned", False):
            # The last page this thread read was turned: a document scanned sideways or fed upside
            # down usually is throughout, so OSD first, as for every page before reads_upright (if the
            # next page is another request's upright one, it pays one OSD: time, not a wrong turn).
            page, rotation = self._orienter.upright(page)
            text, _ = self._read(page, options, judge=False, photo=photo is not None)
        else:
            # Read first; ask OSD only when the reading does not prove the page upright
            # (reads_upright): most pages are, and OSD costs ~0.3 s a page. A turned page is then
            # read a second time.
            text, upright = self._read(page, options, photo=photo is not None)
            rotation = 0
            if not upright:
                turned, rotation = self._orienter.upright(page)
                if rotation:
                    text, _ = self._read(turned, options, judge=False, photo=photo is not None)
        self._local.last_turned = rotation != 0
        # Tesseract ends pages with newlines/form feeds; headers, footers and page numbers are kept.
        return PageText(text=text.strip("\n\f "), rotation=rotation, meta=meta)

    def last_confidence(self) -> int:
        """Mean word confidence (0-100) of the last page this thread read (its final reading, after any
        turn); 0 when it found no word or read no page."""
        return int(getattr(self._local, "confidence", 0))

    def _read(
        self, page: Image.Image, options: EngineOptions, judge: bool = True, photo: bool = False
    ) -> tuple[str, bool]:
        """The page's text, and (when judge) whether the reading proves the page upright (reads_upright;
        not asked of a page OSD has already turned). photo: the page is a camera photo (photo.py)."""
        api = self._api(options.get("lang", self.default_lang))
        try:
            # Rules are erased on scans and renders, not on photos (measured: the eval's photos lost
            # numbers, 0.951 -> 0.934 at 1/50; sheet edges, shadows and curl make long thin marks too).
            page = _stretch_contrast(page)
            api.SetImage(page if photo else erase_rules(page))
            api.Recognize()
            # Kept for this thread's caller (hybrid.py judges the reading by it).
            self._local.confidence = int(api.MeanTextConf())
            upright = judge and reads_upright(api)
            text = rows_text(_lines(api)) if options.get("layout", "rows") == "rows" else api.GetUTF8Text()
        finally:
            api.Clear()
        return text, upright


def reads_upright(api: PyTessBaseAPI) -> bool:
    """Whether the page Tesseract just recognised was upright: enough words, read with confidence, most
    of them in the language's dictionary, nearly all in blocks laid out as a Latin page is. Measured on
    the eval's pages (born-digital, scans, faxes, photos, rotated; 28 pages, scripts/upright_study.py):
    upright pages read at a mean confidence of 87-93 with 73-90 % of their words in the dictionary,
    the same pages turned 90 or 180 degrees at 45-58 and 13-30 %. A page below any bar (little text,
    mostly figures, a poor fax) is not proof either way, and goes to OSD as every page used to."""
    if api.MeanTextConf() < UPRIGHT_MIN_CONFIDENCE:
        return False
    iterator = api.GetIterator()
    if iterator is None:
        return False
    words = in_dictionary = sideways = 0
    upright_block = True
    level = RIL.WORD
    while True:
        if iterator.IsAtBeginningOf(RIL.BLOCK):
            # Lines running top to bottom: Tesseract took the text, turned a quarter, for vertical
            # text and read it as such (often well: a page turned 270 degrees, whose words alone would
            # pass; or a legal mention printed up the margin of an upright page).
            upright_block = iterator.Orientation()[:3] == UPRIGHT_BLOCK
        try:
            word = iterator.GetUTF8Text(level)
        except RuntimeError:  # "No text returned"
            word = ""
        if sum(char.isalpha() for char in word) >= 3:
            if upright_block:
                words += 1
                in_dictionary += bool(iterator.WordIsFromDictionary())
            else:
                sideways += 1
        if not iterator.Next(level):
            break
    return (
        words >= UPRIGHT_MIN_WORDS
        and in_dictionary >= UPRIGHT_MIN_DICTIONARY * words
        and sideways <= UPRIGHT_MAX_SIDEWAYS * (words + sideways)
    )


def _lines(api: PyTessBaseAPI) -> list[Line]:
    """The text lines of the page Tesseract just recognised: box, baseline and text, the text rebuilt
    from the characters so that the spaces Tesseract's line recogniser dropped inside numbers come
    back (_word_text)."""
    found: list[Line] = []
    iterator = api.GetIterator()
    if iterator is None:
        return found
    line: tuple[tuple[int, int, int, int], Any] | None = None
    words: list[str] = []
    symbols: list[tuple[str, tuple[int, int, int, int]]] = []

    def end_word() -> None:
        if symbols:
            words.append(_word_text(symbols))
            symbols.clear()

    def end_line() -> None:
        end_word()
        if line is not None and words:
            found.append(Line(box=line[0], baseline=line[1], text=" ".join(words)))
        words.clear()

    while True:
        if iterator.IsAtBeginningOf(RIL.TEXTLINE):
            end_line()
            box = iterator.BoundingBox(RIL.TEXTLINE)
            line = None if box is None else (box, iterator.Baseline(RIL.TEXTLINE))
        elif iterator.IsAtBeginningOf(RIL.WORD):
            end_word()
        try:
            char = iterator.GetUTF8Text(RIL.SYMBOL)
        except RuntimeError:  # tesserocr's "No text returned": nothing recognised here
            char = ""
        char_box = iterator.BoundingBox(RIL.SYMBOL)
        if char and char_box is not None:
            symbols.append((char, char_box))
        if not iterator.Next(RIL.SYMBOL):
            end_line()
            return found


def _word_text(symbols: list[tuple[str, tuple[int, int, int, int]]]) -> str:
    """A word's characters, with a space where the gap between a digit and its neighbour is a space's
    width: Tesseract's LSTM often reads "1 150,00" (French thousands) and "5,5 %" as one word without
    the space although the page has it. Measured on the eval's born-digital and scanned pages: gaps
    between the characters of a word are at most 0.29 of their height, these spaces 0.59-0.64."""
    out = [symbols[0][0]]
    for (before, box_before), (char, box) in pairwise(symbols):
        height = max(box_before[3] - box_before[1], box[3] - box[1], 1)
        if (box[0] - box_before[2]) > DIGIT_SPACE_GAP * height and (
            before[-1].isdigit() or char[0].isdigit()
        ):
            out.append(" ")
        out.append(char)
    return "".join(out)


def _stretch_contrast(image: Image.Image) -> Image.Image:
    """The contrast stretch (CONTRAST_CUTOFF), only on pages with enough ink for it: on a sparse page
    (under 1 % dark pixels: one line of text, a page number) the 1 % cut reaches the background, and
    stretching the resampling ripples of white paper to full range read a clean page as empty."""
    if image.mode not in ("L", "RGB"):
        return image
    histogram = (image if image.mode == "L" else image.convert("L")).histogram()
    # Share of pixels darker than INK_LEVEL, against the share the stretch cuts away.
    if sum(histogram[:INK_LEVEL]) <= sum(histogram) * CONTRAST_CUTOFF[0] / 100:
        return image
    return ImageOps.autocontrast(image, cutoff=CONTRAST_CUTOFF)


def erase_rules(image: Image.Image) -> Image.Image:
    """The page with its thin ruled lines painted over with the background around them (RULE_MIN_LENGTH,
    RULE_MAX_THICKNESS). Rules are found among the thin dark marks (darker than their surroundings
    within a rule's thickness, so light-grey rules on a tinted row count, and a band or a title's
    stroke does not) as straight runs longer than the stems of type under ~36 pt."""
    if image.mode != "L":
        return image
    grey: NDArray[Any] = np.asarray(image)
    side = max(grey.shape)
    length = max(15, round(side * RULE_MIN_LENGTH))
    size = 2 * max(2, round(side * RULE_MAX_THICKNESS)) + 1
    square = np.ones((size, size), np.uint8)
    smooth = cv2.GaussianBlur(grey, (3, 3), 0)
    darker: NDArray[Any] = cv2.subtract(cv2.morphologyEx(smooth, cv2.MORPH_CLOSE, square), smooth)
    thin = (darker > RULE_MIN_CONTRAST).astype(np.uint8) * 255
    rules = np.zeros(grey.shape, bool)
    for along in ((length, 1), (1, length)):
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, along)
        rules |= cv2.morphologyEx(thin, cv2.MORPH_OPEN, kernel) > 0
    if not rules.any():
        return image
    # Nothing in or beside a dark mass (a band holding white text, whose dark gaps between the letters
    # are thin too; a title's strokes).
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    solid = cv2.morphologyEx(ink, cv2.MORPH_OPEN, square)
    rules &= cv2.dilate(solid, np.ones((3 * size, 3 * size), np.uint8)) == 0
    # The rule's anti-aliased edges go too.
    wide = cv2.dilate(rules.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out = grey.copy()
    out[wide] = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, square)[wide]
    return Image.fromarray(out)


def _no_text(note: str, facts: dict[str, float] | None = None) -> PageText:
    return PageText(text="", source="text-layer", meta={**(facts or {}), "note": note})
