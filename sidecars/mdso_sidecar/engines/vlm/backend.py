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

    def messages(self, image_part: Mapping[str, object]) -> list[dict[str, object]]:
        """OpenAI-style chat messages with `image_part` as the image entry of the user turn."""
        text_part: dict[str, object] = {"type": "text", "text": self.prompt}
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
