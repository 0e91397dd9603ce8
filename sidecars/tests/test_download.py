"""scripts/download-models: which services, which sources, which target directories; all with
--dry-run, which never touches the network. Its settings come through the gateway's own .env reader
(dist/gateway/src/cli/env.js, built by scripts/bootstrap), its services from the engine registry."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mdso_sidecar.download import KNOWN_SERVICES, default_services, hf_snapshot_complete, main
from mdso_sidecar.engines import ENGINES, REGISTRY_FILE, SERVICES, marker
from mdso_sidecar.engines.marker import CHECKPOINTS
from mdso_sidecar.engines.vlm import config as vlm_config

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
    assert default_services({"ENABLED_SERVICES": " "}) == ["marker", "nanonets", "olmocr"]
    # Split as the gateway splits it.
    enabled = default_services({"ENABLED_SERVICES": " Tesseract,RAPIDOCR , tesseract"})
    assert enabled == ["tesseract", "rapidocr"]


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
    requirement files the engines name in their messages."""
    names = [entry["name"] for entry in json.loads(REGISTRY_FILE.read_text())["services"]]
    assert list(ENGINES) == list(SERVICES) == list(KNOWN_SERVICES) == names
    for spec in SERVICES.values():
        module, _, cls = spec.engine.partition(":")
        assert f"class {cls}(" in (REGISTRY_FILE.parent / f"{module}.py").read_text(), spec.engine
        assert all((REPO / f).is_file() for f in spec.requirements), spec.requirements
    assert SERVICES["marker"].venv == marker.VENV
    assert SERVICES["marker"].requirements == (marker.REQUIREMENTS,)
    assert SERVICES["nanonets"].requirements == SERVICES["olmocr"].requirements == (vlm_config.REQUIREMENTS,)


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
    known = "tesseract, rapidocr, hybrid, marker, nanonets, olmocr"
    assert f"unknown service 'foo'; known: {known}" in capsys.readouterr().err
    assert main(["--dry-run", "nanonets"], env={"NANONETS_MODEL": " ", "MAX_PAGES": "0"}) == 2
    assert "MAX_PAGES" in capsys.readouterr().err


def test_script_resolves_relative_model_dir(tmp_path: Path) -> None:
    result = script(tmp_path, "--dry-run", MODEL_DIR="rel-models", ENABLED_SERVICES="marker")
    assert result.returncode == 0, result.stderr
    assert f"MODEL_DIR={tmp_path}/rel-models" in result.stdout
