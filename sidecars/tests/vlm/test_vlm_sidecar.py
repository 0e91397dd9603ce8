"""End to end: real sidecar processes serving nanonets and olmocr from the tiny Qwen2.5-VL checkpoint
(the same from_pretrained path and settings as real weights), spoken to over their Unix socket."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ..conftest import FIXTURES, SIDECARS, Sidecar

Factory = Callable[..., Sidecar]
PAGE = (FIXTURES / "Devis_test.png").read_bytes()
PDF = (FIXTURES / "Devis_multi_pages.pdf").read_bytes()


def test_nanonets_reads_a_page(sidecar_factory: Factory, tiny_qwen: Path) -> None:
    env = {"NANONETS_MODEL": str(tiny_qwen), "NANONETS_MAX_NEW_TOKENS": "12"}
    sidecar = sidecar_factory(env, service="nanonets")
    health = sidecar.wait_state("ready", timeout=120)
    assert health["device"] == "cpu"
    assert health["model"] == f"{tiny_qwen} (transformers, float32, sdpa)"

    for params in ({}, {"format": "text"}):
        response = sidecar.client.post("/ocr", content=PAGE, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["service"] == "nanonets"
        assert len(body["pages"]) == body["document_pages"] == 1
        (page,) = body["pages"]
        assert page["page"] == 1 and page["error"] is None and page["source"] == "ocr"
        assert isinstance(page["text"], str) and isinstance(page["ms"], int)
        assert "meta" not in page  # nanonets has no per-page facts

    bad = sidecar.client.post("/ocr", content=PAGE, params={"format": "html"})
    accepted = ["text", "json", "markdown", "hocr", "alto", "pdf"]
    assert bad.status_code == 400 and bad.json()["details"]["accepted"] == accepted
    unknown = sidecar.client.post("/ocr", content=PAGE, params={"lang": "fra"})
    assert unknown.status_code == 400 and "format" in unknown.json()["error"]

    # format=json: the default answer's text (greedy decoding), and a page-level layout: the model
    # gives no positions, so every box is the page's and no confidence is invented.
    default = sidecar.client.post("/ocr", content=PAGE).json()["pages"][0]
    for params in ({"format": "json"}, {"format": "markdown"}):
        asked = sidecar.client.post("/ocr", content=PAGE, params=params)
        assert asked.status_code == 200, asked.text
        assert asked.json()["pages"][0]["text"] == default["text"]
    (page,) = sidecar.client.post("/ocr", content=PAGE, params={"format": "json"}).json()["pages"]
    layout = page["layout"]
    assert layout["granularity"] == "page" and "no positions" in layout["note"]
    for block in layout["blocks"]:
        assert block["box"] == [0, 0, layout["width"], layout["height"]]
        for line in block["lines"]:
            assert line["conf"] is None
            assert all(w["box"] == block["box"] and w["conf"] is None for w in line["words"])
    assert sidecar.stop() == 0


def test_olmocr_garbage_falls_back_to_tesseract(sidecar_factory: Factory, tiny_qwen: Path) -> None:
    # A random model never writes a front matter: every attempt is refused, then tesseract reads the page.
    env = {"OLMOCR_MODEL": str(tiny_qwen), "OLMOCR_MAX_NEW_TOKENS": "8", "OLMOCR_MAX_ATTEMPTS": "2"}
    sidecar = sidecar_factory(env, service="olmocr")
    sidecar.wait_state("ready", timeout=120)
    response = sidecar.client.post("/ocr", content=PDF, params={"page_range": "1-2"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["pages"]) == 2
    for number, page in enumerate(body["pages"], start=1):
        assert page["page"] == number and page["error"] is None
        assert page["source"] == "fallback:tesseract"
        assert page["meta"]["attempts"] == 2
        assert "token limit" in page["meta"]["fallback_reason"]
    assert sidecar.stop() == 0


def test_olmocr_without_fallback_fails_the_pages(sidecar_factory: Factory, tiny_qwen: Path) -> None:
    env = {
        "OLMOCR_MODEL": str(tiny_qwen),
        "OLMOCR_MAX_NEW_TOKENS": "4",
        "OLMOCR_MAX_ATTEMPTS": "1",
        "OLMOCR_FALLBACK": "none",
    }
    sidecar = sidecar_factory(env, service="olmocr")
    sidecar.wait_state("ready", timeout=120)
    response = sidecar.client.post("/ocr", content=PAGE)
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "NoPageRead"
    assert "olmocr gave no usable answer" in body["details"]["pages"][0]["error"]
    assert sidecar.stop() == 0


def test_unavailable_without_weights(sidecar_factory: Factory, tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    for service, directory in (("nanonets", "Nanonets-OCR-s"), ("olmocr", "olmOCR-2-7B-1025")):
        sidecar = sidecar_factory({"MODEL_DIR": str(empty)}, service=service)
        health = sidecar.wait_state("unavailable", timeout=60)
        assert str(empty / service / directory) in health["message"]
        assert f"scripts/download-models {service}" in health["message"]
        response = sidecar.client.post("/ocr", content=PAGE)
        assert response.status_code == 503
        assert response.json()["type"] == "ServiceUnavailable"
        assert sidecar.stop() == 0


def test_bad_setting_exits_2() -> None:
    for variable, value in (
        ("NANONETS_BACKEND", "tensorrt"),
        ("NANONETS_MAX_NEW_TOKENS", "0"),
        ("NANONETS_GPU_MEMORY_FRACTION", "1.5"),
        ("NANONETS_MODEL", "some/other-model"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "mdso_sidecar", "--service", "nanonets", "--socket", "/nonexistent/s"],
            env={"PYTHONPATH": str(SIDECARS), variable: value},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and variable in result.stderr


def test_out_of_memory_once_retries_smaller(sidecar_factory: Factory, tiny_qwen: Path) -> None:
    env = {"NANONETS_MODEL": str(tiny_qwen), "NANONETS_MAX_NEW_TOKENS": "4", "FAULT_OOM_CALLS": "1"}
    sidecar = sidecar_factory(env, module="tests.vlm.oom_sidecar", service="nanonets")
    sidecar.wait_state("ready", timeout=120)
    response = sidecar.client.post("/ocr", content=PAGE)
    assert response.status_code == 200, response.text
    assert response.json()["pages"][0]["error"] is None
    calls = [entry for entry in sidecar.log_entries() if entry["msg"] == "generate"]
    assert len(calls) == 2
    first, second = calls[0]["size"], calls[1]["size"]
    assert second[0] < first[0] and second[1] < first[1]  # retried at lower resolution
    assert sidecar.stop() == 0


def test_out_of_memory_twice_fails_the_request_and_serves_the_next(
    sidecar_factory: Factory, tiny_qwen: Path
) -> None:
    env = {"NANONETS_MODEL": str(tiny_qwen), "NANONETS_MAX_NEW_TOKENS": "4", "FAULT_OOM_CALLS": "2"}
    sidecar = sidecar_factory(env, module="tests.vlm.oom_sidecar", service="nanonets")
    sidecar.wait_state("ready", timeout=120)
    # Two pages: the first page's OOM fails the request and the second page is never started.
    failed = sidecar.client.post("/ocr", content=PDF, params={"page_range": "1-2"})
    assert failed.status_code == 503, failed.text
    assert failed.json()["type"] == "GpuOutOfMemory"
    assert failed.headers["retry-after"] == "10"
    assert len([e for e in sidecar.log_entries() if e["msg"] == "generate"]) == 2
    served = sidecar.client.post("/ocr", content=PAGE)
    assert served.status_code == 200, served.text
    assert sidecar.client.get("/health").json()["state"] == "ready"
    assert sidecar.stop() == 0
