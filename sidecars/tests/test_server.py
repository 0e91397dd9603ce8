"""End to end: the real sidecar process on a Unix socket, spoken to over HTTP like the gateway does."""

from __future__ import annotations

import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import EXPECTED, FIXTURES, SIDECARS, Sidecar, write_tiff

Factory = Callable[..., Sidecar]


@pytest.fixture(scope="module")
def ready(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    sidecar = Sidecar(tmp_path_factory.mktemp("ready"))
    sidecar.wait_state("ready")
    yield sidecar
    assert sidecar.stop() == 0


def post(
    sidecar: Sidecar, data: bytes, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    return sidecar.client.post("/ocr", content=data, params=params, headers=headers)


def test_health_and_socket_mode(ready: Sidecar) -> None:
    assert stat.S_IMODE(ready.socket.stat().st_mode) == 0o600
    health = ready.client.get("/health").json()
    # Idle: nothing queued, no wait; the page time is the engine's prior (1.5 s) over its threads.
    queue = health.pop("queue")
    page_s = queue.pop("page_s")
    assert queue == {"active": 0, "waiting": 0, "limit": 256, "pages_queued": 0.0, "expected_wait_s": 0.0}
    assert 0 < page_s <= 1.5
    assert health == {
        "state": "ready",
        "service": "tesseract",
        "model": "tesseract 5.5.4 (fra+eng)",
        "device": "cpu",
        "pid": ready.proc.pid,
        "message": None,
        "gpu": {"available": False},
        "in_flight": [],
    }
    # The spool dir is private to the process.
    (spool,) = ready.spool_dirs()
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700


@pytest.mark.parametrize("name", ["Devis_test.png", "Devis_test.pdf"])
def test_ocr_fixtures(ready: Sidecar, name: str) -> None:
    response = post(
        ready, (FIXTURES / name).read_bytes(), headers={"x-request-id": f"req-{name}", "x-filename": name}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"pages", "service", "model", "ms", "document_pages"}
    assert (body["service"], body["model"], len(body["pages"]), body["document_pages"]) == (
        "tesseract",
        "tesseract 5.5.4 (fra+eng)",
        1,
        1,
    )
    (page,) = body["pages"]
    assert set(page) == {"page", "text", "source", "ms", "error", "blank", "rotation"}
    for expected in EXPECTED:
        assert expected in page["text"]
    outcome = [
        e for e in ready.log_entries() if e.get("request_id") == f"req-{name}" and e["msg"] == "request done"
    ]
    assert outcome and outcome[0]["status"] == 200 and outcome[0]["pages"] == 1


def test_ocr_chunked_upload(ready: Sidecar) -> None:
    data = (FIXTURES / "Devis_test.pdf").read_bytes()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 4000):
            yield data[start : start + 4000]

    response = ready.client.post("/ocr", content=chunks())
    assert response.status_code == 200
    assert "Nice" in response.json()["pages"][0]["text"]


def test_multi_page_and_page_range(ready: Sidecar) -> None:
    data = (FIXTURES / "Devis_multi_pages.pdf").read_bytes()
    body = post(ready, data).json()
    assert [p["text"] for p in body["pages"]] == ["Page 1", "Page 2"]
    assert len(body["pages"]) == 2
    body = post(ready, data, {"page_range": "2", "lang": "eng"}).json()
    assert [(p["page"], p["text"]) for p in body["pages"]] == [(2, "Page 2")]
    assert (len(body["pages"]), body["document_pages"]) == (1, 2)
    # `pages` is the public API's other name of a range (the gateway forwards it as the client wrote it).
    body = post(ready, data, {"pages": "2-"}).json()
    assert [p["page"] for p in body["pages"]] == [2]


@pytest.mark.parametrize(
    ("name", "status", "type_name"),
    [("empty.pdf", 422, "EmptyFile"), ("Devis_test.zip", 415, "UnsupportedFileType")],
)
def test_refused_files(ready: Sidecar, name: str, status: int, type_name: str) -> None:
    response = post(ready, (FIXTURES / name).read_bytes())
    assert response.status_code == status
    body = response.json()
    assert body["type"] == type_name
    assert set(body) == {"error", "type", "details"}


def test_bad_options(ready: Sidecar) -> None:
    data = (FIXTURES / "Devis_multi_pages.pdf").read_bytes()
    cases: list[tuple[dict[str, str], str]] = [
        ({"lang": "xyz"}, "installed languages: "),
        ({"page_range": "3"}, "has 2 pages"),
        ({"page_range": "a-b"}, "page_range"),
        ({"colour": "red"}, "unknown option 'colour'"),
        # A range given as `pages` is refused naming `pages`, the name the client used.
        ({"pages": "1 2"}, "pages part '1 2'"),
        ({"pages": "5"}, "pages '5' asks for pages beyond the document"),
        ({"pages": "1", "page_range": "2"}, "give the page range once"),
    ]
    for params, message in cases:
        response = post(ready, data, params)
        assert response.status_code == 400, params
        assert response.json()["type"] == "BadOption"
        assert message in response.json()["error"]


def test_inspect_refuses_what_ocr_refuses_and_counts_pages(ready: Sidecar) -> None:
    """/inspect (the gateway's durable jobs ask it before 202): the pages a request would read, or the
    very error /ocr answers, without reading a page."""
    data = (FIXTURES / "Devis_multi_pages.pdf").read_bytes()
    answer = ready.client.post("/inspect", content=data)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"kind": "PDF", "pages_total": 2, "document_pages": 2}
    assert ready.client.post("/inspect", content=data, params={"page_range": "2"}).json()["pages_total"] == 1
    for content, params in [
        ((FIXTURES / "Devis_test.zip").read_bytes(), {}),
        ((FIXTURES / "empty.pdf").read_bytes(), {}),
        (data, {"page_range": "3"}),
        (data, {"colour": "red"}),
    ]:
        inspected = ready.client.post("/inspect", content=content, params=params)
        read = post(ready, content, params)
        assert (inspected.status_code, inspected.json()) == (read.status_code, read.json())


