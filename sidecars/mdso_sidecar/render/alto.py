"""ALTO 4 (https://www.loc.gov/standards/alto/): one XML file for the document, MeasurementUnit pixel
(pixels of the upright page, as in PageLayout), a Page per page read with its PrintSpace, then
TextBlock > TextLine > String (CONTENT, WC 0–1) with SP between words. A failed page is an empty Page
(the answer's X-Failed-Pages header says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from ..layout import Box
from .pages import SOFTWARE, RenderedPage

CONTENT_TYPE = "application/xml; charset=utf-8"
NAMESPACE = "http://www.loc.gov/standards/alto/ns-v4#"
SCHEMA_LOCATION = "http://www.loc.gov/standards/alto/v4/alto-4-4.xsd"


def _clean(value: str) -> str:
    """Without the characters XML 1.0 cannot carry; tabs and newlines as spaces (one-line values)."""
    kept = "".join(ch for ch in value if ch in "\t\n" or (ord(ch) >= 0x20 and ch not in "\ufffe\uffff"))
    return kept.replace("\n", " ").replace("\t", " ")


def _attr(value: str) -> str:
    return quoteattr(_clean(value))


def _text(value: str) -> str:
    return escape(_clean(value))


def _pos(box: Box) -> str:
    left, top, right, bottom = box.to_json()
    return f'HPOS="{left}" VPOS="{top}" WIDTH="{max(0, right - left)}" HEIGHT="{max(0, bottom - top)}"'


def render_alto(pages: Sequence[RenderedPage], *, system: str, filename: str | None) -> bytes:
    """The ALTO 4 file of `pages` (UTF-8). `system` names the engine, `filename` the upload."""
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<alto xmlns="{NAMESPACE}" xmlns:xlink="http://www.w3.org/1999/xlink"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
        f' xsi:schemaLocation="{NAMESPACE} {SCHEMA_LOCATION}">\n'
        " <Description>\n  <MeasurementUnit>pixel</MeasurementUnit>\n"
    ]
    if filename:
        out.append(f"  <sourceImageInformation>\n   <fileName>{_text(filename)}</fileName>\n"
                   "  </sourceImageInformation>\n")
    out.append(
        '  <OCRProcessing ID="OCR_0">\n   <ocrProcessingStep>\n    <processingSoftware>\n'
        f"     <softwareName>{_text(SOFTWARE)}</softwareName>\n"
        f"     <softwareVersion>{_text(system)}</softwareVersion>\n"
        "    </processingSoftware>\n   </ocrProcessingStep>\n  </OCRProcessing>\n"
        " </Description>\n <Layout>\n"
    )
    for page in pages:
        number = page.page
        width, height = page.size()
        out.append(
            f'  <Page ID="page_{number}" PHYSICAL_IMG_NR="{number}" WIDTH="{width}" HEIGHT="{height}">\n'
            f'   <PrintSpace {_pos(page.page_box())}>\n'
        )
        for b, block in enumerate(page.blocks(), 1):
            block_id = f"{number}_{b}"
            out.append(f'    <TextBlock ID="block_{block_id}" {_pos(block.box)}>\n')
            for n, line in enumerate(block.lines, 1):
                line_id = f"{block_id}_{n}"
                out.append(f'     <TextLine ID="line_{line_id}" {_pos(line.box)}>\n')
                for w, word in enumerate(line.words, 1):
                    if w > 1:
                        previous = line.words[w - 2].box
                        gap_right = max(previous.right, word.box.left)
                        gap = Box(previous.right, word.box.top, gap_right, word.box.bottom)
                        left, top, right, _ = gap.to_json()
                        out.append(f'      <SP WIDTH="{max(0, right - left)}" HPOS="{left}" VPOS="{top}"/>\n')
                    wc = f"{max(0.0, min(1.0, word.conf)):.2f}"
                    out.append(
                        f'      <String ID="string_{line_id}_{w}" {_pos(word.box)} WC="{wc}"'
                        f" CONTENT={_attr(word.text)}/>\n"
                    )
                out.append("     </TextLine>\n")
            out.append("    </TextBlock>\n")
        out.append("   </PrintSpace>\n  </Page>\n")
    out.append(" </Layout>\n</alto>\n")
    return "".join(out).encode("utf-8")
