"""Where model weights live: one layout under MODEL_DIR, never a download at run time, and the kinds
of weights plan an engine declares beside itself (`WEIGHTS` in its module), which
scripts/download-models (download.py) and docs/MODELS.md follow.

    $MODEL_DIR/<service>/<model name>/   a Hugging Face snapshot (config.json, *.safetensors, ...)
    $MODEL_DIR/<service>/<checkpoint>/   a model store's checkpoints, each with its manifest.json

`<SERVICE>_MODEL` picks the model of a hub service: a hub id (its last path component names the
directory under $MODEL_DIR/<service>/) or an absolute path to a local directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


def model_dir_name(model: str) -> str:
    """The directory a hub model lives in under $MODEL_DIR/<service>/: the last part of its id, with
    periods written as underscores (rednote-hilab/dots.ocr -> dots_ocr): a checkpoint that ships its
    modelling code is imported by transformers as a package named after its directory, and versions
    before 4.56 read a period there as a package boundary."""
    return model.rstrip("/").split("/")[-1].replace(".", "_")


def model_path(settings: Settings, model: str) -> Path:
    """The local directory holding `model` (an absolute path, or a hub id under MODEL_DIR)."""
    if model.startswith("/"):
        return Path(model)
    return settings.model_dir / settings.service / model_dir_name(model)


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


# -- weights plans: what an engine loads, declared once in its module as WEIGHTS ---------------------


@dataclass(frozen=True)
class HubModel:
    """One Hugging Face hub model a service can load, kept in $MODEL_DIR/<service>/<dir_name>/."""

    repo_id: str
    approx_size: str
    """Download size as people read it ("7.5 GB", from the model card): shown by
    `scripts/download-models --dry-run` and in docs/MODELS.md's table."""
    revision: str = "main"
    """The hub revision (branch, tag or commit) scripts/download-models fetches."""

    @property
    def dir_name(self) -> str:
        return model_dir_name(self.repo_id)


@dataclass(frozen=True)
class HubWeights:
    """Hugging Face snapshots: `<SERVICE>_MODEL` picks one of `models` (the first is the default) or
    names an absolute path to a local model directory, which is never downloaded."""

    models: tuple[HubModel, ...]

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("a hub weights plan needs at least one model")

    @property
    def default(self) -> HubModel:
        return self.models[0]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(model.repo_id for model in self.models)

    def find(self, model: str) -> HubModel | None:
        """The plan's entry for hub id `model`, None for a local directory."""
        return next((entry for entry in self.models if entry.repo_id == model), None)

    def selected(self, settings: Settings) -> str:
        """The configured model (`<SERVICE>_MODEL`): one of `ids` or an absolute path; SettingsError
        otherwise, as when the engine reads it."""
        return model_setting(settings, self.default.repo_id, self.ids)


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of a model store, kept in <cache>/<path>/ with a manifest.json listing its files."""

    name: str
    """Short name ("layout")."""
    setting: str
    """The setting of the engine's package that names it (surya's "LAYOUT_MODEL_CHECKPOINT")."""
    path: str
    """Its path in the store and under the cache ("layout/2025_09_23")."""


@dataclass(frozen=True)
class StoreFile:
    """A single file the engine's package fetches on first use, pre-placed in the cache."""

    url: str
    path: str
    """Under the cache ("fonts/GoNotoCurrent-Regular.ttf")."""


@dataclass(frozen=True)
class StoreWeights:
    """Checkpoints that the engine's own package downloads from its model store into one cache
    directory, $MODEL_DIR/<service>/ (marker: Surya's checkpoints from Datalab's store, and a font).
    scripts/download-models runs that package's download code, in the service's venv."""

    package: str
    """The package whose download code fetches them, with the version they were checked against."""
    store_url: str
    checkpoints: tuple[Checkpoint, ...]
    files: tuple[StoreFile, ...]
    approx_size: str
    """Download size, as HubModel.approx_size."""

    def root(self, settings: Settings) -> Path:
        return settings.model_dir / settings.service

    def missing(self, root: Path) -> list[str]:
        """What the package would have to download into `root` (paths relative to it); empty when
        complete. The test the store's client makes before downloading (manifest.json present, every
        file it lists present), plus the single files."""
        missing: list[str] = []
        for checkpoint in self.checkpoints:
            directory = root / checkpoint.path
            manifest = directory / "manifest.json"
            try:
                files = json.loads(manifest.read_text())["files"]
            except (OSError, ValueError, KeyError, TypeError):
                missing.append(f"{checkpoint.path}/manifest.json")
                continue
            missing.extend(f"{checkpoint.path}/{name}" for name in files if not (directory / name).exists())
        missing.extend(file.path for file in self.files if not (root / file.path).is_file())
        return missing


@dataclass(frozen=True)
class NoWeights:
    """Nothing for scripts/download-models to fetch: the engine's models come with what
    scripts/bootstrap installs (Debian packages, a wheel)."""

    note: str
    """Where they come from, as download-models says it ("nothing to download: <note>")."""


WeightsPlan = HubWeights | StoreWeights
