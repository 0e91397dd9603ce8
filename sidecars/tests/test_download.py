"""scripts/download-models: which services, which sources, which target directories; all with
--dry-run, which never touches the network."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from mdso_sidecar.download import default_services, hf_snapshot_complete, main, read_dotenv
from mdso_sidecar.engines.marker import CHECKPOINTS

from .conftest import REPO
from .test_marker import fake_weights


def dry_run(capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str, dotenv: Path) -> str:
    assert main(["--dry-run", *args], env=env, dotenv=dotenv) == 0
    return capsys.readouterr().out


def test_default_targets(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    models = tmp_path / "models"
    out = dry_run(capsys, {"MODEL_DIR": str(models)}, dotenv=tmp_path / "none.env")
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
    out = dry_run(capsys, env, "olmocr", "nanonets", "tesseract", dotenv=tmp_path / "none.env")
    assert f"allenai/olmOCR-7B-0825 (~16.6 GB)  ->  {tmp_path}/olmocr/olmOCR-7B-0825/" in out
    assert "NANONETS_MODEL is a local directory: nothing to download (/srv/weights/nanonets, missing)" in out
    assert "tesseract: nothing to download" in out and "Debian packages" in out
    assert "marker" not in out


def test_services_from_environment_then_dotenv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("# comment\nENABLED_SERVICES=tesseract, marker\nMODEL_DIR='/from/dotenv'\n")
    assert read_dotenv(dotenv) == {"ENABLED_SERVICES": "tesseract, marker", "MODEL_DIR": "/from/dotenv"}
    out = dry_run(capsys, {}, dotenv=dotenv)
    assert "MODEL_DIR=/from/dotenv" in out and "/from/dotenv/marker/layout" in out
    assert "nanonets" not in out and "tesseract: nothing to download" in out
    # The real environment wins over .env.
    out = dry_run(capsys, {"ENABLED_SERVICES": "olmocr"}, dotenv=dotenv)
    assert "/from/dotenv/olmocr/olmOCR-2-7B-1025/" in out and "marker" not in out
    assert default_services({"ENABLED_SERVICES": " "}) == ["nanonets", "olmocr", "marker"]


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
    out = dry_run(capsys, {"MODEL_DIR": str(tmp_path)}, "marker", "olmocr", dotenv=tmp_path / "none.env")
    assert out.count("[complete, skipped]") == 2
    # Without --dry-run, complete directories are skipped without any network access.
    assert main(["marker", "olmocr"], env={"MODEL_DIR": str(tmp_path)}, dotenv=tmp_path / "none.env") == 0
    out = capsys.readouterr().out
    assert f"marker: {tmp_path}/marker is complete" in out and "skipped" in out
    assert f"layout of {tmp_path}:" in out and "olmOCR-2-7B-1025/" in out


def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    none = tmp_path / "none.env"
    assert main(["--dry-run", "foo"], env={}, dotenv=none) == 2
    assert "unknown service 'foo'; known: tesseract, nanonets, olmocr, marker" in capsys.readouterr().err
    assert main(["--dry-run", "nanonets"], env={"NANONETS_MODEL": " ", "MAX_PAGES": "0"}, dotenv=none) == 2
    assert "MAX_PAGES" in capsys.readouterr().err


def test_script_resolves_relative_model_dir(tmp_path: Path) -> None:
    env = {**os.environ, "MODEL_DIR": "rel-models", "ENABLED_SERVICES": "marker"}
    result = subprocess.run(
        [str(REPO / "scripts" / "download-models"), "--dry-run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"MODEL_DIR={tmp_path}/rel-models" in result.stdout
