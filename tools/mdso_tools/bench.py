"""npm run bench: throughput, CER, gateway overhead, /health rate and memory, measured side by side.

Run by scripts/bench in the bench venv (.venv-bench: ocrmypdf, rapidfuzz), as
`PYTHONPATH=tools .venv-bench/bin/python -m mdso_tools.bench`. Every comparison is
interleaved (A, B, C, then B, C, A...) in the same run, so load from other processes on the machine
affects each side alike. Environment: BENCH_REPS (throughput repetitions, default 3), BENCH_PAGES
(pages of the scanned quote, default 6), BENCH_LAT_N (requests per side for latency, default 60),
BENCH_SKIP (comma list of sections to skip: dpi,throughput,photo,latency,health,memory,stream,jobs),
BENCH_JOBS_N (jobs of the scanned quote per run in the jobs section, default 4; bench_jobs.py).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mdso_tools import ROOT, bench_inputs, bench_jobs
from mdso_tools.bench_dpi import read_at
from mdso_tools.gateway import KEY, Gateway, multipart, post_ocr
from mdso_tools.scoring import cer, digit_cer

LANG = "fra+eng"
REPS = int(os.environ.get("BENCH_REPS", "3"))
PAGES = int(os.environ.get("BENCH_PAGES", "6"))
LAT_N = int(os.environ.get("BENCH_LAT_N", "60"))
SKIP = set(filter(None, os.environ.get("BENCH_SKIP", "").split(",")))
OUT = ROOT / "run" / "bench"
TESSDATA = Path("/usr/share/tesseract-ocr/5/tessdata")

report: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    report.append(line)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- processes and sockets --------------------------------------------------------------------------


def mem_kb(pid: int, field: str) -> int:
    source = "smaps_rollup" if field == "Pss" else "status"
    try:
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:80]
    except OSError:
        return "?"


def is_node(pid: int) -> bool:
    """Whether the process runs the node binary (the primary or a worker), told from the executable:
    every process of the tree calls itself `mdso-ocr:<role>` (process title), so its command line
    cannot tell a worker from a sidecar."""
    try:
        return Path(os.readlink(f"/proc/{pid}/exe")).name.startswith("node")
    except OSError:
        return False


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path) -> None:
        super().__init__("sidecar", timeout=600)
        self.path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def ocr_direct(conn: http.client.HTTPConnection, raw: bytes) -> dict[str, Any]:
    conn.request("POST", "/ocr", body=raw, headers={"content-type": "application/octet-stream"})
    res = conn.getresponse()
    data: dict[str, Any] = json.loads(res.read())
    if res.status != 200:
        raise RuntimeError(f"sidecar answered {res.status}: {data}")
    return data


# -- sections ----------------------------------------------------------------------------------------


def dpi_study(inputs: bench_inputs.Inputs) -> None:
    say("## DPI / scale policy (in-process, 1 thread, the engine's own render and page reading)")
    variants = ["200", "250", "300"]
    # interleaved: 200 250 300 300 250 200
    order = variants + variants[::-1]
    rows: dict[int, list[tuple[float, float, float]]] = {}
    reference = "\n".join(inputs.scan_text)
    for d in read_at("pdf", inputs.scan_pdf, order):
        text = "\n".join(d["texts"])
        rows.setdefault(d["variant"], []).append(
            (d["seconds"], cer(reference, text), digit_cer(reference, text))
        )
    say(f"scanned quote, {PAGES} pages (300 dpi JPEG scan), 2 runs per DPI interleaved")
    say("| render dpi | s/page (median) | pages/s/thread | CER | digit CER |")
    say("|---|---|---|---|---|")
    for dpi in sorted(rows):
        secs = statistics.median(r[0] for r in rows[dpi]) / PAGES
        say(f"| {dpi} | {secs:.2f} | {1 / secs:.2f} | {rows[dpi][0][1]:.2%} | {rows[dpi][0][2]:.2%} |")
    caps = ["2000", "2500", "3000", "4000"]
    rows = {}
    for d in read_at("image", inputs.photo, caps + caps[::-1]):
        text = "\n".join(d["texts"])
        rows.setdefault(d["variant"], []).append(
            (d["seconds"], cer(inputs.photo_text, text), digit_cer(inputs.photo_text, text))
        )
    say("")
    say("phone photo 3024x4032 (page ~86% of the frame), longest side capped at:")
    say("| max side px | s (median of 2) | CER | digit CER |")
    say("|---|---|---|---|")
    for side in sorted(rows):
        seconds = statistics.median(r[0] for r in rows[side])
        say(f"| {side} | {seconds:.2f} | {rows[side][0][1]:.2%} | {rows[side][0][2]:.2%} |")
    say("")


def throughput(gw: Gateway, inputs: bench_inputs.Inputs) -> None:
    say(f"## Throughput on the scanned quote ({PAGES} pages), {REPS} interleaved runs each, medians")
    work = Path(tempfile.mkdtemp(prefix="mdso-bench-tp-"))
    reference = "\n".join(inputs.scan_text)
    body, boundary = multipart(inputs.scan_pdf, "application/pdf")
    tess_env = {**os.environ, "TESSDATA_PREFIX": str(TESSDATA)}

    def read_with(service_name: str) -> Callable[[], str]:
        def read() -> str:
            conn = gw.connection()
            try:
                # Per-page texts: the joined "text" adds "--- Page Break ---" markers, which would count
                # as ~1% CER against the known text.
                answer = post_ocr(conn, service_name, body, boundary, "pages=true")
                return "\n".join(str(p["text"]) for p in answer["pages"])
            finally:
                conn.close()
        return read

    service = read_with("tesseract")

    def ocrmypdf() -> str:
        out = work / "ocrmypdf.txt"
        subprocess.run(
            [str(ROOT / ".venv-bench" / "bin" / "ocrmypdf"), "--force-ocr", "--output-type", "none",
             "--sidecar", str(out), "-l", LANG, "-q", str(inputs.scan_pdf), "-"],
            check=True, env=tess_env, stdout=subprocess.DEVNULL,
        )
        return out.read_text()

    def cli_loop() -> str:
        pages_dir = work / "pages"
        shutil.rmtree(pages_dir, ignore_errors=True)
        pages_dir.mkdir()
        subprocess.run(["pdftoppm", "-r", "300", "-png", str(inputs.scan_pdf), str(pages_dir / "p")],
                       check=True)
        texts = []
        for png in sorted(pages_dir.glob("p-*.png")):
            texts.append(subprocess.run(
                ["tesseract", str(png), "-", "-l", LANG],
                check=True, capture_output=True, text=True, env=tess_env,
            ).stdout)
        return "\n".join(texts)

    # `hybrid` is the default service (ENABLED_SERVICES unset): Tesseract first, rapidocr for the pages it
    # reads poorly. Its row is what a user of `npm start` gets; the ratios stay against tesseract's row.
    methods = {"service (gateway)": service, "hybrid service (gateway, the default)": read_with("hybrid"),
               "ocrmypdf": ocrmypdf, "tesseract CLI loop": cli_loop}
    times: dict[str, list[float]] = {name: [] for name in methods}
    texts: dict[str, str] = {}
    names = list(methods)
    for warm_up in (service, methods["hybrid service (gateway, the default)"]):
        warm_up()  # each OCR thread loads its API once
    for rep in range(REPS):
        order = names[rep % len(names):] + names[: rep % len(names)]
        for name in order:
            started = time.perf_counter()
            texts[name] = methods[name]()
            times[name].append(time.perf_counter() - started)
    shutil.rmtree(work, ignore_errors=True)
    ours = PAGES / statistics.median(times["service (gateway)"])
    say("| method | pages/s (median) | runs (s) | vs service | CER | digit CER |")
    say("|---|---|---|---|---|---|")
    for name in names:
        rate = PAGES / statistics.median(times[name])
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        say(f"| {name} | {rate:.3f} | {runs} | service is {ours / rate:.2f}x "
            f"| {cer(reference, texts[name]):.2%} | {digit_cer(reference, texts[name]):.2%} |")
    hybrid = PAGES / statistics.median(times["hybrid service (gateway, the default)"])
    say(f"\nthe default service (hybrid) against ocrmypdf: "
        f"{hybrid / (PAGES / statistics.median(times['ocrmypdf'])):.2f}x")
    say("")


def photo_speed(inputs: bench_inputs.Inputs) -> None:
    """One phone photo at a time, as a checker's user sends it: the default service against tesseract,
    and against itself with rapidocr on one core (RAPIDOCR_ALONE_THREADS=1, before 2026-11-30)."""
    say(f"## One phone photo ({inputs.photo.name}) at a time, {REPS} interleaved runs each, medians")
    body, boundary = multipart(inputs.photo, "image/jpeg")
    gateways = {"default": Gateway(1, {"ENABLED_SERVICES": "tesseract,hybrid"}),
                "one core": Gateway(1, {"ENABLED_SERVICES": "hybrid", "RAPIDOCR_ALONE_THREADS": "1"})}
    sides = {"hybrid (the default)": (gateways["default"], "hybrid"),
             "hybrid, rapidocr on one core": (gateways["one core"], "hybrid"),
             "tesseract": (gateways["default"], "tesseract")}
    times: dict[str, list[float]] = {name: [] for name in sides}
    texts: dict[str, str] = {}
    try:
        names = list(sides)
        for rep in range(REPS + 1):
            for name in names[rep % len(names):] + names[: rep % len(names)]:
                gw, service = sides[name]
                conn = gw.connection()
                started = time.perf_counter()
                try:
                    texts[name] = str(post_ocr(conn, service, body, boundary, "")["text"])
                finally:
                    conn.close()
                if rep:  # the first round loads each reader's models
                    times[name].append(time.perf_counter() - started)
    finally:
        for gw in gateways.values():
            gw.stop()
    say("| service | s/page (median) | runs (s) | CER | digit CER |")
    say("|---|---|---|---|---|")
    for name in names:
        runs = ", ".join(f"{t:.1f}" for t in times[name])
        text = texts[name]
        say(f"| {name} | {statistics.median(times[name]):.2f} | {runs} "
            f"| {cer(inputs.photo_text, text):.2%} | {digit_cer(inputs.photo_text, text):.2%} |")
    ratio = statistics.median(times["hybrid, rapidocr on one core"]) / statistics.median(
        times["hybrid (the default)"])
    say(f"\nrapidocr on every core when a page is read alone: {ratio:.2f}x faster on this photo")
    say("")


def latency(gw: Gateway, inputs: bench_inputs.Inputs) -> None:
    say(f"## Gateway overhead: small image ({inputs.small.name}), {LAT_N} requests per side, interleaved, "
        "keep-alive, 1 at a time")
    body, boundary = multipart(inputs.small, "image/png")
    raw = inputs.small.read_bytes()
    g = gw.connection(60)
    d = UnixHTTPConnection(gw.socket_path)
    for _ in range(5):
        post_ocr(g, "tesseract", body, boundary)
        ocr_direct(d, raw)
    gt: list[float] = []
    dt: list[float] = []
    for i in range(LAT_N):
        for side in ((0, 1) if i % 2 == 0 else (1, 0)):
            started = time.perf_counter()
            if side == 0:
                post_ocr(g, "tesseract", body, boundary)
                gt.append((time.perf_counter() - started) * 1000)
            else:
                ocr_direct(d, raw)
                dt.append((time.perf_counter() - started) * 1000)
    g.close()
    d.close()
    text = ocr_direct(UnixHTTPConnection(gw.socket_path), raw)["pages"][0]["text"]
    say(f"small image CER {cer(inputs.small_text, text):.2%}")
    say("| path | p50 ms | p99 ms |")
    say("|---|---|---|")
    say(f"| gateway (HTTP + multipart + auth + stream to socket) | {pct(gt, .5):.1f} | {pct(gt, .99):.1f} |")
    say(f"| sidecar socket direct | {pct(dt, .5):.1f} | {pct(dt, .99):.1f} |")
    say(f"| **overhead** | **{pct(gt, .5) - pct(dt, .5):.1f}** | **{pct(gt, .99) - pct(dt, .99):.1f}** |")
    say("")


def health_load(gw: Gateway) -> None:
    say("## /health under load (autocannon -c 50 -d 10)")
    proc = subprocess.run(
        ["npx", "--yes", "autocannon@8", "-c", "50", "-d", "10", "-j", "-H", f"x-api-key={KEY}",
         f"{gw.url}/health"],
        capture_output=True, text=True, cwd=ROOT, check=False,  # a failure is reported in the table
    )
    try:
        data = json.loads(proc.stdout)
        say(f"req/s avg {data['requests']['average']:.0f} (median {data['requests']['p50']:.0f}); "
            f"latency p50 {data['latency']['p50']} ms, p99 {data['latency']['p99']} ms; "
            f"non-2xx {data['non2xx']}, errors {data['errors']}")
    except (json.JSONDecodeError, KeyError):
        say(f"autocannon failed: {proc.stderr[-500:]}")
    say("")


def memory(inputs: bench_inputs.Inputs) -> None:
    say("## Memory: whole process tree (primary + workers + sidecar) after warm-up OCR requests")
    body, boundary = multipart(inputs.scan_pdf, "application/pdf")
    rows = []
    for workers in (1, 4, 1, 4):
        gw = Gateway(workers)
        try:
            # Warm: every worker and every OCR thread has served pages.
            for _ in range(2):
                post_ocr(gw.connection(), "tesseract", body, boundary)
            pids = gw.tree()
            # RSS counts every page a process maps, shared ones (the node binary's text, ~40 MB per
            # Node process) in full in each; PSS divides each shared page among the processes mapping it.
            rss = sum(mem_kb(p, "VmRSS") for p in pids) / 1024
            pss = sum(mem_kb(p, "Pss") for p in pids) / 1024
            sidecars = [p for p in pids if not is_node(p)]
            side = sum(mem_kb(p, "VmRSS") for p in sidecars) / 1024
            node = [p for p in pids if p not in sidecars]
            node_rss = sum(mem_kb(p, "VmRSS") for p in node) / 1024
            node_pss = sum(mem_kb(p, "Pss") for p in node) / 1024
            rows.append((workers, len(pids), rss, pss, side, node_rss, node_pss))
        finally:
            gw.stop()
    say("| WORKERS | processes | total RSS MB | total PSS MB | of which sidecar RSS MB "
        "| Node processes RSS MB | Node processes PSS MB |")
    say("|---|---|---|---|---|---|---|")
    for w, n, rss, pss, side, node_rss, node_pss in rows:
        say(f"| {w} | {n} | {rss:.0f} | {pss:.0f} | {side:.0f} | {node_rss:.0f} | {node_pss:.0f} |")

    def added(col: int) -> float:
        four = statistics.mean(r[col] for r in rows if r[0] == 4)
        return four - statistics.mean(r[col] for r in rows if r[0] == 1)

    say(f"WORKERS=4 adds {added(2):.0f} MB RSS ({added(3):.0f} MB PSS) over WORKERS=1 "
        f"(mean of 2 starts each); the Node processes alone (primary + workers): {added(5):.0f} MB RSS "
        f"({added(6):.0f} MB PSS)")
    say("")
    say("Floor: RSS of a Node process that only loads the worker's libraries "
        "(same node, same flags, idle 2 s)")
    say("| loads | RSS MB |")
    say("|---|---|")
    for label, modules in (("nothing", []), ("express", ["express"]),
                           ("express, multer, winston", ["express", "multer", "winston"]),
                           ("express, multer, winston, undici, prom-client",
                            ["express", "multer", "winston", "undici", "prom-client"])):
        script = "".join(f"require('{m}');" for m in modules) + (
            "setTimeout(() => console.log(require('fs').readFileSync('/proc/self/status', 'utf8')"
            ".match(/VmRSS:\\s+(\\d+)/)[1]), 2000);")
        out = subprocess.run(["node", "--max-semi-space-size=1", "-e", script], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        say(f"| {label} | {int(out) / 1024:.1f} |")
    say("")


def streaming(inputs: bench_inputs.Inputs) -> None:
    big = bench_inputs.build_big_pdf(OUT, 100)
    size_mb = big.stat().st_size / 1024 / 1024
    say(f"## Streaming a {size_mb:.0f} MB PDF upload (MAX_UPLOAD_MB=150, page_range=1)")
    gw = Gateway(1)
    try:
        small_body, boundary = multipart(inputs.small, "image/png")
        post_ocr(gw.connection(60), "tesseract", small_body, boundary)
        node = [p for p in gw.tree() if is_node(p)]
        base = {p: mem_kb(p, "VmRSS") for p in node}
        peak = dict(base)
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                for p in node:
                    peak[p] = max(peak[p], mem_kb(p, "VmRSS"))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.perf_counter()
        proc = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"x-api-key: {KEY}",
             "-F", f"file=@{big};type=application/pdf", f"{gw.url}/ocr/tesseract?page_range=1"],
            capture_output=True, text=True, check=False,  # the status code is the result
        )
        elapsed = time.perf_counter() - started
        stop.set()
        sampler.join()
        say(f"answer {proc.stdout} in {elapsed:.1f} s")
        say("| process | RSS before MB | peak during MB | growth MB |")
        say("|---|---|---|---|")
        for p in node:
            say(f"| {cmdline(p)[:60]} | {base[p] / 1024:.0f} | {peak[p] / 1024:.0f} "
                f"| {(peak[p] - base[p]) / 1024:.0f} |")
    finally:
        gw.stop()
    say("")


def main() -> None:
    # No options: the environment (see above) sets the knobs; --help prints them.
    argparse.ArgumentParser(description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    say(f"# mdso-ocr bench — {time.strftime('%Y-%m-%d %H:%M')} — {os.cpu_count()} CPUs, "
        f"load avg {os.getloadavg()[0]:.2f}")
    version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True, check=False).stdout
    say(f"tesseract CLI: {version.splitlines()[0]}; language data {TESSDATA} for every method")
    inputs = bench_inputs.build(OUT, PAGES)
    say("")
    started = time.time()
    if "dpi" not in SKIP:
        dpi_study(inputs)
    if not {"throughput", "latency", "health"} <= SKIP:
        # hybrid beside tesseract: the throughput table has a row for the default service.
        gw = Gateway(1, {"ENABLED_SERVICES": "tesseract,hybrid"})
        try:
            if "throughput" not in SKIP:
                throughput(gw, inputs)
            if "latency" not in SKIP:
                latency(gw, inputs)
            if "health" not in SKIP:
                health_load(gw)
        finally:
            gw.stop()
    if "photo" not in SKIP:
        photo_speed(inputs)
    if "memory" not in SKIP:
        memory(inputs)
    if "stream" not in SKIP:
        streaming(inputs)
    if "jobs" not in SKIP:
        bench_jobs.run(inputs, PAGES, max(1, REPS - 1), LAT_N // 2, say)
    say(f"bench took {time.time() - started:.0f} s; load avg at the end {os.getloadavg()[0]:.2f}")
    (OUT / "report.md").write_text("\n".join(report) + "\n")


if __name__ == "__main__":
    main()
