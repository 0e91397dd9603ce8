"""Settings of a vision-language OCR service (<SERVICE>_MODEL, _BACKEND, _MAX_NEW_TOKENS...), read from
Settings.env and validated when the engine is constructed: a bad value stops the sidecar with one line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ...models import model_setting
from ...settings import Settings, SettingsError, choice_setting, int_setting
from .. import SERVICES
from .profile import VlmProfile

BACKENDS = ("transformers", "openai")
DEVICES = ("auto", "cpu", "cuda")
ATTENTIONS = ("auto", "sdpa", "eager", "flash_attention_2")
FALLBACKS = ("tesseract", "none")
# Qwen2.5-VL's context is 32768 tokens (128k with YaRN); no page needs more than that many new tokens.
MAX_NEW_TOKENS_LIMIT = 32_768


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
    install: str
    """The command installing the service's packages (its venv and requirement files in the engine
    registry, services.json), named in messages when one is missing."""


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
    backend = choice_setting(env, f"{prefix}_BACKEND", BACKENDS, "transformers")
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
    spec = SERVICES[profile.service]
    return VlmSettings(
        prefix=prefix,
        model=model,
        backend=backend,
        endpoint=endpoint,
        api_key=env.get(f"{prefix}_ENDPOINT_API_KEY", "").strip() or None,
        served_model=env.get(f"{prefix}_SERVED_MODEL", "").strip() or model,
        concurrency=int_setting(env, f"{prefix}_CONCURRENCY", 8, 1, 256),
        request_timeout_s=timeout if timeout is not None else 600.0,
        endpoint_retries=int_setting(env, f"{prefix}_ENDPOINT_RETRIES", 2, 0, 10),
        max_new_tokens=int_setting(
            env, f"{prefix}_MAX_NEW_TOKENS", profile.default_max_new_tokens, 1, MAX_NEW_TOKENS_LIMIT
        ),
        max_attempts=int_setting(
            env, f"{prefix}_MAX_ATTEMPTS", len(profile.temperatures), 1, len(profile.temperatures)
        ),
        gpu_memory_fraction=_float(env, f"{prefix}_GPU_MEMORY_FRACTION", 0.0, 1.0),
        device=choice_setting(env, f"{prefix}_DEVICE", DEVICES, "auto"),
        attention=choice_setting(env, f"{prefix}_ATTENTION", ATTENTIONS, "auto"),
        fallback=choice_setting(env, f"{prefix}_FALLBACK", FALLBACKS, profile.fallback or "none"),
        install=f"{spec.venv}/bin/pip install " + " ".join(f"-r {file}" for file in spec.requirements),
    )
