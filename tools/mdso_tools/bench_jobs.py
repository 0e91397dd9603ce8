"""The bench's jobs section: durable jobs on Redis (BullMQ), one gateway against two sharing one
redis-server (Debian's, started here on a free port, no persistence).

- throughput: JOBS_N jobs of the scanned quote submitted at once, until every one is done, on one
  box then on two boxes (the jobs posted to both in turn), interleaved one, two, one, two; pages/s;
- submit latency: LAT_N submissions of the small image, one at a time (the answer is the 202, after
  the upload is spooled and checked by the sidecar's /inspect);
- Redis memory per queued MB: used_memory before and after queueing uploads behind a frozen
  sidecar (SIGSTOP), over the bytes uploaded.

Both boxes run on this machine: they share its cores, so the ratio measures what spreading the jobs
costs, not what a second machine would add.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mdso_tools import bench_inputs
from mdso_tools.gateway import KEY, Gateway, multipart

ENDED = ("done", "failed", "cancelled")


@contextmanager
def redis_server() -> Iterator[str]:
    """A redis-server on a free port for the block; its URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(300):
            if redis_info(port, "used_memory") is not None:
                break
            time.sleep(0.1)
        else:
            raise SystemExit("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(30)


def redis_info(port: int, field: str) -> int | None:
    """A numeric field of INFO, or None while the server does not answer."""
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO"], capture_output=True, text=True, check=False)
    for line in out.stdout.splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    return None


def request(gw: Gateway, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    conn = gw.connection(120)
    try:
        conn.request(method, path, body=body, headers={"x-api-key": KEY, **(headers or {})})
        res = conn.getresponse()
        return res.status, json.loads(res.read())
    finally:
        conn.close()


def submit(gw: Gateway, body: bytes, boundary: str) -> str:
    status, data = request(gw, "POST", "/jobs/tesseract", body,
                           {"content-type": f"multipart/form-data; boundary={boundary}"})
    if status != 202:
        raise RuntimeError(f"POST /jobs/tesseract answered {status}: {data}")
    return str(data["job_id"])


def wait_ended(gw: Gateway, job_id: str) -> str:
    while True:
        status, data = request(gw, "GET", f"/jobs/{job_id}?wait=30")
        if status != 200:
            raise RuntimeError(f"GET /jobs/{job_id} answered {status}: {data}")
        if data["status"] in ENDED:
            return str(data["status"])


def batch(boxes: list[Gateway], n: int, body: bytes, boundary: str) -> float:
    """Seconds from the first submission until the last of `n` jobs is done (posted to the boxes in turn)."""
    started = time.perf_counter()
    ids = [(boxes[i % len(boxes)], submit(boxes[i % len(boxes)], body, boundary)) for i in range(n)]
    ends = [wait_ended(gw, job_id) for gw, job_id in ids]
    if any(e != "done" for e in ends):
        raise RuntimeError(f"jobs ended {ends}")
    return time.perf_counter() - started


def run(inputs: bench_inputs.Inputs, pages: int, reps: int, lat_n: int, say: Callable[[str], None]) -> None:
    jobs_n = int(os.environ.get("BENCH_JOBS_N", "4"))
    say(f"## Jobs on Redis (BullMQ): one box against two sharing one redis-server, {jobs_n} jobs of the "
        f"scanned quote ({pages} pages each) at once, {reps} interleaved runs each")
    scan_body, scan_boundary = multipart(inputs.scan_pdf, "application/pdf")
    with redis_server() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        # info: the jobs' "to run again" lines are counted below.
        env = {"REDIS_URL": url, "ENABLED_SERVICES": "tesseract", "LOG_LEVEL": "info"}
        # The first box's sidecar is frozen below: not restarted for it, and seen unresponsive soon.
        first = Gateway(1, {**env, "HEALTH_FAILURES_BEFORE_RESTART": "0", "HEALTH_POLL_MS": "300"})
        try:
            wait_ended(first, submit(first, scan_body, scan_boundary))  # warm-up: the OCR threads load
            times: dict[str, list[float]] = {"one box": [], "two boxes": []}
            bounced: list[str] = []
            for _ in range(reps):
                times["one box"].append(batch([first], jobs_n, scan_body, scan_boundary))
                second = Gateway(1, env)
                try:
                    wait_ended(second, submit(second, scan_body, scan_boundary))
                    times["two boxes"].append(batch([first, second], jobs_n, scan_body, scan_boundary))
                finally:
                    bounced.append(second.log_text())
                    second.stop()
            say("| boxes | pages/s (median) | runs (s) |")
            say("|---|---|---|")
            rate = {k: jobs_n * pages / statistics.median(v) for k, v in times.items()}
            for name, runs in times.items():
                say(f"| {name} | {rate[name]:.3f} | {', '.join(f'{t:.1f}' for t in runs)} |")
            say(f"two boxes / one box: {rate['two boxes'] / rate['one box']:.2f}x (both on this machine's "
                f"{os.cpu_count()} cores)")
            logs = [first.log_text(), *bounced]
            put_back = sum(log.count("job to run again") for log in logs)
            unanswered = sum(log.count("sidecar health check failed") for log in logs)
            say(f"in the boxes' logs: {put_back} job(s) put back to run again, {unanswered} health check(s) "
                "of a sidecar unanswered (a job does not start on a sidecar seen unresponsive)")
            say("")

            small_body, small_boundary = multipart(inputs.small, "image/png")
            latencies = []
            for _ in range(lat_n):
                started = time.perf_counter()
                job_id = submit(first, small_body, small_boundary)
                latencies.append((time.perf_counter() - started) * 1000)
                wait_ended(first, job_id)
            latencies.sort()
            p50, p99 = latencies[len(latencies) // 2], latencies[max(0, int(len(latencies) * 0.99) - 1)]
            say(f"Submit latency (POST /jobs of {inputs.small.name}, {lat_n} one at a time, answer 202): "
                f"p50 {p50:.1f} ms, p99 {p99:.1f} ms")

            # Uploads held in Redis: queued behind a frozen sidecar, they cannot be consumed meanwhile.
            sidecar = sidecar_pid(first)
            before = redis_info(port, "used_memory") or 0
            os.kill(sidecar, signal.SIGSTOP)
            try:
                # Once seen unresponsive, uploads are not checked by it (/inspect) and jobs wait in Redis.
                while sidecar_state(first) != "unresponsive":
                    time.sleep(0.2)
                queued = [submit(first, scan_body, scan_boundary) for _ in range(jobs_n)]
                after = redis_info(port, "used_memory") or 0
            finally:
                os.kill(sidecar, signal.SIGCONT)
            for job_id in queued:
                wait_ended(first, job_id)
            size = inputs.scan_pdf.stat().st_size
            grown = after - before
            say(f"Redis memory for {jobs_n} queued uploads of {size / 2**20:.1f} MB: +{grown / 2**20:.1f} MB "
                f"used_memory, {grown / (jobs_n * size):.2f} MB per MB queued")
        finally:
            first.stop()
    say("")


def tesseract_sidecar(gw: Gateway) -> dict[str, Any]:
    """The tesseract sidecar as /health shows it (200 when healthy, 503 when degraded)."""
    _, data = request(gw, "GET", "/health")
    return dict(data["sidecars"]["tesseract"])


def sidecar_pid(gw: Gateway) -> int:
    return int(tesseract_sidecar(gw)["pid"])


def sidecar_state(gw: Gateway) -> str:
    return str(tesseract_sidecar(gw)["state"])

