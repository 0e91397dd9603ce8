"""hOCR 1.2 (http://kba.github.io/hocr-spec/1.2/): one XHTML file for the document, an ocr_page per
page read, then ocr_carea > ocr_par > ocr_line > ocrx_word with their bbox (pixels of the upright
page, as in PageLayout) and each word's x_wconf (0–100). Our layout has no paragraphs: each block is
one ocr_carea holding one ocr_par. A failed page is an empty ocr_page (the answer's X-Failed-Pages
header says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from ..layout import Box
from .pages import SOFTWARE, RenderedPage, iso639_1

CONTENT_TYPE = "text/vnd.hocr+html; charset=utf-8"
CAPABILITIES = "ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf ocrp_lang"


def _bbox(box: Box) -> str:
    left, top, right, bottom = box.to_json()
    return f"bbox {left} {top} {right} {bottom}"


def _attr(value: str) -> str:
    # quoteattr picks the quote; control characters other than tab/newline are not allowed in XML.
    return quoteattr(_xml_text(value))


def _xml_text(value: str) -> str:
    return "".join(ch for ch in value if ch in "\t\n" or (ord(ch) >= 32 and ch not in "\ufffe\uffff"))


def render_hocr(pages: Sequence[RenderedPage], *, system: str, lang: str, filename: str | None) -> bytes:
    """The hOCR file of `pages` (UTF-8). `system` names the engine (ocr-system meta), `lang` is the
    request's language list ("fra+eng": the first is the paragraphs' lang, as "fr"), `filename` the upload's
    name, given as each page's image."""
    # HTML's lang is BCP 47: "fr", not tesseract's "fra".
    par_lang = iso639_1(lang)
    langs = " ".join(iso639_1(code) for code in lang.split("+"))
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
        '    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="{iso639_1(lang)}" lang="{iso639_1(lang)}">\n'
        " <head>\n  <title></title>\n"
        '  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>\n'
        f"  <meta name=\"ocr-system\" content={_attr(f'{SOFTWARE} ({system})')}/>\n"
        f'  <meta name="ocr-capabilities" content="{CAPABILITIES}"/>\n'
        f'  <meta name="ocr-langs" content={_attr(langs)}/>\n'
        f'  <meta name="ocr-number-of-pages" content="{len(pages)}"/>\n'
        " </head>\n <body>\n"
    ]
    image = filename.replace('"', "") if filename else None
    for page in pages:
        number = page.page
        props = ([f'image "{image}"'] if image else []) + [_bbox(page.page_box()), f"ppageno {number - 1}"]
        if page.geometry is not None and page.geometry.dpi:
            dpi = round(page.geometry.dpi)
            props.append(f"scan_res {dpi} {dpi}")
        out.append(f"  <div class=\"ocr_page\" id=\"page_{number}\" title={_attr('; '.join(props))}>\n")
        for b, block in enumerate(page.blocks(), 1):
            block_id = f"{number}_{b}"
            out.append(f'   <div class="ocr_carea" id="block_{block_id}" title="{_bbox(block.box)}">\n')
            out.append(
                f'    <p class="ocr_par" id="par_{block_id}" lang="{par_lang}" title="{_bbox(block.box)}">\n'
            )
            for n, line in enumerate(block.lines, 1):
                line_id = f"{block_id}_{n}"
                # Only the box: baseline and x-height were not measured, and are not made up.
                out.append(f'     <span class="ocr_line" id="line_{line_id}" title="{_bbox(line.box)}">')
                words = []
                for w, word in enumerate(line.words, 1):
                    conf = max(0, min(100, round(word.conf * 100)))
                    words.append(
                        f'<span class="ocrx_word" id="word_{line_id}_{w}" '
                        f'title="{_bbox(word.box)}; x_wconf {conf}">{escape(_xml_text(word.text))}</span>'
                    )
                out.append(" ".join(words) + "</span>\n")
            out.append("    </p>\n   </div>\n")
        out.append("  </div>\n")
    out.append(" </body>\n</html>\n")
    return "".join(out).encode("utf-8")
