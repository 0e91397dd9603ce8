"""DPI / scale study for the tesseract engine, in-process and single-threaded (so seconds are CPU-bound
page costs, independent of the thread pool): renders every page of a PDF at each DPI (or an image at
each longest-side cap) with the engine's own render path and OCR, prints JSON lines
{"variant", "seconds", "texts"}. Run with the sidecar's venv: .venv/bin/python scripts/bench_dpi.py.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sidecars"))

from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.intake import DocumentKind, open_document
from mdso_sidecar.settings import load_settings


def main() -> None:
    kind_arg, path_arg, *variants = sys.argv[1:]
    engine = TesseractEngine(load_settings("tesseract", {"OCR_THREADS": "1"}))
    engine.load()
    kind = DocumentKind.PDF if kind_arg == "pdf" else DocumentKind.JPEG
    base = TesseractEngine.render_policy
    for variant in variants:
        value = int(variant)
        if kind is DocumentKind.PDF:
            policy = dataclasses.replace(base, pdf_dpi=value)
        else:
            policy = dataclasses.replace(base, image_max_side=value)
        document = open_document(Path(path_arg), kind)
        started = time.perf_counter()
        texts = []
        for page in range(1, document.page_count + 1):
            image = document.render(page, policy)
            texts.append(engine.recognize_page(image, {}).text)
            image.close()
        seconds = time.perf_counter() - started
        document.close()
        print(json.dumps({"variant": value, "seconds": seconds, "texts": texts}), flush=True)


if __name__ == "__main__":
    main()
