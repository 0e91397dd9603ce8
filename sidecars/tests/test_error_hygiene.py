"""Error answers tell the caller what is wrong and what to do, never how the server is laid out: hostile
files (header-only images, truncated files, damaged PDF pages, the hostile-input matrix) go through the
sidecar's real HTTP app in this process, and no answer may name the spool dir (it carries the pid), a
temp or repository path, a Python file or a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import PIL
import pytest
from PIL import Image
from starlette.testclient import TestClient

from mdso_sidecar.engines.base import EngineOptions, PageText
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.errors import CorruptDocument, ModelAnswerInvalid, StorageFull, scrub, scrub_value
from mdso_sidecar.server import Sidecar
from mdso_sidecar.settings import load_settings
from mdso_sidecar.spool import SpoolDir, SpoolWriter

from .conftest import FIXTURES, REPO, SIDECARS, text_page

HOSTILE_INPUTS = REPO / "test" / "helpers" / "hostile_inputs.py"
DEVIS_PDF = (FIXTURES / "Devis_test.pdf").read_bytes()
DEVIS_PNG = (FIXTURES / "Devis_test.png").read_bytes()


class InProcessSidecar:
    """The sidecar's real Starlette app and pipeline in this process, its spool dir in `base`."""

    def __init__(self, base: Path, engine_class: type[TesseractEngine] = TesseractEngine) -> None:
        settings = load_settings("tesseract", {"OCR_THREADS": "2", "MAX_PAGES": "8"})
        engine = engine_class(settings)
        engine.load()
        self.spool = SpoolDir(base)
        self.sidecar = Sidecar(settings, engine, self.spool)
        self.sidecar.mark_ready()
        self.client = TestClient(self.sidecar.app())

    def post(self, data: bytes) -> Any:
        return self.client.post("/ocr", content=data)

    def close(self) -> None:
        self.client.close()
        self.sidecar.pipeline.shutdown()
        self.spool.remove()


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def leaks(response: Any, spool: SpoolDir) -> list[str]:
    """What in the answer (headers, body strings: message, details, per-page errors) shows the server."""
    forbidden = [
        str(spool.path),
        spool.path.name,
        "/tmp",
        tempfile.gettempdir(),
        str(REPO),
        "site-packages",
        '.py"',
        "Traceback",
    ]
    pid = re.compile(rf"(?<!\d){os.getpid()}(?!\d)")
    strings = list(response.headers.values())
    with contextlib.suppress(ValueError):  # not JSON: the raw text is checked below
        strings += list(_strings(response.json()))
    found = [
        f"{token!r} in {text!r}" for text in [response.text, *strings] for token in forbidden if token in text
    ]
    # Only in strings: a number in the body ("ms": 5182) may equal the pid by chance.
    found += [f"pid in {text!r}" for text in strings if pid.search(text)]
    return found


def assert_clean(app: InProcessSidecar, response: Any) -> None:
    assert response.status_code < 500, response.text
    assert not leaks(response, app.spool), leaks(response, app.spool)
    body = response.json()
    if response.status_code != 200:
        assert set(body) == {"error", "type", "details"}
        assert isinstance(body["error"], str) and len(body["error"]) > 20, body


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessSidecar]:
    sidecar = InProcessSidecar(tmp_path_factory.mktemp("hygiene"))
    yield sidecar
    sidecar.close()


def header_only_gif() -> bytes:
    # Signature and logical screen descriptor (10 x 10, no colour table), then nothing.
    return b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0)


def header_only_tiff() -> bytes:
    # Little-endian TIFF whose first IFD lies past the end of the file.
    return b"II*\x00" + struct.pack("<I", 4096)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.open(io.BytesIO(DEVIS_PNG)).convert("RGB").save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _two_page_pdf(tmp: Path) -> bytes:
    """Two pages, uncompressed with a classic xref table (qpdf), so the page tree can be edited."""
    pages = [text_page("Page 1", (600, 300)), text_page("Page 2", (600, 300))]
    buf = io.BytesIO()
    pages[0].save(buf, "PDF", save_all=True, append_images=pages[1:], resolution=100)
    (tmp / "two.pdf").write_bytes(buf.getvalue())
    subprocess.run(
        [
            "qpdf",
            "--object-streams=disable",
            "--compress-streams=n",
            str(tmp / "two.pdf"),
            str(tmp / "plain.pdf"),
        ],
        check=True,
        capture_output=True,
    )
    return (tmp / "plain.pdf").read_bytes()


