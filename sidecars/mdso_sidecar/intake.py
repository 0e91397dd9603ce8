"""Intake: a spooled upload (spool.py; its type told by sniff.py) opened as a document whose pages are
rendered one at a time on demand, as each engine's RenderPolicy asks, and whose PDF pages give their own
text layer. Damaged, encrypted and oversized documents are refused here.

PDFium is not thread-safe: every pypdfium2 call, open and close included, runs under PDFIUM_LOCK.
"""

from __future__ import annotations

import ctypes
import math
import struct
import threading
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import pypdfium2 as pdfium  # type: ignore[import-untyped]  # no py.typed marker
import pypdfium2.raw as pdfium_c  # type: ignore[import-untyped]
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CorruptDocument, EncryptedDocument, ImageTooLarge, scrub
from .layout import PageGeometry, PageLayout, mapped, text_layer_layout
from .sniff import DocumentKind

PDFIUM_LOCK = threading.Lock()

# 200 megapixels is a 14000 x 14000 scan, far beyond any real page; above it Pillow refuses to decode
# (decompression bombs: a few KB of PNG expanding to GBs). Pillow warns above the bound and raises above
# twice it; turning the warning into an error makes both refuse before any pixel is decoded.
MAX_IMAGE_PIXELS = 200_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
warnings.simplefilter("error", Image.DecompressionBombWarning)

# What Pillow raises on damaged files, besides OSError: found by sidecars/tests/test_fuzz.py (a TIFF
# whose IFD lost its size tags raises TypeError "Missing dimensions" when its frames are counted, a
# cut GIF raises OSError while seeking to a frame, bad tables raise struct.error, IndexError,
# KeyError...). All of them mean "the file is damaged" (422), never an internal error (500).
_IMAGE_DECODE_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    EOFError,
    IndexError,
    KeyError,
    ZeroDivisionError,
    struct.error,
)


def _damage(exc: BaseException) -> str:
    """What a library said was wrong with the file, for a message: never its path (Pillow names the
    spool file it opened) and never empty (KeyError() says nothing)."""
    return scrub(str(exc)) or type(exc).__name__


@dataclass(frozen=True)
class RenderPolicy:
    """How an engine wants its pages rasterised. Declared by the engine, applied by intake."""

    pdf_dpi: float = 300.0
    """PDF render resolution."""
    max_side: int = 10_000
    """Longest side cap in pixels for any page (absurd MediaBoxes): the resolution is lowered to fit."""
    longest_side: int | None = None
    """When set, every page (PDF or image) is scaled so its longest side is exactly this (VLMs that
    were trained at one size, e.g. olmOCR's 1288 px). Overrides pdf_dpi and the image bounds."""
    image_max_side: int = 4000
    """Images whose longest side exceeds this are downscaled (phone photos)."""
    image_min_side: int = 0
    """Images whose longest side is below this are upscaled, by at most image_max_upscale."""
    image_max_upscale: float = 1.0
    grayscale: bool = False
    """Render/convert to 8-bit grey ("L") instead of RGB: a third of the memory for engines that
    binarise anyway."""

    @property
    def mode(self) -> str:
        return "L" if self.grayscale else "RGB"


@dataclass(frozen=True)
class TextLayer:
    """The text a PDF page carries itself (born-digital PDFs, or scans OCRed before upload)."""

    text: str
    chars: int
    """Non-whitespace characters extracted."""
    unmapped: int
    """Of those, characters that map to no real text: U+FFFD, private-use code points (glyphs whose
    font has no ToUnicode entry) and control characters."""

    @property
    def unmapped_share(self) -> float:
        return self.unmapped / self.chars if self.chars else 0.0


def _is_unmapped(char: str) -> bool:
    code = ord(char)
    return (
        char == "\ufffd"
        or 0xE000 <= code <= 0xF8FF
        or code >= 0xF0000
        or (code < 0x20 and char not in "\t\n\r")
        or code == 0x7F
    )


def text_layer_of(raw: str) -> TextLayer:
    """A page's extracted text, normalised (PDFium ends lines with CRLF) and counted."""
    text = raw.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = "\n".join(line.rstrip() for line in text.split("\n")).strip("\n")
    visible = [c for c in text if not c.isspace()]
    return TextLayer(text=text, chars=len(visible), unmapped=sum(1 for c in visible if _is_unmapped(c)))


