"""An upload's type, told from its first bytes, never from its name: the formats we read, and for those we
refuse, what was sent (a ZIP, an HTML page...), so that the message can say it.
"""

from __future__ import annotations

import enum

from .errors import EmptyFile, UnsupportedFileType

SUPPORTED_TYPES = "PDF, PNG, JPEG, TIFF, BMP, GIF, WebP"
SNIFF_BYTES = 1024
"""How many first bytes sniff() looks at."""


class DocumentKind(enum.Enum):
    PDF = "PDF"
    PNG = "PNG"
    JPEG = "JPEG"
    TIFF = "TIFF"
    BMP = "BMP"
    GIF = "GIF"
    WEBP = "WebP"


# Formats we refuse, by signature, so the message can say what was sent. Order matters: first match wins.
_REFUSED_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (or a .docx/.xlsx/.odt document, which are ZIP files)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office document (.doc/.xls/.ppt)"),
    (b"MZ", "a Windows executable (EXE/DLL)"),
    (b"\x7fELF", "an ELF executable"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript file"),
    (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
)


def _describe_refused(head: bytes) -> str:
    for signature, description in _REFUSED_SIGNATURES:
        if head.startswith(signature):
            return description
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"):
            return "a HEIC/HEIF image (export it as JPEG)"
        if brand.startswith(b"avi"):
            return "an AVIF image (export it as JPEG or PNG)"
        return "an MP4/QuickTime media file"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<!doctype html", b"<html")) or b"<html" in text[:512]:
        return "an HTML page"
    if text.startswith(b"<svg") or b"<svg" in text[:512]:
        return "an SVG drawing"
    if text.startswith(b"<?xml"):
        return "an XML document"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut by the end of the sniffed window is still text.
            if exc.start < len(head) - 3:
                return "unrecognised binary data"
        return "plain text"
    return "unrecognised binary data"


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak (plain text can start with it); the DIB header size must be a known one.
    return (
        head.startswith(b"BM")
        and len(head) >= 18
        and int.from_bytes(head[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124)
    )


def sniff(head: bytes) -> DocumentKind:
    """The document type from its first bytes. EmptyFile for no bytes, UnsupportedFileType otherwise."""
    if not head:
        raise EmptyFile("the file is empty (0 bytes); send the document itself", {"size": 0})
    if head.startswith(b"%PDF-"):
        return DocumentKind.PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return DocumentKind.PNG
    if head.startswith(b"\xff\xd8\xff"):
        return DocumentKind.JPEG
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return DocumentKind.TIFF
    if head.startswith((b"GIF87a", b"GIF89a")):
        return DocumentKind.GIF
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return DocumentKind.WEBP
    if _is_bmp(head):
        return DocumentKind.BMP
    # Some producers put junk before the header (readers accept it within 1 KB), but a ZIP that
    # merely stores a PDF uncompressed is still a ZIP.
    if b"%PDF-" in head[:SNIFF_BYTES] and not any(head.startswith(sig) for sig, _ in _REFUSED_SIGNATURES):
        return DocumentKind.PDF
    detected = _describe_refused(head)
    raise UnsupportedFileType(
        f"unsupported file type: this looks like {detected}; send one of {SUPPORTED_TYPES}",
        {"detected": detected, "supported": SUPPORTED_TYPES.split(", ")},
    )
