"""Where model weights live: one layout under MODEL_DIR, never a download at run time.

    $MODEL_DIR/<service>/<model name>/   a Hugging Face snapshot (config.json, *.safetensors, ...)

`<SERVICE>_MODEL` picks the model: a hub id (its last path component names the directory under
$MODEL_DIR/<service>/) or an absolute path to a local directory. scripts/download-models fills the
layout on a machine with internet access.
"""

from __future__ import annotations

from pathlib import Path

from .errors import EngineUnavailable
from .settings import Settings, SettingsError


def model_setting(settings: Settings, default_id: str, allowed: tuple[str, ...] | None = None) -> str:
    """The configured model id or path for this service (`<SERVICE>_MODEL`, else `default_id`)."""
    variable = f"{settings.service.upper()}_MODEL"
    value = settings.env.get(variable, "").strip() or default_id
    if allowed is not None and value not in allowed and not value.startswith("/"):
        expected = f"one of {', '.join(allowed)} or an absolute path"
        raise SettingsError(variable, f"expected {expected}; got {value!r}")
    return value


def model_path(settings: Settings, model: str) -> Path:
    """The local directory holding `model` (an absolute path, or a hub id under MODEL_DIR)."""
    if model.startswith("/"):
        return Path(model)
    return settings.model_dir / settings.service / model.rstrip("/").split("/")[-1]


def require_weights(settings: Settings, model: str, required: tuple[str, ...] = ("config.json",)) -> Path:
    """The model's directory, or EngineUnavailable naming where we looked and how to fill it."""
    path = model_path(settings, model)
    missing = [name for name in required if not (path / name).exists()]
    if path.is_dir() and not missing:
        return path
    what = "not found" if not path.is_dir() else f"incomplete (missing {', '.join(missing)})"
    raise EngineUnavailable(
        f"weights for {model} {what} in {path}; on a machine with internet access run "
        f"`scripts/download-models {settings.service}` (MODEL_DIR={settings.model_dir}) and copy the "
        f"directory here, or set {settings.service.upper()}_MODEL to a local model directory"
    )
