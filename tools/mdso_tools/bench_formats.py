"""What format=json costs (issue 17): the bench's scanned quote (bench_inputs.py, the image-only PDF at
300 dpi) read in-process by a service's pipeline on one thread, the default answer and format=json
interleaved (default, json, json, default, ...) so outside load hits both alike; prints the median
seconds per page of each, their ratio, and whether the texts are identical. Runs in the sidecar's venv:
  PYTHONPATH=sidecars:tools nice .venv/bin/python -m mdso_tools.bench_formats [--service tesseract]
      [--pages 3] [--reps 3] [--out run/bench-formats]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from mdso_tools import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--service", default="tesseract", choices=("tesseract", "rapidocr", "hybrid"))
    parser.add_argument("--pages", type=int, default=3, help="pages of the scanned quote (default 3)")
    parser.add_argument("--reps", type=int, default=3, help="runs of each format, interleaved (default 3)")
    parser.add_argument("--out", type=Path, default=ROOT / "run" / "bench-formats")
    parser.add_argument(
        "--default-only", action="store_true",
        help="time the default answer only (to compare with another checkout's sidecars on PYTHONPATH)",
    )
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "error")

    # The sidecar's modules: imported here, in its venv (PYTHONPATH=sidecars).
    from mdso_sidecar.engines import engine_class  # noqa: PLC0415
    from mdso_sidecar.pipeline import JobControl, Pipeline  # noqa: PLC0415
    from mdso_sidecar.settings import load_settings  # noqa: PLC0415
    from mdso_sidecar.sniff import DocumentKind  # noqa: PLC0415
    from mdso_tools.bench_inputs import build  # noqa: PLC0415

    scan = build(args.out, pages=args.pages).scan_pdf
    engine = engine_class(args.service)(load_settings(args.service, {"OCR_THREADS": "1"}))
    engine.load()
    pipeline = Pipeline(engine, max_pages=args.pages)
    formats = ("text",) if args.default_only else ("text", "json")
    seconds: dict[str, list[float]] = {name: [] for name in formats}
    texts: dict[str, list[str]] = {}
    words = 0
    try:
        pipeline.process(scan, DocumentKind.PDF, None, {}, JobControl("warm-up"))
        for rep in range(args.reps):
            for name in formats if rep % 2 == 0 else formats[::-1]:
                options = {} if name == "text" else {"format": "json"}
                started = time.perf_counter()
                result = pipeline.process(scan, DocumentKind.PDF, None, options, JobControl(f"{name}-{rep}"))
                seconds[name].append((time.perf_counter() - started) / len(result.pages))
                texts[name] = [page.text for page in result.pages]
                if name == "json":
                    words = sum(len(p.layout.words()) for p in result.pages if p.layout is not None)
    finally:
        pipeline.shutdown()
    plain = statistics.median(seconds["text"])
    print(f"{args.service}, scanned quote, {args.pages} pages at 300 dpi, 1 thread, {args.reps} runs each")
    print(f"default   {plain:.3f} s/page  (runs: {', '.join(f'{s:.3f}' for s in seconds['text'])})")
    if args.default_only:
        return
    layout = statistics.median(seconds["json"])
    runs = ", ".join(f"{s:.3f}" for s in seconds["json"])
    print(f"json      {layout:.3f} s/page  (runs: {runs}; {words} words boxed)")
    print(f"ratio json/default: {layout / plain:.3f}; texts identical: {texts['text'] == texts['json']}")


if __name__ == "__main__":
    main()