def _kids(pdf: bytes) -> bytes:
    found = re.search(rb"/Kids \[ (\d+) 0 R (\d+) 0 R \]", pdf)
    assert found is not None, "qpdf wrote an unexpected page tree"
    return found.group(0)


HOSTILE_BYTES: dict[str, Callable[[], bytes]] = {
    "header-only.gif": header_only_gif,
    "header-only.tiff": header_only_tiff,
    "big-endian-header-only.tiff": lambda: b"MM\x00*" + struct.pack(">I", 4096),
    "png-signature-and-half-ihdr.png": lambda: DEVIS_PNG[:20],
    "truncated.png": lambda: DEVIS_PNG[: len(DEVIS_PNG) // 2],
    "jpeg-soi-only.jpg": lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "truncated.jpg": lambda: _jpeg()[: len(_jpeg()) // 2],
    "truncated.pdf": lambda: DEVIS_PDF[:600],
    "bmp-header-only.bmp": lambda: b"BM" + b"\x00" * 12 + struct.pack("<I", 40),
    "webp-header-only.webp": lambda: b"RIFF\x10\x00\x00\x00WEBPVP8 ",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BYTES))
def test_hostile_bytes_answer_without_server_details(app: InProcessSidecar, name: str) -> None:
    response = app.post(HOSTILE_BYTES[name]())
    assert_clean(app, response)


@pytest.mark.parametrize("name", ["header-only.gif", "header-only.tiff"])
def test_header_only_images_are_corrupt_documents(app: InProcessSidecar, name: str) -> None:
    response = app.post(HOSTILE_BYTES[name]())
    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "CorruptDocument"
    assert "re-export it and resend" in body["error"]
    assert_clean(app, response)


def test_damaged_pdf_pages_answer_without_server_details(app: InProcessSidecar, tmp_path: Path) -> None:
    pdf = _two_page_pdf(tmp_path)
    kids = _kids(pdf)
    first, _ = re.findall(rb"(\d+) 0 R", kids)
    # Page 2 points at an object that does not exist: page 1 is read, page 2 reports its error.
    one_missing = pdf.replace(kids, b"/Kids [ " + first + b" 0 R 99 0 R ]")
    response = app.post(one_missing)
    assert response.status_code == 200, response.text
    pages = response.json()["pages"]
    assert pages[0]["error"] is None and "Page 1" in pages[0]["text"]
    assert pages[1]["error"] and "page 2" in pages[1]["error"]
    assert_clean(app, response)
    # No page can be loaded: the document is answered as damaged, each page's error in details.
    none_left = pdf.replace(kids, b"/Kids [ 98 0 R 99 0 R ]")
    response = app.post(none_left)
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "CorruptDocument"
    assert len(response.json()["details"]["pages"]) == 2
    assert_clean(app, response)


@pytest.fixture(scope="module")
def hostile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hostile")
    subprocess.run([sys.executable, str(HOSTILE_INPUTS), str(out)], check=True, capture_output=True)
    return out


def _hostile_names() -> list[str]:
    # The names the matrix writes, read from its source so a new entry is tested without editing here.
    return sorted(set(re.findall(r'write\(\s*"([^"]+)"', HOSTILE_INPUTS.read_text())))


def test_hostile_matrix_is_found() -> None:
    assert {"truncated.pdf", "xref-unrepairable.pdf", "bomb.png", "3000-frames.gif"} <= set(_hostile_names())


@pytest.mark.parametrize("name", _hostile_names())
def test_hostile_matrix_answers_without_server_details(
    app: InProcessSidecar, hostile_dir: Path, name: str
) -> None:
    response = app.post((hostile_dir / name).read_bytes())
    assert_clean(app, response)


class LeakyTesseract(TesseractEngine):
    """Fails on all-black pages with the kind of message a careless engine forwards from a library: an
    OSError naming a file, an object repr and a stack trace."""

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        if image.convert("L").getextrema() == (0, 0):
            cause = OSError(5, "Input/output error", str(Path(tempfile.gettempdir()) / "x" / "page.png"))
            stack = "".join(traceback.format_stack(limit=3))
            raise ModelAnswerInvalid(
                f"the page could not be decoded in {PIL.__file__}: {cause} ({self!r})\n"
                f"Traceback (most recent call last):\n{stack}",
                {
                    "reason": repr(cause),
                    "where": [str(SIDECARS), f"{SIDECARS}/mdso_sidecar/engines/tesseract.py"],
                },
            )
        return super().recognize_page(image, options)


@pytest.fixture(scope="module")
def leaky(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessSidecar]:
    sidecar = InProcessSidecar(tmp_path_factory.mktemp("leaky"), LeakyTesseract)
    yield sidecar
    sidecar.close()


def _tiff(*frames: Image.Image) -> bytes:
    buf = io.BytesIO()
    frames[0].save(buf, "TIFF", save_all=True, append_images=list(frames[1:]))
    return buf.getvalue()


def test_page_errors_are_scrubbed(leaky: InProcessSidecar) -> None:
    black = Image.new("L", (600, 300), 0)
    response = leaky.post(_tiff(text_page("Page 1", (600, 300)), black))
    assert response.status_code == 200, response.text
    first, second = response.json()["pages"]
    assert first["error"] is None
    assert second["error"].startswith("the page could not be decoded")
    assert_clean(leaky, response)
    # Every page failed: NoPageRead, with each page's error in details.
    response = leaky.post(_tiff(black, black))
    assert response.status_code == 422, response.text
    assert response.json()["type"] == "NoPageRead"
    assert_clean(leaky, response)


def test_pid_token_check_is_not_fooled_by_numbers() -> None:
    # The leak check itself: the pid as part of a longer number is not the pid.
    pid = str(os.getpid())
    assert re.search(rf"(?<!\d){pid}(?!\d)", f"x{pid}1") is None
    assert re.search(rf"(?<!\d){pid}(?!\d)", f"spool-{pid}-ab") is not None


# -- the scrubber itself -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (
            "cannot identify image file '/tmp/tmpab/mdso-ocr-spool-4242-x1/" + "ab" * 16 + ".upload'",
            "cannot identify image file the document",
        ),
        (
            "truncated: /work/main/.venv/lib/python3.11/site-packages/PIL/TiffImagePlugin.py:950",
            "truncated: a server path",
        ),
        (
            "[Errno 28] No space left on device: '/var/tmp/x'",
            "[Errno 28] No space left on device: a server path",
        ),
        ("missing in /opt/tessdata.", "missing in a server path."),
        ("bad /tmp here", "bad a server path here"),
        ("cannot read <_io.BufferedReader name='/home/u/f.upload'>", "cannot read the document"),
        ("engine <mdso.Engine object at 0x7f00aa> failed", "engine an internal object failed"),
        ("raised <class 'PIL.UnidentifiedImageError'>", "raised an internal object"),
        ("pypdfium2._helpers.misc.PdfiumError: Failed to load page.", "PdfiumError: Failed to load page."),
        (
            'oops\nTraceback (most recent call last):\n  File "/usr/lib/python3/x.py", line 3, in f\n'
            "    raise ValueError(1)\nValueError: 1",
            "oops\nValueError: 1",
        ),
        ("frame " + "cd" * 16 + ".upload is short", "frame the document is short"),
        ("/usr/share/../../tmp/x", "a server path"),
    ],
)
def test_scrub_removes_server_details(raw: str, clean: str) -> None:
    assert scrub(raw) == clean