class Document(ABC):
    """An opened upload. Pages are 1-based and rendered on demand, one image at a time.

    render() may be called from several threads at once; close() only after every render returned.
    """

    kind: DocumentKind
    page_count: int
    path: Path
    """The spooled file, for engines that read documents themselves (marker). Read-only: PDF files
    are read with PDFIUM_LOCK held, like every PDFium call."""

    @abstractmethod
    def render(self, page: int, policy: RenderPolicy) -> Image.Image:
        """The page as an RGB or L image (per policy), transparency flattened onto white."""

    def text_layer(self, page: int) -> TextLayer | None:
        """The page's own text (PDF text layer), or None when the document cannot carry one (images)."""
        return None

    @abstractmethod
    def geometry(self, page: int, policy: RenderPolicy) -> PageGeometry:
        """The size and density of the render `policy` gives of the page, found without rendering it
        (asked only for requests that want a layout, format=json...)."""

    def text_layer_layout(self, page: int, policy: RenderPolicy) -> PageLayout | None:
        """The page's text layer as a layout (its characters' boxes grouped in words and lines), in the
        pixels of the render `policy` gives; None when the document has no text layer."""
        return None

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Document:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class PdfDocument(Document):
    kind = DocumentKind.PDF

    def __init__(self, path: Path) -> None:
        self.path = path
        with PDFIUM_LOCK:
            try:
                self._pdf: Any = pdfium.PdfDocument(str(path))
            except pdfium.PdfiumError as exc:
                # pypdfium2 5 carries the error code; 4.30 (pinned by marker's pdftext) does not, but
                # PDFium still holds it: nothing else can have loaded a document since (we hold the lock).
                err_code = getattr(exc, "err_code", None)
                if err_code is None:
                    err_code = pdfium_c.FPDF_GetLastError()
                if err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
                    raise EncryptedDocument(
                        "PDF is password-protected; remove the password (e.g. qpdf --decrypt) and resend",
                    ) from None
                raise CorruptDocument(
                    "the PDF could not be read (truncated or damaged); re-export or re-scan it and resend",
                    {"reason": _damage(exc)},
                ) from None
            self.page_count = len(self._pdf)
        if self.page_count == 0:
            self.close()
            raise CorruptDocument("the PDF has no pages; re-export it and resend")

    def _load_page(self, page: int) -> Any:
        """The pdfium page object; the caller holds PDFIUM_LOCK and closes it."""
        try:
            return self._pdf[page - 1]
        except pdfium.PdfiumError as exc:
            # A page object the rebuilt xref could not find or parse: that page is damaged (422
            # when no page reads, the other pages still returned); was an internal page error.
            raise CorruptDocument(
                f"page {page} of the PDF could not be read (damaged: {_damage(exc)}); re-export it and resend"
            ) from None

    def render(self, page: int, policy: RenderPolicy) -> Image.Image:
        with PDFIUM_LOCK:
            pdf_page = self._load_page(page)
            try:
                scale = _pdf_scale(pdf_page, page, policy)
                bitmap = pdf_page.render(
                    scale=scale, grayscale=policy.grayscale, may_draw_forms=True, draw_annots=True
                )
                try:
                    # to_pil() may share pdfium's buffer; convert() always returns a copy, made
                    # before the bitmap is freed.
                    image: Image.Image = bitmap.to_pil().convert(policy.mode)
                finally:
                    bitmap.close()
            finally:
                # Explicit close under the lock: otherwise the finaliser frees it later on whatever
                # thread the garbage collector runs in, outside the lock.
                pdf_page.close()
        return image

    def text_layer(self, page: int) -> TextLayer:
        with PDFIUM_LOCK:
            pdf_page = self._load_page(page)
            try:
                textpage = pdf_page.get_textpage()
                try:
                    raw: str = textpage.get_text_range()
                finally:
                    textpage.close()
            finally:
                pdf_page.close()
        return text_layer_of(raw)

    def geometry(self, page: int, policy: RenderPolicy) -> PageGeometry:
        with PDFIUM_LOCK:
            pdf_page = self._load_page(page)
            try:
                scale = _pdf_scale(pdf_page, page, policy)
                width, height = pdf_page.get_size()
            finally:
                pdf_page.close()
        return PageGeometry(math.ceil(width * scale), math.ceil(height * scale), scale * 72.0)

    def text_layer_layout(self, page: int, policy: RenderPolicy) -> PageLayout:
        with PDFIUM_LOCK:
            pdf_page = self._load_page(page)
            try:
                scale = _pdf_scale(pdf_page, page, policy)
                width, height = pdf_page.get_size()
                size = (math.ceil(width * scale), math.ceil(height * scale))
                to_device = _page_to_device(pdf_page, size)
                textpage = pdf_page.get_textpage()
                try:
                    # Grouped in the page's own text space (points, y turned downwards), where text runs
                    # left to right even on a page displayed turned (/Rotate), then carried to the render.
                    chars = []
                    for index in range(textpage.count_chars()):
                        code = pdfium_c.FPDFText_GetUnicode(textpage.raw, index)
                        left, bottom, right, top = textpage.get_charbox(index)
                        chars.append((chr(code) if code else "", (left, -top), (right, -bottom)))
                finally:
                    textpage.close()
            finally:
                pdf_page.close()
        grouped = text_layer_layout(chars, size[0], size[1])
        return mapped(grouped, to_device, size[0], size[1])

    def close(self) -> None:
        with PDFIUM_LOCK:
            self._pdf.close()


