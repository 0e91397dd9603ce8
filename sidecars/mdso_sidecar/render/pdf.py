"""The searchable PDF: the input's own pages with an invisible text layer (text render mode 3) where
the engine read each word, as `ocrmypdf --output-type pdf` makes, from what the engine already read.

- A PDF input keeps each page read as it was: its content streams, images and resources are not
  rewritten; the text layer is one more content stream, after the page's own wrapped in q/Q. Pages
  whose text came from the PDF's own text layer get none (their text is already there).
- An image input (PNG, JPEG, TIFF...) becomes a page per frame read, sized by the image's density (300
  dpi when it says none): a JPEG's bytes are embedded as they are (DCTDecode), other images losslessly
  (their pixels, Flate-compressed; palettes expanded, transparency as a soft mask). EXIF orientation is
  applied by the page's drawing matrix, so the embedded pixels stay the file's own.

The text is drawn with a glyphless font (glyphless.ttf: one empty glyph for every code, built by
tools/mdso_tools/glyphless_font.py) as a Type0 / Identity-H font whose codes are the text's UTF-16
units, and a ToUnicode CMap mapping each code to itself: any script survives extraction (œ, €, ’,
Czech letters), which Helvetica's WinAnsi encoding cannot carry. Tesseract and OCRmyPDF do the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import pikepdf
from PIL import Image

from ..layout import IDENTITY, Block, Box, Line, PageLayout, Word, apply
from .pages import RenderedPage

CONTENT_TYPE = "application/pdf"
DEFAULT_DPI = 300.0
"""Assumed for an image that does not say its density (as OCRmyPDF and img2pdf do)."""
FONT_NAME = "MdsoOcrText"
_GLYPH_WIDTH = 0.5
"""The glyph's advance in text space units (500/1000 em): a string of n codes at size 1 is n/2 wide."""

_MAX_ASPECT = 4.0
_MIN_GAP = 0.2
"""The least gap between two words of a line, in line heights, that text extraction takes for a space
(poppler: a tenth of the font size)."""

Point = tuple[float, float]
ToUser = Callable[[float, float], Point]


@dataclass(frozen=True)
class _Frame:
    """Where a render's pixels lie in PDF user space: render (x, y) → user (X, Y)."""

    input_width: int
    input_height: int
    box: tuple[float, float, float, float]
    """The visible page box (CropBox ∩ MediaBox) in user space: x0, y0, x1, y1."""
    rotate: int
    """The page's /Rotate, clockwise, 0/90/180/270."""

    def point(self, x: float, y: float) -> Point:
        x0, y0, x1, y1 = self.box
        width, height = x1 - x0, y1 - y0
        shown_w, shown_h = (height, width) if self.rotate in (90, 270) else (width, height)
        # Points from the top-left corner of the page as shown (after /Rotate), as PDFium renders it.
        dx = x * shown_w / self.input_width
        dy = y * shown_h / self.input_height
        if self.rotate == 90:
            return x0 + dy, y0 + dx
        if self.rotate == 180:
            return x1 - dx, y0 + dy
        if self.rotate == 270:
            return x1 - dy, y1 - dx
        return x0 + dx, y1 - dy


def render_pdf(pages: Sequence[RenderedPage], source: Path, is_pdf: bool, out: Path) -> None:
    """Writes the searchable PDF of `pages` (the pages read, in order) of the document `source` to
    `out`. Blocking (runs in a worker thread); the source is only read."""
    pdf = _pdf_pages(source, pages) if is_pdf else _image_pages(source, pages)
    with pdf:
        pdf.docinfo["/Producer"] = pikepdf.String(f"mdso-ocr; pikepdf {pikepdf.__version__}")
        pdf.save(out)


# -- PDF input ---------------------------------------------------------------------------------------


def _pdf_pages(source: Path, pages: Sequence[RenderedPage]) -> pikepdf.Pdf:
    pdf = pikepdf.open(source)
    try:
        numbers = [p.page for p in pages]
        if numbers != sorted(set(numbers)):
            raise ValueError("pages must be in document order, each once")
        keep = set(numbers)
        for index in reversed(range(len(pdf.pages))):
            if index + 1 not in keep:
                del pdf.pages[index]
        font: pikepdf.Object | None = None
        for pdf_page, page in zip(pdf.pages, pages, strict=True):
            if page.layout is None or page.geometry is None or page.source == "text-layer":
                continue
            if not any(w.text.strip() for w in page.layout.words()):
                continue  # nothing to add: the page stays exactly as it was
            frame = _Frame(
                page.geometry.input_width,
                page.geometry.input_height,
                _visible_box(pdf_page.obj),
                _rotation(pdf_page.obj),
            )
            font = font if font is not None else _font(pdf)
            name = _add_font(pdf_page.obj, font)
            layer = _text_layer(page.layout, _to_user(page.layout, frame), name)
            if layer:
                # The page's own drawing in q/Q, so a graphics state it leaves set cannot move our text.
                pdf_page.contents_add(pdf.make_stream(b"q\n"), prepend=True)
                pdf_page.contents_add(pdf.make_stream(b"\nQ\n" + layer), prepend=False)
        return pdf
    except BaseException:
        pdf.close()
        raise


