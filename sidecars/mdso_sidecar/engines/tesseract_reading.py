"""What a page Tesseract has just recognised says, read from its result: whether the reading proves the
page upright (reads_upright), and its text lines with the spaces Tesseract dropped inside numbers put back
(text_lines, word_text). Needs tesserocr: engines/tesseract.py imports it on first use only.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from tesserocr import (  # type: ignore[import-untyped]  # ships a .pyi but no py.typed marker
    PT,
    RIL,
    Orientation,
    PyTessBaseAPI,
    TextlineOrder,
    WritingDirection,
)

from .. import layout as lay
from .reading_order import Line

# Inside a word Tesseract read, a gap wider than this share of the characters' height next to a digit
# is a space it dropped (word_text).
DIGIT_SPACE_GAP = 0.45
# A reading proves its page upright (no OSD needed) with a mean word confidence of at least this, at
# least this many words of 3+ letters, and at least this share of them in the dictionary (reads_upright).
UPRIGHT_MIN_CONFIDENCE = 75
UPRIGHT_MIN_WORDS = 12
UPRIGHT_MIN_DICTIONARY = 0.5
# The words counted are those of blocks set as a Latin page is (upright, left to right, lines top to
# bottom); at most this share of all words may stand in other blocks (a mention up the margin).
UPRIGHT_BLOCK = (Orientation.PAGE_UP, WritingDirection.LEFT_TO_RIGHT, TextlineOrder.TOP_TO_BOTTOM)
UPRIGHT_MAX_SIDEWAYS = 0.2

Box = tuple[int, int, int, int]


def reads_upright(api: PyTessBaseAPI) -> bool:
    """Whether the page Tesseract just recognised was upright: enough words, read with confidence, most
    of them in the language's dictionary, nearly all in blocks laid out as a Latin page is. A page below
    any bar (little text, mostly figures, a poor fax) is not proof either way, and goes to OSD. The bars
    come from tools/mdso_tools/upright_study.py; figures: docs/ACCURACY.md, "This round's changes, each
    measured"."""
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


def text_lines(api: PyTessBaseAPI) -> list[Line]:
    """The text lines of the page Tesseract just recognised: box, baseline and text, the text rebuilt
    from the characters so that the spaces Tesseract's line recogniser dropped inside numbers come
    back (word_text)."""
    found: list[Line] = []
    iterator = api.GetIterator()
    if iterator is None:
        return found
    line: tuple[Box, Any] | None = None
    words: list[str] = []
    symbols: list[tuple[str, Box]] = []

    def end_word() -> None:
        if symbols:
            words.append(word_text(symbols))
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


def word_text(symbols: list[tuple[str, Box]]) -> str:
    """A word's characters, with a space where the gap between a digit and its neighbour is a space's
    width (DIGIT_SPACE_GAP): Tesseract's LSTM often reads "1 150,00" (French thousands) and "5,5 %" as
    one word without the space although the page has it. Gaps measured: docs/ACCURACY.md, "This round's
    changes, each measured"."""
    out = [symbols[0][0]]
    for (before, box_before), (char, box) in pairwise(symbols):
        height = max(box_before[3] - box_before[1], box[3] - box[1], 1)
        if (box[0] - box_before[2]) > DIGIT_SPACE_GAP * height and (
            before[-1].isdigit() or char[0].isdigit()
        ):
            out.append(" ")
        out.append(char)
    return "".join(out)


# Tesseract's block types, as a layout block's kind (any other text block is "text").
_BLOCK_KINDS = {
    PT.TABLE: "table",
    PT.HEADING_TEXT: "heading",
    PT.CAPTION_TEXT: "caption",
    PT.VERTICAL_TEXT: "vertical-text",
    PT.EQUATION: "equation",
    PT.INLINE_EQUATION: "equation",
}


def page_layout(api: PyTessBaseAPI, width: int, height: int) -> lay.PageLayout:
    """The page Tesseract just recognised as blocks → lines → words, as Tesseract grouped them: each
    word's box and confidence (0-1) as its recognition pass measured them, its text rebuilt from its
    characters as text_lines does (word_text). Read from the result of the pass already made: no
    second recognition. Coordinates: pixels of the image Tesseract was given."""
    blocks: list[lay.Block] = []
    iterator = api.GetIterator()
    if iterator is None:
        return lay.PageLayout(width=width, height=height, blocks=(), granularity="word")
    block_lines: list[lay.Line] = []
    block_kind = "text"
    line_words: list[lay.Word] = []
    word: tuple[lay.Box, float] | None = None
    symbols: list[tuple[str, Box]] = []

    def end_word() -> None:
        if word is not None and symbols:
            line_words.append(lay.Word(text=word_text(symbols), box=word[0], conf=word[1]))
        symbols.clear()

    def end_line() -> None:
        end_word()
        if line_words:
            conf = sum(w.conf for w in line_words) / len(line_words)
            block_lines.append(lay.Line(tuple(line_words), lay.Box.around(w.box for w in line_words), conf))
        line_words.clear()

    def end_block() -> None:
        end_line()
        if block_lines:
            box = lay.Box.around(x.box for x in block_lines)
            blocks.append(lay.Block(tuple(block_lines), box, block_kind))
        block_lines.clear()

    while True:
        if iterator.IsAtBeginningOf(RIL.BLOCK):
            end_block()
            block_kind = _BLOCK_KINDS.get(iterator.BlockType(), "text")
        if iterator.IsAtBeginningOf(RIL.TEXTLINE):
            end_line()
        if iterator.IsAtBeginningOf(RIL.WORD):
            end_word()
            box = iterator.BoundingBox(RIL.WORD)
            conf = max(0.0, min(1.0, iterator.Confidence(RIL.WORD) / 100))
            word = None if box is None else (lay.Box(*box), conf)
        try:
            char = iterator.GetUTF8Text(RIL.SYMBOL)
        except RuntimeError:  # "No text returned"
            char = ""
        char_box = iterator.BoundingBox(RIL.SYMBOL)
        if char and char_box is not None:
            symbols.append((char, char_box))
        if not iterator.Next(RIL.SYMBOL):
            end_block()
            return lay.PageLayout(width=width, height=height, blocks=tuple(blocks), granularity="word")
