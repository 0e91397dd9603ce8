"""npm run eval: accuracy of the OCR services on realistic French quotes (scripts/eval_inputs.py), per
input category, against the plain tesseract CLI as the reference row.

Every document goes through the real service: the gateway (node dist/gateway/src/main.js) with the
tesseract sidecar behind it, POST /ocr/<service>?pages=true&<variant query>. The reference row runs
`tesseract <image> - -l fra+eng` at default settings on each page (PDF pages rasterised by
`pdftoppm -r 300`; images and TIFFs given as they are), one page at a time, OMP_THREAD_LIMIT=1 (same
result, no thread oversubscription). The gateway runs every service the variants name (e.g.
`rapidocr=` adds the rapidocr service). Variants run interleaved (A B C, then B C A, ...) so outside
load hits them alike.

Scores, per category (sums over its pages, so long pages weigh more):
- CER: Levenshtein distance / reference length, on texts with whitespace runs collapsed;
- WER: the same over whitespace-separated words;
- numeric-token recall: share of the reference's tokens containing a digit (SIRET groups, amounts,
  rates, dates, postal codes, page numbers; ASCII digits, so "m²" is not one) that appear exactly in
  the output (multiset match; surrounding punctuation, € and % stripped on both sides, so "685,00€"
  matches "685,00 €" but "1150,00" does not match "1 150,00").

Environment: EVAL_DOCS (documents per category, default 2), EVAL_CATEGORIES (comma list),
EVAL_VARIANTS (';'-separated `label=query` for services, `cli` for the reference; default
`cli;tesseract ocr=mode=ocr;tesseract auto=mode=auto`; a label's first word is the service), EVAL_ENV (extra gateway environment, `A=1,B=2`), EVAL_OUT (output folder, default run/eval:
inputs/, texts/, report.md, results.json).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import eval_inputs
from bench import KEY, Gateway, multipart, norm

OUT = ROOT / os.environ.get("EVAL_OUT", "run/eval")
DOCS = int(os.environ.get("EVAL_DOCS", "2"))
CATEGORIES = [c for c in os.environ.get("EVAL_CATEGORIES", ",".join(eval_inputs.CATEGORIES)).split(",") if c]
VARIANTS = [v for v in os.environ.get("EVAL_VARIANTS", "cli;tesseract ocr=mode=ocr;tesseract auto=mode=auto").split(";") if v]
EXTRA_ENV = dict(kv.split("=", 1) for kv in os.environ.get("EVAL_ENV", "").split(",") if kv)
LANG = "fra+eng"
TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"
_STRIP = ".,;:()[]«»\"'!?€%"
_DIGIT = re.compile(r"[0-9]")
MIME = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".tif": "image/tiff", ".png": "image/png"}

report: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    report.append(line)


def numeric_tokens(text: str) -> Counter[str]:
    tokens = (t.strip(_STRIP) for t in text.split())
    return Counter(t for t in tokens if _DIGIT.search(t))


def score(reference: str, hypothesis: str) -> dict[str, int]:
    ref, hyp = norm(reference), norm(hypothesis)
    ref_words, hyp_words = ref.split(), hyp.split()
    ref_nums, hyp_nums = numeric_tokens(reference), numeric_tokens(hypothesis)
    return {
        "chars": len(ref),
        "char_edits": Levenshtein.distance(ref, hyp),
        "words": len(ref_words),
        "word_edits": Levenshtein.distance(ref_words, hyp_words),
        "nums": sum(ref_nums.values()),
        "nums_found": sum((ref_nums & hyp_nums).values()),
    }


# -- readers -----------------------------------------------------------------------------------------


def page_images(sample: eval_inputs.Sample, work: Path) -> list[Path]:
    """The reference rows' page images: PDF pages rasterised at 300 dpi, image files as they are."""
    if sample.path.suffix != ".pdf":
        return [sample.path]
    pages_dir = work / "pages"
    shutil.rmtree(pages_dir, ignore_errors=True)
    pages_dir.mkdir()
    subprocess.run(["pdftoppm", "-r", "300", "-png", str(sample.path), str(pages_dir / "p")], check=True)
    return sorted(pages_dir.glob("p-*.png"))


def read_cli(sample: eval_inputs.Sample, work: Path) -> tuple[list[str], dict[str, Any]]:
    env = {**os.environ, "TESSDATA_PREFIX": TESSDATA, "OMP_THREAD_LIMIT": "1"}
    texts = []
    for image in page_images(sample, work):
        out = subprocess.run(["tesseract", str(image), "-", "-l", LANG], check=True, capture_output=True,
                             text=True, env=env).stdout
        texts += out.split("\f")  # a multi-page TIFF: one form feed per page
    return [t for t in texts if t.strip()] or [""], {}


