"""The hybrid on the eval's dense bills (issue 13, "Numbers"): builds the eval's inputs (same seeds),
reads every page once in-process with the hybrid service's own readers and renders (Tesseract on its
grey render; rapidocr, on the bills, on its colour render; format=json, so both give their layouts and
rapidocr its lines), caches the readings, then scores page triggers and line-level combinations offline
with the eval's own scoring (numeric-token recall, CER).

  PYTHONPATH=tools .venv-bench/bin/python -m mdso_tools.bills_study build   # the eval's inputs
  PYTHONPATH=sidecars:tools nice -n 5 .venv/bin/python -m mdso_tools.bills_study cache
  PYTHONPATH=sidecars:tools .venv/bin/python -m mdso_tools.bills_study study
Inputs, their known texts and the cache go to run/bills-study/. Figures: docs/ACCURACY.md, "Bills, line
by line".
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import time
from typing import Any

from mdso_tools import ROOT

OUT = ROOT / "run" / "bills-study"
SAMPLES = OUT / "samples.pickle"
CACHE = OUT / "readings.pickle"
DOCS = int(os.environ.get("STUDY_DOCS", "2"))
CATEGORIES = tuple(os.environ.get(
    "STUDY_CATEGORIES", "bill,scan,rotated,fax,photo,phone,mixed,digital").split(","))
# Pages rapidocr reads in the cache (it takes ~15 s a page on these): the bills. The other categories'
# pages are read by Tesseract only: a trigger looks at Tesseract's reading, and fired on none of them.
BOTH = ("bill",)


def build() -> None:
    from mdso_tools import eval_inputs  # noqa: PLC0415

    samples = eval_inputs.build(OUT / "inputs", DOCS, categories=CATEGORIES)
    rows = [{"category": s.category, "name": s.name, "path": str(s.path), "pages": s.pages} for s in samples]
    SAMPLES.write_bytes(pickle.dumps(rows))
    print(f"{len(rows)} documents, {sum(len(r['pages']) for r in rows)} pages")


def cache() -> None:
    from pathlib import Path  # noqa: PLC0415

    from mdso_sidecar.engines.hybrid import HybridEngine  # noqa: PLC0415
    from mdso_sidecar.intake import open_document  # noqa: PLC0415
    from mdso_sidecar.settings import load_settings  # noqa: PLC0415
    from mdso_sidecar.sniff import DocumentKind  # noqa: PLC0415

    engine = HybridEngine(load_settings("hybrid", {"OCR_THREADS": "1", "PATH": "/usr/bin:/bin"}))
    engine.load()
    options = {"format": "json"}
    readings: dict[str, Any] = pickle.loads(CACHE.read_bytes()) if CACHE.exists() else {}  # noqa: S301
    for row in pickle.loads(SAMPLES.read_bytes()):  # noqa: S301 (our own file)
        path = Path(row["path"])
        kind = {".pdf": DocumentKind.PDF, ".png": DocumentKind.PNG, ".jpg": DocumentKind.JPEG,
                ".tif": DocumentKind.TIFF, ".tiff": DocumentKind.TIFF}[path.suffix.lower()]
        document = open_document(path, kind)
        for number in range(1, len(row["pages"]) + 1):
            key = f"{row['name']}#{number}"
            if key in readings:
                continue
            started = time.perf_counter()
            image = document.render(number, engine.render_policy)
            tess = engine.tesseract.read_page(image, options)
            entry: dict[str, Any] = {
                "category": row["category"], "truth": row["pages"][number - 1], "tesseract": tess,
                "confidence": engine.tesseract.last_confidence(), "size": image.size,
                "tesseract_s": time.perf_counter() - started,
            }
            if row["category"] in BOTH:
                started = time.perf_counter()
                colour = document.render(number, engine.rapidocr.render_policy)
                rapid, lines = engine.rapidocr.read_lines(colour, options)
                entry.update(rapidocr=rapid, rapidocr_lines=lines, colour_width=colour.width,
                             rapidocr_s=time.perf_counter() - started)
                colour.close()
            image.close()
            readings[key] = entry
            print(f"{key}: conf {entry['confidence']}, tesseract {entry['tesseract_s']:.1f} s"
                  + (f", rapidocr {entry['rapidocr_s']:.1f} s" if "rapidocr_s" in entry else ""), flush=True)
            OUT.mkdir(parents=True, exist_ok=True)
            CACHE.write_bytes(pickle.dumps(readings))
        document.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("step", choices=("build", "cache", "study"))
    args = parser.parse_args()
    {"build": build, "cache": cache, "study": study}[args.step]()


def features(text: str) -> dict[str, float]:
    """What a trigger can see of Tesseract's reading: its tokens, the share holding a digit, runs of
    10 digits starting 0[1-9] (a French phone number whose pairs were glued), digit runs over 6."""
    tokens = text.split()
    digits = [t for t in tokens if re.search(r"[0-9]", t)]
    return {
        "tokens": len(tokens),
        "digit_share": len(digits) / max(1, len(tokens)),
        "digit_tokens": len(digits),
        "phones": len(re.findall(r"(?<![0-9])0[1-9][0-9]{8}(?![0-9])", text)),
        "long_runs": len(re.findall(r"(?<![0-9])[0-9]{7,}(?![0-9])", text)),
    }


def study() -> None:
    from mdso_sidecar.engines import digit_merge as dm  # noqa: PLC0415
    from mdso_tools.scoring import score  # noqa: PLC0415

    readings = pickle.loads(CACHE.read_bytes())  # noqa: S301 (our own cache)
    print("| page | category | conf | tokens | digit share | digit tokens | glued phones | runs > 6 |")
    print("|---|---|---|---|---|---|---|---|")
    for key, r in readings.items():
        f = features(r["tesseract"].text)
        print(f"| {key} | {r['category']} | {r['confidence']} | {f['tokens']} | {f['digit_share']:.2f} | "
              f"{f['digit_tokens']} | {f['phones']} | {f['long_runs']} |")
    bills = {k: r for k, r in readings.items() if "rapidocr" in r}

    def total(texts: dict[str, str], label: str) -> None:
        sums = {"nums": 0, "nums_found": 0, "chars": 0, "char_edits": 0}
        per = []
        for key, text in texts.items():
            s = score(bills[key]["truth"], text)
            for k in sums:
                sums[k] += s[k]
            per.append(f"{s['nums_found']}/{s['nums']}")
        recall = sums["nums_found"] / sums["nums"]
        cer = 100 * sums["char_edits"] / sums["chars"]
        print(f"| {label} | {recall:.3f} | {cer:.2f} % | {' '.join(per)} |")

    print()
    print("| bills: reading | numeric recall | CER | per page (found/tokens) |")
    print("|---|---|---|---|")
    tess = {k: r["tesseract"].text for k, r in bills.items()}
    rapid = {k: r["rapidocr"].text for k, r in bills.items()}
    total(tess, "tesseract")
    total(rapid, "rapidocr")
    total({k: (rapid[k] if r["confidence"] < 86 else tess[k]) for k, r in bills.items()},
          "hybrid today (conf < 86)")
    for spaces in ("digits", "digit-side", "none"):
        for commas in (True, False):
            merged = {k: dm.merged(tess[k], rapid[k], spaces=spaces, commas=commas) for k in bills}
            total(merged, f"merge all pages: spaces {spaces}, commas {commas}")
    low = {k for k, r in bills.items() if r["confidence"] < 86}
    total({k: rapid[k] if k in low else dm.merged(tess[k], rapid[k]) for k in bills},
          "merge (digits, commas) where confident, rapidocr's page where conf < 86")
    for spaces in ("digits", "digit-side"):
        total({k: dm.merged(rapid[k], tess[k], spaces=spaces, commas=False) for k in bills},
              f"rapidocr's page with Tesseract's spaces ({spaces})")
    fired = [k for k, r in readings.items() if dm.figure_dense(r["tesseract"].text)]
    print("figure_dense fires on:", fired)
    total({k: rapid[k] if k in fired or k in low else tess[k] for k in bills},
          "rapidocr's page where figure_dense or conf < 86")
    total({k: dm.merged(rapid[k], tess[k], spaces="digit-side", commas=False) if k in fired or k in low
           else tess[k] for k in bills},
          "landed: where figure_dense or conf < 86, rapidocr's page with Tesseract's digit-side spaces")
    for k in bills:
        print(k, f"tesseract {bills[k]['tesseract_s']:.1f} s, rapidocr {bills[k]['rapidocr_s']:.1f} s")


if __name__ == "__main__":
    main()