def _pdf_scale(pdf_page: Any, page: int, policy: RenderPolicy) -> float:
    """Pixels per point of the page's render under `policy` (the caller holds PDFIUM_LOCK)."""
    width, height = pdf_page.get_size()
    longest_pt = max(width, height)
    if longest_pt <= 0:
        raise CorruptDocument(f"page {page} has an empty page box")
    if policy.longest_side is not None:
        return float(policy.longest_side / longest_pt)
    return float(min(policy.pdf_dpi / 72.0, policy.max_side / longest_pt))


def _page_to_device(pdf_page: Any, size: tuple[int, int]) -> tuple[float, ...]:
    """The affine map (as a homography) from the page's text space — its own points, before its
    /Rotate, y negated so that it runs downwards — to the pixels of a `size` render (origin top-left,
    the page as displayed). PDFium answers whole pixels: the map is read from points a page apart."""
    far = 10_000.0

    def device(x: float, y: float) -> tuple[float, float]:
        out_x, out_y = ctypes.c_int(), ctypes.c_int()
        pdfium_c.FPDF_PageToDevice(
            pdf_page.raw, 0, 0, size[0], size[1], 0, x, y, ctypes.byref(out_x), ctypes.byref(out_y)
        )
        return float(out_x.value), float(out_y.value)

    (x0, y0), (x1, y1), (x2, y2) = device(0, 0), device(far, 0), device(0, -far)
    # Text space (x, t) is page space (x, -t): device = origin + x * d(x) + t * d(t).
    return ((x1 - x0) / far, (x2 - x0) / far, x0, (y1 - y0) / far, (y2 - y0) / far, y0, 0.0, 0.0, 1.0)


class ImageDocument(Document):
    """A raster image; every frame of a multi-page TIFF, animated GIF/PNG/WebP is a page."""

    def __init__(self, path: Path, kind: DocumentKind) -> None:
        self.kind = kind
        self.path = path
        with _open_image(path, kind) as image:
            try:
                # Counting frames walks every IFD/frame header: damaged ones fail here, not at open.
                self.page_count = int(getattr(image, "n_frames", 1))
            except _IMAGE_DECODE_ERRORS as exc:
                raise CorruptDocument(
                    f"the image's pages could not be counted (truncated or damaged: {_damage(exc)}); "
                    "re-export it and resend"
                ) from None

    def render(self, page: int, policy: RenderPolicy) -> Image.Image:
        # A fresh handle per call: Pillow image objects are not safe to seek from two threads.
        with _open_image(self.path, self.kind) as image:
            try:
                image.seek(page - 1)
            except EOFError:
                raise CorruptDocument(f"frame {page} is missing (truncated file)") from None
            except _IMAGE_DECODE_ERRORS as exc:
                # GIF seeks decode the previous frames: a damaged one fails here (was an internal error).
                raise CorruptDocument(
                    f"frame {page} could not be decoded (truncated or damaged: {_damage(exc)}); "
                    "re-export it and resend"
                ) from None
            _check_pixels(image.size)
            target = _target_size(image.size, policy)
            if image.format == "JPEG" and target[0] < image.size[0]:
                # Decode a big JPEG directly at 1/2, 1/4 or 1/8 scale: less memory and time.
                image.draft(policy.mode, target)
            try:
                image.load()
                upright = ImageOps.exif_transpose(image) or image  # phone photos store rotation in EXIF
            except _IMAGE_DECODE_ERRORS as exc:
                raise CorruptDocument(
                    f"the image could not be decoded (truncated or damaged: {_damage(exc)}); "
                    "re-export it and resend"
                ) from None
            flat = _square_pixels(_flatten(upright), image.info.get("dpi"))
        target = _target_size(flat.size, policy)
        if target != flat.size:
            flat = flat.resize(target, Image.Resampling.LANCZOS)
        return flat.convert(policy.mode)

    def geometry(self, page: int, policy: RenderPolicy) -> PageGeometry:
        # Only the header is read: the size the render will have, and its density scaled alike.
        with _open_image(self.path, self.kind) as image:
            try:
                image.seek(page - 1)
            except _IMAGE_DECODE_ERRORS:
                raise CorruptDocument(f"frame {page} could not be read") from None
            width, height = image.size
            if image.getexif().get(0x0112, 1) in (5, 6, 7, 8):  # EXIF orientation turning it a quarter
                width, height = height, width
            dpi = image.info.get("dpi")
        density: float | None = None
        if isinstance(dpi, tuple) and len(dpi) == 2:
            try:
                x_dpi, y_dpi = float(dpi[0]), float(dpi[1])
            except (TypeError, ValueError):
                x_dpi = y_dpi = 0.0
            if x_dpi > 0 and y_dpi > 0:
                density = max(x_dpi, y_dpi)
                ratio = x_dpi / y_dpi
                if abs(ratio - 1) >= 0.1 and max(ratio, 1 / ratio) <= 4:  # as _square_pixels stretches
                    if ratio > 1:
                        height = round(height * ratio)
                    else:
                        width = round(width / ratio)
        target = _target_size((width, height), policy)
        if density is not None:
            density *= target[0] / max(width, 1)
        return PageGeometry(target[0], target[1], density)

    def close(self) -> None:
        """Nothing is held open between renders."""


