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
from dataclasses import dataclass
from typing import Any, ClassVar

from PIL import Image

from ...errors import BadOption, EngineUnavailable, GpuOutOfMemory, ModelAnswerInvalid
from ...log import get_logger
from ...models import model_path, model_setting, require_weights
from ...settings import Settings, SettingsError
from ..base import Engine, EngineOptions, PageText
from .backend import Backend, BackendOutOfMemory, ChatRequest
from .profile import Accepted, Retry, VlmProfile

log = get_logger(__name__)

REQUIREMENTS = "sidecars/requirements-vlm.txt"
BACKENDS = ("transformers", "openai")
DEVICES = ("auto", "cpu", "cuda")
ATTENTIONS = ("auto", "sdpa", "eager", "flash_attention_2")
FALLBACKS = ("tesseract", "none")
# Qwen2.5-VL's context is 32768 tokens (128k with YaRN); no page needs more than that many new tokens.
MAX_NEW_TOKENS_LIMIT = 32_768
# After an out-of-memory error the page is retried with this factor on each side (half the pixels,
# so about half the visual tokens and activation memory).
OOM_RETRY_SCALE = math.sqrt(0.5)
# Tesseract reads small renders badly: the fallback reader gets the page upscaled to at least this.
FALLBACK_MIN_SIDE = 1754


@dataclass(frozen=True)
class VlmSettings:
    """<SERVICE>_* settings of one VLM service, validated when the engine is constructed."""

    prefix: str
    """Settings prefix, e.g. "NANONETS" (named in messages that tell which variable to change)."""
    model: str
    backend: str
    endpoint: str | None
    api_key: str | None
    served_model: str
    concurrency: int
    request_timeout_s: float
    endpoint_retries: int
    max_new_tokens: int
    max_attempts: int
    gpu_memory_fraction: float | None
    device: str
    attention: str
    fallback: str


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise SettingsError(name, f"expected one of {', '.join(choices)}; got {value!r}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"expected a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(name, f"must be between {low} and {high}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, low: float, high: float) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"expected a number, got {raw!r}") from None
    if not (low < value <= high) or math.isnan(value):
        raise SettingsError(name, f"must be greater than {low} and at most {high}, got {raw}")
    return value


def read_vlm_settings(settings: Settings, profile: VlmProfile) -> VlmSettings:
    env = settings.env
    prefix = profile.service.upper()
    model = model_setting(settings, profile.default_model, profile.known_models)
    backend = _choice(env, f"{prefix}_BACKEND", BACKENDS, "transformers")
    endpoint = env.get(f"{prefix}_ENDPOINT", "").strip().rstrip("/") or None
    if backend == "openai":
        if endpoint is None:
            raise SettingsError(
                f"{prefix}_ENDPOINT",
                f"required when {prefix}_BACKEND=openai (e.g. http://vllm:8000/v1)",
            )
        if not endpoint.startswith(("http://", "https://")):
            raise SettingsError(f"{prefix}_ENDPOINT", f"expected an http(s):// URL, got {endpoint!r}")
    timeout = _float(env, f"{prefix}_REQUEST_TIMEOUT", 0.0, 86_400.0)
    return VlmSettings(
        prefix=prefix,
        model=model,
        backend=backend,
        endpoint=endpoint,
        api_key=env.get(f"{prefix}_ENDPOINT_API_KEY", "").strip() or None,
        served_model=env.get(f"{prefix}_SERVED_MODEL", "").strip() or model,
        concurrency=_int(env, f"{prefix}_CONCURRENCY", 8, 1, 256),
        request_timeout_s=timeout if timeout is not None else 600.0,
        endpoint_retries=_int(env, f"{prefix}_ENDPOINT_RETRIES", 2, 0, 10),
        max_new_tokens=_int(
            env, f"{prefix}_MAX_NEW_TOKENS", profile.default_max_new_tokens, 1, MAX_NEW_TOKENS_LIMIT
        ),
        max_attempts=_int(
            env, f"{prefix}_MAX_ATTEMPTS", len(profile.temperatures), 1, len(profile.temperatures)
        ),
        gpu_memory_fraction=_float(env, f"{prefix}_GPU_MEMORY_FRACTION", 0.0, 1.0),
        device=_choice(env, f"{prefix}_DEVICE", DEVICES, "auto"),
        attention=_choice(env, f"{prefix}_ATTENTION", ATTENTIONS, "auto"),
        fallback=_choice(env, f"{prefix}_FALLBACK", FALLBACKS, profile.fallback or "none"),
    )


class VlmEngine(Engine):
    """A page engine over a VlmProfile. Subclasses set `name` and `profile`, nothing else."""

    profile: ClassVar[VlmProfile]
    # One model instance on one GPU: pages are read one at a time (the openai backend lifts this
    # through max_parallel_pages, the server batching concurrent requests itself).
    thread_safe = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.render_policy = self.profile.render_policy
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
            from .openai_backend import OpenAIBackend

            assert self.vlm.endpoint is not None
            return OpenAIBackend(self.vlm)
        # Offline by construction: weights come from MODEL_DIR only, never from the hub.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        path = require_weights(self.settings, self.vlm.model)
        from .transformers_backend import TransformersBackend

        return TransformersBackend(path, self.vlm)

    def parse_options(self, params: Mapping[str, str]) -> EngineOptions:
        accepted = ["page_range", *self.profile.options]
        options: dict[str, str] = {}
        for key, value in params.items():
            choices = self.profile.options.get(key)
            if choices is None:
                raise BadOption(
                    f"unknown option {key!r}; {self.name} accepts: {', '.join(accepted)}",
                    {"option": key, "accepted": accepted},
                )
            if value not in choices:
                raise BadOption(
                    f"{key} {value!r}: expected one of {', '.join(choices)}",
                    {"option": key, "value": value, "accepted": list(choices)},
                )
            options[key] = value
        return options

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
                return PageText(
                    text=verdict.text, rotation=(360 - rotation_ccw) % 360, meta=_with_attempts(verdict.meta, attempt)
                )
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

    def _generate(self, image: Image.Image, temperature: float) -> Any:
        assert self.backend is not None, "load() must succeed before pages are read"
        request = ChatRequest(
            image=image,
            prompt=self.prompt,
            system=self.profile.system,
            image_first=self.profile.image_first,
            temperature=temperature,
            max_new_tokens=self.vlm.max_new_tokens,
        )
        try:
            return self.backend.generate(request)
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
                return self.backend.generate(dataclasses.replace(request, image=smaller))
            except BackendOutOfMemory:
                raise GpuOutOfMemory(
                    f"the GPU ran out of memory reading a {width}x{height} page, also at lower resolution; "
                    f"retry later, send fewer pages, or give {self.name} more GPU memory "
                    f"({self.name.upper()}_GPU_MEMORY_FRACTION)",
                    {"size": [width, height]},
                ) from None
            finally:
                smaller.close()

    def _fall_back(
        self, image: Image.Image, reasons: list[str], meta: Mapping[str, Any] | None
    ) -> PageText:
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
        """The fallback engine, loaded on first use (most pages never need it)."""
        if self.vlm.fallback == "none":
            return None
        with self._fallback_lock:
            if self._fallback is None and self._fallback_error is None:
                from ..tesseract import TesseractEngine

                reader = TesseractEngine(self.settings)
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


__all__ = ["VlmEngine", "VlmSettings", "model_path", "read_vlm_settings"]
