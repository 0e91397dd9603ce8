"""Dense bills: small narrow figures in ruled tables (issue 13, docs/ACCURACY.md "Dense bills"). The
rules are erased before Tesseract reads the page (page_cleanup.erase_rules); the figures beside them
must all be read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mdso_sidecar.engines.digit_merge import figure_dense, merged
from mdso_sidecar.engines.hybrid import HybridEngine
from mdso_sidecar.engines.page_cleanup import erase_rules
from mdso_sidecar.pipeline import Pipeline

from .conftest import loaded_engine
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


def ruled_table(
    rows: list[tuple[str, ...]] = ROWS, column_right: tuple[int, ...] = COLUMN_RIGHT, width: int = 1000
) -> Image.Image:
    """The table drawn 1.25 times as wide, then squeezed to 80 % (fonts set narrow), grey, blurred a
    little as a scanner does."""
    pitch, top = 40, 20
    wide = Image.new("L", (round(width / 0.8), top + pitch * len(rows) + 20), 236)
    draw = ImageDraw.Draw(wide)
    font = ImageFont.truetype(str(DEJAVU_CONDENSED), 27)
    for i, row in enumerate(rows):
        y = top + i * pitch
        if i % 2:
            draw.rectangle((0, y, wide.width, y + pitch), fill=218)
        for right, cell in zip(column_right, row, strict=True):
            x = right / 0.8 - draw.textlength(cell, font=font)
            draw.text((x, y + 6), cell, fill=40, font=font)
        draw.line((0, y + pitch, wide.width, y + pitch), fill=150, width=2)
    for right in (0, *column_right):
        x = round((right + 12) / 0.8)
        draw.line((x, top, x, top + pitch * len(rows)), fill=150, width=2)
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


# A telecom bill's calls: date, time, the number called in pairs, duration, amount (18 rows, 162
# tokens, all figures). Tesseract, confident at 94, glues the pairs of some numbers (`0223395163`).
CALLS = [
    (f"{d:02d}/08", f"{(7 + d) % 24:02d}:{d * 7 % 60:02d}",
     f"0{1 + d % 5} {13 * d % 90 + 10} {29 * d % 90 + 10} {41 * d % 90 + 10} {53 * d % 90 + 10}",
     f"{d % 9}:{d * 11 % 60:02d}", f"0,{d * 37 % 90 + 10}")
    for d in range(1, 19)
]


def test_phone_numbers_of_a_narrow_table_keep_their_pairs(tmp_path: Path) -> None:
    # The hybrid (the default service) reads a page of figures with rapidocr too (digit_merge.py):
    # before, Tesseract's confident reading was answered alone, 3 of the 18 numbers glued.
    page = Image.new("L", (2480, 1100), 236)
    page.paste(ruled_table(CALLS, (160, 330, 700, 840, 980), 1050), (LEFT, TOP))
    path = tmp_path / "calls.png"
    page.save(path, dpi=(300, 300))
    (read,) = run(Pipeline(loaded_engine(HybridEngine, "hybrid"), max_pages=10), path).pages
    assert read.meta is not None and read.meta["readers"] == ["tesseract", "rapidocr"]
    missing = [number for _, _, number, _, _ in CALLS if number not in read.text]
    assert not missing, read.text


def test_figure_dense_pages() -> None:
    calls = "\n".join(" ".join(row) for row in CALLS)
    assert figure_dense(calls)
    assert not figure_dense(" ".join(CALLS[0]))  # too few words to tell
    prose = "Pose d'une pompe à chaleur air-eau de 8 kW, fourniture et main d'oeuvre comprises. "
    assert not figure_dense(prose * 10 + calls.split("\n")[0])  # a quote: 25 % figures


def test_merged_takes_the_other_reader_s_spaces_beside_digits() -> None:
    rapidocr = "Consommation 1890 0,2309 436,49\nPDL:39290650746106 Prélevé le 28/05/2025"
    tesseract = "Consommation 1 890 02309 436,49\nPDL : 39290650746106 Prélevé le 28/05/2025"
    assert merged(rapidocr, tesseract, spaces="digit-side", commas=False) == (
        "Consommation 1 890 0,2309 436,49\nPDL: 39290650746106 Prélevé le 28/05/2025"
    )
    # The other way round, the comma too (tried: docs/ACCURACY.md).
    assert merged("Tel 0146395122 prix 02535", "Tel 01 46 39 51 22 prix 0,2535") == (
        "Tel 01 46 39 51 22 prix 0,2535"
    )
    assert merged("Tel 0146395122", "Tel 01 46 39 51 22", spaces="none") == "Tel 0146395122"
