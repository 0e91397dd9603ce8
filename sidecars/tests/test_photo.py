"""Phone photos: the sheet is found, straightened and evenly lit; a photo filling the frame with part
of its paper in shade is evenly lit; other pages are left alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

from mdso_sidecar.engines.photo import find_sheet, flatten_photo, prepare_photo
from mdso_sidecar.pipeline import Pipeline

from .test_pipeline import make_engine, run

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
AMOUNTS = ["8 450,00", "2 980,00", "3 570,00", "1 245,00", "16 245,00"]
LABELS = ["Pompe à chaleur air/eau", "Ballon thermodynamique", "Isolation des combles", "Main d'oeuvre",
          "Total TTC"]


def _page() -> Image.Image:
    """A quote's table on an A4 sheet at ~190 dpi."""
    page = Image.new("L", (1570, 2220), 250)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(DEJAVU), 30) if DEJAVU.exists() else ImageFont.load_default(size=30)
    for i, (label, amount) in enumerate(zip(LABELS, AMOUNTS, strict=True)):
        draw.text((120, 300 + 70 * i), label, fill=20, font=font)
        draw.text((1150, 300 + 70 * i), amount, fill=20, font=font)
    return page


def _photo(page: Image.Image) -> tuple[Image.Image, list[tuple[float, float]]]:
    """The sheet on a dark desk, in perspective, under a lamp with a shadow band: the photo and the
    sheet's true corners (top-left, top-right, bottom-right, bottom-left)."""
    frame = (2250, 3000)
    desk = Image.new("L", frame, 85)
    x0, y0 = (frame[0] - page.size[0]) // 2, (frame[1] - page.size[1]) // 2
    inset = 70
    corners = [(x0 + inset, y0), (x0 + page.size[0] - inset, y0), (x0 + page.size[0], y0 + page.size[1]),
               (x0, y0 + page.size[1])]
    # PIL maps each output pixel back into the page: solve the 8 coefficients from the 4 corners.
    src = [(0, 0), (page.size[0], 0), page.size, (0, page.size[1])]
    rows, rhs = [], []
    for (x, y), (u, v) in zip(corners, src, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    coeffs = np.linalg.solve(np.array(rows, float), np.array(rhs, float))
    sheet = page.transform(frame, Image.Transform.PERSPECTIVE, tuple(coeffs), Image.Resampling.BICUBIC)
    mask = Image.new("L", page.size, 255).transform(frame, Image.Transform.PERSPECTIVE, tuple(coeffs))
    desk.paste(sheet, (0, 0), mask)
    light = Image.linear_gradient("L").rotate(90).resize(frame).point(lambda v: 255 - v * 110 // 255)
    shadow = Image.new("L", frame, 255)
    shadow.paste(170, (frame[0] // 2, 0, frame[0] // 2 + 500, frame[1]))
    lit = ImageChops.multiply(ImageChops.multiply(desk, light), shadow.filter(ImageFilter.GaussianBlur(60)))
    return lit.filter(ImageFilter.GaussianBlur(1.2)).convert("RGB"), corners


def test_sheet_found_at_its_corners() -> None:
    photo, corners = _photo(_page())
    sheet = find_sheet(np.asarray(photo.convert("L")))
    assert sheet is not None
    assert 0.4 < sheet.share < 0.7
    # Within 1 % of the frame's long side of each true corner.
    assert np.abs(sheet.corners - np.array(corners, np.float32)).max() < 30


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(Image.new("L", (1240, 1754), 245), id="blank scan"),
        pytest.param(_page(), id="page filling the frame"),
        pytest.param(Image.new("L", (1240, 1754), 0), id="black frame"),
    ],
)
def test_pages_that_are_not_photos_are_left_alone(image: Image.Image) -> None:
    assert flatten_photo(image) is None


def test_small_bright_object_is_not_a_sheet() -> None:
    desk = Image.new("L", (2000, 2000), 90)
    desk.paste(240, (900, 900, 1100, 1200))  # a business card far away: 1.5 % of the frame
    assert flatten_photo(desk) is None


def test_straightened_sheet_is_evenly_lit() -> None:
    photo, _ = _photo(_page())
    flat = flatten_photo(photo)
    assert flat is not None
    # The page's paper (left, lit; right, shaded) comes out equally white; the text stays dark.
    grey = np.asarray(flat)
    height, width = grey.shape
    left = np.median(grey[height // 2:, : width // 4])
    right = np.median(grey[height // 2:, 3 * width // 4:])
    assert abs(float(left) - float(right)) < 10 and min(left, right) > 230
    assert (grey < 100).mean() > 0.002


def test_engine_reads_the_amounts_of_a_photographed_quote(tmp_path: Path) -> None:
    photo, _ = _photo(_page())
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=85)
    (page,) = run(Pipeline(make_engine(), max_pages=2), path).pages
    assert page.meta == {"photo": "sheet straightened and evenly lit"}
    for amount in AMOUNTS:
        assert amount in page.text
    assert "Total TTC 16 245,00" in page.text.splitlines()


def test_page_with_a_dark_full_bleed_band_is_not_cut() -> None:
    # A rendered page whose header is white text on a black band across the top and down one side:
    # the bright rest is large and much brighter, but it is not a sheet on a desk.
    page = _page().convert("L")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, page.size[0], 420), fill=15)
    draw.rectangle((0, 0, 160, page.size[1]), fill=15)
    draw.text((200, 150), "ISOL'EST BATIMENT", fill=250, font=ImageFont.load_default(size=60))
    assert flatten_photo(page) is None


LIT_PARAGRAPH = ["Pompe à chaleur air/eau 8 450,00", "Ballon thermodynamique 2 980,00",
                 "Isolation des combles 3 570,00", "Main d'oeuvre et pose 1 245,00"]
SHADED_PARAGRAPH = ["Conditions de paiement : acompte de 30 %",
                    "à la commande, solde à réception des travaux.",
                    "Validité du devis : trois mois à compter", "de sa date. Total TTC 16 245,00"]


def _shaded_photo() -> Image.Image:
    """A camera photo of a page held close: the sheet fills the frame (no desk to find), its light
    falls off towards the bottom left corner (a lamp at the top right), sensor noise. The real photos
    this stands for (typewritten pages, issue 13) came back with only their lit paragraphs."""
    width, height = 1700, 2400
    page = Image.new("L", (width, height), 235)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(DEJAVU), 40) if DEJAVU.exists() else ImageFont.load_default(size=40)
    for i, line in enumerate(LIT_PARAGRAPH):
        draw.text((150, 300 + 75 * i), line, fill=40, font=font)
    for i, line in enumerate(SHADED_PARAGRAPH):
        draw.text((150, 1500 + 75 * i), line, fill=40, font=font)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    distance = np.hypot((width - x) / width, y / height) / np.sqrt(2)
    light = 1 - 0.6 * distance**4
    noise = np.random.default_rng(1).normal(0, 12, (height, width))
    lit = np.clip(np.asarray(page, np.float32) * light + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(lit).filter(ImageFilter.GaussianBlur(1.0)).convert("RGB")


def test_shaded_page_filling_the_frame_is_evenly_lit() -> None:
    photo = _shaded_photo()
    assert find_sheet(np.asarray(photo.convert("L"))) is None
    prepared = prepare_photo(photo)
    assert prepared is not None and prepared.note == "evenly lit"
    # Same size (nothing cut away); the shaded corner's paper comes out as white as the lit one's.
    assert prepared.image.size == photo.size
    grey = np.asarray(prepared.image)
    height, width = grey.shape
    shaded = np.median(grey[3 * height // 4:, : width // 4])
    lit = np.median(grey[: height // 4, 3 * width // 4:])
    assert abs(float(shaded) - float(lit)) < 10 and shaded > 230


def test_engine_reads_the_shaded_paragraph_of_a_photo(tmp_path: Path) -> None:
    # Without the light evened out, Tesseract's one global threshold turns the shaded paper black and
    # page segmentation drops the paragraph on it: only LIT_PARAGRAPH came back.
    path = tmp_path / "shaded.jpg"
    _shaded_photo().save(path, quality=85)
    (page,) = run(Pipeline(make_engine(), max_pages=2), path).pages
    assert page.meta == {"photo": "evenly lit"}
    lines = page.text.splitlines()
    for line in LIT_PARAGRAPH + SHADED_PARAGRAPH:
        assert line in lines


@pytest.mark.parametrize("grey", [110, 170])
def test_page_with_a_grey_band_is_not_relit(grey: int) -> None:
    # A rendered page's grey header band is as dark as shaded paper, but printed: its sharp edge tells
    # it apart. Dividing it by its own light would wash out the white text on it.
    page = _page().convert("L")
    draw = ImageDraw.Draw(page)
    draw.rectangle((0, 0, page.size[0], 250), fill=grey)
    draw.text((200, 100), "ISOL'EST BATIMENT", fill=255, font=ImageFont.load_default(size=60))
    assert prepare_photo(page) is None
