"""olmOCR (olmOCR-2-7B-1025 by default, olmOCR-7B-0825 selectable; Qwen2.5-VL-7B fine-tunes): pages at
1288 px on the longest side, the prompt the model was trained with, a front matter parsed off the text
(kept in the page's meta), rotation corrections and invalid answers retried up the temperature ladder,
then the page read by tesseract ("fallback:tesseract").
"""

from __future__ import annotations

from ..intake import RenderPolicy
from ..models import HubModel, HubWeights
from .base import EngineOptions
from .olmocr_output import FrontMatterError, parse_answer
from .vlm.backend import Generation
from .vlm.profile import Accepted, Retry, Verdict, VlmProfile
from .vlm.runtime import VlmEngine

MODEL_ID = "allenai/olmOCR-2-7B-1025"
MODEL_ID_0825 = "allenai/olmOCR-7B-0825"
# What scripts/download-models fetches, the default first (docs/MODELS.md's table follows it); sizes
# from the model cards (bf16, about 2 bytes per parameter).
WEIGHTS = HubWeights(
    (HubModel(MODEL_ID, approx_size="16.6 GB"), HubModel(MODEL_ID_0825, approx_size="16.6 GB"))
)

_PROMPT_HEAD = (
    "Attached is one page of a document that you must process. Just return the plain text representation "
    "of this document as if you were reading it naturally. Convert equations to LateX and tables to "
)
_PROMPT_TAIL = (
    "Return your output as markdown, with a front matter section on top specifying values for the "
    "primary_language, is_rotation_valid, rotation_correction, is_table, and is_diagram parameters."
)
# olmOCR's "v4" prompt, the one olmOCR-2 was trained with ("LateX" is theirs).
PROMPT_V4 = (
    _PROMPT_HEAD
    + "HTML.\nIf there are any figures or charts, label them with the following markdown syntax "
    "![Alt text describing the contents of the figure](page_startx_starty_width_height.png)\n"
    + _PROMPT_TAIL
)
# The older model's prompt: tables as markdown, no figure line.
PROMPT_0825 = _PROMPT_HEAD + "markdown.\n" + _PROMPT_TAIL

# olmOCR's pipeline: temperature by attempt.
TEMPERATURES = (0.1, 0.1, 0.2, 0.3, 0.5, 0.8, 0.9, 1.0)


def postprocess(generation: Generation, _options: EngineOptions) -> Verdict:
    if generation.finish_reason != "stop":
        return Retry("the answer hit the token limit (finish_reason length)")
    try:
        answer = parse_answer(generation.text)
    except FrontMatterError as exc:
        return Retry(f"invalid front matter: {exc}")
    if not answer.is_rotation_valid and answer.rotation_correction:
        # olmOCR's convention: the page is turned by rotation_correction degrees counter-clockwise.
        return Retry(
            f"page rotated, correction {answer.rotation_correction}",
            rotate_ccw=answer.rotation_correction,
            meta=answer.meta(),
        )
    return Accepted(text=answer.text, meta=answer.meta())


PROFILE = VlmProfile(
    service="olmocr",
    weights=WEIGHTS,
    prompt=PROMPT_V4,
    prompts={MODEL_ID_0825: PROMPT_0825},
    system=None,  # olmOCR sends one user message: the prompt, then the image
    image_first=False,
    render_policy=RenderPolicy(longest_side=1288),
    default_max_new_tokens=8000,
    postprocess=postprocess,
    temperatures=TEMPERATURES,
    fallback="tesseract",
)


class OlmocrEngine(VlmEngine):
    name = "olmocr"
    profile = PROFILE
    formats = (*VlmEngine.formats, "markdown")  # its text is markdown (tables as HTML)