def _inherited(page: pikepdf.Dictionary, key: str) -> Any:
    """A page attribute, inherited from the page tree when the page does not set it."""
    node: Any = page
    for _ in range(64):  # a page tree deeper than this is a loop
        if key in node:
            return node[key]
        if "/Parent" not in node:
            return None
        node = node["/Parent"]
    return None


def _rotation(page: pikepdf.Dictionary) -> int:
    """The page's /Rotate as PDFium reads it: quarter turns, clockwise (-90 is 270, 45 is 0)."""
    try:
        value = int(_inherited(page, "/Rotate") or 0)
    except (TypeError, ValueError):
        return 0
    quarters = abs(value) // 90 * (1 if value >= 0 else -1)  # truncated, as PDFium divides
    return quarters % 4 * 90


def _rect(value: Any) -> tuple[float, float, float, float] | None:
    try:
        x0, y0, x1, y1 = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def _visible_box(page: pikepdf.Dictionary) -> tuple[float, float, float, float]:
    """CropBox ∩ MediaBox: the area PDFium renders (US Letter when the MediaBox is missing, as PDFium)."""
    media = _rect(_inherited(page, "/MediaBox")) or (0.0, 0.0, 612.0, 792.0)
    crop = _rect(_inherited(page, "/CropBox"))
    if crop is None:
        return media
    box = max(crop[0], media[0]), max(crop[1], media[1]), min(crop[2], media[2]), min(crop[3], media[3])
    return box if box[2] > box[0] and box[3] > box[1] else media


def _add_font(page: pikepdf.Dictionary, font: pikepdf.Object) -> pikepdf.Name:
    """Puts the text font in the page's own resources (copied from the page tree when inherited,
    shared dictionaries copied rather than changed) under a name the page does not use."""
    resources = _inherited(page, "/Resources")
    own = pikepdf.Dictionary({k: v for k, v in resources.items()} if resources is not None else {})
    fonts = own.get("/Font")
    own_fonts = pikepdf.Dictionary({k: v for k, v in fonts.items()} if fonts is not None else {})
    name, n = f"/{FONT_NAME}", 0
    while name in own_fonts:
        n += 1
        name = f"/{FONT_NAME}{n}"
    own_fonts[name] = font
    own["/Font"] = own_fonts
    page["/Resources"] = own
    return pikepdf.Name(name)


# -- image input -------------------------------------------------------------------------------------

# EXIF orientation → where the stored image's corners go on the upright page: (x, y) of the upright
# page (0–1, y down) for the stored image's (u, v) (0–1, v down).
_ORIENTATIONS: dict[int, Callable[[float, float], Point]] = {
    1: lambda u, v: (u, v),
    2: lambda u, v: (1 - u, v),
    3: lambda u, v: (1 - u, 1 - v),
    4: lambda u, v: (u, 1 - v),
    5: lambda u, v: (v, u),
    6: lambda u, v: (1 - v, u),
    7: lambda u, v: (1 - v, 1 - u),
    8: lambda u, v: (v, 1 - u),
}


def _image_pages(source: Path, pages: Sequence[RenderedPage]) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    try:
        font: pikepdf.Object | None = None
        with Image.open(source) as image:
            for page in pages:
                image.seek(page.page - 1)
                xobject, (width, height), (x_dpi, y_dpi), orientation = _embed_frame(pdf, image, source)
                turned = orientation in (5, 6, 7, 8)
                up_w, up_h = (height, width) if turned else (width, height)
                up_xdpi, up_ydpi = (y_dpi, x_dpi) if turned else (x_dpi, y_dpi)
                page_w, page_h = up_w * 72.0 / up_xdpi, up_h * 72.0 / up_ydpi
                pdf_page = pdf.add_blank_page(page_size=(page_w, page_h))
                resources: dict[str, Any] = {"/XObject": pikepdf.Dictionary({"/Im0": xobject})}
                content = b"q " + _cm(_image_matrix(orientation, page_w, page_h)) + b" cm /Im0 Do Q\n"
                if page.layout is not None and page.geometry is not None and page.layout.blocks:
                    font = font if font is not None else _font(pdf)
                    resources["/Font"] = pikepdf.Dictionary({f"/{FONT_NAME}": font})
                    frame = _Frame(
                        page.geometry.input_width, page.geometry.input_height, (0, 0, page_w, page_h), 0
                    )
                    name = pikepdf.Name(f"/{FONT_NAME}")
                    content += _text_layer(page.layout, _to_user(page.layout, frame), name)
                pdf_page.obj["/Resources"] = pikepdf.Dictionary(resources)
                pdf_page.obj["/Contents"] = pdf.make_stream(content)
        return pdf
    except BaseException:
        pdf.close()
        raise


