"""Where on a page each piece of text was read, and how sure the reader was: the one description of a
page's layout that every structured output is built from (format=json, hOCR, ALTO, searchable PDF)
and that identifier checks read (identifiers.py).

Coordinates are pixels of the page image as the engine read it, upright (after any rotation the
engine applied, and for photos after the sheet was cropped and straightened): origin at the top-left
corner, x to the right, y downwards, boxes as (left, top, right, bottom) with right/bottom exclusive.
`to_input` maps those coordinates back to the image the engine was handed (the render of the page,
before rotation and cropping): a 3×3 homography, row-major, so that a searchable PDF can put the
words where they stand on the original page. The render's own relation to the document (a PDF page
rendered at `dpi`, an image scaled from its own size) is `PageGeometry`, filled in by the pipeline.

Nothing here imports an engine or a heavy package.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Granularity = Literal["word", "line", "block", "page"]
"""The finest unit whose box an engine really measured: tesseract gives word boxes, rapidocr line
boxes (words split where its recogniser gives character positions), a VLM the page only. Nothing
finer is ever invented: a page-level reading has one block, one line per text line, one word per
line, each with the page's box."""

IDENTITY: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    right: float
    bottom: float

    @staticmethod
    def around(boxes: Iterable[Box]) -> Box:
        """The smallest box holding all of `boxes` (at least one)."""
        items = list(boxes)
        if not items:
            raise ValueError("Box.around needs at least one box")
        return Box(
            min(b.left for b in items),
            min(b.top for b in items),
            max(b.right for b in items),
            max(b.bottom for b in items),
        )

    def to_json(self) -> list[int]:
        return [round(self.left), round(self.top), round(self.right), round(self.bottom)]


@dataclass(frozen=True)
class Word:
    text: str
    box: Box
    conf: float
    """0–1: the reader's own confidence (tesseract's word confidence / 100, rapidocr's line score)."""


@dataclass(frozen=True)
class Line:
    words: tuple[Word, ...]
    box: Box
    conf: float

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)


@dataclass(frozen=True)
class Block:
    lines: tuple[Line, ...]
    box: Box
    kind: str = "text"
    """"text", or what the reader says it is ("table", "page-header", "page-footer", ...)."""


@dataclass(frozen=True)
class PageLayout:
    width: int
    height: int
    """Pixels of the upright image the boxes are in."""
    blocks: tuple[Block, ...]
    granularity: Granularity
    to_input: tuple[float, ...] = IDENTITY
    """Homography (row-major 3×3) from these coordinates to the pixels of the image the engine was
    handed."""

    def words(self) -> list[Word]:
        return [w for b in self.blocks for line in b.lines for w in line.words]


@dataclass(frozen=True)
class PageGeometry:
    """How the image an engine was handed stands to the document's page (set by the pipeline)."""

    input_width: int
    input_height: int
    """Pixels of the render the engine was handed."""
    dpi: float | None
    """Pixels per inch of that render: a PDF page's render resolution, an image's own density scaled
    like the render; None when the image says nothing (then 300 is assumed for points)."""
    extra: dict[str, Any] = field(default_factory=dict)


def compose(outer: Sequence[float], inner: Sequence[float]) -> tuple[float, ...]:
    """The homography applying `inner` then `outer` (both row-major 3×3)."""
    out = []
    for r in range(3):
        for c in range(3):
            out.append(sum(outer[r * 3 + k] * inner[k * 3 + c] for k in range(3)))
    return tuple(out)


def apply(matrix: Sequence[float], x: float, y: float) -> tuple[float, float]:
    """A point through a homography."""
    w = matrix[6] * x + matrix[7] * y + matrix[8]
    return ((matrix[0] * x + matrix[1] * y + matrix[2]) / w, (matrix[3] * x + matrix[4] * y + matrix[5]) / w)


def invert(matrix: Sequence[float]) -> tuple[float, ...]:
    """The inverse of a homography (row-major 3×3)."""
    a, b, c, d, e, f, g, h, i = matrix
    det = a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    if det == 0:
        raise ValueError("a homography without an inverse")
    return tuple(
        v / det
        for v in (
            e * i - f * h,
            c * h - b * i,
            b * f - c * e,
            f * g - d * i,
            a * i - c * g,
            c * d - a * f,
            d * h - e * g,
            b * g - a * h,
            a * e - b * d,
        )
    )