def read_service(gw: Gateway, service: str, query: str, sample: eval_inputs.Sample) -> tuple[list[str], dict[str, Any]]:
    body, boundary = multipart(sample.path, MIME[sample.path.suffix])
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=600)
    try:
        conn.request("POST", f"/ocr/{service}?pages=true{'&' + query if query else ''}", body=body,
                     headers={"x-api-key": KEY, "content-type": f"multipart/form-data; boundary={boundary}"})
        res = conn.getresponse()
        data = json.loads(res.read())
    finally:
        conn.close()
    if res.status != 200:
        raise RuntimeError(f"{service}?{query} answered {res.status} on {sample.name}: {data}")
    pages = data["pages"]
    return [str(p["text"]) for p in pages], {
        "sources": [p["source"] for p in pages], "rotations": [p["rotation"] for p in pages],
    }


# -- run ---------------------------------------------------------------------------------------------


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    cli_version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True,
                                 check=False).stdout.splitlines()[0]
    say(f"# mdso-ocr eval — {time.strftime('%Y-%m-%d %H:%M')} — {os.cpu_count()} CPUs, load avg {os.getloadavg()[0]:.2f}")
    say(f"reference: `tesseract <page> - -l {LANG}` ({cli_version}, default settings); services through the gateway")
    samples = [s for s in eval_inputs.build(OUT / "inputs", DOCS) if s.category in CATEGORIES]
    say(f"{len(samples)} inputs, {sum(len(s.pages) for s in samples)} pages, {DOCS} documents per category; "
        f"variants: {', '.join(VARIANTS)}" + (f"; gateway env {EXTRA_ENV}" if EXTRA_ENV else ""))
    work = Path(tempfile.mkdtemp(prefix="mdso-eval-"))
    services = list(dict.fromkeys(v.partition("=")[0].split()[0] for v in VARIANTS if v != "cli"))
    gw = Gateway(1, {"ENABLED_SERVICES": ",".join(services), "TIMEOUT": "600", **EXTRA_ENV}) if services else None
    results: list[dict[str, Any]] = []
    try:
        for i, sample in enumerate(samples):
            order = VARIANTS[i % len(VARIANTS):] + VARIANTS[: i % len(VARIANTS)]
            for variant in order:
                label, _, query = variant.partition("=")
                t0 = time.perf_counter()
                if label == "cli":
                    texts, info = read_cli(sample, work)
                else:
                    assert gw is not None
                    texts, info = read_service(gw, label.split()[0], query, sample)
                seconds = time.perf_counter() - t0
                row = {"variant": label, "category": sample.category, "sample": sample.name,
                       "pages": len(sample.pages), "seconds": seconds, **info,
                       **score(sample.text, "\n".join(texts))}
                results.append(row)
                (OUT / "texts").mkdir(exist_ok=True)
                (OUT / "texts" / f"{sample.name}.{label.replace(' ', '_')}.txt").write_text("\n\f\n".join(texts))
                print(f"  {sample.name:40s} {label:16s} {seconds:6.1f} s  CER {row['char_edits'] / row['chars']:.2%}  "
                      f"num {row['nums_found']}/{row['nums']}", flush=True)
    finally:
        if gw is not None:
            gw.stop()
        shutil.rmtree(work, ignore_errors=True)
    for sample in samples:
        (OUT / "texts" / f"{sample.name}.reference.txt").write_text(sample.text)

    table(results, [v.partition("=")[0] for v in VARIANTS])
    say("")
    say(f"eval took {time.time() - started:.0f} s; load avg at the end {os.getloadavg()[0]:.2f}")
    (OUT / "report.md").write_text("\n".join(report) + "\n")
    (OUT / "results.json").write_text(json.dumps(results, indent=1))


def rescore(folder: Path) -> None:
    """`eval.py --rescore run/eval`: the table again from a run's saved texts (after a metric change)."""
    results = json.loads((folder / "results.json").read_text())
    for row in results:
        texts = folder / "texts"
        reference = (texts / f"{row['sample']}.reference.txt").read_text()
        output = (texts / f"{row['sample']}.{row['variant'].replace(' ', '_')}.txt").read_text().replace("\n\f\n", "\n")
        row.update(score(reference, output))
    table(results, list(dict.fromkeys(row["variant"] for row in results)))


def table(results: list[dict[str, Any]], labels: list[str]) -> None:
    say("")
    say("| category | reader | CER | WER | numeric-token recall | s/page |")
    say("|---|---|---|---|---|---|")
    categories = list(dict.fromkeys(row["category"] for row in results))
    for category in [*categories, "all"]:
        for label in labels:
            rows = [r for r in results if r["variant"] == label and category in ("all", r["category"])]
            if not rows:
                continue
            total = {k: sum(r[k] for r in rows) for k in ("chars", "char_edits", "words", "word_edits", "nums", "nums_found", "pages", "seconds")}
            say(f"| {category} | {'tesseract CLI (reference)' if label == 'cli' else label} | "
                f"{total['char_edits'] / total['chars']:.2%} | {total['word_edits'] / total['words']:.2%} | "
                f"{total['nums_found'] / max(1, total['nums']):.3f} | {total['seconds'] / total['pages']:.2f} |")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--rescore"]:
        rescore(Path(sys.argv[2]))
    else:
        main()
