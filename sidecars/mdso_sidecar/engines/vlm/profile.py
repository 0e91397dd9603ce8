"""What makes one vision-language OCR model different from another: a VlmProfile. The runtime does the
rest (loading, rendering, chat, generation, retries, fallback), so a new model of the family is one
profile and one small engine module.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ...intake import RenderPolicy
from ...layout import PageLayout
from ...models import HubWeights
from ..base import EngineOptions, OptionSpec
from .backend import Generation


@dataclass(frozen=True)
class Accepted:
    """The answer is usable: this is the page's text."""

    text: str
    meta: Mapping[str, Any] | None = None
    layout: PageLayout | None = None
    """Where the model placed its text, in pixels of the page as it was shown to the model (turned
    upright when a retry turned it; boxes scaled back from the model's own resize), when the model
    says so (dots.ocr's cells) and the request asks for a layout; None: the pipeline gives the
    page-level one. The runtime sets its to_input."""


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
    weights: HubWeights
    """The models it knows: its engine module's WEIGHTS (<SERVICE>_MODEL picks one, the first by default)."""
    prompt: str
    """The prompt of the default model, and of every model `prompts` does not name."""
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
    prompts: Mapping[str, str] = field(default_factory=dict)
    """Prompt of a model of `weights` that was trained with another one than `prompt`."""
    image_placeholder: str = ""
    """Text an OpenAI-compatible server needs where the image stands in the prompt (ChatRequest)."""
    remote_code: bool = False
    """The checkpoint's architecture is not in transformers: load the modelling code that ships
    beside its weights (trust_remote_code), from MODEL_DIR only. The openai backend never needs it."""
    model_class: str = "AutoModelForImageTextToText"
    """The transformers auto class that loads the checkpoint (a remote-code model names the one it
    registers in its config's auto_map)."""

    def __post_init__(self) -> None:
        unknown = [model for model in self.prompts if model not in self.known_models]
        if unknown:
            raise ValueError(f"{self.service}: prompts for models not in its WEIGHTS: {', '.join(unknown)}")

    @property
    def default_model(self) -> str:
        """Hugging Face id used when <SERVICE>_MODEL is not set."""
        return self.weights.default.repo_id

    @property
    def known_models(self) -> tuple[str, ...]:
        return self.weights.ids

    def prompt_for(self, model: str) -> str:
        """The prompt of hub id `model`; a local directory gets that of the known id whose last
        component matches its name, else the default model's."""
        if model not in self.known_models:
            name = model.rstrip("/").rsplit("/", 1)[-1]
            model = next((known for known in self.known_models if known.rsplit("/", 1)[-1] == name), "")
        return self.prompts.get(model, self.prompt)
