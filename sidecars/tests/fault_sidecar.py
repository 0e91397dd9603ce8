"""The real sidecar with a fault-injecting tesseract engine (slow load, slow pages), for tests that
need time to observe "starting", a full queue or a cancellation. Run: python -m tests.fault_sidecar ...

FAULT_LOAD_DELAY_S / FAULT_PAGE_DELAY_S set the extra seconds.
"""

from __future__ import annotations

import os
import sys
import time

from PIL import Image

from mdso_sidecar.__main__ import main
from mdso_sidecar.engines import ENGINES
from mdso_sidecar.engines.base import EngineOptions, PageText
from mdso_sidecar.engines.tesseract import TesseractEngine


class SlowTesseract(TesseractEngine):
    def load(self) -> None:
        time.sleep(float(os.environ.get("FAULT_LOAD_DELAY_S", "0")))
        super().load()

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        time.sleep(float(os.environ.get("FAULT_PAGE_DELAY_S", "0")))
        return super().recognize_page(image, options)


ENGINES["tesseract"] = SlowTesseract

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
