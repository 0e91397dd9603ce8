"""DPI / scale study for the tesseract engine, in-process and single-threaded (so seconds are CPU-bound
page costs, independent of the thread pool): renders every page of a PDF at each DPI (or an image at
each longest-side cap) with the engine's own render path and OCR, prints JSON lines
{"variant", "seconds", "texts"}. Runs in the sidecar's venv, which has the engine:
  PYTHONPATH=sidecars:tools .venv/bin/python -m mdso_tools.bench_dpi pdf|image FILE SETTING...
`read_at` runs it so from the tools that run in the bench venv.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mdso_tools import ROOT


def read_at(kind: str, path: Path, settings: list[str],
            env: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Every reading of `path` (kind `pdf` or `image`) at each of `settings` in turn, as this module
    prints them, run in the sidecar's venv with `env` (default: this process's environment)."""
    proc = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "-m", "mdso_tools.bench_dpi", kind, str(path), *settings],
        capture_output=True, text=True, check=True,
        env={**(os.environ if env is None else env), "LOG_LEVEL": "error",
             "PYTHONPATH": f"{ROOT / 'sidecars'}:{ROOT / 'tools'}"},
    )
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"variant"')]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("kind", choices=("pdf", "image"))
    parser.add_argument("path", type=Path)
    parser.add_argument("settings", nargs="+", type=int, metavar="SETTING",
                        help="render dpi (pdf) or longest-side cap in px (image), read in this order")
    args = parser.parse_args()
    # The engine is imported here, not at the top: read_at's callers run in the bench venv, without it.
    from mdso_sidecar.engines.tesseract import TesseractEngine  # noqa: PLC0415
    from mdso_sidecar.intake import open_document  # noqa: PLC0415
    from mdso_sidecar.settings import load_settings  # noqa: PLC0415
    from mdso_sidecar.sniff import DocumentKind  # noqa: PLC0415

    engine = TesseractEngine(load_settings("tesseract", {"OCR_THREADS": "1"}))
    engine.load()
    kind = DocumentKind.PDF if args.kind == "pdf" else DocumentKind.JPEG
    base = TesseractEngine.render_policy
    for value in args.settings:
        if kind is DocumentKind.PDF:
            policy = dataclasses.replace(base, pdf_dpi=value)
        else:
            policy = dataclasses.replace(base, image_max_side=value)
        document = open_document(args.path, kind)
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
