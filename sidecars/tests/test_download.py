"""scripts/download-models: which services, which sources, which target directories; all with
--dry-run, which never touches the network. Its settings come through the gateway's own .env reader
(dist/gateway/src/cli/env.js, built by scripts/bootstrap), its services from the engine registry, what
each one fetches from its engine's WEIGHTS plan."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from mdso_sidecar.download import (
    KNOWN_SERVICES,
    declared_weights,
    default_services,
    hf_snapshot_complete,
    main,
    model_services,
    weights_plan,
)
from mdso_sidecar.engines import ENGINES, REGISTRY_FILE, SERVICES, engine_class, marker
from mdso_sidecar.engines.marker import CHECKPOINTS
from mdso_sidecar.engines.vlm.config import read_vlm_settings
from mdso_sidecar.engines.vlm.runtime import VlmEngine
from mdso_sidecar.models import HubWeights, NoWeights, StoreWeights
from mdso_sidecar.settings import load_settings

from .conftest import REPO
from .test_marker import fake_weights


def dry_run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> str:
    assert main(["--dry-run", *args], env=env) == 0
    return capsys.readouterr().out


def script(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """scripts/download-models as typed in `cwd`, with the process environment less the settings the
    tests set (a developer's own ENABLED_SERVICES or .env must not leak in)."""
    base = {k: v for k, v in os.environ.items() if k not in {"ENABLED_SERVICES", "MODEL_DIR"}}
    base["DOTENV_CONFIG_PATH"] = str(cwd / "no.env")
    return subprocess.run(
        [str(REPO / "scripts" / "download-models"), *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_default_targets(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    models = tmp_path / "models"
    out = dry_run(capsys, {"MODEL_DIR": str(models)})
    assert f"MODEL_DIR={models}" in out
    assert f"nanonets/Nanonets-OCR-s (~7.5 GB)  ->  {models}/nanonets/Nanonets-OCR-s/ [missing]" in out
    assert f"allenai/olmOCR-2-7B-1025 (~16.6 GB)  ->  {models}/olmocr/olmOCR-2-7B-1025/ [missing]" in out
    assert f"rednote-hilab/dots.ocr (~6.1 GB)  ->  {models}/dotsocr/dots_ocr/ [missing]" in out
    for checkpoint in CHECKPOINTS.values():
        assert f"https://models.datalab.to/{checkpoint}/  ->  {models}/marker/{checkpoint}/" in out
    assert f"GoNotoCurrent-Regular.ttf  ->  {models}/marker/fonts/GoNotoCurrent-Regular.ttf" in out
    assert "tesseract" not in out
    assert not models.exists()  # a dry run creates nothing


def test_model_overrides(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    env = {
        "MODEL_DIR": str(tmp_path),
        "OLMOCR_MODEL": "allenai/olmOCR-7B-0825",
        "NANONETS_MODEL": "/srv/weights/nanonets",
    }
    out = dry_run(capsys, env, "olmocr", "nanonets", "tesseract")
    assert f"allenai/olmOCR-7B-0825 (~16.6 GB)  ->  {tmp_path}/olmocr/olmOCR-7B-0825/" in out
    assert "NANONETS_MODEL is a local directory: nothing to download (/srv/weights/nanonets, missing)" in out
    assert "tesseract: nothing to download" in out and "Debian packages" in out
    assert "marker" not in out


def test_services_from_environment_then_dotenv(tmp_path: Path) -> None:
    """The script reads .env as the gateway does: comments, quotes, `export`, inline comments."""
    dotenv = tmp_path / "settings.env"
    dotenv.write_text(
        "# comment\nexport ENABLED_SERVICES=\"tesseract, marker\"  # the GPU one\nMODEL_DIR='/from/dotenv'\n"
    )
    result = script(tmp_path, "--dry-run", DOTENV_CONFIG_PATH="settings.env")  # relative to cwd
    assert result.returncode == 0, result.stderr
    assert "MODEL_DIR=/from/dotenv" in result.stdout and "/from/dotenv/marker/layout" in result.stdout
    assert "nanonets" not in result.stdout and "tesseract: nothing to download" in result.stdout
    # The real environment wins over .env.
    result = script(tmp_path, "--dry-run", DOTENV_CONFIG_PATH=str(dotenv), ENABLED_SERVICES="olmocr")
    assert "/from/dotenv/olmocr/olmOCR-2-7B-1025/" in result.stdout and "marker" not in result.stdout
    assert default_services({"ENABLED_SERVICES": " "}) == ["marker", "nanonets", "olmocr", "dotsocr"]
    # Split as the gateway splits it.
    enabled = default_services({"ENABLED_SERVICES": " Tesseract,RAPIDOCR , tesseract"})
    assert enabled == ["tesseract", "rapidocr"]
    # A front box (every service on another gateway): nothing, not every model.
    assert default_services({"ENABLED_SERVICES": " None "}) == []


def test_services_without_weights_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """rapidocr (after an inline comment in .env, as the gateway enables it), hybrid and tesseract:
    known, nothing to fetch, said so, exit 0 (it used to be "unknown service", exit 2)."""
    (tmp_path / ".env").write_text("ENABLED_SERVICES=tesseract,rapidocr   # photos too\n")
    for args in (("--dry-run",), ()):
        result = script(tmp_path, *args, DOTENV_CONFIG_PATH=".env", MODEL_DIR="models")
        assert result.returncode == 0, result.stderr
        assert "rapidocr: nothing to download: its PP-OCRv6 models come inside" in result.stdout
        assert "tesseract: nothing to download" in result.stdout
    assert not (tmp_path / "models").exists()
    assert main(["hybrid"], env={"MODEL_DIR": str(tmp_path / "models")}) == 0
    assert "hybrid: nothing to download" in capsys.readouterr().out


def test_one_registry() -> None:
    """engines/services.json is the list: the engines, the services download-models knows, the
    venvs and requirement files the engines name in their messages."""
    names = [entry["name"] for entry in json.loads(REGISTRY_FILE.read_text())["services"]]
    assert list(ENGINES) == list(SERVICES) == list(KNOWN_SERVICES) == names
    for spec in SERVICES.values():
        module, _, cls = spec.engine.partition(":")
        assert f"class {cls}(" in (REGISTRY_FILE.parent / f"{module}.py").read_text(), spec.engine
        assert all((REPO / f).is_file() for f in spec.requirements), spec.requirements
    for service in ("nanonets", "olmocr", "dotsocr"):
        vlm_engine = engine_class(service)
        assert issubclass(vlm_engine, VlmEngine)
        vlm = read_vlm_settings(load_settings(service, {}), vlm_engine.profile)
        assert vlm.install == ".venv/bin/pip install -r sidecars/requirements-vlm.txt"
    assert (marker.VENV, marker.REQUIREMENTS) == (".venv-marker", "sidecars/requirements-marker.txt")


def test_each_engine_owns_its_weights() -> None:
    """What a service fetches is its engine module's WEIGHTS; one with nothing to download declares
    NoWeights, saying where its models come from. A hub engine's profile knows the models of its
    module's own plan."""
    assert model_services() == ["marker", "nanonets", "olmocr", "dotsocr"]
    for name in SERVICES:
        declared = declared_weights(name)
        weights = weights_plan(name)
        assert (weights is None) == isinstance(declared, NoWeights), name
        if isinstance(declared, NoWeights):
            assert declared.note, f"{name}: NoWeights says where its models come from"
        cls = engine_class(name)
        if isinstance(weights, HubWeights):
            assert issubclass(cls, VlmEngine)
            assert cls.profile.weights is weights, name
        elif isinstance(weights, StoreWeights):
            assert weights is marker.WEIGHTS and cls is marker.MarkerEngine
            assert list(CHECKPOINTS.values()) == [c.path for c in weights.checkpoints]
            assert len({c.setting for c in weights.checkpoints}) == len(weights.checkpoints)


def test_unknown_hub_model_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    """<SERVICE>_MODEL is checked as the engine checks it: an id outside its plan is refused before
    anything is fetched (the service would refuse to start with it)."""
    assert main(["--dry-run", "olmocr"], env={"OLMOCR_MODEL": "someone/other-model"}) == 2
    err = capsys.readouterr().err
    assert "OLMOCR_MODEL" in err and "allenai/olmOCR-2-7B-1025, allenai/olmOCR-7B-0825" in err


def test_complete_directories_are_skipped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    fake_weights(tmp_path / "marker")
    sharded = tmp_path / "olmocr" / "olmOCR-2-7B-1025"
    sharded.mkdir(parents=True)
    (sharded / "config.json").write_text("{}")
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    (sharded / "model-00001-of-00002.safetensors").touch()
    assert not hf_snapshot_complete(sharded)  # one shard missing
    (sharded / "model-00002-of-00002.safetensors").touch()
    assert hf_snapshot_complete(sharded)
    out = dry_run(capsys, {"MODEL_DIR": str(tmp_path)}, "marker", "olmocr")
    assert out.count("[complete, skipped]") == 2
    # Without --dry-run, complete directories are skipped without any network access.
    assert main(["marker", "olmocr"], env={"MODEL_DIR": str(tmp_path)}) == 0
    out = capsys.readouterr().out
    assert f"marker: {tmp_path}/marker is complete" in out and "skipped" in out
    assert f"layout of {tmp_path}:" in out and "olmOCR-2-7B-1025/" in out


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dry-run", "foo"], env={}) == 2
    known = "tesseract, rapidocr, hybrid, marker, nanonets, olmocr, dotsocr"
    assert f"unknown service 'foo'; known: {known}" in capsys.readouterr().err
    assert main(["--dry-run", "nanonets"], env={"NANONETS_MODEL": " ", "MAX_PAGES": "0"}) == 2
    assert "MAX_PAGES" in capsys.readouterr().err


def test_script_resolves_relative_model_dir(tmp_path: Path) -> None:
    result = script(tmp_path, "--dry-run", MODEL_DIR="rel-models", ENABLED_SERVICES="marker")
    assert result.returncode == 0, result.stderr
    assert f"MODEL_DIR={tmp_path}/rel-models" in result.stdout


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attributes: Any) -> None:
    """A stand-in for a third-party module (huggingface_hub, surya, marker) in sys.modules."""
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    module.__dict__.update(attributes)
    monkeypatch.setitem(sys.modules, name, module)


def test_hub_plan_is_what_snapshot_download_gets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The engine's hub id and revision reach huggingface_hub, into the layout's directory."""
    calls: list[dict[str, str]] = []

    def snapshot_download(**kwargs: str) -> None:
        calls.append(kwargs)
        (Path(kwargs["local_dir"]) / "config.json").write_text("{}")
        (Path(kwargs["local_dir"]) / "model.safetensors").touch()

    fake_module(monkeypatch, "huggingface_hub", snapshot_download=snapshot_download)
    assert main(["olmocr"], env={"MODEL_DIR": str(tmp_path), "OLMOCR_MODEL": "allenai/olmOCR-7B-0825"}) == 0
    target = tmp_path / "olmocr" / "olmOCR-7B-0825"
    assert calls == [{"repo_id": "allenai/olmOCR-7B-0825", "revision": "main", "local_dir": str(target)}]
    assert hf_snapshot_complete(target) and "Copy the directory" in capsys.readouterr().out


def test_store_plan_is_what_surya_downloads(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """marker's checkpoints as the plan lists them, fetched by (stand-ins for) surya's and marker's
    own download code; a surya that loads other checkpoints is refused."""
    for variable in marker.marker_environment(tmp_path, "cpu"):
        monkeypatch.delenv(variable, raising=False)  # set by the download, restored after the test
    root = tmp_path / "marker"
    fetched: list[str] = []

    def download_directory(path: str, local: str) -> None:
        fetched.append(path)
        Path(local).mkdir(parents=True)
        (Path(local) / "manifest.json").write_text(json.dumps({"files": ["model.safetensors"]}))
        (Path(local) / "model.safetensors").touch()

    def download_font() -> None:
        Path(os.environ["FONT_PATH"]).parent.mkdir(parents=True)
        Path(os.environ["FONT_PATH"]).touch()

    class Mixin:
        @staticmethod
        def get_local_path(uri: str) -> str:
            return str(Path(os.environ["MODEL_CACHE_DIR"]) / uri.removeprefix("s3://"))

    settings = types.SimpleNamespace(**{c.setting: f"s3://{c.path}" for c in marker.WEIGHTS.checkpoints})
    for name in ("surya", "surya.common", "marker"):
        fake_module(monkeypatch, name)
    fake_module(monkeypatch, "surya.settings", settings=settings)
    s3 = {"S3DownloaderMixin": Mixin, "download_directory": download_directory}
    fake_module(monkeypatch, "surya.common.s3", **s3)
    fake_module(monkeypatch, "marker.util", download_font=download_font)
    settings.OCR_ERROR_MODEL_CHECKPOINT = "s3://ocr_error_detection/2026_01_01"
    assert main(["marker"], env={"MODEL_DIR": str(tmp_path)}) == 1
    assert "this surya-ocr loads" in capsys.readouterr().err and fetched == []
    settings.OCR_ERROR_MODEL_CHECKPOINT = "s3://ocr_error_detection/2025_02_18"
    assert main(["marker"], env={"MODEL_DIR": str(tmp_path)}) == 0
    assert fetched == list(CHECKPOINTS.values())
    assert marker.missing_weights(root) == []