def translation(dx: float, dy: float) -> tuple[float, ...]:
    return (1.0, 0.0, dx, 0.0, 1.0, dy, 0.0, 0.0, 1.0)


def turned(rotation: int, width: int, height: int) -> tuple[float, ...]:
    """The homography from the pixels of an image turned `rotation` degrees clockwise (0, 90, 180,
    270; as PageText.rotation says) back to the pixels of the `width` × `height` image before the turn."""
    rotation %= 360
    if rotation == 90:  # (x, y) -> (height - y, x): back, x = y', y = height - x'
        return (0.0, 1.0, 0.0, -1.0, 0.0, float(height), 0.0, 0.0, 1.0)
    if rotation == 180:
        return (-1.0, 0.0, float(width), 0.0, -1.0, float(height), 0.0, 0.0, 1.0)
    if rotation == 270:  # (x, y) -> (y, width - x): back, x = width - y', y = x'
        return (0.0, -1.0, float(width), 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    return IDENTITY


def upright_size(rotation: int, width: int, height: int) -> tuple[int, int]:
    """The size of a `width` × `height` image once turned `rotation` degrees clockwise."""
    return (height, width) if rotation % 180 == 90 else (width, height)


def block_level(
    blocks: Sequence[tuple[str, Box, str]], width: int, height: int, to_input: Sequence[float] = IDENTITY
) -> PageLayout:
    """The layout of a reader that gives the boxes of its layout blocks only (dots.ocr's cells): one
    Block per (kind, box, text), one line per line of its text, one word per line, each with the
    block's box and no confidence measured (0). Nothing finer is invented."""
    out = []
    for kind, box, text in blocks:
        lines = tuple(
            Line(words=(Word(text=row, box=box, conf=0.0),), box=box, conf=0.0)
            for row in (r.strip() for r in text.splitlines())
            if row
        )
        out.append(Block(lines=lines, box=box, kind=kind))
    return PageLayout(
        width=width, height=height, blocks=tuple(out), granularity="block", to_input=tuple(to_input)
    )


def page_level(text: str, width: int, height: int, to_input: Sequence[float] = IDENTITY) -> PageLayout:
    """The layout of a reader that says nothing of where its text stands (a VLM, marker): one block
    with the page's box, one line per line of text, one word per line, each with the page's box and
    no confidence measured (0). Nothing finer is invented."""
    page = Box(0, 0, width, height)
    lines = tuple(
        Line(words=(Word(text=row, box=page, conf=0.0),), box=page, conf=0.0)
        for row in (r.strip() for r in text.splitlines())
        if row
    )
    blocks = (Block(lines=lines, box=page),) if lines else ()
    return PageLayout(width=width, height=height, blocks=blocks, granularity="page", to_input=tuple(to_input))


DEFAULT_DPI = 300.0
"""Points are figured at this density when the image says nothing of its own."""


def layout_json(layout: PageLayout, dpi: float | None) -> dict[str, Any]:
    """A page's layout as the sidecar answers it (format=json): sizes in pixels and points, and the
    blocks → lines → words, boxes as [left, top, right, bottom] in pixels of the upright page."""
    density = dpi or DEFAULT_DPI
    out: dict[str, Any] = {
        "width": layout.width,
        "height": layout.height,
        "width_pt": round(layout.width * 72 / density, 2),
        "height_pt": round(layout.height * 72 / density, 2),
        "dpi": None if dpi is None else round(dpi, 2),
        "granularity": layout.granularity,
    }
    if tuple(layout.to_input) != IDENTITY:
        out["to_input"] = [round(v, 6) for v in layout.to_input]
    if layout.granularity == "page":
        out["note"] = (
            "this reader gives no positions: every box is the page's, and no confidence is measured (null)"
        )
    elif layout.granularity == "block":
        out["note"] = (
            "this reader gives the boxes of its layout blocks only: lines and words carry their block's box, "
            "and no confidence is measured (null)"
        )
    out["blocks"] = [_block_json(block, layout.granularity) for block in layout.blocks]
    return out


def _block_json(block: Block, granularity: Granularity) -> dict[str, Any]:
    out: dict[str, Any] = {"box": block.box.to_json(), "kind": block.kind}
    # Readers that give blocks or nothing (VLMs) measure no confidence.
    measured = granularity in ("word", "line")
    if measured and block.lines:
        out["conf"] = round(sum(line.conf for line in block.lines) / len(block.lines), 3)
    out["lines"] = [
        {
            "box": line.box.to_json(),
            "conf": round(line.conf, 3) if measured else None,
            "text": line.text,
            "words": [
                {"text": w.text, "box": w.box.to_json(), "conf": round(w.conf, 3) if measured else None}
                for w in line.words
            ],
        }
        for line in block.lines
    ]
    return out


TextLayerChar = tuple[str, tuple[float, float], tuple[float, float]]
"""A text layer's character and two opposite corners of its box, in render pixels."""


def text_layer_layout(chars: Sequence[TextLayerChar], width: int, height: int) -> PageLayout:
    """A PDF text layer's characters (in PDFium's order, its generated spaces and line ends included)
    grouped into words (broken at white space), lines (broken at line ends and where the next
    character does not sit on the line) and blocks (broken where the gap between two lines is taller
    than a line). The text is the PDF's own: confidence 1."""
    lines: list[Line] = []
    word_chars: list[tuple[str, Box]] = []
    words: list[Word] = []
    line_box: list[Box] = []  # the line so far, all its characters' box

    def end_word() -> None:
        if word_chars:
            words.append(Word("".join(c for c, _ in word_chars), Box.around(b for _, b in word_chars), 1.0))
            word_chars.clear()

    def end_line() -> None:
        end_word()
        if words:
            lines.append(Line(tuple(words), Box.around(w.box for w in words), 1.0))
            words.clear()
        line_box.clear()

    for char, (x0, y0), (x1, y1) in chars:
        if not char or char.isspace() or char == "\x00":
            if char in ("\n", "\r", "\x02"):
                end_line()
            else:
                end_word()
            continue
        box = Box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
        if line_box:
            # A character off the line's band (overlapping it by less than a third of the shorter of
            # the two heights), or back left of where the line started, starts a new line.
            current = line_box[0]
            overlap = min(box.bottom, current.bottom) - max(box.top, current.top)
            shorter = min(box.bottom - box.top, current.bottom - current.top)
            if overlap < shorter / 3 or box.right < current.left:
                end_line()
        line_box[:] = [box if not line_box else Box.around((line_box[0], box))]
        word_chars.append((char, box))
    end_line()
    blocks: list[Block] = []
    group: list[Line] = []
    for line in lines:
        if group:
            previous = group[-1].box
            if line.box.top - previous.bottom > previous.bottom - previous.top:
                blocks.append(Block(tuple(group), Box.around(g.box for g in group)))
                group = []
        group.append(line)
    if group:
        blocks.append(Block(tuple(group), Box.around(g.box for g in group)))
    return PageLayout(width=width, height=height, blocks=tuple(blocks), granularity="word")


def _boxes_moved(layout: PageLayout, box: Callable[[Box], Box]) -> tuple[Block, ...]:
    """The layout's blocks with every box (block, line, word) passed through `box`."""
    return tuple(
        Block(
            lines=tuple(
                Line(tuple(Word(w.text, box(w.box), w.conf) for w in line.words), box(line.box), line.conf)
                for line in block.lines
            ),
            box=box(block.box),
            kind=block.kind,
        )
        for block in layout.blocks
    )


def scaled(layout: PageLayout, factor: float, to_input: Sequence[float]) -> PageLayout:
    """The layout with every box scaled by `factor` (a reading of another render of the same page,
    brought to this one's pixels), and the given homography back to the input."""

    def box(b: Box) -> Box:
        return Box(b.left * factor, b.top * factor, b.right * factor, b.bottom * factor)

    return PageLayout(
        width=round(layout.width * factor),
        height=round(layout.height * factor),
        blocks=_boxes_moved(layout, box),
        granularity=layout.granularity,
        to_input=tuple(to_input),
    )


def mapped(layout: PageLayout, matrix: Sequence[float], width: int, height: int) -> PageLayout:
    """The layout with every box carried through a homography (each box the one around its four
    corners' images), now in a `width` × `height` image."""

    def box(b: Box) -> Box:
        points = ((b.left, b.top), (b.right, b.top), (b.right, b.bottom), (b.left, b.bottom))
        corners = [apply(matrix, x, y) for x, y in points]
        return Box(
            min(x for x, _ in corners),
            min(y for _, y in corners),
            max(x for x, _ in corners),
            max(y for _, y in corners),
        )

    return PageLayout(width, height, _boxes_moved(layout, box), layout.granularity, layout.to_input)
