"""VLM test resources: the tiny Qwen2.5-VL checkpoint (built once per session) and a scripted backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from mdso_sidecar.engines.vlm.backend import Backend, ChatRequest, Generation

from .build_tiny_qwen import build


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2.5-VL checkpoint directory (the same files a real snapshot has)."""
    return build(tmp_path_factory.mktemp("tiny-qwen") / "model")


class ScriptedBackend(Backend):
    """Answers a fixed list of model outputs in order, and records what it was asked."""

    def __init__(self, answers: list[Generation]) -> None:
        self.answers = list(answers)
        self.requests: list[ChatRequest] = []
        self.sizes: list[tuple[int, int]] = []

    def load(self) -> None:
        pass

    def describe(self) -> str:
        return "scripted"

    def generate(self, request: ChatRequest) -> Generation:
        self.requests.append(request)
        self.sizes.append(request.image.size)
        return self.answers.pop(0)


@pytest.fixture
def portrait() -> Iterator[Image.Image]:
    image = Image.new("RGB", (910, 1288), "white")
    yield image
    image.close()