def test_deadline_in_the_past(ready: Sidecar) -> None:
    past = str(int((time.time() - 5) * 1000))
    response = post(ready, (FIXTURES / "Devis_test.pdf").read_bytes(), headers={"x-deadline-ms": past})
    assert response.status_code == 504
    assert response.json()["type"] == "DeadlineExceeded"


def test_too_large_upload(tmp_path: Path, sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory({"MAX_UPLOAD_MB": "1"})
    sidecar.wait_state("ready")
    response = post(sidecar, b"%PDF-1.7\n" + bytes(2 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["type"] == "FileTooLarge"
    (spool,) = sidecar.spool_dirs()
    assert list(spool.iterdir()) == []
    assert sidecar.stop() == 0


def test_unknown_route_is_json(ready: Sidecar) -> None:
    response = ready.client.get("/nope")
    assert response.status_code == 404
    assert response.json()["type"] == "NotFound"


def test_starting_then_ready(sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory({"FAULT_LOAD_DELAY_S": "1.5"}, module="tests.fault_sidecar")
    assert sidecar.wait_listening()["state"] == "starting"
    response = post(sidecar, (FIXTURES / "Devis_test.pdf").read_bytes())
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"] == "ServiceUnavailable"
    sidecar.wait_state("ready")
    assert post(sidecar, (FIXTURES / "Devis_test.pdf").read_bytes()).status_code == 200
    assert sidecar.stop() == 0


def test_queue_full(tmp_path: Path, sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory(
        {"TESSERACT_MAX_QUEUE": "1", "FAULT_PAGE_DELAY_S": "0.5"}, module="tests.fault_sidecar"
    )
    sidecar.wait_state("ready")
    data = write_tiff(tmp_path / "four.tif", 4).read_bytes()
    first: dict[str, Any] = {}

    def slow_request() -> None:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sidecar.socket)), timeout=300) as client:
            first["response"] = client.post(
                "http://sidecar/ocr", content=data, headers={"x-request-id": "first"}
            )

    worker = threading.Thread(target=slow_request)
    worker.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        in_flight = sidecar.client.get("/health").json()["in_flight"]
        if in_flight and in_flight[0]["pages_total"]:
            break
        time.sleep(0.02)
    health = sidecar.client.get("/health").json()
    counts = {k: health["queue"][k] for k in ("active", "waiting", "limit")}
    assert counts == {"active": 1, "waiting": 0, "limit": 1}
    assert health["in_flight"][0]["request_id"] == "first"
    assert health["in_flight"][0]["pages_total"] == 4
    response = post(sidecar, data)
    assert response.status_code == 503
    assert response.json()["type"] == "QueueFull"
    assert response.headers["retry-after"] == "5"
    worker.join()
    assert first["response"].status_code == 200
    assert [p["text"] for p in first["response"].json()["pages"]] == [f"Page {n}" for n in range(1, 5)]
    assert sidecar.stop() == 0


def _raw_post(path: Path, data: bytes) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.connect(str(path))
    head = (
        "POST /ocr HTTP/1.1\r\nHost: sidecar\r\nx-request-id: leaver\r\n"
        f"Content-Type: image/tiff\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    conn.sendall(head.encode() + data)
    return conn


def test_client_disconnect_cancels(tmp_path: Path, sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory({"FAULT_PAGE_DELAY_S": "0.4", "OCR_THREADS": "1"}, module="tests.fault_sidecar")
    sidecar.wait_state("ready")
    conn = _raw_post(sidecar.socket, write_tiff(tmp_path / "ten.tif", 10).read_bytes())
    time.sleep(1.0)
    conn.close()
    deadline = time.monotonic() + 10
    cancelled: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not cancelled:
        cancelled = [e for e in sidecar.log_entries() if e["msg"] == "request cancelled"]
        time.sleep(0.05)
    assert cancelled, sidecar.log_text()
    assert cancelled[0]["request_id"] == "leaver"
    assert cancelled[0]["pages_total"] == 10
    assert cancelled[0]["pages_done"] < 10
    (spool,) = sidecar.spool_dirs()
    assert list(spool.iterdir()) == []
    assert sidecar.stop() == 0


def test_missing_language_unavailable(sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory({"TESSERACT_LANG": "xyz"})
    health = sidecar.wait_state("unavailable")
    assert "/usr/share/tesseract-ocr/5/tessdata" in health["message"]
    assert "xyz.traineddata" in health["message"]
    response = post(sidecar, (FIXTURES / "Devis_test.pdf").read_bytes())
    assert response.status_code == 503
    assert response.json()["type"] == "ServiceUnavailable"
    assert response.json()["error"] == health["message"]
    assert sidecar.stop() == 0


def test_sigterm_exits_zero_and_cleans_up(sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    assert post(sidecar, (FIXTURES / "Devis_test.png").read_bytes()).status_code == 200
    assert sidecar.stop(signal.SIGTERM) == 0
    assert not sidecar.socket.exists()
    assert sidecar.spool_dirs() == []  # the private temp dir itself is removed


def test_stdin_eof_exits(sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory()
    sidecar.wait_state("ready")
    assert sidecar.proc.stdin is not None
    sidecar.proc.stdin.close()
    assert sidecar.proc.wait(10) == 0
    assert not sidecar.socket.exists()
    assert any("stdin closed" in e.get("reason", "") for e in sidecar.log_entries())


def test_stale_socket_replaced(tmp_path: Path, sidecar_factory: Factory) -> None:
    first = sidecar_factory()
    first.wait_state("ready")
    first.proc.kill()
    first.proc.wait()
    assert first.socket.exists()  # SIGKILL leaves it behind
    stale = first.socket
    second = Sidecar(stale.parent.parent, {})
    try:
        assert second.wait_state("ready")["pid"] == second.proc.pid
    finally:
        assert second.stop() == 0


def test_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mdso_sidecar",
            "--service",
            "tesseract",
            "--socket",
            str(tmp_path / "x.sock"),
        ],
        env={"PYTHONPATH": str(SIDECARS), "MAX_PAGES": "many", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "MAX_PAGES" in result.stderr
    assert not (tmp_path / "x.sock").exists()


def test_temp_dir_empty_after_requests(ready: Sidecar) -> None:
    # Runs last in this module: every request above left nothing behind.
    (spool,) = ready.spool_dirs()
    assert list(spool.iterdir()) == []


def test_admission_by_time(tmp_path: Path, sidecar_factory: Factory) -> None:
    """A request is refused at once when the pages queued ahead would not let it finish before its
    deadline (503 + Retry-After), and admitted when they do, whatever the number of requests held."""
    sidecar = sidecar_factory(
        {"OCR_THREADS": "1", "FAULT_PAGE_DELAY_S": "0.5"}, module="tests.fault_sidecar"
    )
    sidecar.wait_state("ready")
    long_doc = write_tiff(tmp_path / "eight.tif", 8).read_bytes()
    one_page = write_tiff(tmp_path / "one.tif", 1).read_bytes()
    first: dict[str, Any] = {}

    def slow_request() -> None:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(sidecar.socket)), timeout=120) as client:
            first["response"] = client.post(
                "http://sidecar/ocr", content=long_doc, headers={"x-request-id": "long"}
            )

    worker = threading.Thread(target=slow_request)
    worker.start()
    deadline = time.monotonic() + 30
    queue: dict[str, Any] = {}
    while time.monotonic() < deadline:
        health = sidecar.client.get("/health").json()
        queue = health["queue"]
        if health["in_flight"] and health["in_flight"][0]["pages_total"] == 8:
            break
        time.sleep(0.02)
    # At least 6 of the 8 slow pages (0.5 s each, one thread) are still ahead.
    assert queue["pages_queued"] >= 6, queue
    assert queue["expected_wait_s"] >= 3 * 0.5, queue

    in_one_second = str(int((time.time() + 1.0) * 1000))
    refused = post(sidecar, one_page, headers={"x-deadline-ms": in_one_second})
    assert refused.status_code == 503, refused.text
    body = refused.json()
    assert body["type"] == "QueueFull"
    assert "queued ahead" in body["error"]
    assert body["details"]["expected_wait_s"] >= 1.5
    assert int(refused.headers["retry-after"]) >= 1

    in_two_minutes = str(int((time.time() + 120) * 1000))
    admitted = post(sidecar, one_page, headers={"x-deadline-ms": in_two_minutes})
    assert admitted.status_code == 200, admitted.text
    assert "Page 1" in admitted.json()["pages"][0]["text"]
    worker.join()
    assert first["response"].status_code == 200
    # Measured: the page time follows the slow pages (0.5 s each), not the engine's prior guess.
    assert sidecar.client.get("/health").json()["queue"]["page_s"] >= 0.4
