"""Intake: documents opened from their sniffed type, every page and frame, limits, corrupt and encrypted
documents, page rendering."""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image

from mdso_sidecar.errors import CorruptDocument, EncryptedDocument, ImageTooLarge
from mdso_sidecar.intake import RenderPolicy, open_document
from mdso_sidecar.sniff import DocumentKind, sniff

from .conftest import FIXTURES, text_page, write_tiff

POLICY = RenderPolicy(pdf_dpi=72, image_max_side=4000)


def head(path: Path) -> bytes:
    return path.read_bytes()[:1024]


def open_path(path: Path) -> tuple[DocumentKind, int]:
    kind = sniff(head(path))
    with open_document(path, kind) as document:
        return kind, document.page_count


@pytest.mark.parametrize(
    ("fmt", "kind", "suffix"),
    [
        ("PNG", DocumentKind.PNG, "png"),
        ("JPEG", DocumentKind.JPEG, "jpg"),
        ("BMP", DocumentKind.BMP, "bmp"),
        ("WEBP", DocumentKind.WEBP, "webp"),
        ("GIF", DocumentKind.GIF, "gif"),
        ("TIFF", DocumentKind.TIFF, "tif"),
    ],
)
def test_single_images_detected_from_bytes_not_names(
    tmp_path: Path, fmt: str, kind: DocumentKind, suffix: str
) -> None:
    # Saved under a misleading name: only the bytes count.
    path = tmp_path / f"scan.{'pdf' if suffix != 'pdf' else 'png'}"
    text_page("Bonjour", (300, 200)).save(path, format=fmt)
    assert open_path(path) == (kind, 1)
    with open_document(path, kind) as document:
        image = document.render(1, POLICY)
        assert image.mode == "RGB"
        assert image.size == (300, 200)


def test_multi_page_tiff_every_page(tmp_path: Path) -> None:
    path = write_tiff(tmp_path / "multi.tif", 3)
    assert open_path(path) == (DocumentKind.TIFF, 3)
    with open_document(path, DocumentKind.TIFF) as document:
        assert document.render(3, POLICY).size == (1240, 1754)


def test_animated_gif_and_png_every_frame(tmp_path: Path) -> None:
    frames = [text_page(f"Frame {n}", (200, 100)) for n in range(3)]
    gif = tmp_path / "a.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100)
    apng = tmp_path / "a.png"
    frames[0].save(apng, save_all=True, append_images=frames[1:], duration=100)
    assert open_path(gif) == (DocumentKind.GIF, 3)
    assert open_path(apng) == (DocumentKind.PNG, 3)


def test_transparent_png_flattened_on_white(tmp_path: Path) -> None:
    path = tmp_path / "rgba.png"
    image = Image.new("RGBA", (100, 50), (0, 0, 0, 0))  # fully transparent black
    image.putpixel((10, 10), (0, 0, 0, 255))
    image.save(path)
    with open_document(path, DocumentKind.PNG) as document:
        flat = document.render(1, RenderPolicy(grayscale=True))
    assert flat.mode == "L"
    assert flat.getpixel((50, 25)) == 255
    assert flat.getpixel((10, 10)) == 0


def test_images_resized_per_policy(tmp_path: Path) -> None:
    small = tmp_path / "small.png"
    text_page("x", (500, 300)).save(small)
    big = tmp_path / "big.jpg"
    text_page("x", (6000, 3000)).save(big, quality=50)
    policy = RenderPolicy(image_max_side=4000, image_min_side=1500, image_max_upscale=2.0)
    with open_document(small, DocumentKind.PNG) as document:
        assert document.render(1, policy).size == (1000, 600)  # capped at 2x
    with open_document(big, DocumentKind.JPEG) as document:
        assert document.render(1, policy).size == (4000, 2000)
    with open_document(big, DocumentKind.JPEG) as document:
        assert document.render(1, RenderPolicy(longest_side=1288)).size == (1288, 644)


def test_client_pdfs() -> None:
    assert open_path(FIXTURES / "Devis_test.pdf") == (DocumentKind.PDF, 1)
    assert open_path(FIXTURES / "Devis_multi_pages.pdf") == (DocumentKind.PDF, 2)
    with open_document(FIXTURES / "Devis_test.pdf", DocumentKind.PDF) as document:
        page = document.render(1, RenderPolicy(pdf_dpi=300, grayscale=True))
    assert page.size[0] == 2550
    assert page.size[1] in (3300, 3301)  # 11 in at 300 dpi, rounded up by PDFium
    assert page.mode == "L"


def test_pdf_render_capped_for_absurd_page_size(tmp_path: Path) -> None:
    path = tmp_path / "poster.pdf"
    # 1000 x 50 inches at 72 dpi: 72000 x 3600 pt.
    Image.new("RGB", (1000, 50), "white").save(path, resolution=1.0)
    with open_document(path, DocumentKind.PDF) as document:
        assert max(document.render(1, RenderPolicy(pdf_dpi=300, max_side=10_000)).size) == 10_000


def test_pillow_saved_pdf(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    text_page("Bonjour").save(path)
    assert open_path(path) == (DocumentKind.PDF, 1)


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "truncated.pdf"
    path.write_bytes((FIXTURES / "Devis_test.pdf").read_bytes()[:600])
    with pytest.raises(CorruptDocument):
        open_path(path)


def test_truncated_image_is_corrupt(tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    text_page("Bonjour").save(whole)
    path = tmp_path / "truncated.png"
    path.write_bytes(whole.read_bytes()[:2000])
    kind = sniff(head(path))
    with open_document(path, kind) as document, pytest.raises(CorruptDocument):
        document.render(1, POLICY)


def _qpdf(*args: str) -> None:
    if shutil.which("qpdf") is None:
        pytest.skip("qpdf is not installed")
    subprocess.run(["qpdf", *args], check=True, capture_output=True)


def test_pdf_with_user_password_is_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    _qpdf(
        "--encrypt", "user-secret", "owner-secret", "256", "--", str(FIXTURES / "Devis_test.pdf"), str(path)
    )
    with pytest.raises(EncryptedDocument, match="qpdf --decrypt"):
        open_path(path)


def test_pdf_with_owner_password_only_opens(tmp_path: Path) -> None:
    path = tmp_path / "restricted.pdf"
    _qpdf(
        "--encrypt",
        "",
        "owner-secret",
        "256",
        "--print=none",
        "--",
        str(FIXTURES / "Devis_test.pdf"),
        str(path),
    )
    assert open_path(path) == (DocumentKind.PDF, 1)


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(bytes(1000)))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [15_000, 40_000])  # 225 MP (Pillow warns) and 1.6 GP (Pillow raises)
def test_decompression_bomb_refused_without_decoding(tmp_path: Path, side: int) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(side, side))
    with pytest.raises(ImageTooLarge):
        open_path(path)
