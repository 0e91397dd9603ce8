"""The runtime shared by every vision-language OCR engine: settings, backend choice, the per-page loop
(chat request, verdict, rotation and temperature retries, fallback reader) and the out-of-memory rule
(retry the page once at lower resolution, then fail the request with 503).
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from PIL import Image

from ...errors import EngineUnavailable, GpuOutOfMemory, ModelAnswerInvalid
from ...layout import turned as from_upright
from ...log import get_logger
from ...models import require_weights
from ...settings import Settings
from .. import engine_class
from ..base import Engine, EngineOptions, PageText
from .backend import Backend, BackendOutOfMemory, ChatRequest, Generation
from .config import read_vlm_settings
from .openai_backend import OpenAIBackend
from .profile import Accepted, Retry, VlmProfile
from .transformers_backend import TransformersBackend

log = get_logger(__name__)

# After an out-of-memory error the page is retried with this factor on each side (half the pixels,
# so about half the visual tokens and activation memory).
OOM_RETRY_SCALE = math.sqrt(0.5)
# Tesseract reads small renders badly: the fallback reader gets the page upscaled to at least this.
FALLBACK_MIN_SIDE = 1754


class VlmEngine(Engine):
    """A page engine over a VlmProfile. Subclasses set `name` and `profile`, nothing else."""

    profile: ClassVar[VlmProfile]
    # One model instance on one GPU: pages are read one at a time (the openai backend lifts this
    # through max_parallel_pages, the server batching concurrent requests itself).
    thread_safe = False
    page_seconds_prior = 8.0

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "profile" in cls.__dict__:
            cls.render_policy = cls.profile.render_policy
            cls.options = cls.profile.options

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.vlm = read_vlm_settings(settings, self.profile)
        self.prompt = self.profile.prompt_for(self.vlm.model)
        self.backend: Backend | None = None
        self._fallback: Engine | None = None
        self._fallback_error: str | None = None
        self._fallback_lock = threading.Lock()

    # -- Engine --------------------------------------------------------------------------------

    def describe(self) -> str:
        where = self.backend.describe() if self.backend else self.vlm.backend
        return f"{self.vlm.model} ({where})"

    def device(self) -> str:
        return self.backend.device() if self.backend else "cpu"

    def max_parallel_pages(self) -> int:
        return self.vlm.concurrency if self.vlm.backend == "openai" else 1

    def load(self) -> None:
        self.backend = self.make_backend()
        self.backend.load()

    def make_backend(self) -> Backend:
        """The configured backend, not loaded yet (tests override this to inject faults)."""
        if self.vlm.backend == "openai":
            assert self.vlm.endpoint is not None
            return OpenAIBackend(self.vlm)
        # Offline by construction: weights come from MODEL_DIR only, never from the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = require_weights(self.settings, self.vlm.model)
        return TransformersBackend(
            path, self.vlm, remote_code=self.profile.remote_code, model_class=self.profile.model_class
        )

    def recognize_page(self, image: Image.Image, options: EngineOptions) -> PageText:
        rotation_ccw = 0
        reasons: list[str] = []
        last_meta: Mapping[str, Any] | None = None
        temperatures = self.profile.temperatures[: self.vlm.max_attempts]
        for attempt, temperature in enumerate(temperatures, start=1):
            turned = image.rotate(rotation_ccw, expand=True) if rotation_ccw else image
            generation = self._generate(turned, temperature)
            verdict = self.profile.postprocess(generation, options)
            if isinstance(verdict, Accepted):
                meta = _with_attempts(verdict.meta, attempt)
                rotation = (360 - rotation_ccw) % 360
                layout = verdict.layout
                if layout is not None:
                    layout = dataclasses.replace(
                        layout, to_input=from_upright(rotation, image.width, image.height)
                    )
                return PageText(text=verdict.text, rotation=rotation, meta=meta, layout=layout)
            assert isinstance(verdict, Retry)
            reasons.append(verdict.reason)
            last_meta = verdict.meta
            if verdict.rotate_ccw:
                rotation_ccw = (rotation_ccw + verdict.rotate_ccw) % 360
            log.info(
                "page answer refused, retrying",
                extra={"attempt": attempt, "temperature": temperature, "reason": verdict.reason},
            )
        return self._fall_back(image, reasons, last_meta)

    # -- helpers -------------------------------------------------------------------------------

    def _generate(self, image: Image.Image, temperature: float) -> Generation:
        assert self.backend is not None, "load() must succeed before pages are read"
        request = ChatRequest(
            image=image,
            prompt=self.prompt,
            system=self.profile.system,
            image_first=self.profile.image_first,
            temperature=temperature,
            max_new_tokens=self.vlm.max_new_tokens,
            image_placeholder=self.profile.image_placeholder,
        )
        try:
            generation = self.backend.generate(request)
            return dataclasses.replace(generation, shown_size=image.size, page_size=image.size)
        except BackendOutOfMemory:
            width, height = image.size
            smaller = image.resize(
                (max(28, round(width * OOM_RETRY_SCALE)), max(28, round(height * OOM_RETRY_SCALE))),
                Image.Resampling.LANCZOS,
            )
            log.warning(
                "GPU out of memory, retrying the page at lower resolution",
                extra={"size": f"{width}x{height}", "retry_size": f"{smaller.width}x{smaller.height}"},
            )
            try:
                generation = self.backend.generate(dataclasses.replace(request, image=smaller))
                return dataclasses.replace(generation, shown_size=smaller.size, page_size=image.size)
            except BackendOutOfMemory:
                raise GpuOutOfMemory(
                    f"the GPU ran out of memory reading a {width}x{height} page, also at lower resolution; "
                    f"retry later, send fewer pages, or give {self.name} more GPU memory "
                    f"({self.name.upper()}_GPU_MEMORY_FRACTION)",
                    {"size": [width, height]},
                ) from None
            finally:
                smaller.close()

    def _fall_back(self, image: Image.Image, reasons: list[str], meta: Mapping[str, Any] | None) -> PageText:
        summary = f"{len(reasons)} answer(s) refused (last: {reasons[-1] if reasons else 'none'})"
        reader = self._fallback_reader()
        if reader is None:
            detail = f"; fallback reader: {self._fallback_error}" if self._fallback_error else ""
            raise ModelAnswerInvalid(
                f"{self.name} gave no usable answer for this page: {summary}{detail}",
                {"attempts": len(reasons), "reasons": reasons},
            )
        log.warning("page read by the fallback reader", extra={"reader": reader.name, "reason": summary})
        page = image
        if max(image.size) < FALLBACK_MIN_SIDE:
            factor = FALLBACK_MIN_SIDE / max(image.size)
            page = image.resize(
                (round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS
            )
        read = reader.recognize_page(page.convert("L"), {})
        fallback_meta = {**(meta or {}), "attempts": len(reasons), "fallback_reason": reasons[-1]}
        return PageText(
            text=read.text, rotation=read.rotation, source=f"fallback:{reader.name}", meta=fallback_meta
        )

    def _fallback_reader(self) -> Engine | None:
        """The fallback engine (the service <SERVICE>_FALLBACK names), imported and loaded on first use:
        most pages never need it, so a VLM sidecar does not import tesserocr until one does."""
        if self.vlm.fallback == "none":
            return None
        with self._fallback_lock:
            if self._fallback is None and self._fallback_error is None:
                reader = engine_class(self.vlm.fallback)(self.settings)
                try:
                    reader.load()
                except EngineUnavailable as exc:
                    self._fallback_error = str(exc)
                    log.warning("fallback reader unavailable", extra={"reason": str(exc)})
                else:
                    self._fallback = reader
            return self._fallback


def _with_attempts(meta: Mapping[str, Any] | None, attempt: int) -> Mapping[str, Any] | None:
    if meta is None:
        return None
    return {**meta, "attempts": attempt}
