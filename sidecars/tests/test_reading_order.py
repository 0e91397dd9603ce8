"""Row reading order: pure geometry, then through the real engine on a drawn table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar.engines.reading_order import Line, page_skew, rows_text
from mdso_sidecar.engines.tesseract_reading import word_text
from mdso_sidecar.errors import BadOption
from mdso_sidecar.pipeline import Pipeline

from .test_pipeline import make_engine, run

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def line(
    left: int, top: int, text: str, *, height: int = 30, width: int | None = None, slope: float = 0.0
) -> Line:
    """A line as the engine reports it; slope tilts its box and baseline (a skewed page)."""
    width = width if width is not None else 18 * len(text)
    drop = round(slope * left)
    base = top + drop + height - 6
    return Line(
        box=(left, top + drop, left + width, top + drop + height + round(slope * width)),
        baseline=((left, base), (left + width, base + round(slope * width))),
        text=text,
    )


def test_table_read_column_by_column_comes_back_row_by_row() -> None:
    # What Tesseract's segmentation gives on a quote's table: one block per column.
    designations = [line(100, 400 + 60 * i, f"Poste {i}", width=600) for i in range(4)]
    amounts = [line(1900, 402 + 60 * i, f"{i} 150,00") for i in range(4)]
    total = [line(1200, 700, "Total TTC", height=36), line(1900, 698, "12 345,00 €", height=36)]
    text = rows_text(designations + amounts + total)
    assert [row for row in text.splitlines() if row] == [
        "Poste 0 0 150,00",
        "Poste 1 1 150,00",
        "Poste 2 2 150,00",
        "Poste 3 3 150,00",
        "Total TTC 12 345,00 €",
    ]


def test_skewed_page_keeps_its_rows() -> None:
    # 1.5 degrees over a 2480 px page: the right-hand cell sits 50 px (more than a row's gap at
    # 300 dpi minus the line height) lower than its row's left-hand cell.
    slope = math.tan(math.radians(1.5))
    lines = []
    for i in range(6):
        lines.append(line(100, 400 + 66 * i, f"Isolation des combles lot {i}", width=1200, slope=slope))
        lines.append(line(2100, 400 + 66 * i, f"{i}00,00", slope=slope))
    assert page_skew(lines) == pytest.approx(slope, abs=0.002)
    assert rows_text(lines).splitlines() == [f"Isolation des combles lot {i} {i}00,00" for i in range(6)]


def test_paragraph_gaps_and_empty_lines() -> None:
    lines = [
        line(100, 100, "SARL Exemple"),
        line(100, 140, "SIRET 123 456 789 00012"),
        line(100, 400, "Client :"),
        line(100, 440, "   "),
    ]
    assert rows_text(lines) == "SARL Exemple\nSIRET 123 456 789 00012\n\nClient :"
    assert rows_text([]) == ""


def test_a_tall_line_does_not_swallow_two_rows() -> None:
    # Two rows of a table and, on the right, a margin note two rows high: the rows stay apart.
    lines = [line(100, 100, "Ligne un"), line(100, 160, "Ligne deux"), line(1500, 100, "Note", height=90)]
    out = rows_text(lines).splitlines()
    assert "Ligne un" in out[0] or "Ligne un" in out[1]
    assert not any("Ligne un" in row and "Ligne deux" in row for row in out)


def _table_image() -> Image.Image:
    """An A4 page at 200 dpi with a quote's table: wide gaps between the label and amount columns."""
    page = Image.new("L", (1654, 2339), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(DEJAVU), 30) if DEJAVU.exists() else ImageFont.load_default(size=30)
    rows = [("Pompe à chaleur air/eau", "1", "8 450,00"), ("Ballon thermodynamique", "2", "2 980,00"),
            ("Isolation des combles perdus", "85", "3 570,00"), ("Main d'oeuvre", "3", "1 245,00")]
    y = 300
    draw.text((120, y), "Désignation", fill=0, font=font)
    draw.text((1000, y), "Qté", fill=0, font=font)
    draw.text((1300, y), "Total HT", fill=0, font=font)
    for label, qty, amount in rows:
        y += 70
        draw.text((120, y), label, fill=0, font=font)
        draw.text((1000, y), qty, fill=0, font=font)
        draw.text((1300, y), amount, fill=0, font=font)
    draw.text((900, y + 140), "Total TTC", fill=0, font=font)
    draw.text((1300, y + 140), "16 245,00", fill=0, font=font)
    return page


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline(make_engine(), max_pages=10)


def test_engine_reads_a_quote_table_row_by_row(pipeline: Pipeline, tmp_path: Path) -> None:
    path = tmp_path / "table.png"
    _table_image().save(path, dpi=(200, 200))
    rows = run(pipeline, path).pages[0].text.splitlines()
    assert "Pompe à chaleur air/eau 1 8 450,00" in rows
    assert "Isolation des combles perdus 85 3 570,00" in rows
    assert "Total TTC 16 245,00" in rows
    # layout=blocks is Tesseract's own order: the same words, whatever the order.
    blocks = run(pipeline, path, layout="blocks").pages[0].text
    assert sorted(blocks.split()) == sorted(" ".join(rows).split())


def test_layout_option_validated(pipeline: Pipeline) -> None:
    engine = pipeline.engine
    assert engine.parse_options({"layout": "blocks"}) == {"layout": "blocks"}
    with pytest.raises(BadOption, match="layout 'columns'"):
        engine.parse_options({"layout": "columns"})


def _word(*chars: tuple[str, int, int]) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Characters of one word as (text, left, right), 30 px tall."""
    return [(text, (left, 100, right, 130)) for text, left, right in chars]


def test_spaces_dropped_inside_numbers_come_back() -> None:
    # "1 150,00" read as one word: the gap after the 1 is a space's width (0.6 of the height).
    merged = _word(("1", 10, 16), ("1", 34, 40), ("5", 46, 62), ("0", 68, 84), (",", 88, 92), ("0", 98, 114),
                   ("0", 120, 136))
    assert word_text(merged) == "1 150,00"
    assert word_text(_word(("5", 0, 16), (",", 20, 24), ("5", 30, 46), ("%", 64, 88))) == "5,5 %"
    # Ordinary gaps stay: a SIRET group, a date, and letters however loosely set.
    assert word_text(_word(("7", 0, 16), ("5", 22, 38), ("0", 44, 60), ("1", 66, 72))) == "7501"
    assert word_text(_word(("T", 0, 16), ("T", 40, 56), ("C", 80, 96))) == "TTC"
