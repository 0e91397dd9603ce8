"""Writes the hostile-input matrix's files into a directory (argv[1]); used by
test/helpers/hostile-inputs.ts (end-to-end test and scripts/torture). Every file is small (< 1 MB) and
built here from the client's fixtures, Pillow, pypdfium2 and the qpdf CLI: nothing is downloaded.
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import pypdfium2 as pdfium  # type: ignore[import-untyped]
from PIL import Image, ImageDraw, ImageFont

OUT = Path(sys.argv[1])
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "client"
DEVIS_PDF = (FIXTURES / "Devis_test.pdf").read_bytes()
DEVIS_PNG = (FIXTURES / "Devis_test.png").read_bytes()


def write(name: str, data: bytes) -> None:
    (OUT / name).write_bytes(data)


def blank_pdf(pages: int, width: float, height: float) -> bytes:
    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(width, height).close()
    buf = io.BytesIO()
    pdf.save(buf)
    pdf.close()
    return buf.getvalue()


def qpdf(*args: str) -> None:
    subprocess.run(["qpdf", *args], check=True)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_page(text: str, size: tuple[int, int] = (900, 1270)) -> Image.Image:
    image = Image.new("L", size, 255)
    ImageDraw.Draw(image).text((80, 100), text, fill=0, font=ImageFont.load_default(size=60))
    return image


def frames(count: int, size: tuple[int, int]) -> list[Image.Image]:
    # Alternate black and white, so that no reader can merge identical consecutive frames.
    return [Image.new("1", size, n % 2) for n in range(count)]


def many_frame_gif(count: int) -> bytes:
    """A 1 x 1 animated GIF of `count` frames (23 bytes each), written by hand: Pillow would give
    every frame its own 256-colour palette."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff")
    for n in range(count):
        pixel = n % 2
        # Graphic control (10 ms), image descriptor, LZW (min code size 2): clear, pixel, end.
        codes = 4 | (pixel << 3) | (5 << 6)
        out += b"\x21\xf9\x04\x00\x01\x00\x00\x00" + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
        out += b"\x02\x02" + struct.pack("<H", codes) + b"\x00"
    return bytes(out + b"\x3b")


def stored_zip() -> bytes:
    """A real ZIP holding the quote PDF uncompressed, so "%PDF-" appears in its first kilobyte."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("Devis_test.pdf", DEVIS_PDF)
    return buf.getvalue()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    zip_bytes = stored_zip()
    write("empty.pdf", b"")
    # Cut in the middle of its content: the page tree and the image stream are gone.
    write("truncated.pdf", DEVIS_PDF[: len(DEVIS_PDF) // 3])

    # A cross-reference table pointing at the wrong offsets (every object shifted): PDFium rebuilds
    # the table by scanning the file for "N 0 obj", as Acrobat does.
    qpdf(
        "--object-streams=disable",
        "--compress-streams=n",
        str(FIXTURES / "Devis_test.pdf"),
        str(OUT / "plain.pdf"),
    )
    plain = (OUT / "plain.pdf").read_bytes()
    (OUT / "plain.pdf").unlink()
    xref_at = plain.rindex(b"\nxref\n") + 1
    body, table = plain[:xref_at], plain[xref_at:]
    broken_table = b"\n".join(
        b"%010d 00000 n " % (int(line[:10]) + 7) if line.rstrip().endswith(b" 00000 n") else line
        for line in table.split(b"\n")
    )
    # ... and startxref points past the end of the file.
    write("xref-repairable.pdf", body + broken_table.replace(b"startxref\n", b"startxref\n9"))
    # No object can be found at all: every "obj" keyword and the trailer are gone.
    write(
        "xref-unrepairable.pdf",
        plain.replace(b" obj", b" xyz").replace(b"endobj", b"endxyz").replace(b"trailer", b"xxxxxxx"),
    )

    qpdf(
        "--encrypt",
        "secret-user",
        "secret-owner",
        "256",
        "--",
        str(FIXTURES / "Devis_test.pdf"),
        str(OUT / "encrypted-user.pdf"),
    )
    qpdf(
        "--encrypt",
        "",
        "secret-owner",
        "256",
        "--",
        str(FIXTURES / "Devis_test.pdf"),
        str(OUT / "encrypted-owner.pdf"),
    )

    write("3000-pages.pdf", blank_pdf(3000, 72, 72))
    write("absurd-mediabox.pdf", blank_pdf(1, 200_000, 200_000))
    write("blank-a4.pdf", blank_pdf(1, 595, 842))

    # A PNG that declares 100000 x 100000 pixels (10 gigapixels) in under 100 bytes.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    write(
        "bomb.png",
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + png_chunk(b"IEND", b""),
    )

    write("zip-named.pdf", zip_bytes)
    write(
        "html-named.pdf",
        b"<!DOCTYPE html>\n<html><body><h1>Devis</h1><script>alert(1)</script></body></html>\n",
    )
    write("elf-named.pdf", Path("/bin/true").read_bytes()[:4096])
    write(
        "exe-named.pdf",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
        + b"\x00" * 48
        + b"This program cannot be run in DOS mode.\r\n"
        + b"\x00" * 200,
    )
    write("page.html", b"<html><head><title>Devis</title></head><body>SIRET 12345678900000</body></html>\n")
    write(
        "drawing.svg",
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        b'<text x="10" y="50">SIRET 12345678900000</text></svg>\n',
    )

    # Polyglots. A file is what its first bytes say it is; what follows the end of a PNG or JPEG is
    # ignored by the decoder, so a PNG with a ZIP appended is read as the PNG it starts as. A PDF
    # header after junk is accepted within the first 1 KB (as PDF readers do), refused beyond it.
    write("png-plus-zip.png", DEVIS_PNG + zip_bytes)
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(DEVIS_PNG)).convert("RGB").save(jpeg, "JPEG", quality=90)
    write("jpeg-plus-pdf.jpg", jpeg.getvalue() + DEVIS_PDF)
    write("junk-then-pdf.pdf", b"\x00JUNK" * 40 + b"\n" + DEVIS_PDF)
    write("far-junk-then-pdf.pdf", b"\x00JUNK" * 400 + b"\n" + DEVIS_PDF)

    write("3000-frames.gif", many_frame_gif(3000))

    tiff = io.BytesIO()
    tiff_frames = frames(300, (8, 8))
    tiff_frames[0].save(tiff, "TIFF", save_all=True, append_images=tiff_frames[1:])
    write("300-pages.tiff", tiff.getvalue())
    five = [text_page(f"Page {n} SIRET {n}2345") for n in range(1, 6)]
    tiff5 = io.BytesIO()
    five[0].save(tiff5, "TIFF", save_all=True, append_images=five[1:], compression="tiff_deflate")
    write("5-pages.tiff", tiff5.getvalue())

    one = io.BytesIO()
    Image.new("RGB", (1, 1), "white").save(one, "PNG")
    write("1x1.png", one.getvalue())

    # Headers and nothing else: the decoder's own error names the file it was given.
    write("header-only.gif", b"GIF89a" + struct.pack("<HHBBB", 10, 10, 0, 0, 0))
    write("header-only.tiff", b"II*\x00" + struct.pack("<I", 4096))


if __name__ == "__main__":
    main()
