"""Phone photos of a page: find the sheet, straighten it, even out its light.

A photo of a quote shows the sheet on a desk, in perspective, lit unevenly (a lamp on one side, the
phone's shadow across it). Tesseract binarises with one global threshold, so the shaded half of the
sheet falls below it, and its layout analysis takes the dark desk and the shadow for a picture: whole
columns of amounts are dropped. Here the sheet is found (the largest bright quadrilateral against a
darker surround), warped flat to a rectangle, and divided by its own background light so the paper is
white everywhere and the ink dark. A photo that shows no desk (the camera held close, the sheet
running off the frame) is only evenly lit, when its light falls off so far that part of the paper is
darker than the page's global threshold: Tesseract takes that paper for ink and drops the paragraphs
on it. A page without either (a scan, a rendered PDF page, a screenshot) is returned unchanged.

Straightening without evening out the light is worse than nothing: once the dark desk is gone, the
shadow decides the threshold. Figures: docs/ACCURACY.md, "This round's changes, each measured".
Needs OpenCV and NumPy: engines/tesseract.py imports it on first use only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from ..layout import IDENTITY, compose, translation

# The page is looked for on a copy this large (long side, px): enough for its corners, cheap.
FIND_SIDE = 800
# The sheet must cover this share of the frame: less is an object on a desk, not a document photo;
# more is a scan or a render whose margins touch the frame (nothing to straighten).
MIN_PAGE_SHARE = 0.2
MAX_PAGE_SHARE = 0.95
# A photographed sheet has desk around it on at least three sides (a margin of this share of the
# frame): a page whose dark part touches the frame on two sides or more is a page with a dark band
# (a full-bleed header, a photo), not a sheet on a desk, and nothing of it is cut away.
MIN_SIDES_SURROUNDED = 3
MIN_MARGIN = 0.01
# The sheet must be this many grey levels brighter (median) than what surrounds it.
MIN_PAGE_CONTRAST = 30
# Long side / short side of the sheet once straightened: A4 is 1.41, US letter 1.29, a till receipt
# can be 3; a "sheet" outside these is a misdetection.
MAX_ASPECT = 3.5
# Canny's hysteresis thresholds (grey levels) for the sheet's border, on the blurred copy.
EDGE_LOW = 20
EDGE_HIGH = 60
# The bright region is kept unless the edges enclose this much more (1 / 0.85: 18 % more area).
EDGES_WIN = 0.85
# Trim this share of each side after straightening: the sheet's edge and a sliver of desk would
# otherwise read as a dark frame line.
EDGE_TRIM = 0.004
# Background light: estimated on a quarter-size copy, ink removed by a grey dilation wider than a text
# stroke, smoothed by a median wider than a line of text.
LIGHT_SCALE = 0.25
LIGHT_DILATE = 9
LIGHT_MEDIAN = 21
# A page without a sheet to straighten is evenly lit when at least this share of it is shaded paper:
# background light of a paper's level (at least PAPER_LIGHT_MIN of the brightest paper's) yet below the
# page's Otsu threshold, the single threshold Tesseract binarises with, so that this paper and the
# text on it turn into one black mass that page segmentation drops as a picture; and shaded the way
# light falls off, its outline soft (SHADE_EDGE_MAX). Figures: docs/ACCURACY.md, "After this round:
# shaded paper evened out".
SHADED_PAPER_MIN = 0.01
# Median steepness of the light on a shaded region's outline, in grey levels per pixel of the
# quarter-size copy, up to which the region is shade; steeper, it is a printed fill (a grey header band
# with white text, which dividing by its light would wash out). Figures: as SHADED_PAPER_MIN's.
SHADE_EDGE_MAX = 8.0
# Darker than this share of the brightest paper's light is not paper but a dark band, a desk or an
# inverted page (white text on black): dividing it by its own light would wash its text out.
PAPER_LIGHT_MIN = 0.4
# The brightest paper: this percentile of the background light (not the maximum, which a small glare
# or a white sticker would set).
PAPER_PERCENTILE = 99

# 8-bit grey images (cv2 types its results loosely).
Grey = NDArray[Any]
Contour = NDArray[Any]


@dataclass(frozen=True)
class Sheet:
    """The sheet found in a photo: its corners (top-left, top-right, bottom-right, bottom-left) in
    the photo's pixels, and the share of the frame it covers."""

    corners: NDArray[np.float32]
    share: float


