"""The page as every structured output reads it: what the engine read, and where."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..layout import Block, Box, PageGeometry, PageLayout

SOFTWARE = "mdso-ocr"
"""The name hOCR's ocr-system and ALTO's processingSoftware give."""


@dataclass(frozen=True)
class RenderedPage:
    """One page as the structured outputs see it."""

    page: int
    """1-based page number in the document."""
    layout: PageLayout | None
    """None for a page that failed, or whose engine measured nothing."""
    geometry: PageGeometry | None
    """The render the engine was handed; None for a page that failed before one was made."""
    text: str
    rotation: int = 0
    """Clockwise degrees the engine turned the page to read it."""
    source: str = "ocr"
    """"text-layer": the PDF page carries its own text (no invisible layer is added over it)."""
    failed: bool = False

    def size(self) -> tuple[int, int]:
        """Width and height (px) of the upright page the boxes are in."""
        if self.layout is not None:
            return self.layout.width, self.layout.height
        if self.geometry is None:
            return 0, 0
        width, height = self.geometry.input_width, self.geometry.input_height
        return (height, width) if self.rotation % 180 == 90 else (width, height)

    def page_box(self) -> Box:
        width, height = self.size()
        return Box(0, 0, width, height)

    def blocks(self) -> list[Block]:
        """The layout's blocks with only the words that have text (a reader may give a word of
        spaces), and only the lines and blocks left with some."""
        if self.layout is None:
            return []
        blocks = []
        for block in self.layout.blocks:
            lines = []
            for line in block.lines:
                words = tuple(w for w in line.words if w.text.strip())
                if words:
                    lines.append(replace(line, words=words))
            if lines:
                blocks.append(replace(block, lines=tuple(lines)))
        return blocks


def iso639_1(lang: str) -> str:
    """The first language of a tesseract-style list ("fra+eng") as a two-letter code for xml:lang."""
    first = (lang.split("+", maxsplit=1)[0] or "fra").strip()
    return _TWO_LETTERS.get(first, first)


_TWO_LETTERS = {"fra": "fr", "eng": "en", "deu": "de", "spa": "es", "ita": "it", "nld": "nl", "por": "pt"}