@pytest.mark.parametrize(
    "kept",
    [
        "unsupported file type: this looks like a ZIP archive (or a .docx/.xlsx/.odt document, which are "
        "ZIP files); send one of PDF, PNG, JPEG, TIFF, BMP, GIF, WebP",
        "a HEIC/HEIF image (export it as JPEG)",
        "decode at 1/2 scale",
        "the model endpoint http://vllm:8000/v1/chat/completions failed 3 time(s)",
        "this sidecar serves GET /health and POST /ocr",
        "tesseract language data not found: xyz.traineddata missing in /usr/share/tesseract-ocr/5/tessdata "
        "(installed: eng); set TESSDATA_PREFIX to a directory holding <lang>.traineddata",
        "  1-3,,7  ",
        "",
    ],
)
def test_scrub_keeps_what_is_no_server_detail(kept: str) -> None:
    assert scrub(kept) == kept


def test_error_json_and_details_are_scrubbed() -> None:
    error = CorruptDocument(
        "cannot identify image file '/tmp/a/mdso-ocr-spool-1-b/c.upload'; re-export it and resend",
        {"reason": "at /srv/app/x.py", "pages": [{"page": 1, "error": "<PIL.PngImageFile at 0x1>"}], "n": 3},
    )
    assert error.to_json() == {
        "error": "cannot identify image file the document; re-export it and resend",
        "type": "CorruptDocument",
        "details": {"reason": "at a server path", "pages": [{"page": 1, "error": "the document"}], "n": 3},
    }
    assert scrub_value(("/tmp/x", 1, None)) == ["a server path", 1, None]


