"""The file answers of POST /ocr (format=hocr, alto, pdf): the pipeline's pages as RenderedPage, and
the one table of the file formats with their content types (the gateway names the download after
the upload)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pikepdf

from ..engines.base import PageResult
from ..errors import CorruptDocument, scrub
from ..intake import PdfDocument
from .alto import CONTENT_TYPE as ALTO_TYPE
from .alto import render_alto
from .hocr import CONTENT_TYPE as HOCR_TYPE
from .hocr import render_hocr
from .pages import RenderedPage
from .pdf import CONTENT_TYPE as PDF_TYPE
from .pdf import render_pdf

FILE_FORMATS: dict[str, str] = {"hocr": HOCR_TYPE, "alto": ALTO_TYPE, "pdf": PDF_TYPE}
"""format → content type. No media type is registered for hOCR: it is served as text/vnd.hocr+html,
the one the hOCR specification's editor uses (kba/hocr-spec#27), which says what the file is (XHTML
with OCR markup) where text/html would have a browser show a page of empty boxes."""


@dataclass(frozen=True)
class FileRequest:
    """What a file answer is made of, besides the pages."""

    format: str
    source: Path
    """The spooled upload (read only: the searchable PDF is built from it)."""
    is_pdf: bool
    system: str
    """The engine's description ("tesseract 5.5.0 (fra+eng)")."""
    lang: str
    """The request's languages, tesseract style ("fra+eng")."""
    filename: str | None
    """The upload's name as the client gave it (a label, never a path)."""


def rendered_pages(pages: Sequence[PageResult]) -> list[RenderedPage]:
    return [
        RenderedPage(
            page=p.page,
            layout=p.layout,
            geometry=p.geometry,
            text=p.text,
            rotation=p.rotation,
            source=p.source,
            failed=p.error is not None,
        )
        for p in pages
    ]


def render_file(request: FileRequest, pages: Sequence[PageResult], out: Path) -> None:
    """Writes the file of `request.format` for `pages` to `out`. Blocking: run it in a thread."""
    read = rendered_pages(pages)
    if request.format == "pdf":
        try:
            if request.is_pdf:
                read = _own_text_kept(read, request.source)
            render_pdf(read, request.source, request.is_pdf, out)
        except pikepdf.PdfError as exc:
            # PDFium read it, qpdf cannot rewrite it (damage qpdf does not repair): the text is there.
            raise CorruptDocument(
                "the PDF was read but cannot be rewritten as a searchable PDF (damaged); "
                "ask for format=text or json, or re-export it and resend",
                {"reason": scrub(str(exc))},
            ) from None
    elif request.format == "hocr":
        hocr = render_hocr(read, system=request.system, lang=request.lang, filename=request.filename)
        out.write_bytes(hocr)
    elif request.format == "alto":
        out.write_bytes(render_alto(read, system=request.system, filename=request.filename))
    else:
        raise ValueError(f"not a file format: {request.format}")


# A page's own text counts when this share of its characters at most maps to no text (a font without
# a ToUnicode map gives garbage to copy and search: then the reading is laid over it).
OWN_TEXT_MAX_UNMAPPED = 0.05


def _own_text_kept(pages: list[RenderedPage], source: Path) -> list[RenderedPage]:
    """The pages, those whose PDF page already carries usable text of its own marked to be left as
    they are (as `ocrmypdf --skip-text` does): a second, invisible copy of the same words over it
    would double every word a reader copies or searches ("Page 1" extracted as "Page 11"). A page
    whose text is unusable (fonts mapping to no characters) gets the reading laid over it."""
    with PdfDocument(source) as document:
        out = []
        for page in pages:
            own = document.text_layer(page.page) if not page.failed else None
            usable = own is not None and own.chars > 0 and own.unmapped_share <= OWN_TEXT_MAX_UNMAPPED
            out.append(replace(page, source="text-layer") if usable else page)
        return out


def page_headers(pages: Sequence[PageResult], document_pages: int) -> dict[str, str]:
    """What the JSON answer says of the pages, as headers of a file answer: X-Page-Count,
    X-Document-Pages, and X-Failed-Pages / X-Blank-Pages (comma-separated page numbers) when any."""
    headers = {"X-Page-Count": str(len(pages)), "X-Document-Pages": str(document_pages)}
    failed = [str(p.page) for p in pages if p.error is not None]
    blank = [str(p.page) for p in pages if p.error is None and p.blank]
    if failed:
        headers["X-Failed-Pages"] = ",".join(failed)
    if blank:
        headers["X-Blank-Pages"] = ",".join(blank)
    return headers
