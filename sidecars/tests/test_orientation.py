"""Orientation: pages turned 90/180/270 degrees are turned upright, including half-empty ones; OSD is
asked only about pages whose reading does not prove them upright."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFont

from mdso_sidecar.engines.base import EngineOptions, PageResult
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.layout import PageLayout
from mdso_sidecar.pipeline import Pipeline

from .test_pipeline import make_engine, run

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.truetype(str(DEJAVU), size) if DEJAVU.exists() else ImageFont.load_default(size=size)


def _last_page() -> Image.Image:
    """The last page of an invoice at 300 dpi, 9 pt: a few rows and the totals in its top third, the
    rest blank (such pages measured 0.14 % ink on a 400 px thumbnail and were left upside down)."""
    page = Image.new("L", (2480, 3508), 238)
    draw = ImageDraw.Draw(page)
    font = _font(37)
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


class _CountingOsd(TesseractEngine):
    """The real engine, counting the pages it asked OSD about."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.osd_calls = 0
        upright = self._orienter.upright

        def counted(image: Image.Image) -> tuple[Image.Image, int]:
            self.osd_calls += 1
            return upright(image)

        self._orienter.upright = counted  # type: ignore[method-assign]


def _read_counting_osd(page: Image.Image, path: Path) -> tuple[PageResult, int]:
    """The one page saved at 300 dpi, read through the pipeline: its result and the OSD calls made."""
    page.save(path, dpi=(300, 300))
    engine = make_engine(_CountingOsd)
    assert isinstance(engine, _CountingOsd)
    (read,) = run(Pipeline(engine, max_pages=2), path).pages
    return read, engine.osd_calls


@pytest.mark.parametrize(("turn", "osd_calls"), [(0, 0), (90, 1), (180, 1), (270, 1)])
def test_osd_only_for_pages_that_do_not_read_upright(turn: int, osd_calls: int, tmp_path: Path) -> None:
    """A page whose reading proves it upright is not sent to OSD (~0.3 s saved); a turned one is, and
    comes back upright, including at 270 degrees, which Tesseract reads well as vertical text."""
    turned = _last_page().rotate(turn, expand=True, fillcolor=238)
    page, calls = _read_counting_osd(turned, tmp_path / "page.png")
    assert calls == osd_calls
    assert page.rotation == turn
    assert page.text.splitlines()[0] == "Dépose et évacuation des anciens équipements 1 forfait 450,00"


def test_page_of_figures_still_goes_to_osd(tmp_path: Path) -> None:
    """Figures are no proof of orientation (upside down, 6 and 9 swap and 0 stays 0): a page of them is
    still checked by OSD, as every page was before, and read as it is."""
    rows = [f"{i + 1:>2}  {1200 + 37 * i},{13 * i % 100:02d}  5,5 %  {66 + 2 * i},{7 * i % 100:02d}  "
            f"{1266 + 39 * i},{20 * i % 100:02d}  75011  526 018 159 0830{i}" for i in range(14)]
    page = Image.new("L", (2480, 3508), 255)
    draw = ImageDraw.Draw(page)
    font = _font(40)
    for i, row in enumerate(rows):
        draw.text((200, 300 + 72 * i), row, fill=0, font=font)
    read, calls = _read_counting_osd(page, tmp_path / "figures.png")
    assert calls == 1
    assert read.rotation == 0
    assert "1200,00 5,5 % 66,00 1266,00 75011 526 018 159 08300" in read.text


def test_document_fed_upside_down_is_read_once_a_page_after_the_first(tmp_path: Path) -> None:
    """A fax fed upside down: the first page is read, found not upright, turned and read again; after
    it, OSD comes first and each page is read once (one reading thread, so pages come in order)."""
    reads = 0

    class Counting(_CountingOsd):
        def _read(
            self, page: Image.Image, options: EngineOptions, judge: bool = True, photo: bool = False
        ) -> tuple[str, bool, PageLayout | None]:
            nonlocal reads
            reads += 1
            return super()._read(page, options, judge, photo)

    engine = make_engine(Counting, OCR_THREADS="1")
    assert isinstance(engine, Counting)
    pages = [_last_page().rotate(180, fillcolor=238) for _ in range(3)]
    path = tmp_path / "fax.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:], dpi=(300, 300))
    result = run(Pipeline(engine, max_pages=5), path)
    assert [page.rotation for page in result.pages] == [180, 180, 180]
    assert all("Total TTC 15 803,90" in page.text.splitlines() for page in result.pages)
    assert engine.osd_calls == 3
    assert reads == 4


def test_mention_up_the_margin_does_not_send_an_upright_page_to_osd(tmp_path: Path) -> None:
    """Letterheads print their legal mention up the margin; Tesseract reads it as vertical text. The page
    around it is upright: read once, no OSD, the mention's words kept."""
    page = _last_page()
    draw = ImageDraw.Draw(page)
    font = _font(37)
    items = ["Pompe à chaleur air/eau Atlantic Alfea Excellia Duo 14 kW 1 unité 9 850,00",
             "Ballon tampon 100 litres et kit hydraulique de raccordement 1 forfait 1 240,00",
             "Mise en service par un technicien qualifié, réglages et essais 1 forfait 380,00",
             "Désembouage du circuit de chauffage existant avec pose de filtre 1 forfait 620,00"]
    for i, item in enumerate(items):
        draw.text((210, 900 + 66 * i), item, fill=30, font=font)
    mention = Image.new("L", (2400, 60), 238)
    small = _font(30)
    legal = "SARL Dupont et Fils au capital de 10 000 euros, RCS Paris 526 018 159"
    ImageDraw.Draw(mention).text((10, 10), legal, fill=30, font=small)
    page.paste(mention.rotate(90, expand=True), (40, 600))
    read, calls = _read_counting_osd(page, tmp_path / "letterhead.png")
    assert calls == 0
    assert read.rotation == 0
    assert "Total TTC 15 803,90" in read.text.splitlines()
    assert "capital" in read.text