def _open_image(path: Path, kind: DocumentKind) -> Image.Image:
    try:
        image = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large() from None
    except UnidentifiedImageError:
        # Its text is only "cannot identify image file <path>": no plugin could parse the header.
        raise CorruptDocument(
            f"the {kind.value} image could not be read (its header is incomplete or damaged); "
            "re-export it and resend"
        ) from None
    except _IMAGE_DECODE_ERRORS as exc:
        raise CorruptDocument(
            f"the image could not be read (truncated or damaged: {_damage(exc)}); re-export it and resend"
        ) from None
    try:
        _check_pixels(image.size)
    except ImageTooLarge:
        image.close()
        raise
    return image


def _too_large() -> ImageTooLarge:
    return ImageTooLarge(
        f"the image has more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels; downscale it and resend",
        {"max_pixels": MAX_IMAGE_PIXELS},
    )


def _check_pixels(size: tuple[int, int]) -> None:
    if size[0] * size[1] > MAX_IMAGE_PIXELS:
        raise _too_large()


def _flatten(image: Image.Image) -> Image.Image:
    """Transparent pixels become white (tesseract reads transparent black text on black otherwise)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if not has_alpha:
        if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
            # 16-bit and float scans: stretch to 8 bits instead of clipping everything to white.
            return ImageOps.autocontrast(image.convert("I").point(lambda v: v / 256).convert("L"))
        return image.convert("RGB") if image.mode not in ("RGB", "L") else image.copy()
    rgba = image.convert("RGBA")
    background = Image.new("RGB", rgba.size, (255, 255, 255))
    background.paste(rgba, mask=rgba.getchannel("A"))
    return background


def _square_pixels(image: Image.Image, dpi: object) -> Image.Image:
    """Stretch an image whose pixels are not square (a G3 fax in normal mode is 200 dpi across and
    100 dpi down, stored as a half-height page) along its low-resolution axis, so letters keep their
    shape: on the eval's faxes numeric-token recall went from 0.643 to 0.832 and CER from 48.1% to
    45.7% (docs/ACCURACY.md). Ratios beyond 4 are not a fax: left alone."""
    if not (isinstance(dpi, tuple) and len(dpi) == 2):
        return image
    try:
        x_dpi, y_dpi = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return image
    if x_dpi <= 0 or y_dpi <= 0 or abs(x_dpi / y_dpi - 1) < 0.1 or max(x_dpi / y_dpi, y_dpi / x_dpi) > 4:
        return image
    width, height = image.size
    stretch_rows = x_dpi > y_dpi
    size = (width, round(height * x_dpi / y_dpi)) if stretch_rows else (round(width * y_dpi / x_dpi), height)
    _check_pixels(size)
    return image.resize(size, Image.Resampling.BICUBIC)


def _target_size(size: tuple[int, int], policy: RenderPolicy) -> tuple[int, int]:
    width, height = size
    longest = max(width, height, 1)
    if policy.longest_side is not None:
        factor = policy.longest_side / longest
    elif longest > policy.image_max_side:
        factor = policy.image_max_side / longest
    elif longest < policy.image_min_side:
        factor = min(policy.image_max_upscale, policy.image_min_side / longest)
    else:
        return size
    if factor == 1.0:
        return size
    return max(1, round(width * factor)), max(1, round(height * factor))


def open_document(path: Path, kind: DocumentKind) -> Document:
    """Open the spooled file; no page is rendered yet."""
    if kind is DocumentKind.PDF:
        return PdfDocument(path)
    return ImageDocument(path, kind)
