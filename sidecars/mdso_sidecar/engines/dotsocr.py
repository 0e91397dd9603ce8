"""dots.ocr (rednote-hilab; a 1.7B Qwen2 language model with its own vision encoder; dots.mocr, its 1.5
release, selectable): each page read with the model's layout prompt, whose answer is a JSON list of
cells (box, category, text) in reading order. Its plain-OCR prompt leaves page headers and footers
out, and a quote's number, date and company ids live there: the layout prompt keeps them. Cells
become the page's text (tables one row per line), their boxes the page's `meta.cells` and, when a
layout is asked for (format=json, hocr, alto, pdf), its layout: one block per cell (granularity
"block"). An answer that is cut off, loops or is not a cell list is asked again at another
temperature, then the page is read by tesseract ("fallback:tesseract"), as olmocr does.

Its architecture is not in transformers: in process it runs the modelling code that ships with its
weights (trust_remote_code, from MODEL_DIR only); vLLM serves it natively (DOTSOCR_BACKEND=openai).
"""

from __future__ import annotations

from ..intake import RenderPolicy
from ..layout import Box, block_level
from ..models import HubModel, HubWeights
from ..output_format import wants_layout
from .base import EngineOptions
from .dotsocr_output import LayoutAnswerError, cell_text, page_text, parse_cells, reading_order, scale_boxes
from .vlm.backend import Generation
from .vlm.profile import Accepted, Retry, Verdict, VlmProfile
from .vlm.runtime import VlmEngine

MODEL_ID = "rednote-hilab/dots.ocr"
MODEL_ID_MOCR = "rednote-hilab/dots.mocr"
# What scripts/download-models fetches, the default first (docs/MODELS.md's table follows it); sizes
# of the bf16 safetensors (about 3B parameters with the vision encoder).
WEIGHTS = HubWeights(
    (HubModel(MODEL_ID, approx_size="6.1 GB"), HubModel(MODEL_ID_MOCR, approx_size="6.1 GB"))
)

# Verbatim from dots.ocr's prompts (prompt_layout_all_en; the same for dots.mocr): the instruction the
# model was trained on to answer every layout element with its box, category and text.
PROMPT = (
    "Please output the layout information from the PDF image, including each layout element's bbox, "
    "its category, and the corresponding text content within the bbox.\n"
    "\n"
    "1. Bbox format: [x1, y1, x2, y2]\n"
    "\n"
    "2. Layout Categories: The possible categories are ['Caption', 'Footnote', 'Formula', 'List-item', "
    "'Page-footer', 'Page-header', 'Picture', 'Section-header', 'Table', 'Text', 'Title'].\n"
    "\n"
    "3. Text Extraction & Formatting Rules:\n"
    "    - Picture: For the 'Picture' category, the text field should be omitted.\n"
    "    - Formula: Format its text as LaTeX.\n"
    "    - Table: Format its text as HTML.\n"
    "    - All Others (Text, Title, etc.): Format their text as Markdown.\n"
    "\n"
    "4. Constraints:\n"
    "    - The output text must be the original text from the image, with no translation.\n"
    "    - All layout elements must be sorted according to human reading order.\n"
    "\n"
    "5. Final Output: The entire output must be a single JSON object.\n"
)

# How dots.ocr's client writes the image in the text for vLLM (its registered placeholder): without
# it, vLLM inserts the placeholder followed by a newline the model never saw in training.
IMAGE_PLACEHOLDER = "<|img|><|imgpad|><|endofimg|>"

# dots.ocr's parser samples at 0.1; a refused answer is asked again a little warmer.
TEMPERATURES = (0.1, 0.3, 0.5)


def postprocess(generation: Generation, options: EngineOptions) -> Verdict:
    if generation.finish_reason != "stop":
        return Retry("the answer hit the token limit (finish_reason length)")
    try:
        cells = parse_cells(generation.text)
    except LayoutAnswerError as exc:
        return Retry(f"invalid layout answer: {exc}")
    if generation.shown_size is not None and generation.page_size is not None:
        cells = scale_boxes(cells, generation.shown_size, generation.page_size)
    ordered = reading_order(cells)
    meta = {
        "cells": [
            {"category": cell.category, "bbox": [round(value) for value in cell.box]} for cell in ordered
        ]
    }
    layout = None
    if wants_layout(options) and generation.page_size is not None:
        # One block per cell, its box in the page's pixels (pictures have no text: no block).
        width, height = generation.page_size
        blocks = [
            (cell.category.lower(), Box(*cell.box), cell_text(cell))
            for cell in ordered
            if cell.category != "Picture"
        ]
        layout = block_level(blocks, width, height)
    return Accepted(text=page_text(ordered), meta=meta, layout=layout)


PROFILE = VlmProfile(
    service="dotsocr",
    weights=WEIGHTS,
    prompt=PROMPT,
    system=None,  # one user turn: the image, then the prompt
    image_first=True,
    image_placeholder=IMAGE_PLACEHOLDER,
    # dots.ocr's parser renders PDF pages at 200 dpi. Sides capped so that a page stays under the
    # processor's MAX_PIXELS: its own resize then only rounds to multiples of 28, and boxes map back.
    render_policy=RenderPolicy(pdf_dpi=200, max_side=3360, image_max_side=3360),
    default_max_new_tokens=16_384,  # dots.ocr's parser's max_completion_tokens
    postprocess=postprocess,
    temperatures=TEMPERATURES,
    fallback="tesseract",
    remote_code=True,
    model_class="AutoModelForCausalLM",
)


class DotsocrEngine(VlmEngine):
    name = "dotsocr"
    profile = PROFILE
