"""marker engine without marker: what the sidecar reports when weights or the package are missing, the
split of marker's paginated markdown into pages, options, and the chunk/page bookkeeping of
recognize_document driven through the real pipeline with a stand-in for marker's converter."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mdso_sidecar.engines import marker as marker_module
from mdso_sidecar.engines.marker import (
    CHECKPOINTS,
    CHUNK_PAGES,
    PAGE_SEPARATOR,
    MarkerEngine,
    font_path,
    missing_weights,
    split_pages,
)
from mdso_sidecar.errors import BadOption, GpuOutOfMemory, RequestCancelled
from mdso_sidecar.page_range import parse_page_range
from mdso_sidecar.pipeline import JobControl, Pipeline
from mdso_sidecar.settings import SettingsError, load_settings
from mdso_sidecar.sniff import DocumentKind

from .conftest import Sidecar, text_page, write_tiff

Factory = Callable[..., Sidecar]
MARKER_INSTALLED = importlib.util.find_spec("marker") is not None

# Recorded from marker-pdf 1.10.2's MarkdownRenderer (Markdownify + cleanup_text, paginate_output) on
# pages 3-5 of a document, page 4 empty: separators carry 0-based page ids, an empty page leaves two
# separators in a row, and the last page has no trailing separator.
RECORDED = (
    "\n\n{2}------------------------------------------------\n\n# Devis n° 2024-001\n\nSIRET "
    "12345678900000\n\nNice\n\n{3}------------------------------------------------\n\n"
    "{4}------------------------------------------------\n\n| Désignation     | Prix    |\n"
    "|-----------------|---------|\n| Pompe à chaleur | 8 000 € |\n\nPage 5/5"
)


def fake_weights(root: Path) -> None:
    """The layout scripts/download-models marker leaves, with empty files."""
    for checkpoint in CHECKPOINTS.values():
        directory = root / checkpoint
        directory.mkdir(parents=True)
        (directory / "manifest.json").write_text(json.dumps({"files": ["config.json", "model.safetensors"]}))
        (directory / "config.json").write_text("{}")
        (directory / "model.safetensors").touch()
    font_path(root).parent.mkdir(parents=True)
    font_path(root).touch()


def engine(env: dict[str, str] | None = None) -> MarkerEngine:
    return MarkerEngine(load_settings("marker", env or {}))


# -- the sidecar process ----------------------------------------------------------------------


def test_unavailable_without_weights(sidecar_factory: Factory, tmp_path: Path) -> None:
    models = tmp_path / "models"
    sidecar = sidecar_factory({"MODEL_DIR": str(models)}, service="marker")
    health = sidecar.wait_state("unavailable")
    assert health["service"] == "marker"
    assert health["device"] == "cpu"
    message = health["message"]
    assert f"{models}/marker" in message
    assert "scripts/download-models marker" in message
    assert "layout/2025_09_23/manifest.json" in message
    response = sidecar.client.post("/ocr", content=b"%PDF-1.7\n")
    assert response.status_code == 503
    assert response.json()["type"] == "ServiceUnavailable"
    assert "scripts/download-models marker" in response.json()["error"]
    assert sidecar.stop() == 0


@pytest.mark.skipif(MARKER_INSTALLED, reason="marker-pdf is installed here: it would load the fake weights")
def test_unavailable_without_marker_installed(sidecar_factory: Factory, tmp_path: Path) -> None:
    models = tmp_path / "models"
    fake_weights(models / "marker")
    assert missing_weights(models / "marker") == []
    sidecar = sidecar_factory({"MODEL_DIR": str(models)}, service="marker")
    message = sidecar.wait_state("unavailable")["message"]
    assert "marker-pdf is not installed" in message
    assert "sidecars/requirements-marker.txt" in message
    assert ".venv-marker" in message
    assert sidecar.client.post("/ocr", content=b"%PDF-1.7\n").status_code == 503
    assert sidecar.stop() == 0


def test_bad_force_ocr_setting_exits_2(sidecar_factory: Factory) -> None:
    sidecar = sidecar_factory({"MARKER_FORCE_OCR": "maybe"}, service="marker")
    assert sidecar.proc.wait(15) == 2
    assert "MARKER_FORCE_OCR" in sidecar.log_text()


# -- weights layout -----------------------------------------------------------------------------


def test_missing_weights_names_what_surya_would_download(tmp_path: Path) -> None:
    root = tmp_path / "marker"
    assert missing_weights(root) == [
        *(f"{checkpoint}/manifest.json" for checkpoint in CHECKPOINTS.values()),
        "fonts/GoNotoCurrent-Regular.ttf",
    ]
    fake_weights(root)
    (root / CHECKPOINTS["detection"] / "model.safetensors").unlink()
    (root / CHECKPOINTS["layout"] / "manifest.json").write_text("not json")
    assert missing_weights(root) == [
        "layout/2025_09_23/manifest.json",
        "text_detection/2025_05_07/model.safetensors",
    ]


def test_marker_environment_points_everything_at_the_layout(tmp_path: Path) -> None:
    env = marker_module.marker_environment(tmp_path, "cuda")
    assert env["MODEL_CACHE_DIR"] == str(tmp_path)
    assert env["FONT_PATH"] == str(tmp_path / "fonts" / "GoNotoCurrent-Regular.ttf")
    assert env["TORCH_DEVICE"] == "cuda"
    assert env["HF_HOME"].startswith(str(tmp_path))


# -- splitting paginated markdown -----------------------------------------------------------------


def test_split_recorded_output() -> None:
    pages = split_pages(RECORDED, [3, 4, 5])
    assert pages == {
        3: "# Devis n° 2024-001\n\nSIRET 12345678900000\n\nNice",
        4: "",
        5: "| Désignation     | Prix    |\n|-----------------|---------|\n| Pompe à chaleur | 8 000 € |"
        "\n\nPage 5/5",
    }


def test_split_keeps_lookalike_separators_and_missing_pages() -> None:
    sep = PAGE_SEPARATOR
    markdown = (
        f"stray\n\n{{0}}{sep}\n\nfirst\n\n{{7}}{sep}\n\nstill first\n\n{{0}}{sep}\n\nalso first"
        f"\n\n{{2}}{sep}\n\nthird"
    )
    # Page 2 (id 1) has no separator; {7} was not asked for and the second {0} goes backwards.
    assert split_pages(markdown, [1, 2, 3]) == {
        1: f"stray\n\nfirst\n\n{{7}}{sep}\n\nstill first\n\n{{0}}{sep}\n\nalso first",
        2: "",
        3: "third",
    }
    assert split_pages("", [4]) == {4: ""}
    assert split_pages("no separator at all", [2]) == {2: "no separator at all"}


# -- options ----------------------------------------------------------------------------------


def test_force_ocr_option() -> None:
    marker = engine()
    assert marker.force_ocr is True
    assert marker.parse_options({}) == {}
    assert marker.parse_options({"force_ocr": "false"}) == {"force_ocr": "false"}
    assert marker.parse_options({"force_ocr": "TRUE"}) == {"force_ocr": "true"}
    assert marker.parse_options({"force_ocr": "0"}) == {"force_ocr": "false"}
    with pytest.raises(BadOption, match="force_ocr 'perhaps': expected true or false") as bad:
        marker.parse_options({"force_ocr": "perhaps"})
    assert bad.value.details["option"] == "force_ocr"
    accepted = "unknown option 'lang'; marker accepts: page_range, format, force_ocr"
    with pytest.raises(BadOption, match=accepted):
        marker.parse_options({"lang": "fra"})
    assert engine({"MARKER_FORCE_OCR": "false"}).force_ocr is False
    with pytest.raises(SettingsError, match="MARKER_FORCE_OCR"):
        engine({"MARKER_FORCE_OCR": "maybe"})


# -- recognize_document through the pipeline, marker replaced by a stand-in ----------------------


class FakeRendered:
    def __init__(self, markdown: str, page_ids: list[int], method: str) -> None:
        self.markdown = markdown
        self.metadata = {"page_stats": [{"page_id": i, "text_extraction_method": method} for i in page_ids]}


class FakeConverter:
    """Stands in for marker's PdfConverter: answers paginated markdown naming each page it read."""

    calls: list[tuple[str, dict[str, Any]]]
    fail_on: int | None = None
    fail_with: type[Exception] = RuntimeError

    def __init__(self, artifact_dict: dict[str, Any], config: dict[str, Any]) -> None:
        self.config = config

    def __call__(self, path: str) -> FakeRendered:
        FakeConverter.calls.append((path, self.config))
        page_ids = self.config.get("page_range") or [0]
        if FakeConverter.fail_on in page_ids:
            raise FakeConverter.fail_with("boom")
        method = "surya" if self.config.get("force_ocr") or path.endswith(".png") else "pdftext"
        suffix = Path(path).suffix
        markdown = "".join(f"\n\n{{{i}}}{PAGE_SEPARATOR}\n\nText of {suffix} id {i}" for i in page_ids)
        return FakeRendered(markdown, page_ids, method)


