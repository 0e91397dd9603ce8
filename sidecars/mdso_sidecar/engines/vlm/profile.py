"""What makes one vision-language OCR model different from another: a VlmProfile. The runtime does the
rest (loading, rendering, chat, generation, retries, fallback), so a new model of the family is one
profile and one small engine module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...intake import RenderPolicy
from ..base import EngineOptions, OptionSpec
from .backend import Generation


@dataclass(frozen=True)
class Accepted:
    """The answer is usable: this is the page's text."""

    text: str
    meta: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Retry:
    """The answer is not usable: ask again (next temperature of the ladder)."""

    reason: str
    rotate_ccw: int = 0
    """Degrees to turn the page counter-clockwise before asking again (0, 90, 180, 270)."""
    meta: Mapping[str, Any] | None = None
    """What the answer said about the page, kept if this turns out to be the last attempt."""


Verdict = Accepted | Retry


@dataclass(frozen=True)
class VlmProfile:
    service: str
    """Service name (ENABLED_SERVICES, --service) and the prefix of its settings (NANONETS_...)."""
    default_model: str
    """Hugging Face id used when <SERVICE>_MODEL is not set."""
    prompts: Mapping[str, str]
    """Prompt per known model id (the first entry is the default's). A local directory gets the prompt
    of the known id whose last component matches its name, else the default model's."""
    render_policy: RenderPolicy
    """Resolution the model was trained for."""
    default_max_new_tokens: int
    postprocess: Callable[[Generation, EngineOptions], Verdict]
    system: str | None = None
    """System message; None leaves the chat template's default."""
    image_first: bool = True
    """User turn order: [image, prompt] when True, [prompt, image] otherwise."""
    temperatures: tuple[float, ...] = (0.0,)
    """Temperature of each attempt; more than one entry means Retry verdicts are retried."""
    fallback: str | None = None
    """Reader used when every attempt was refused ("tesseract"), or None: the page then fails."""
    options: tuple[OptionSpec, ...] = ()
    """The request options of the service (its engine's `options`)."""

    @property
    def known_models(self) -> tuple[str, ...]:
        return tuple(self.prompts)

    def prompt_for(self, model: str) -> str:
        if model in self.prompts:
            return self.prompts[model]
        name = model.rstrip("/").rsplit("/", 1)[-1]
        for known, prompt in self.prompts.items():
            if known.rsplit("/", 1)[-1] == name:
                return prompt
        return self.prompts[self.default_model]