def find_sheet(grey: Grey) -> Sheet | None:
    """The page in a photo, or None when the image is not a photo of a page on a darker surround."""
    height, width = grey.shape
    scale = FIND_SIDE / max(height, width)
    small = cv2.resize(grey, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (5, 5), 0)
    # The bright region's outline is the more exact (the edges are dilated to close them, and take a
    # sliver of desk); the edges win when they enclose clearly more, i.e. when a shadow left only the
    # lit part of the sheet brighter than the desk.
    bright = _as_sheet(small, _bright_region(small))
    edged = _as_sheet(small, _edges(small))
    if bright is not None and (edged is None or bright.share >= EDGES_WIN * edged.share):
        best = bright
    elif edged is not None:
        best = edged
    else:
        return None
    return Sheet(corners=best.corners / scale, share=best.share)


def _bright_region(small: Grey) -> Contour | None:
    """The outline of the largest region brighter than Otsu's threshold: the sheet, when the light is
    even enough that all of the sheet is brighter than all of the desk."""
    _, mask = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    # Close the holes the text makes in the bright sheet.
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((15, 15), np.uint8))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=cv2.contourArea) if contours else None


def _edges(small: Grey) -> Contour | None:
    """The outline of the largest closed shape of sharp edges: the sheet's border when a shadow or a
    lamp makes part of the sheet darker than part of the desk (soft light gradients make no edges)."""
    edges = cv2.dilate(cv2.Canny(small, EDGE_LOW, EDGE_HIGH), np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=lambda c: cv2.contourArea(cv2.convexHull(c))) if contours else None


def _as_sheet(small: Grey, outline: Contour | None) -> Sheet | None:
    """The outline as a sheet's four corners, when it is one: large, brighter than its surround, and
    of a paper's proportions."""
    if outline is None:
        return None
    hull = cv2.convexHull(outline)
    share = cv2.contourArea(hull) / (small.shape[0] * small.shape[1])
    if not MIN_PAGE_SHARE <= share <= MAX_PAGE_SHARE:
        return None
    quad = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True)
    points = quad.reshape(-1, 2) if len(quad) == 4 else cv2.boxPoints(cv2.minAreaRect(hull))
    corners = _order(np.asarray(points, dtype=np.float32))
    if _sides_with_surround(corners, small.shape) < MIN_SIDES_SURROUNDED:
        return None
    inside = np.zeros(small.shape, np.uint8)
    cv2.fillConvexPoly(inside, corners.astype(np.int32), 255)
    page, around = small[inside > 0], small[inside == 0]
    if around.size == 0 or float(np.median(page)) - float(np.median(around)) < MIN_PAGE_CONTRAST:
        return None
    width_px, height_px = _size(corners)
    if min(width_px, height_px) < 1 or max(width_px, height_px) / min(width_px, height_px) > MAX_ASPECT:
        return None
    return Sheet(corners=corners, share=share)


def straighten(grey: Grey, sheet: Sheet) -> Grey:
    """The sheet warped flat to a rectangle of its own size (no upscaling), edges trimmed."""
    width, height = _size(sheet.corners)
    matrix = _warp(sheet, width, height)
    flat = cv2.warpPerspective(grey, matrix, (width, height), flags=cv2.INTER_CUBIC,
                               borderMode=cv2.BORDER_REPLICATE)
    dx, dy = _trim(width, height)
    return np.ascontiguousarray(flat[dy: height - dy, dx: width - dx])


def straightened_to_photo(sheet: Sheet) -> tuple[float, ...]:
    """The homography from the pixels of straighten()'s page back to the photo's: the trim undone,
    then the inverse of the warp."""
    width, height = _size(sheet.corners)
    back = np.linalg.inv(_warp(sheet, width, height))
    dx, dy = _trim(width, height)
    return compose(tuple(float(v) for v in back.ravel()), translation(dx, dy))


def _warp(sheet: Sheet, width: int, height: int) -> NDArray[Any]:
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix: NDArray[Any] = cv2.getPerspectiveTransform(sheet.corners, target)
    return matrix


def _trim(width: int, height: int) -> tuple[int, int]:
    return int(width * EDGE_TRIM), int(height * EDGE_TRIM)


def even_light(grey: Grey) -> Grey:
    """The page divided by its background light: white paper everywhere, ink kept dark."""
    return _divide(grey, _background_light(grey)[1])


