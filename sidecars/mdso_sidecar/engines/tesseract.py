"""The tesseract engine: tesserocr's APIs (models loaded in-process, one API per worker thread, pages read
in parallel: tesserocr releases the GIL while recognising), its options, and the order of a page's steps.
The reading heuristics live beside it: photos straightened (photo.py), the page cleaned (page_cleanup.py),
the reading judged and its lines rebuilt (tesseract_reading.py), pages turned upright by OSD
(orientation.py), lines regrouped by row (reading_order.py). tesserocr, OpenCV and NumPy are imported by
load() and the first page, never with this module.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from ..errors import BadOption, EngineUnavailable
from ..intake import RenderPolicy, TextLayer
from ..layout import IDENTITY, PageLayout, compose, turned
from ..log import get_logger
from ..models import NoWeights
from ..output_format import wants_layout
from ..settings import Settings
from .base import Engine, EngineOptions, OptionSpec, PageText
from .orientation import Orienter
from .reading_order import rows_text

if TYPE_CHECKING:
    from tesserocr import PyTessBaseAPI  # type: ignore[import-untyped]  # ships a .pyi, no py.typed

log = get_logger(__name__)

# Nothing for scripts/download-models to fetch (its output says why).
WEIGHTS = NoWeights(
    "its language data comes from Debian packages (tesseract-ocr-fra, tesseract-ocr-eng, "
    "tesseract-ocr-osd), installed by scripts/bootstrap"
)

# mode=auto/text: a page's own text layer is used when it has at least this many non-blank characters
# (auto only: fewer is a page number or a stamp over a scanned image, which OCR reads as well) and at
# most this share of them map to no text (U+FFFD, private-use glyphs of fonts without a ToUnicode map).
TEXT_LAYER_MIN_CHARS = 30
TEXT_LAYER_MAX_UNMAPPED = 0.05
# `fra+eng` typed in a query string arrives as "fra eng"; "fra,eng" is common too: all three are one list.
_LANG_SEPARATORS = re.compile(r"[\s,+]+")
# Whether a reading's layout is wanted though the request asks for none: (mean word confidence, text,
# whether the page is a camera photo: photo.py).
LayoutWhen = Callable[[int, str, bool], bool]

# The options of this engine (and of hybrid, whose Tesseract reader reads them): what they take and
# what they do, for the gateway's validation and API documentation too (OptionSpec).
LANG = OptionSpec(
    name="lang",
    kind="str",
    pattern=r"^[A-Za-z0-9_ +,]+$",
    example="fra+eng",
    doc="Languages for this request (installed ones only; default TESSERACT_LANG), joined by `+`, a space "
    "or a comma: `fra+eng` typed in a query string arrives as `fra eng` and means the same.",
)
MODE = OptionSpec(
    name="mode",
    kind="enum",
    choices=("ocr", "auto", "text"),
    default="ocr",
    example="auto",
    doc="`ocr` OCRs every page. `auto` uses a PDF page's own text layer when it is good (at least "
    f"{TEXT_LAYER_MIN_CHARS} characters, at most {TEXT_LAYER_MAX_UNMAPPED:.0%} unmapped glyphs) and OCRs the "
    "other pages. `text` returns text layers only, never OCR: a page without a usable one comes back empty "
    "(`blank: true`) with `meta.note` saying why. Each page's `source` says which path it took "
    "(`text-layer` or `ocr`).",
)
# layout=rows: the lines Tesseract found, regrouped by the row they sit on (reading_order.py);
# layout=blocks: Tesseract's own order, block by block (a table column by column).
LAYOUT = OptionSpec(
    name="layout",
    kind="enum",
    choices=("rows", "blocks"),
    default="rows",
    example="blocks",
    doc="`rows` joins the lines that sit on one row of the page left to right, so a table reads row by row "
    "(an item with its price, `Total TTC` with its amount). `blocks` keeps Tesseract's own order, block by "
    "block: a table column by column.",
)


class TesseractEngine(Engine):
    name = "tesseract"
    # Scans at 300 dpi, phone photos brought down to 3000 px, small images (screenshots, crops) upscaled
    # towards 150 dpi-for-A4 (1754 px); grey is enough: Tesseract binarises, and it is a third of RGB's
    # memory. Measured: docs/BENCHMARKS.md, "Render scale over more pages".
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
    options = (LANG, MODE, LAYOUT)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.tessdata: Path = settings.tesseract.tessdata
        self.default_lang = settings.tesseract.lang
        self.version = ""
        """Tesseract's version ("5.5.4"), known once load() ran."""
        self._installed: list[str] = []
        self._orienter = Orienter(self.tessdata)
        # Per thread: {lang: API}. A PyTessBaseAPI must never be used by two threads at once.
        self._local = threading.local()

    def describe(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"tesseract{version} ({self.default_lang})"

    def load(self) -> None:
        try:
            # Heavy (libtesseract), and absent from a venv without it: imported here, not with the module.
            import tesserocr  # noqa: PLC0415
        except ImportError as exc:
            raise EngineUnavailable(
                f"tesserocr is not installed in this Python ({exc}); "
                "pip install -r sidecars/requirements.txt (bash scripts/bootstrap does it)"
            ) from None
        # "tesseract 5.5.4\n leptonica-1.87.0\n ..." -> "5.5.4"
        self.version = str(tesserocr.tesseract_version()).splitlines()[0].rsplit(maxsplit=1)[-1]
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
            api = tesserocr.PyTessBaseAPI(
                path=str(self.tessdata), lang=self.default_lang, oem=tesserocr.OEM.LSTM_ONLY
            )
        except RuntimeError as exc:
            raise EngineUnavailable(
                f"tesseract could not load {self.default_lang} from {self.tessdata} ({exc}); "
                f"the language files may be damaged: {fix}"
            ) from None
        api.End()

    def check_options(self, options: dict[str, str]) -> EngineOptions:
        """`lang`: one language or several, each installed here (OSD data is not a language)."""
        value = options.get("lang")
        if value is None:
            return options
        parts = [part for part in _LANG_SEPARATORS.split(value) if part]
        readable = [lang for lang in self._installed if lang != "osd"]
        bad = [part for part in parts if part not in readable]
        joined = "+".join(parts)
        if not parts or bad:
            raise BadOption(
                f"lang {joined!r}: {', '.join(bad) or 'empty'} not installed; installed languages: "
                f"{', '.join(readable)} (combine with '+', e.g. fra+eng)",
                {"option": "lang", "value": joined, "installed": readable},
            )
        return {**options, "lang": joined}

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
            from tesserocr import OEM, PSM, PyTessBaseAPI  # noqa: PLC0415

            api = PyTessBaseAPI(path=str(self.tessdata), lang=lang, oem=OEM.LSTM_ONLY, psm=PSM.AUTO)
            apis[lang] = api
        return api

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        return self.read_page(image, options)

    def read_page(
        self, image: Image.Image, options: EngineOptions, layout_when: LayoutWhen | None = None
    ) -> PageText:
        """recognize_page, with the layout also computed when the request does not want one but
        `layout_when(confidence, text)` says so of the reading (the hybrid: a page rapidocr reads too,
        whose lines take Tesseract's accents from its word boxes; line_merge.py)."""
        # OpenCV and NumPy, imported on the first page rather than with the module (engines/__init__.py).
        from .photo import prepare_photo  # noqa: PLC0415

        # A phone photo: the sheet straightened and evenly lit, or only evenly lit when it fills the
        # frame with part of its paper in shade (photo.py).
        photo = prepare_photo(image)
        page = image if photo is None else photo.image
        meta = None if photo is None else {"photo": photo.note}
        if getattr(self._local, "last_turned", False):
            # The last page this thread read was turned: a document scanned sideways or fed upside
            # down usually is throughout, so OSD first, as for every page before reads_upright (if the
            # next page is another request's upright one, it pays one OSD: time, not a wrong turn).
            upright, rotation = self._orienter.upright(page)
            text, _, layout = self._read(
                upright, options, judge=False, photo=photo is not None, layout_when=layout_when
            )
        else:
            # Read first; ask OSD only when the reading does not prove the page upright
            # (reads_upright): most pages are, and OSD costs ~0.3 s a page. A turned page is then
            # read a second time.
            text, upright_read, layout = self._read(
                page, options, photo=photo is not None, layout_when=layout_when
            )
            rotation = 0
            if not upright_read:
                turned_page, rotation = self._orienter.upright(page)
                if rotation:
                    text, _, layout = self._read(
                        turned_page, options, judge=False, photo=photo is not None, layout_when=layout_when
                    )
        self._local.last_turned = rotation != 0
        if layout is not None:
            # Upright page -> the page before the turn -> the photo as handed (before straightening).
            before_turn = turned(rotation, page.width, page.height)
            to_input = compose(IDENTITY if photo is None else photo.to_input, before_turn)
            layout = replace(layout, to_input=to_input)
        # Tesseract ends pages with newlines/form feeds; headers, footers and page numbers are kept.
        return PageText(text=text.strip("\n\f "), rotation=rotation, meta=meta, layout=layout)

    def last_confidence(self) -> int:
        """Mean word confidence (0-100) of the last page this thread read (its final reading, after any
        turn); 0 when it found no word or read no page."""
        return int(getattr(self._local, "confidence", 0))

    def _read(
        self,
        page: Image.Image,
        options: EngineOptions,
        judge: bool = True,
        photo: bool = False,
        layout_when: LayoutWhen | None = None,
    ) -> tuple[str, bool, PageLayout | None]:
        """The page's text, (when judge) whether the reading proves the page upright (reads_upright;
        not asked of a page OSD has already turned), and its layout when the request wants one (from
        the same recognition). photo: the page is a camera photo (photo.py)."""
        # tesserocr, OpenCV and NumPy: imported on the first page (engines/__init__.py).
        from .page_cleanup import erase_rules, stretch_contrast  # noqa: PLC0415
        from .tesseract_reading import page_layout, reads_upright, text_lines  # noqa: PLC0415

        api = self._api(options.get("lang", self.default_lang))
        try:
            # Rules are erased on scans and renders, not on photos, whose sheet edges, shadows and curl
            # make long thin marks too (docs/ACCURACY.md, "Dense bills").
            page = stretch_contrast(page)
            api.SetImage(page if photo else erase_rules(page))
            api.Recognize()
            # Kept for this thread's caller (hybrid.py judges the reading by it).
            self._local.confidence = int(api.MeanTextConf())
            upright = judge and reads_upright(api)
            layout = options.get("layout", "rows")
            text = rows_text(text_lines(api)) if layout == "rows" else api.GetUTF8Text()
            wanted = wants_layout(options) or (
                layout_when is not None and layout_when(self._local.confidence, text, photo)
            )
            found = page_layout(api, page.width, page.height) if wanted else None
        finally:
            api.Clear()
        return text, upright, found


def _no_text(note: str, facts: dict[str, float] | None = None) -> PageText:
    return PageText(text="", source="text-layer", meta={**(facts or {}), "note": note})
