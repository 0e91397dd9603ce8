"""Dense bills: small narrow figures in ruled tables (issue 13, docs/ACCURACY.md "Dense bills"). The
rules are erased before Tesseract reads the page (page_cleanup.erase_rules); the figures beside them
must all be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mdso_sidecar.engines.page_cleanup import erase_rules
from mdso_sidecar.pipeline import Pipeline

from .test_pipeline import make_engine, run

DEJAVU_CONDENSED = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf")
# A bill's detail table as a 300 dpi scan prints it: 6.5 pt (27 px) type set narrow (80 %, Arial
# Narrow's widths), every other row tinted, thin grey rules under each row and between the columns.
ROWS = [
    ("17/08", "09:43", "0,1135", "1 251", "11,17"),
    ("04/08", "07:26", "0,2464", "4 707", "9,68"),
    ("24/08", "13:19", "0,0225", "2 071", "46,60"),
    ("15/08", "15:45", "0,2045", "181", "37,01"),
    ("05/08", "08:36", "0,1467", "1 890", "436,49"),
    ("06/08", "10:31", "21,1200", "776", "42,24"),
]
COLUMN_RIGHT = (160, 330, 540, 740, 930)
LEFT, TOP = 150, 120


def ruled_table() -> Image.Image:
    """The table drawn 1.25 times as wide, then squeezed to 80 % (fonts set narrow), grey, blurred a
    little as a scanner does."""
    width, pitch, top = 1000, 40, 20
    wide = Image.new("L", (round(width / 0.8), top + pitch * len(ROWS) + 20), 236)
    draw = ImageDraw.Draw(wide)
    font = ImageFont.truetype(str(DEJAVU_CONDENSED), 27)
    for i, row in enumerate(ROWS):
        y = top + i * pitch
        if i % 2:
            draw.rectangle((0, y, wide.width, y + pitch), fill=218)
        for right, cell in zip(COLUMN_RIGHT, row, strict=True):
            x = right / 0.8 - draw.textlength(cell, font=font)
            draw.text((x, y + 6), cell, fill=40, font=font)
        draw.line((0, y + pitch, wide.width, y + pitch), fill=150, width=2)
    for right in (0, *COLUMN_RIGHT):
        x = round((right + 12) / 0.8)
        draw.line((x, top, x, top + pitch * len(ROWS)), fill=150, width=2)
    narrow = wide.resize((width, wide.height), Image.Resampling.LANCZOS)
    return narrow.filter(ImageFilter.GaussianBlur(0.6))


def bill_strip() -> Image.Image:
    """The table on a strip of an A4 page at 300 dpi (rules are told from strokes by the page's size)."""
    canvas = Image.new("L", (2480, 600), 236)
    canvas.paste(ruled_table(), (LEFT, TOP))
    return canvas


def test_rules_go_and_the_figures_stay() -> None:
    page = np.asarray(bill_strip())[TOP:, LEFT:]
    erased = np.asarray(erase_rules(bill_strip()))[TOP:, LEFT:]
    # The rules under the rows and between the columns are gone (no pixel on them darker than the
    # tinted rows): on the vertical rule after the first column, the horizontal rule under row 3.
    x = round(COLUMN_RIGHT[0] + 12)
    assert erased[30:250, x - 1:x + 2].min() > 190
    assert erased[20 + 3 * 40 - 1:20 + 3 * 40 + 2, 600:700].min() > 190
    # The figures are still there: as much ink in a cell as before.
    cell = (slice(26, 56), slice(20, 150))
    assert (erased[cell] < 128).sum() == pytest.approx((page[cell] < 128).sum(), rel=0.05)


def test_a_dark_band_and_a_title_are_not_rules() -> None:
    page = Image.new("L", (2480, 600), 235)
    draw = ImageDraw.Draw(page)
    draw.rectangle((100, 100, 2300, 170), fill=70)  # white text on a dark band
    draw.text((150, 110), "Montant à payer 1 546,89", fill=255,
              font=ImageFont.truetype(str(DEJAVU_CONDENSED), 40))
    draw.text((100, 300), "FACTURE", fill=0, font=ImageFont.truetype(str(DEJAVU_CONDENSED), 200))
    assert np.array_equal(np.asarray(erase_rules(page)), np.asarray(page))


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(make_engine(), max_pages=10)


def test_every_figure_of_a_ruled_narrow_table_is_read(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "bill-table.png"
    bill_strip().save(path, dpi=(300, 300))
    (page,) = run(pipeline, path).pages
    read = page.text.split()
    missing = [cell for row in ROWS for cell in row if " " not in cell and cell not in read]
    assert not missing, page.text
