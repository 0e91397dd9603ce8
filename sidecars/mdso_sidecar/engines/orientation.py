"""Pages turned 90/180/270 degrees, turned upright with Tesseract's orientation detection (OSD).

Shared by the engines that have no page orientation step of their own (tesseract, rapidocr). rapidocr
asks about every page before reading it; tesseract reads first and asks only about the pages whose
reading does not prove them upright (tesseract_reading.reads_upright). Needs osd.traineddata in the
tessdata directory; without it pages are read as they come, with a warning. tesserocr is imported when
the first page is asked about, not with this module (engines/__init__.py).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from ..log import get_logger

if TYPE_CHECKING:
    from tesserocr import PyTessBaseAPI  # type: ignore[import-untyped]

log = get_logger(__name__)

# OSD's orientation confidence on real text measured 5.7-9.3 (the fixture at 77-300 dpi, turned
# 90/180/270), while pages of shapes without text score below 1. 3.0 sits between the two with margin
# on each side: most scans are upright, so turning an upright page on a weak guess costs more than
# leaving a rare rotated one as is.
OSD_MIN_CONFIDENCE = 3.0
# OSD needs far fewer pixels than recognition: at ~2000 px (170 dpi A4) it reads as well and 2x faster.
OSD_MAX_SIDE = 2000
# Below this share of dark pixels (on a copy INK_SIDE px long) a page is blank or nearly (a page
# number, a stamp): OSD would only guess, so it is skipped. At 1000 px a page of text measures
# 0.014-0.03, one line of text 0.0004, a page number 0.0001. (At 400 px, 9 pt text fades to grey: a
# half-filled page measured 0.0014 and was never turned upright.)
OSD_MIN_INK = 0.002
INK_SIDE = 1000


def ink_share(image: Image.Image) -> float:
    """Share of dark pixels, measured on a copy INK_SIDE px long (cheap)."""
    thumb = image.convert("L")
    thumb.thumbnail((INK_SIDE, INK_SIDE))
    histogram = thumb.histogram()
    total = sum(histogram) or 1
    return sum(histogram[:128]) / total


class Orienter:
    """Turns pages upright. One OSD API per thread: a tesseract API is never shared by two threads."""

    def __init__(self, tessdata: Path) -> None:
        self.tessdata = tessdata
        self._local = threading.local()

    @property
    def available(self) -> bool:
        return (self.tessdata / "osd.traineddata").is_file()

    def check(self) -> None:
        """At load: warn once when pages cannot be turned upright here."""
        if not self.available:
            log.warning(
                "osd.traineddata missing: rotated pages will not be turned upright",
                extra={"tessdata": str(self.tessdata)},
            )

    def upright(self, image: Image.Image) -> tuple[Image.Image, int]:
        """The image turned upright when OSD is confident, and the clockwise degrees it was turned."""
        if not self.available:
            return image, 0
        probe = image
        if max(image.size) > OSD_MAX_SIDE:
            probe = image.copy()
            probe.thumbnail((OSD_MAX_SIDE, OSD_MAX_SIDE), Image.Resampling.BILINEAR)
        # The ink is measured on the probe (shrunk again to INK_SIDE): one pass over the full page.
        if ink_share(probe) < OSD_MIN_INK:
            return image, 0
        osd = self._api()
        try:
            osd.SetImage(probe)
            found = osd.DetectOrientationScript()
        finally:
            osd.Clear()
        if not found:
            return image, 0
        # orient_deg: how far the content is turned clockwise; PIL's rotate() turns counter-clockwise,
        # so rotate(orient_deg) undoes it, i.e. the page is turned (360 - orient_deg) clockwise.
        degrees = int(found["orient_deg"]) % 360
        if degrees == 0 or float(found["orient_conf"]) < OSD_MIN_CONFIDENCE:
            return image, 0
        return image.rotate(degrees, expand=True, fillcolor="white"), (360 - degrees) % 360

    def _api(self) -> PyTessBaseAPI:
        api: PyTessBaseAPI | None = getattr(self._local, "api", None)
        if api is None:
            from tesserocr import PSM, PyTessBaseAPI  # noqa: PLC0415

            api = self._local.api = PyTessBaseAPI(path=str(self.tessdata), lang="osd", psm=PSM.OSD_ONLY)
        return api
