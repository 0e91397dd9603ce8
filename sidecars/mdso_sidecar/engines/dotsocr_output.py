"""dots.ocr's layout answer: a JSON list of cells, each {"bbox": [x1, y1, x2, y2], "category": ...,
"text": ...} in reading order, boxes in pixels of the image as the model's processor resized it. Parsed
and checked here (an answer that is cut off, loops, or is not a cell list is refused: the engine asks
again), then turned into the page's text and its cells' boxes in the page's own pixels.

Pure functions over strings and sizes, tested without a model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .nanonets import plain_text

# The categories dots.ocr's layout prompt lists.
CATEGORIES = (
    "Caption",
    "Footnote",
    "Formula",
    "List-item",
    "Page-footer",
    "Page-header",
    "Picture",
    "Section-header",
    "Table",
    "Text",
    "Title",
)
HEADER = "Page-header"
FOOTER = "Page-footer"

# The model's image processor (Qwen2-VL's, with dots.ocr's preprocessor settings): patches of 14 px
# merged 2×2, so each side is a multiple of 28, and the image holds between these many pixels.
FACTOR = 28
MIN_PIXELS = 3136
MAX_PIXELS = 11_289_600

# A loop: the same token written this many times in a row (a word, a number), or the same short
# unit of letters and digits repeated 25 times inside one token ("0101010101..."). Dot leaders, rules
# and fill-in lines ("......", "-----", "Signature : ______") carry no letter or digit: never counted.
REPEATED_TOKENS = 20
_REPEATED_UNIT = re.compile(r"([^\W_]{1,10}?)\1{24,}")


class LayoutAnswerError(ValueError):
    """The answer is not a usable cell list; the message says why."""


@dataclass(frozen=True)
class Cell:
    category: str
    box: tuple[float, float, float, float]
    """(left, top, right, bottom), in whatever frame the caller says (model pixels as parsed)."""
    text: str


def smart_resize(width: int, height: int) -> tuple[int, int]:
    """(width, height) the model's processor resizes a width × height image to: each side rounded
    to a multiple of FACTOR, the area brought within [MIN_PIXELS, MAX_PIXELS], the aspect kept as
    closely as that allows. The boxes the model answers are in this frame."""
    if width < 1 or height < 1:
        raise ValueError(f"image size {width}x{height}")
    w = max(FACTOR, round(width / FACTOR) * FACTOR)
    h = max(FACTOR, round(height / FACTOR) * FACTOR)
    if w * h > MAX_PIXELS:
        shrink = math.sqrt(width * height / MAX_PIXELS)
        w = max(FACTOR, math.floor(width / shrink / FACTOR) * FACTOR)
        h = max(FACTOR, math.floor(height / shrink / FACTOR) * FACTOR)
    elif w * h < MIN_PIXELS:
        grow = math.sqrt(MIN_PIXELS / (width * height))
        w = math.ceil(width * grow / FACTOR) * FACTOR
        h = math.ceil(height * grow / FACTOR) * FACTOR
    return w, h


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise LayoutAnswerError(f"bbox coordinate {value!r} is not a number")
    return float(value)


def _cell(index: int, raw: Any) -> Cell:
    if not isinstance(raw, dict):
        raise LayoutAnswerError(f"cell {index} is not an object")
    bbox = raw.get("bbox")
    if not isinstance(bbox, list) or len(bbox) != 4:
        raise LayoutAnswerError(f"cell {index}: bbox is not [x1, y1, x2, y2]")
    x1, y1, x2, y2 = (_number(value) for value in bbox)
    category = raw.get("category")
    if not isinstance(category, str) or not category.strip():
        raise LayoutAnswerError(f"cell {index}: no category")
    text = raw.get("text", "")
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise LayoutAnswerError(f"cell {index}: text is not a string")
    box = (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))
    return Cell(category=category.strip(), box=box, text=text)


def _loop_in(text: str) -> str | None:
    """The repeated token of a generation loop in `text`, or None."""
    run, previous = 0, ""
    for token in text.split():
        run = run + 1 if token == previous else 1
        previous = token
        if run >= REPEATED_TOKENS and any(char.isalnum() for char in token):
            return token
    match = _REPEATED_UNIT.search(text)
    return match.group(1) if match else None


def parse_cells(answer: str) -> list[Cell]:
    """The answer's cells, in the model's order; LayoutAnswerError when it is truncated or malformed
    JSON, not a list of cells, or written in a loop."""
    body = answer.strip()
    fenced = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1)
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise LayoutAnswerError(f"not valid JSON ({exc.args[0] if exc.args else exc})") from None
    if isinstance(data, dict) and "bbox" in data:
        data = [data]  # one cell, written without its list
    if not isinstance(data, list):
        raise LayoutAnswerError(f"expected a list of cells, got a JSON {type(data).__name__}")
    cells = [_cell(index, raw) for index, raw in enumerate(data)]
    for cell in cells:
        looping = _loop_in(cell.text)
        if looping is not None:
            raise LayoutAnswerError(f"a {cell.category} cell repeats {looping[:20]!r} over and over")
    return cells


def reading_order(cells: Sequence[Cell]) -> list[Cell]:
    """The model's order (it is trained to write cells in reading order), except where it is plainly
    wrong: a page header read after the body, or a footer before it. Headers go first and footers
    last, each keeping the model's order among themselves."""
    headers = [cell for cell in cells if cell.category == HEADER]
    footers = [cell for cell in cells if cell.category == FOOTER]
    body = [cell for cell in cells if cell.category not in (HEADER, FOOTER)]
    return headers + body + footers


def cell_text(cell: Cell) -> str:
    """What a cell contributes to the page's text: tables as one row per line with tab-separated
    cells (as nanonets' format=text), formulas as their LaTeX, other cells' markdown as plain text,
    pictures nothing."""
    if cell.category == "Picture":
        return ""
    if cell.category == "Formula":
        return cell.text.strip()
    return plain_text(cell.text)


def page_text(cells: Sequence[Cell]) -> str:
    return "\n\n".join(text for text in (cell_text(cell) for cell in cells) if text)


def scale_boxes(cells: Sequence[Cell], shown: tuple[int, int], page: tuple[int, int]) -> list[Cell]:
    """Cells with their boxes moved from the model's frame (its resize of the `shown` image) into
    the `page`'s pixels, clamped to the page."""
    model_width, model_height = smart_resize(*shown)
    page_width, page_height = page
    sx, sy = page_width / model_width, page_height / model_height

    def clamp(value: float, high: int) -> float:
        return min(max(value, 0.0), float(high))

    out = []
    for cell in cells:
        left, top, right, bottom = cell.box
        box = (
            clamp(left * sx, page_width),
            clamp(top * sy, page_height),
            clamp(right * sx, page_width),
            clamp(bottom * sy, page_height),
        )
        out.append(Cell(category=cell.category, box=box, text=cell.text))
    return out