# -- a full disk -------------------------------------------------------------------------------------


class _FullDiskFile:
    """A spool file on a disk that fills up: its write (or its closing flush) fails with `code`."""

    def __init__(self, real: Any, code: int, fail_on: str) -> None:
        self.real, self.code, self.fail_on = real, code, fail_on

    def write(self, data: bytes) -> int:
        if self.fail_on == "write":
            raise OSError(self.code, os.strerror(self.code))
        return int(self.real.write(data))

    def close(self) -> None:
        self.real.close()
        if self.fail_on == "close":
            raise OSError(self.code, os.strerror(self.code))


def _disk_fills_up(monkeypatch: pytest.MonkeyPatch, code: int, fail_on: str) -> None:
    real_fdopen = os.fdopen
    real_open = os.open

    def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        return _FullDiskFile(real_fdopen(fd, mode, *args, **kwargs), code, fail_on)

    def open_(path: Any, flags: int, mode: int = 0o777, **kwargs: Any) -> int:
        if str(path).endswith(".upload"):
            raise OSError(code, os.strerror(code), str(path))
        return real_open(path, flags, mode, **kwargs)

    if fail_on == "open":
        monkeypatch.setattr(os, "open", open_)
    else:
        monkeypatch.setattr(os, "fdopen", fdopen)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
@pytest.mark.parametrize("fail_on", ["open", "write", "close"])
def test_spool_writer_full_disk_is_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, fail_on: str
) -> None:
    path = tmp_path / "a.upload"
    _disk_fills_up(monkeypatch, code, fail_on)
    with pytest.raises(StorageFull) as caught:
        writer = SpoolWriter(path, 1024 * 1024)
        try:
            writer.write(b"%PDF-1.7\n" + b"0" * 2000)
            writer.finish()
        finally:
            writer.close()  # the cleanup path never raises over the error being answered
    assert caught.value.to_json()["error"] == "the OCR service's disk is full; retry later"
    assert (caught.value.status, caught.value.retry_after_s) == (503, 30)


def test_spool_writer_other_os_errors_are_not_storage_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _disk_fills_up(monkeypatch, errno.EIO, "write")
    writer = SpoolWriter(tmp_path / "a.upload", 1024)
    with pytest.raises(OSError) as caught:
        writer.write(b"%PDF-1.7\n")
    assert not isinstance(caught.value, StorageFull) and caught.value.errno == errno.EIO
    writer.close()


