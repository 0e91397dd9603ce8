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

from collections.abc import Iterable, Sequence
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