class StandInMarker(MarkerEngine):
    """The real engine, with marker's converter replaced: load() skips the weights and imports."""

    def load(self) -> None:
        FakeConverter.calls = []
        FakeConverter.fail_on = None
        self._models = {}
        self._marker = marker_module._MarkerApi(
            converter=FakeConverter, text_from_rendered=lambda rendered: (rendered.markdown, "md", {})
        )
        cuda = type("cuda", (), {"empty_cache": staticmethod(lambda: None)})
        self._torch = type("torch", (), {"cuda": cuda})


def write_pdf(path: Path, pages: int) -> Path:
    frames = [text_page(f"Page {n}") for n in range(1, pages + 1)]
    frames[0].save(path, "PDF", save_all=True, append_images=frames[1:], resolution=150)
    return path


def run(engine: MarkerEngine, path: Path, kind: DocumentKind, **kwargs: Any) -> Any:
    pipeline = Pipeline(engine, max_pages=200)
    try:
        control = kwargs.get("control", JobControl("t"))
        return pipeline.process(path, kind, kwargs.get("page_range"), kwargs.get("options", {}), control)
    finally:
        pipeline.shutdown()


def test_pdf_pages_in_chunks_with_their_numbers(tmp_path: Path) -> None:
    marker = StandInMarker(load_settings("marker", {}))
    marker.load()
    pdf = write_pdf(tmp_path / "doc.pdf", CHUNK_PAGES + 3)
    control = JobControl("t")
    result = run(marker, pdf, DocumentKind.PDF, page_range=parse_page_range("2-"), control=control)
    assert [p.page for p in result.pages] == list(range(2, CHUNK_PAGES + 4))
    assert [p.text for p in result.pages] == [f"Text of .pdf id {i}" for i in range(1, CHUNK_PAGES + 3)]
    assert {p.source for p in result.pages} == {"ocr"}
    assert result.document_pages == CHUNK_PAGES + 3
    assert control.pages_done == CHUNK_PAGES + 2
    configs = [config for _, config in FakeConverter.calls]
    first, second = list(range(1, CHUNK_PAGES + 1)), [CHUNK_PAGES + 1, CHUNK_PAGES + 2]
    assert [c["page_range"] for c in configs] == [first, second]
    assert all(c["force_ocr"] is True and c["paginate_output"] is True for c in configs)
    assert all(c["pdftext_workers"] == 1 and c["keep_pagefooter_in_output"] is True for c in configs)
    # marker read the spooled upload itself, not a copy.
    assert {path for path, _ in FakeConverter.calls} == {str(pdf)}