@pytest.mark.parametrize("fail_on", ["open", "write", "close"])
def test_full_disk_answers_503_and_leaves_no_file(
    app: InProcessSidecar, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, fail_on: str
) -> None:
    _disk_fills_up(monkeypatch, errno.ENOSPC, fail_on)
    with caplog.at_level(logging.INFO):
        response = app.client.post("/ocr", content=DEVIS_PDF, headers={"x-request-id": f"full-{fail_on}"})
    assert response.status_code == 503, response.text
    assert response.json() == {
        "error": "the OCR service's disk is full; retry later",
        "type": "StorageFull",
        "details": {},
    }
    assert response.headers["retry-after"] == "30"
    assert app.spool.entries() == []
    ours = [r for r in caplog.records if getattr(r, "request_id", None) == f"full-{fail_on}"]
    assert [(r.levelno, r.getMessage(), getattr(r, "type", None)) for r in ours] == [
        (logging.WARNING, "request done", "StorageFull")
    ]
    assert all(r.exc_info is None for r in caplog.records)


# Run by test_full_tmpfs_answers_503 inside a user and mount namespace, argv[1] a 64 KB tmpfs: the real
# app spools a 1 MB upload there, as uvicorn would hand it over (64 KB chunks).
_FULL_TMPFS_SCRIPT = """
import json, sys
from starlette.testclient import TestClient
from mdso_sidecar.engines.tesseract import TesseractEngine
from mdso_sidecar.log import configure_logging
from mdso_sidecar.server import Sidecar
from mdso_sidecar.settings import load_settings
from mdso_sidecar.spool import SpoolDir

settings = load_settings("tesseract", {"SIDECAR_TMP_DIR": sys.argv[1], "LOG_LEVEL": "info"})
configure_logging(settings.service, settings.log_level)
engine = TesseractEngine(settings)
engine.load()
spool = SpoolDir(settings.tmp_base)
sidecar = Sidecar(settings, engine, spool)
sidecar.mark_ready()
upload = b"%PDF-1.7\\n" + bytes(1024 * 1024)
with TestClient(sidecar.app()) as client:
    response = client.post(
        "/ocr", content=(upload[i : i + 65536] for i in range(0, len(upload), 65536)),
        headers={"x-request-id": "full-tmpfs"},
    )
    with open(sys.argv[2], "rb") as fixture:
        after = client.post("/ocr", content=fixture.read())
print(json.dumps({
    "status": response.status_code, "body": response.json(),
    "retry_after": response.headers.get("retry-after"), "entries": spool.entries(),
    "after": after.status_code,
}))
sidecar.pipeline.shutdown()
spool.remove()
"""


def _tmpfs_usable(where: Path) -> str | None:
    """None when a user namespace may mount a tmpfs here, else why not."""
    if shutil.which("unshare") is None:
        return "unshare (util-linux) is not installed"
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o size=64k tmpfs "$1"', "sh", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if probe.returncode != 0:
        return f"cannot mount a tmpfs in a user namespace here: {probe.stderr.strip() or probe.returncode}"
    return None


def test_full_tmpfs_answers_503(tmp_path: Path) -> None:
    mount = tmp_path / "tiny"
    mount.mkdir()
    reason = _tmpfs_usable(mount)
    if reason is not None:
        pytest.skip(reason)
    script = tmp_path / "full_tmpfs.py"
    script.write_text(_FULL_TMPFS_SCRIPT)
    run = subprocess.run(
        [
            "unshare",
            "-rm",
            "sh",
            "-c",
            'mount -t tmpfs -o size=64k tmpfs "$1" && exec "$2" "$3" "$1" "$4"',
            "sh",
            str(mount),
            sys.executable,
            str(script),
            str(FIXTURES / "Devis_test.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(SIDECARS)},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["status"] == 503, outcome
    assert outcome["body"] == {
        "error": "the OCR service's disk is full; retry later",
        "type": "StorageFull",
        "details": {},
    }
    assert outcome["retry_after"] == "30"
    assert outcome["entries"] == []  # the partial upload is gone: the disk is usable again
    assert outcome["after"] == 200  # and the next upload, small enough, is read
    log = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    ours = [e for e in log if e.get("request_id") == "full-tmpfs"]
    assert [(e["level"], e["msg"], e.get("type")) for e in ours] == [
        ("warning", "request done", "StorageFull")
    ]
    assert "Traceback" not in run.stderr
    assert not any("exc" in e for e in log)