def _image_matrix(orientation: int, page_w: float, page_h: float) -> tuple[float, ...]:
    """The cm matrix drawing the stored image (PDF image space: unit square, first row at the top)
    upright on a page_w × page_h page."""
    place = _ORIENTATIONS.get(orientation, _ORIENTATIONS[1])

    def at(s: float, t: float) -> Point:
        x, y = place(s, 1 - t)
        return x * page_w, (1 - y) * page_h

    origin, right, up = at(0, 0), at(1, 0), at(0, 1)
    return (right[0] - origin[0], right[1] - origin[1], up[0] - origin[0], up[1] - origin[1], *origin)


def _density(image: Image.Image) -> tuple[float, float]:
    """The frame's pixels per inch across and down; DEFAULT_DPI when the file does not say."""
    dpi: object = image.info.get("dpi")
    if image.format in ("JPEG", "MPO") and image.info.get("jfif_unit") not in (1, 2):
        # Pillow answers 72 for a JPEG whose JFIF header gives only an aspect ratio: only a density
        # the EXIF really carries counts.
        exif = image.getexif()
        dpi = None
        if 0x011A in exif:
            per_cm = exif.get(0x0128) == 3
            x = float(exif[0x011A]) * (2.54 if per_cm else 1.0)
            dpi = (x, float(exif.get(0x011B, exif[0x011A])) * (2.54 if per_cm else 1.0))
    try:
        x, y = float(dpi[0]), float(dpi[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError, ZeroDivisionError):
        return DEFAULT_DPI, DEFAULT_DPI
    # 0, 1 or absurd densities mean "unknown" (broken exporters).
    if not (20 <= x <= 10_000 and 20 <= y <= 10_000):
        return DEFAULT_DPI, DEFAULT_DPI
    return x, y


def _embed_frame(
    pdf: pikepdf.Pdf, image: Image.Image, source: Path
) -> tuple[pikepdf.Stream, tuple[int, int], tuple[float, float], int]:
    """The current frame as an image XObject: (xobject, stored size, density, EXIF orientation)."""
    orientation = int(image.getexif().get(0x0112, 1) or 1)
    size = image.size
    density = _density(image)
    if image.format in ("JPEG", "MPO") and image.tell() == 0 and image.mode in ("L", "RGB", "CMYK"):
        stream = pdf.make_stream(source.read_bytes())
        colour = {"L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}[image.mode]
        stream["/Filter"] = pikepdf.Name("/DCTDecode")
        if image.mode == "CMYK" and "adobe" in image.info:
            # Adobe's CMYK JPEGs store inverted values (Photoshop's convention).
            stream["/Decode"] = pikepdf.Array([1, 0] * 4)
        _image_dict(stream, size, colour, 8)
        return stream, size, density, orientation
    return _lossless(pdf, image), size, density, orientation


def _image_dict(stream: pikepdf.Stream, size: tuple[int, int], colour: str, bits: int) -> None:
    stream["/Type"] = pikepdf.Name("/XObject")
    stream["/Subtype"] = pikepdf.Name("/Image")
    stream["/Width"], stream["/Height"] = size
    stream["/ColorSpace"] = pikepdf.Name(colour)
    stream["/BitsPerComponent"] = bits


def _lossless(pdf: pikepdf.Pdf, image: Image.Image) -> pikepdf.Stream:
    """The frame's pixels, Flate-compressed on save: 1-bit, grey, 16-bit grey, RGB and CMYK as stored;
    palettes expanded; transparency as a soft mask."""
    frame = image
    if frame.mode == "P":
        frame = frame.convert("RGBA" if "transparency" in frame.info else "RGB")
    elif frame.mode == "PA":
        frame = frame.convert("RGBA")
    elif frame.mode in ("I;16", "I;16L", "I;16B", "I;16N"):
        big_endian = frame if frame.mode == "I;16B" else frame.convert("I;16B")
        stream = pdf.make_stream(big_endian.tobytes())
        _image_dict(stream, frame.size, "/DeviceGray", 16)
        return stream
    elif frame.mode not in ("1", "L", "LA", "RGB", "RGBA", "CMYK"):
        frame = frame.convert("RGBA" if "A" in frame.mode else "RGB")
    mask: pikepdf.Stream | None = None
    if frame.mode in ("LA", "RGBA"):
        alpha = frame.getchannel("A")
        if alpha.getextrema() != (255, 255):
            mask = pdf.make_stream(alpha.tobytes())
            _image_dict(mask, frame.size, "/DeviceGray", 8)
        frame = frame.convert(frame.mode[:-1])
    colour = {"1": "/DeviceGray", "L": "/DeviceGray", "RGB": "/DeviceRGB", "CMYK": "/DeviceCMYK"}[frame.mode]
    stream = pdf.make_stream(frame.tobytes())
    _image_dict(stream, frame.size, colour, 1 if frame.mode == "1" else 8)
    if mask is not None:
        stream["/SMask"] = mask
    return stream


# -- the text layer ----------------------------------------------------------------------------------


def _to_user(layout: PageLayout, frame: _Frame) -> ToUser:
    matrix = layout.to_input

    def to_user(x: float, y: float) -> Point:
        if matrix != IDENTITY:
            x, y = apply(matrix, x, y)
        return frame.point(x, y)

    return to_user


def _spread_lines(block: Block) -> Iterator[Line]:
    """A block's lines with boxes of their own: lines that all share one box (a page-level reading,
    where only the page was measured) are laid one under the other in it, so text extraction keeps
    them as separate lines in reading order."""
    lines = block.lines
    if len(lines) < 2 or any(line.box != lines[0].box for line in lines):
        yield from lines
        return
    box = lines[0].box
    step = (box.bottom - box.top) / len(lines)
    for i, line in enumerate(lines):
        top = box.top + i * step
        spread = Box(box.left, top, box.right, top + step)
        words = tuple(Word(w.text, spread, w.conf) if w.box == box else w for w in line.words)
        yield Line(words, spread, line.conf)


def _spread_words(line: Line) -> list[Word]:
    """The line's words with boxes of their own: words that all share the line's box (a line-level
    reading) split it in proportion to their length."""
    words = line.words
    if len(words) == 1 and len(words[0].text.split()) > 1:
        # One reading of several words (a page-level reader's line): its words, spread in it.
        words = tuple(Word(text, words[0].box, words[0].conf) for text in words[0].text.split())
    if len(words) < 2 or any(w.box != words[0].box for w in words):
        return list(words)
    box = words[0].box
    total = sum(len(w.text) + 1 for w in words) - 1
    unit = (box.right - box.left) / max(1, total)
    out, left = [], box.left
    for w in words:
        right = left + len(w.text) * unit
        out.append(Word(w.text, Box(left, box.top, right, box.bottom), w.conf))
        left = right + unit
    return out


def _utf16_hex(text: str) -> bytes:
    return text.encode("utf-16-be").hex().upper().encode("ascii")


def _num(value: float) -> bytes:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return (text if text not in ("-0", "") else "0").encode("ascii")


def _cm(matrix: Sequence[float]) -> bytes:
    return b" ".join(_num(v) for v in matrix)


def _text_layer(layout: PageLayout, to_user: ToUser, font: pikepdf.Name) -> bytes:
    """The content stream drawing every word invisibly over its box (its glyphs stretched to fill
    its width, baseline on its line's bottom, height its line's, in whatever direction the page lies
    in user space), and a space stretched over the gap to the next word of the line: text extraction and
    selection then find the words where they stand on the page, and the spaces between them."""
    parts: list[bytes] = []
    for block in layout.blocks:
        for line in _spread_lines(block):
            words = [w for w in _spread_words(line) if w.text.strip()]
            top, bottom = line.box.top, line.box.bottom
            # The glyphs' height as drawn (see _string's cap on tall glyphs): what readers size gaps by.
            chars = sum(len(w.text.strip()) for w in words)
            char_width = sum(w.box.right - w.box.left for w in words) / max(1, chars)
            min_gap = _MIN_GAP * min(bottom - top, _MAX_ASPECT * char_width)
            for i, word in enumerate(words):
                # The line's height and bottom for every word: one baseline and size per line, as
                # readers expect of a line (a word's own box drops with its descenders: "Pompe").
                right = word.box.right
                following = words[i + 1].box.left if i + 1 < len(words) else None
                if following is not None and following - right < min_gap:
                    # Words that touch (rapidocr splits a line at character positions): readers join
                    # glyphs closer than a tenth of their size into one word, so leave them a gap.
                    right = max(word.box.left + (word.box.right - word.box.left) / 2, following - min_gap)
                box = Box(word.box.left, top, right, bottom)
                parts.append(_string(word.text.strip(), box, to_user))
                if following is not None:
                    parts.append(_string(" ", Box(right, top, max(right + 1, following), bottom), to_user))
    if not parts:
        return b""
    return b"BT\n3 Tr\n/" + str(font)[1:].encode("ascii") + b" 1 Tf\n" + b"".join(parts) + b"ET\n"


def _string(text: str, box: Box, to_user: ToUser) -> bytes:
    """`text` drawn to fill `box` (layout pixels): its text matrix maps the string's width at size 1
    onto the box's bottom edge, and one em onto its left edge."""
    origin = to_user(box.left, box.bottom)
    end = to_user(box.right, box.bottom)
    top = to_user(box.left, box.top)
    ux, uy = end[0] - origin[0], end[1] - origin[1]
    vx, vy = top[0] - origin[0], top[1] - origin[1]
    if abs(ux * vy - uy * vx) < 1e-6:
        return b""  # a box with no area: nowhere to put the text
    codes = len(text.encode("utf-16-be")) // 2
    advance = codes * _GLYPH_WIDTH
    # Glyphs far taller than wide (a page-level reading's line over a third of the page) make readers
    # merge repeated characters ("117" read as "17", taken for a fake-bold overprint): at most 4 times
    # as tall as a character is wide, from the baseline.
    height, width = math.hypot(vx, vy), math.hypot(ux, uy) / codes
    if height > _MAX_ASPECT * width:
        vx, vy = vx * _MAX_ASPECT * width / height, vy * _MAX_ASPECT * width / height
    matrix = (ux / advance, uy / advance, vx, vy, origin[0], origin[1])
    return _cm(matrix) + b" Tm <" + _utf16_hex(text) + b"> Tj\n"


# -- the glyphless font ------------------------------------------------------------------------------


def _tounicode_cmap() -> bytes:
    """Every 2-byte code to the UTF-16 unit it is: 256 ranges (a range may not cross its first byte),
    at most 100 to a block as the CMap format wants."""
    ranges = [f"<{hi:02X}00> <{hi:02X}FF> <{hi:02X}00>" for hi in range(256)]
    blocks = []
    for start in range(0, len(ranges), 100):
        chunk = ranges[start : start + 100]
        blocks.append(f"{len(chunk)} beginbfrange\n" + "\n".join(chunk) + "\nendbfrange\n")
    return (
        "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        + "".join(blocks)
        + "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    ).encode("ascii")


def _font(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """The Type0 font of the text layer, made once per output file."""
    font_file = pdf.make_stream(resources.files(__package__).joinpath("glyphless.ttf").read_bytes())
    descriptor = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.FontDescriptor,
            FontName=pikepdf.Name("/GlyphLessFont"),
            Flags=5,
            FontBBox=[0, 0, 500, 1000],
            ItalicAngle=0,
            Ascent=1000,
            Descent=-1,  # not 0: readers (poppler) take 0 for "unknown" and assume a deep descender
            CapHeight=1000,
            StemV=80,
            FontFile2=font_file,
        )
    )
    # Every CID (= UTF-16 unit) is drawn with glyph 1, the font's one empty glyph.
    cid_to_gid = pdf.make_stream(b"\x00\x01" * 65536)
    cid_font = pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.CIDFontType2,
            BaseFont=pikepdf.Name("/GlyphLessFont"),
            CIDSystemInfo=pikepdf.Dictionary(Registry="Adobe", Ordering="Identity", Supplement=0),
            FontDescriptor=descriptor,
            DW=int(_GLYPH_WIDTH * 1000),
            CIDToGIDMap=cid_to_gid,
        )
    )
    return pdf.make_indirect(
        pikepdf.Dictionary(
            Type=pikepdf.Name.Font,
            Subtype=pikepdf.Name.Type0,
            BaseFont=pikepdf.Name("/GlyphLessFont"),
            Encoding=pikepdf.Name("/Identity-H"),
            DescendantFonts=[cid_font],
            ToUnicode=pdf.make_stream(_tounicode_cmap()),
        )
    )