def test_text_layer_when_force_ocr_is_off(tmp_path: Path) -> None:
    marker = StandInMarker(load_settings("marker", {}))
    marker.load()
    result = run(marker, write_pdf(tmp_path / "doc.pdf", 2), DocumentKind.PDF, options={"force_ocr": "false"})
    assert [(p.page, p.source) for p in result.pages] == [(1, "text-layer"), (2, "text-layer")]
    assert FakeConverter.calls[0][1]["force_ocr"] is False


def test_image_frames_are_rendered_and_read_one_by_one(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    marker = StandInMarker(load_settings("marker", {"SIDECAR_TMP_DIR": str(spool)}))
    marker.load()
    result = run(marker, write_tiff(tmp_path / "scan.tiff", 3), DocumentKind.TIFF)
    assert [(p.page, p.text, p.source) for p in result.pages] == [
        (n, "Text of .png id 0", "ocr") for n in (1, 2, 3)
    ]
    assert len(FakeConverter.calls) == 3
    assert all(path.startswith(str(spool)) for path, _ in FakeConverter.calls)
    assert list(spool.iterdir()) == []  # the rendered pages are gone


def test_failed_chunk_fails_its_pages_only(tmp_path: Path) -> None:
    marker = StandInMarker(load_settings("marker", {}))
    marker.load()
    FakeConverter.fail_on = 0
    result = run(marker, write_pdf(tmp_path / "doc.pdf", CHUNK_PAGES + 1), DocumentKind.PDF)
    errors = [p.error for p in result.pages]
    assert errors[:CHUNK_PAGES] == ["the engine failed on this page (internal error)"] * CHUNK_PAGES
    assert errors[CHUNK_PAGES:] == [None]


def test_out_of_memory_fails_the_request(tmp_path: Path) -> None:
    class OutOfMemoryError(RuntimeError):
        pass

    marker = StandInMarker(load_settings("marker", {}))
    marker.load()
    marker._torch.cuda.OutOfMemoryError = OutOfMemoryError
    FakeConverter.fail_on, FakeConverter.fail_with = 0, OutOfMemoryError
    try:
        with pytest.raises(GpuOutOfMemory, match="pages 1-8"):
            run(marker, write_pdf(tmp_path / "doc.pdf", CHUNK_PAGES + 1), DocumentKind.PDF)
    finally:
        FakeConverter.fail_with = RuntimeError
    assert len(FakeConverter.calls) == 1  # no chunk started after it


def test_stopped_request_starts_no_further_chunk(tmp_path: Path) -> None:
    marker = StandInMarker(load_settings("marker", {}))
    marker.load()
    control = JobControl("t")
    original = FakeConverter.__call__

    def cancel_after_first(self: FakeConverter, path: str) -> FakeRendered:
        control.cancel()
        return original(self, path)

    FakeConverter.__call__ = cancel_after_first  # type: ignore[method-assign]
    try:
        with pytest.raises(RequestCancelled):
            run(marker, write_pdf(tmp_path / "doc.pdf", CHUNK_PAGES + 1), DocumentKind.PDF, control=control)
    finally:
        FakeConverter.__call__ = original  # type: ignore[method-assign]
    assert len(FakeConverter.calls) == 1
