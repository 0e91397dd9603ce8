"""Types told from the bytes, never the name: what is refused is named in the message."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from mdso_sidecar.errors import EmptyFile, UnsupportedFileType
from mdso_sidecar.sniff import sniff

from .conftest import FIXTURES


def test_refused_types_named(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("devis.pdf", b"%PDF-1.4 not really")
    cases = {
        archive.read_bytes(): "ZIP archive",
        b"<!DOCTYPE html><html><body>hi</body></html>": "HTML",
        b"<?xml version='1.0'?><svg xmlns='http://www.w3.org/2000/svg'/>": "SVG",
        b"MZ\x90\x00\x03\x00\x00\x00" + bytes(100): "Windows executable",
        b"\x7fELF\x02\x01\x01" + bytes(100): "ELF",
        (FIXTURES / "Devis_test.zip").read_bytes(): "plain text",
        bytes(range(256)) * 4: "unrecognised",
    }
    for data, expected in cases.items():
        with pytest.raises(UnsupportedFileType) as caught:
            sniff(data[:1024])
        assert expected in caught.value.message
        assert "PDF, PNG, JPEG" in caught.value.message
        assert caught.value.status == 415


def test_empty_file() -> None:
    with pytest.raises(EmptyFile):
        sniff((FIXTURES / "empty.pdf").read_bytes())
