"""Row reading order for OCR'd pages.

Tesseract's automatic page segmentation reads a table column by column: every designation, then every
quantity, then every price. A quote's meaning lives in its rows ("Total TTC" and its amount, an item and
its price), so the lines Tesseract found are regrouped here by the row they sit on, left to right —
the order a person reads a quote in, and the order a field extractor expects.

Pure geometry over (box, baseline, text) triples, so it is tested without an engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

# Lines narrower than this share of the widest line do not vote on the page's skew: the baseline of a
# two-character table cell is noise.
SKEW_MIN_WIDTH_SHARE = 0.25
# The skew a scan or a photo can have once OSD turned it upright; a larger estimate is a misread
# baseline (vertical text, a stamp) and is ignored.
SKEW_MAX_DEGREES = 8.0
# A line joins a row when its centre lies within this share of the row's typical line height from the
# row's centre. Half a line: the rows of a table are at least a line height apart, so two rows never
# merge, while cells of one row in different fonts (bold total, 7 pt note) still do.
ROW_TOLERANCE = 0.5
# A gap between two rows larger than this many line heights starts a new paragraph (a blank line).
PARAGRAPH_GAP = 1.2


@dataclass(frozen=True)
class Line:
    """A text line as the engine found it: its box (left, top, right, bottom), its baseline's two
    points ((x1, y1), (x2, y2)) when known, and its text."""

    box: tuple[int, int, int, int]
    baseline: tuple[tuple[int, int], tuple[int, int]] | None
    text: str

    @property
    def height(self) -> int:
        return max(1, self.box[3] - self.box[1])

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]


def page_skew(lines: Sequence[Line]) -> float:
    """The page's skew as a slope (dy/dx): the median slope of the baselines of the wider lines."""
    widest = max((line.width for line in lines), default=0)
    slopes = []
    for line in lines:
        if line.baseline is None or line.width < widest * SKEW_MIN_WIDTH_SHARE:
            continue
        (x1, y1), (x2, y2) = line.baseline
        if x2 == x1:
            continue
        slope = (y2 - y1) / (x2 - x1)
        if abs(math.degrees(math.atan(slope))) <= SKEW_MAX_DEGREES:
            slopes.append(slope)
    return median(slopes) if slopes else 0.0


def rows_text(lines: Sequence[Line]) -> str:
    """The page's text with the lines that share a row joined left to right, rows top to bottom."""
    lines = [line for line in lines if line.text.strip()]
    if not lines:
        return ""
    slope = page_skew(lines)

    def centre(line: Line) -> float:
        # The line's vertical centre, moved back along the skew to the page's left edge, so that the
        # cells of one row agree however far right they sit.
        x = (line.box[0] + line.box[2]) / 2
        return (line.box[1] + line.box[3]) / 2 - slope * x

    rows: list[list[Line]] = []
    centres: list[list[float]] = []
    for line in sorted(lines, key=centre):
        c = centre(line)
        if rows:
            row_centre = sum(centres[-1]) / len(centres[-1])
            row_height = median(item.height for item in rows[-1])
            if abs(c - row_centre) <= ROW_TOLERANCE * min(row_height, line.height):
                rows[-1].append(line)
                centres[-1].append(c)
                continue
        rows.append([line])
        centres.append([c])

    out: list[str] = []
    previous_bottom: float | None = None
    for row, row_centres in zip(rows, centres, strict=True):
        height = median(item.height for item in row)
        top = sum(row_centres) / len(row_centres) - height / 2
        if previous_bottom is not None and top - previous_bottom > PARAGRAPH_GAP * height:
            out.append("")
        out.append(" ".join(item.text.strip() for item in sorted(row, key=lambda item: item.box[0])))
        previous_bottom = top + height
    return "\n".join(out)
