"""Orientation: pages turned 90/180/270 degrees are turned upright, including half-empty ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar.pipeline import Pipeline

from .test_pipeline import make_engine, run

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _last_page() -> Image.Image:
    """The last page of an invoice at 300 dpi, 9 pt: a few rows and the totals in its top third, the
    rest blank (such pages measured 0.14 % ink on a 400 px thumbnail and were left upside down)."""
    page = Image.new("L", (2480, 3508), 238)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(DEJAVU), 37) if DEJAVU.exists() else ImageFont.load_default(size=37)
    rows = ["Dépose et évacuation des anciens équipements 1 forfait 450,00", "Main d'oeuvre 12 h 540,00",
            "Total HT 14 980,00", "TVA 5,5 % 823,90", "Total TTC 15 803,90",
            "Bon pour accord, date et signature précédées de la mention lu et approuvé"]
    for i, row in enumerate(rows):
        draw.text((210, 300 + 66 * i), row, fill=30, font=font)
    return page


@pytest.mark.parametrize("turn", [90, 180, 270])
def test_half_empty_page_is_turned_upright(turn: int, tmp_path: Path) -> None:
    path = tmp_path / "page.png"
    _last_page().rotate(turn, expand=True, fillcolor=238).save(path, dpi=(300, 300))
    (page,) = run(Pipeline(make_engine(), max_pages=2), path).pages
    assert page.rotation == turn
    assert "Total TTC 15 803,90" in page.text.splitlines()
