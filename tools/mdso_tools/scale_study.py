"""The render scale that reads best per second, on more than the bench's one document: generates the
eval's scanned quotes (PDF) or phone photos (eval_inputs) for two seeds, reads each at several render
DPIs (scans) or longest-side caps (photos) with the tesseract engine in-process on one thread
(bench_dpi: the engine's own render, photo straightening and page reading), and prints CER,
numeric-token recall and seconds per page for each setting, over all pages.

Run with the bench venv, after `npm run bench` or `npm run eval` made it:
  PYTHONPATH=sidecars:tools .venv-bench/bin/python -m mdso_tools.scale_study scan  [DPIs, default 200 250 300]
  PYTHONPATH=sidecars:tools .venv-bench/bin/python -m mdso_tools.scale_study photo [caps, default 2000 … 4000]
Inputs go to run/scale-study/.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from mdso_tools import ROOT, eval_inputs
from mdso_tools.bench_dpi import read_at
from mdso_tools.scoring import score

OUT = ROOT / "run" / "scale-study"
SEEDS = ((2024, 2), (777, 3))  # (corpus seed, documents): the eval's documents, then held-out ones
DEFAULTS = {"scan": ["200", "250", "300"], "photo": ["2000", "2500", "3000", "3500", "4000"]}


def inputs(category: str) -> list[tuple[Path, list[str]]]:
    """(file, reference text of each page), made as eval_inputs.build makes them (same per-document
    seeds; the scans at 150, 200 or 300 dpi by seed)."""
    OUT.mkdir(parents=True, exist_ok=True)
    out = []
    index = eval_inputs.CATEGORIES.index(category)
    for seed, docs in SEEDS:
        for d in range(docs):
            doc_seed = seed + index * 10 + d
            rng = random.Random(doc_seed)
            quote = eval_inputs.make_quote(doc_seed)
            if category == "scan":
                path = OUT / f"scan-{seed}-{d + 1}.pdf"
                if not path.exists():
                    dpi = (150, 200, 300)[doc_seed % 3]
                    images = [eval_inputs.scan(page, rng) for page in eval_inputs.render(quote.pdf, dpi)]
                    path.write_bytes(eval_inputs._image_pdf(images, dpi, quality=rng.randint(70, 85)))
                out.append((path, quote.pages))
                continue
            for i, page in enumerate(eval_inputs.render(quote.pdf, 300)):
                path = OUT / f"photo-{seed}-{d + 1}-p{i + 1}.jpg"
                if not path.exists():
                    eval_inputs.photo(page, rng).save(path, "JPEG", quality=rng.randint(72, 88))
                out.append((path, [quote.pages[i]]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("category", nargs="?", choices=tuple(DEFAULTS), default="photo")
    parser.add_argument("settings", nargs="*", metavar="SETTING",
                        help="render dpis (scan) or longest-side caps in px (photo); default: "
                             + "; ".join(f"{c} {' '.join(v)}" for c, v in DEFAULTS.items()))
    args = parser.parse_args()
    category: str = args.category
    settings: list[str] = args.settings or DEFAULTS[category]
    totals: dict[int, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    seconds: dict[int, list[float]] = defaultdict(list)
    pages = 0
    samples = inputs(category)
    for path, references in samples:
        pages += len(references)
        # Interleaved: each setting once in order, then in reverse; seconds are the median of the two.
        readings = read_at("pdf" if category == "scan" else "image", path, [*settings, *settings[::-1]],
                           env={"PATH": "/usr/bin:/bin"})
        runs: dict[int, list[float]] = defaultdict(list)
        for d in readings:
            runs[d["variant"]].append(d["seconds"] / len(references))
            if len(runs[d["variant"]]) == 1:
                for reference, text in zip(references, d["texts"], strict=True):
                    for key, value in score(reference, text).items():
                        totals[d["variant"]][key] += value
        for setting, values in runs.items():
            seconds[setting].append(statistics.median(values))
        print(f"{path.name}: read at {len(runs)} settings", file=sys.stderr, flush=True)
    what = "render dpi" if category == "scan" else "max side px"
    print(f"{category}: {pages} pages in {len(samples)} files (eval_inputs), seeds "
          f"{', '.join(str(s) for s, _ in SEEDS)}")
    print(f"| {what} | CER | numeric-token recall | s/page (mean of medians) |")
    print("|---|---|---|---|")
    for setting in sorted(totals):
        t = totals[setting]
        print(f"| {setting} | {t['char_edits'] / t['chars']:.2%} | {t['nums_found'] / t['nums']:.3f} | "
              f"{statistics.mean(seconds[setting]):.2f} |")


if __name__ == "__main__":
    main()
