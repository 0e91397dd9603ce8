"""A page image cleaned before Tesseract reads it: grey levels stretched (stretch_contrast) and thin ruled
lines erased (erase_rules). Needs OpenCV and NumPy: engines/tesseract.py imports it on first use only.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

# The darkest 1 % of pixels become black and the brightest pixel white (grey paper, faded toner, JPEG
# haze): Tesseract's LSTM reads the grey line images, so contrast reaches recognition, not only
# binarisation. Figures: docs/ACCURACY.md, "Tuning experiments" (and "Earlier changes, each measured").
CONTRAST_CUTOFF = (1.0, 0.0)
# Grey level below which a pixel counts as ink for the guard in stretch_contrast.
INK_LEVEL = 128
# A ruled line (table border, column rule, the rule over a footer) is a straight run of ink at least
# RULE_MIN_LENGTH of the page's long side long (117 px, 10 mm on A4 at 300 dpi: longer than the stems of
# type under ~36 pt) and at most RULE_MAX_THICKNESS of it thick (5 px at 300 dpi; a 7 pt stem is 2-3 px,
# a title's 8+). Figures and the lengths tried: docs/ACCURACY.md, "Dense bills".
RULE_MIN_LENGTH = 1 / 30
RULE_MAX_THICKNESS = 1 / 700
# Grey levels a rule is darker than the paper or tint around it.
RULE_MIN_CONTRAST = 20


def stretch_contrast(image: Image.Image) -> Image.Image:
    """The contrast stretch (CONTRAST_CUTOFF), only on pages with enough ink for it: on a sparse page
    (under 1 % dark pixels: one line of text, a page number) the 1 % cut reaches the background, and
    stretching the resampling ripples of white paper to full range read a clean page as empty."""
    if image.mode not in ("L", "RGB"):
        return image
    histogram = (image if image.mode == "L" else image.convert("L")).histogram()
    # Share of pixels darker than INK_LEVEL, against the share the stretch cuts away.
    if sum(histogram[:INK_LEVEL]) <= sum(histogram) * CONTRAST_CUTOFF[0] / 100:
        return image
    return ImageOps.autocontrast(image, cutoff=CONTRAST_CUTOFF)


def erase_rules(image: Image.Image) -> Image.Image:
    """The page with its thin ruled lines painted over with the background around them (RULE_MIN_LENGTH,
    RULE_MAX_THICKNESS). Rules are found among the thin dark marks (darker than their surroundings
    within a rule's thickness, so light-grey rules on a tinted row count, and a band or a title's
    stroke does not) as straight runs longer than the stems of type under ~36 pt. Tesseract read a
    column rule beside narrow figures as "|" or "1" glued to them, and lost the layout of tables ruled
    under tinted rows."""
    if image.mode != "L":
        return image
    grey: NDArray[Any] = np.asarray(image)
    side = max(grey.shape)
    length = max(15, round(side * RULE_MIN_LENGTH))
    size = 2 * max(2, round(side * RULE_MAX_THICKNESS)) + 1
    square = np.ones((size, size), np.uint8)
    smooth = cv2.GaussianBlur(grey, (3, 3), 0)
    darker: NDArray[Any] = cv2.subtract(cv2.morphologyEx(smooth, cv2.MORPH_CLOSE, square), smooth)
    thin = (darker > RULE_MIN_CONTRAST).astype(np.uint8) * 255
    rules = np.zeros(grey.shape, bool)
    for along in ((length, 1), (1, length)):
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, along)
        rules |= cv2.morphologyEx(thin, cv2.MORPH_OPEN, kernel) > 0
    if not rules.any():
        return image
    # Nothing in or beside a dark mass (a band holding white text, whose dark gaps between the letters
    # are thin too; a title's strokes).
    _, ink = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    solid = cv2.morphologyEx(ink, cv2.MORPH_OPEN, square)
    rules &= cv2.dilate(solid, np.ones((3 * size, 3 * size), np.uint8)) == 0
    # The rule's anti-aliased edges go too.
    wide = cv2.dilate(rules.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    out = grey.copy()
    out[wide] = cv2.morphologyEx(grey, cv2.MORPH_CLOSE, square)[wide]
    return Image.fromarray(out)
