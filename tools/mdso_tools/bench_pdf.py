"""The searchable PDF (format=pdf) against `ocrmypdf --output-type pdf` on the bench's scanned quote:
wall time and output size of each, one run each, as ratios; and that both outputs give the text back.

  PYTHONPATH=tools .venv-bench/bin/python -m mdso_tools.bench_pdf [SCAN.pdf]

Without an argument the bench's scan is built (or reused) in run/bench/scan.pdf (bench_inputs.build).
Our side goes through the real gateway (the tesseract service, one worker), ocrmypdf runs with the same
languages and tessdata, each once, ours first (the sidecar's model is warmed on a one-page request).
"""

from __future__ import annotations

import argparse
import http.client
import os
import subprocess
import tempfile
import time
from pathlib import Path

from mdso_tools import ROOT, bench_inputs
from mdso_tools.gateway import KEY, Gateway, multipart

LANG = "fra+eng"
TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")


def ours(gw: Gateway, scan: Path, out: Path, query: str) -> float:
    body, boundary = multipart(scan, "application/pdf")
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=900)
    started = time.perf_counter()
    conn.request("POST", f"/ocr/tesseract?{query}", body=body,
                 headers={"x-api-key": KEY, "content-type": f"multipart/form-data; boundary={boundary}"})
    res = conn.getresponse()
    data = res.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if res.status != 200:
        raise SystemExit(f"format=pdf answered {res.status}: {data[:500]!r}")
    out.write_bytes(data)
    return elapsed


def words(pdf: Path) -> int:
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    return len(text.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scan", nargs="?", type=Path)
    scan = parser.parse_args().scan or bench_inputs.build(ROOT / "run" / "bench").scan_pdf
    work = Path(tempfile.mkdtemp(prefix="mdso-bench-pdf-"))
    gw = Gateway(1)
    try:
        ours(gw, scan, work / "warm.pdf", "format=pdf&page_range=1")
        ours_s = ours(gw, scan, work / "ours.pdf", "format=pdf")
    finally:
        gw.stop()
    started = time.perf_counter()
    subprocess.run(
        # As a user makes a scan searchable: its defaults (page images kept, --optimize 1), no --force-ocr
        # (which would rasterise the pages anew).
        [str(ROOT / ".venv-bench" / "bin" / "ocrmypdf"), "--output-type", "pdf", "-l", LANG,
         "-q", str(scan), str(work / "ocrmypdf.pdf")],
        check=True, env={**os.environ, "TESSDATA_PREFIX": str(TESSDATA)},
    )
    theirs_s = time.perf_counter() - started
    size_in = scan.stat().st_size
    ours_b, theirs_b = (work / "ours.pdf").stat().st_size, (work / "ocrmypdf.pdf").stat().st_size
    print(f"input: {scan.name}, {size_in} bytes")
    print("| | wall time | output size | words (pdftotext) |")
    print("|---|---|---|---|")
    print(f"| format=pdf (tesseract service, gateway) | {ours_s:.1f} s | {ours_b} B "
          f"| {words(work / 'ours.pdf')} |")
    print(f"| ocrmypdf --output-type pdf | {theirs_s:.1f} s | {theirs_b} B "
          f"| {words(work / 'ocrmypdf.pdf')} |")
    print(f"ratios ours/ocrmypdf: time {ours_s / theirs_s:.2f}, size {ours_b / theirs_b:.2f}; "
          f"ours/input size {ours_b / size_in:.3f}")


if __name__ == "__main__":
    main()
