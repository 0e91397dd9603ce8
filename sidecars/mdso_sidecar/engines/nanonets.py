"""Nanonets-OCR-s (a Qwen2.5-VL-3B fine-tune): markdown with HTML tables, LaTeX, and tags for images,
watermarks, page numbers and check boxes. Greedy decoding with the model card's prompt. The answer is the
model's markdown (`format=markdown`, and the default); `format=text` turns it into plain text (the
pipeline's `format` option, output_format.py, which this engine reads from its options).
"""

from __future__ import annotations

import html
import re

from ..intake import RenderPolicy
from ..models import HubModel, HubWeights
from .base import EngineOptions
from .vlm.backend import Generation
from .vlm.profile import Accepted, Verdict, VlmProfile
from .vlm.runtime import VlmEngine

MODEL_ID = "nanonets/Nanonets-OCR-s"
# What scripts/download-models fetches (docs/MODELS.md's table follows it); size from the model card.
WEIGHTS = HubWeights((HubModel(MODEL_ID, approx_size="7.5 GB"),))
SYSTEM = "You are a helpful assistant."
# Verbatim from the model card: the model was fine-tuned on exactly this instruction.
PROMPT = (
    "Extract the text from the above document as if you were reading it naturally. Return the tables "
    "in html format. Return the equations in LaTeX representation. If there is an image in the document "
    "and image caption is not present, add a small description of the image inside the <img></img> tag; "
    "otherwise, add the image caption inside <img></img>. Watermarks should be wrapped in brackets. Ex: "
    "<watermark>OFFICIAL COPY</watermark>. Page numbers should be wrapped in brackets. Ex: "
    "<page_number>14</page_number> or <page_number>9/22</page_number>. Prefer using ☐ and ☑ for check boxes."
)

_CELL_END = re.compile(r"\s*</t[dh]>\s*", re.IGNORECASE)
_ROW_END = re.compile(r"\s*</tr>\s*", re.IGNORECASE)
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9_]*(?:\s[^<>]*)?/?>")
_HEADING = re.compile(r"^#{1,6}\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_TABS = re.compile(r"[ \t]+\n")


def plain_text(markdown: str) -> str:
    """The model's markdown as plain text: table cells tab-separated, one row per line, tags removed
    with their content kept (page numbers, watermarks, image captions), headings and bold unmarked."""
    text = _CELL_END.sub("\t", markdown)
    text = _ROW_END.sub("\n", text)
    text = _LINE_BREAK.sub("\n", text)
    text = _TAG.sub("", text)
    text = _HEADING.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = html.unescape(text)
    text = _TRAILING_TABS.sub("\n", text)
    return _BLANK_LINES.sub("\n\n", text).strip()


def postprocess(generation: Generation, options: EngineOptions) -> Verdict:
    # A truncated answer (max_new_tokens hit) is kept: greedy decoding would only repeat it.
    text = generation.text.strip()
    if options.get("format", "markdown") == "text":
        text = plain_text(text)
    return Accepted(text=text)


PROFILE = VlmProfile(
    service="nanonets",
    weights=WEIGHTS,
    prompt=PROMPT,
    system=SYSTEM,
    image_first=True,
    # The model card feeds the page as is; 150 dpi keeps A4 at ~2.2 Mpx (about 2,800 visual tokens),
    # readable for small print without the 12 Mpx the image processor would otherwise allow.
    render_policy=RenderPolicy(pdf_dpi=150, max_side=2048, image_max_side=2048),
    default_max_new_tokens=15_000,  # the model card's value
    postprocess=postprocess,
    temperatures=(0.0,),
)


class NanonetsEngine(VlmEngine):
    name = "nanonets"
    profile = PROFILE
    formats = (*VlmEngine.formats, "markdown")
