"""The backend interface: what runs the model. The runtime builds one chat request per attempt (image,
prompt, sampling) and a backend answers the generated text and why generation stopped.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from PIL import Image

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class ChatRequest:
    """One page to read: the chat the model was trained on, and how to sample."""

    image: Image.Image
    prompt: str
    system: str | None
    """System message, or None to leave the chat template's default."""
    image_first: bool
    """True: the user turn is [image, prompt] (Nanonets); False: [prompt, image] (olmOCR)."""
    temperature: float
    """0 means greedy decoding."""
    max_new_tokens: int
    image_placeholder: str = ""
    """What an OpenAI-compatible server wants written in the text where the image stands (dots.ocr
    under vLLM: "<|img|><|imgpad|><|endofimg|>", without which vLLM puts a newline between image and
    prompt that the model was not trained with); empty for none. The in-process backend never uses
    it: the checkpoint's chat template writes the image's tokens itself."""

    def messages(self, image_part: Mapping[str, object], placeholder: str = "") -> list[dict[str, object]]:
        """OpenAI-style chat messages with `image_part` as the image entry of the user turn, and
        `placeholder` written before the prompt (image first) or after it."""
        text = placeholder + self.prompt if self.image_first else self.prompt + placeholder
        text_part: dict[str, object] = {"type": "text", "text": text}
        image = dict(image_part)
        content = [image, text_part] if self.image_first else [text_part, image]
        messages: list[dict[str, object]] = []
        if self.system is not None:
            messages.append({"role": "system", "content": self.system})
        messages.append({"role": "user", "content": content})
        return messages


@dataclass(frozen=True)
class Generation:
    text: str
    """Only the newly generated text (the prompt is never echoed), special tokens removed."""
    finish_reason: FinishReason
    """"length" when max_new_tokens was hit before the model ended its answer."""
    shown_size: tuple[int, int] | None = None
    """(width, height) of the image the model was shown, set by the runtime: smaller than the page
    after an out-of-memory retry. Models that answer coordinates answer them in (their resize of)
    this image."""
    page_size: tuple[int, int] | None = None
    """(width, height) of the page the runtime was reading, upright as shown (set by the runtime):
    the frame a profile maps the model's coordinates into."""


class BackendOutOfMemory(Exception):
    """The accelerator ran out of memory on this request; its cache was released. The runtime retries
    the page once at lower resolution, then fails the request (errors.GpuOutOfMemory)."""


class Backend(ABC):
    """Runs the model. generate() may be called from several pipeline threads at once only when
    `concurrent` is True."""

    concurrent: bool = False

    @abstractmethod
    def load(self) -> None:
        """Load weights / check the server. Raise errors.EngineUnavailable when it cannot work here."""

    @abstractmethod
    def generate(self, request: ChatRequest) -> Generation:
        """Read one page. Raise BackendOutOfMemory on accelerator OOM, errors.SidecarError subclasses
        for failures the caller should see."""

    @abstractmethod
    def describe(self) -> str:
        """Where the model runs, for /health's model string (e.g. "transformers bf16")."""

    def device(self) -> str:
        return "cpu"