def shaded_paper_share(grey: Grey) -> float:
    """The share of the page that is paper Tesseract's global threshold turns black (SHADED_PAPER_MIN)."""
    return _shaded_paper(*_background_light(grey))[0]


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo's page made readable (grey), and what was done to it (for the page's meta)."""

    image: Image.Image
    note: str
    to_input: tuple[float, ...] = IDENTITY
    """The homography from the prepared page's pixels back to the photo's (layout.py)."""


def prepare_photo(image: Image.Image) -> PreparedPhoto | None:
    """The page of a photo straightened and evenly lit, or only evenly lit when the photo shows no
    surround but shaded paper; None for a page that is neither (a scan, a render), left as it is."""
    grey = np.asarray(image if image.mode == "L" else image.convert("L"))
    sheet = find_sheet(grey)
    if sheet is not None:
        return PreparedPhoto(Image.fromarray(even_light(straighten(grey, sheet))),
                             "sheet straightened and evenly lit", straightened_to_photo(sheet))
    small, light = _background_light(grey)
    share, paper = _shaded_paper(small, light)
    if share < SHADED_PAPER_MIN:
        return None
    # Light darker than paper is kept at the paper's floor: a dark band or a desk corner stays dark
    # (only brightened) instead of turning white around the text printed on it.
    floor = np.uint8(min(255, max(1, round(PAPER_LIGHT_MIN * paper))))
    return PreparedPhoto(Image.fromarray(_divide(grey, np.maximum(light, floor))), "evenly lit")


def flatten_photo(image: Image.Image) -> Image.Image | None:
    """prepare_photo's page alone."""
    prepared = prepare_photo(image)
    return None if prepared is None else prepared.image


def _background_light(grey: Grey) -> tuple[Grey, Grey]:
    """A LIGHT_SCALE copy of the page and its background light at that size (ink dilated away,
    smoothed)."""
    height, width = grey.shape
    small = cv2.resize(grey, (max(1, round(width * LIGHT_SCALE)), max(1, round(height * LIGHT_SCALE))),
                       interpolation=cv2.INTER_AREA)
    light = cv2.dilate(small, np.ones((LIGHT_DILATE, LIGHT_DILATE), np.uint8))
    return small, cv2.medianBlur(light, LIGHT_MEDIAN)


def _shaded_paper(small: Grey, light: Grey) -> tuple[float, float]:
    """The share of shaded paper (SHADED_PAPER_MIN) of a page's LIGHT_SCALE copy with its background
    light, and the brightest paper's light."""
    threshold, _ = cv2.threshold(small, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    paper = float(np.percentile(light, PAPER_PERCENTILE))
    shaded = ((light >= PAPER_LIGHT_MIN * paper) & (light < threshold)).astype(np.uint8)
    count, labels = cv2.connectedComponents(shaded, connectivity=8)
    if count < 2:
        return 0.0, paper
    # Each shaded region's outline (its pixels next to unshaded ones; the frame's edge is none) and how
    # steep the light is there: a region counts when most of its outline is soft.
    outline = (shaded - cv2.erode(shaded, np.ones((3, 3), np.uint8))) > 0
    level = light.astype(np.float32)
    steep = np.hypot(cv2.Sobel(level, cv2.CV_32F, 1, 0), cv2.Sobel(level, cv2.CV_32F, 0, 1)) / 8
    on_outline = labels[outline]
    soft = np.bincount(on_outline, weights=steep[outline] <= SHADE_EDGE_MAX, minlength=count)
    shade = soft * 2 >= np.maximum(np.bincount(on_outline, minlength=count), 1)
    shade[0] = False  # the unshaded rest of the page
    area = np.bincount(labels.ravel(), minlength=count)
    return float(area[shade].sum() / shaded.size), paper


def _divide(grey: Grey, light: Grey) -> Grey:
    """The page divided by its background light (given at any size)."""
    height, width = grey.shape
    light = cv2.resize(light, (width, height), interpolation=cv2.INTER_LINEAR)
    # grey * 255 / light in 8 bits, saturating: no float copies of a 12 MP page.
    divided: Grey = cv2.divide(grey, np.maximum(light, 1), scale=255)
    return divided


def _sides_with_surround(corners: NDArray[np.float32], shape: tuple[int, ...]) -> int:
    """On how many of its four sides the sheet stays clear of the frame's edge."""
    height, width = shape[:2]
    xs, ys = corners[:, 0], corners[:, 1]
    margin_x, margin_y = width * MIN_MARGIN, height * MIN_MARGIN
    return sum((
        bool(xs.min() > margin_x),
        bool(xs.max() < width - margin_x),
        bool(ys.min() > margin_y),
        bool(ys.max() < height - margin_y),
    ))


def _order(points: NDArray[np.float32]) -> NDArray[np.float32]:
    """Four corners as top-left, top-right, bottom-right, bottom-left."""
    total = points.sum(axis=1)
    diff = points[:, 1] - points[:, 0]
    return np.array(
        [points[total.argmin()], points[diff.argmin()], points[total.argmax()], points[diff.argmax()]],
        dtype=np.float32,
    )


def _size(corners: NDArray[np.float32]) -> tuple[int, int]:
    top_left, top_right, bottom_right, bottom_left = corners
    width = max(np.linalg.norm(top_right - top_left), np.linalg.norm(bottom_right - bottom_left))
    height = max(np.linalg.norm(bottom_left - top_left), np.linalg.norm(bottom_right - top_right))
    return int(width), int(height)
