"""Fills the MODEL_DIR layout (docs/MODELS.md) on a machine with internet access: the command behind
scripts/download-models. Never imported by a running sidecar, which only reads the layout.

    python -m mdso_sidecar.download [--dry-run] [--force] [service ...]

It reads no .env itself: scripts/download-models runs it under the gateway's own reader
(`node dist/gateway/src/cli/env.js run --`), so both see the same settings. Which services exist and
which have weights to fetch: the engine registry (engines/services.json).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .engines import SERVICES
from .engines import marker as marker_layout
from .models import model_path, model_setting
from .settings import Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]
# Hub ids fetched when <SERVICE>_MODEL is unset: the defaults of the nanonets and olmocr engines.
HF_MODELS = {
    "nanonets": "nanonets/Nanonets-OCR-s",
    "olmocr": "allenai/olmOCR-2-7B-1025",
}
KNOWN_SERVICES = tuple(SERVICES)
MODEL_SERVICES = tuple(name for name, spec in SERVICES.items() if spec.weights is not None)
# Approximate download sizes, shown by --dry-run (model cards; marker: surya 0.17.1's checkpoints).
APPROX_SIZE = {
    "nanonets/Nanonets-OCR-s": "7.5 GB",
    "allenai/olmOCR-2-7B-1025": "16.6 GB",
    "allenai/olmOCR-7B-0825": "16.6 GB",
    "marker": "3 GB",
}
# Installed into a temporary directory when the interpreter lacks it (the project venv stays as is).
HUB_REQUIREMENT = "huggingface_hub==0.36.2"
DATALAB_URL = "https://models.datalab.to"


@dataclass(frozen=True)
class Target:
    """What one service needs and where it goes."""

    service: str
    source: str
    """Hub id, "datalab" (marker's model store), or "" when nothing is downloaded."""
    path: Path | None
    complete: bool
    note: str = ""


def default_services(env: Mapping[str, str]) -> list[str]:
    """ENABLED_SERVICES split as the gateway splits it (trimmed, lower-case, each once), else every
    service with weights."""
    enabled: list[str] = []
    for raw in env.get("ENABLED_SERVICES", "").split(","):
        name = raw.strip().lower()
        if name and name not in enabled:
            enabled.append(name)
    return enabled or list(MODEL_SERVICES)


def hf_snapshot_complete(path: Path) -> bool:
    """config.json and every weight file (all shards of a sharded checkpoint) are present."""
    if not (path / "config.json").is_file():
        return False
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError, AttributeError):
            return False
        return all((path / shard).is_file() for shard in shards)
    return any(path.glob("*.safetensors"))


def plan(service: str, env: Mapping[str, str]) -> Target:
    """The target of `service` from the environment (MODEL_DIR, <SERVICE>_MODEL). SettingsError on a
    bad value, KeyError for an unknown service."""
    if service not in KNOWN_SERVICES:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(KNOWN_SERVICES)}")
    settings = load_settings(service, env)
    spec = SERVICES[service]
    if spec.weights is None:
        return Target(service, "", None, True, f"nothing to download: {spec.weights_note}")
    if spec.weights == "datalab":
        root = marker_layout.weights_dir(settings)
        return Target(service, "datalab", root, not marker_layout.missing_weights(root))
    model = model_setting(settings, HF_MODELS[service])
    path = model_path(settings, model)
    if model.startswith("/"):
        note = f"{service.upper()}_MODEL is a local directory: nothing to download"
        return Target(service, "", path, hf_snapshot_complete(path), note)
    return Target(service, model, path, hf_snapshot_complete(path))


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GB"


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def describe(target: Target) -> list[str]:
    """What --dry-run prints for a target: every source and destination, nothing fetched."""
    state = "complete, skipped" if target.complete else "missing"
    if target.path is None or not target.source:
        where = f" ({target.path}, {'present' if target.complete else 'missing'})" if target.path else ""
        return [f"{target.service}: {target.note}{where}"]
    if target.source == "datalab":
        root = target.path
        lines = [f"marker: marker-pdf {marker_layout.MARKER_VERSION}'s models into {root} "
                 f"(~{APPROX_SIZE['marker']}) [{state}]"]
        for checkpoint in marker_layout.CHECKPOINTS.values():
            lines.append(f"  {DATALAB_URL}/{checkpoint}/  ->  {root / checkpoint}/")
        lines.append(f"  {marker_layout.FONT_URL}  ->  {marker_layout.font_path(root)}")
        venv_python = REPO / marker_layout.VENV / "bin" / "python"
        lines.append(f"  run with {venv_python} (marker's own download code)")
        return lines
    size = APPROX_SIZE.get(target.source, "size unknown")
    return [
        f"{target.service}: Hugging Face hub {target.source} (~{size})  ->  {target.path}/ [{state}]"
    ]


def _hub() -> object:
    """huggingface_hub, installed into a temporary directory when this interpreter lacks it."""
    try:
        return importlib.import_module("huggingface_hub")
    except ImportError:
        pass
    target = tempfile.mkdtemp(prefix="mdso-hub-")
    print(f"installing {HUB_REQUIREMENT} into {target} (temporary)", flush=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", target, HUB_REQUIREMENT],
        check=True,
    )
    sys.path.insert(0, target)
    return importlib.import_module("huggingface_hub")


def fetch_hf(target: Target) -> None:
    assert target.path is not None
    hub = _hub()
    target.path.mkdir(parents=True, exist_ok=True)
    snapshot_download = getattr(hub, "snapshot_download")  # noqa: B009 - untyped module object
    snapshot_download(repo_id=target.source, local_dir=str(target.path))
    if not hf_snapshot_complete(target.path):
        raise RuntimeError(f"{target.path} is still incomplete after the download (config.json, weights)")


def fetch_marker_here(root: Path) -> None:
    """marker's own download code, in this interpreter (which must have marker-pdf installed)."""
    os.environ.update(marker_layout.marker_environment(root, "cpu"))
    root.mkdir(parents=True, exist_ok=True)
    surya_settings = importlib.import_module("surya.settings").settings
    s3 = importlib.import_module("surya.common.s3")
    checkpoints = [
        surya_settings.LAYOUT_MODEL_CHECKPOINT,
        surya_settings.RECOGNITION_MODEL_CHECKPOINT,
        surya_settings.TABLE_REC_MODEL_CHECKPOINT,
        surya_settings.DETECTOR_MODEL_CHECKPOINT,
        surya_settings.OCR_ERROR_MODEL_CHECKPOINT,
    ]
    expected = {f"s3://{path}" for path in marker_layout.CHECKPOINTS.values()}
    if set(checkpoints) != expected:
        raise RuntimeError(
            f"this surya-ocr loads {sorted(checkpoints)}, not what marker-pdf {marker_layout.MARKER_VERSION} "
            f"expects; reinstall {marker_layout.VENV} from {marker_layout.REQUIREMENTS}"
        )
    for checkpoint in checkpoints:
        # What S3DownloaderMixin.from_pretrained does before loading: skip when the manifest is complete.
        local = s3.S3DownloaderMixin.get_local_path(checkpoint)
        s3.download_directory(checkpoint.removeprefix("s3://"), local)
    importlib.import_module("marker.util").download_font()
    missing = marker_layout.missing_weights(root)
    if missing:
        raise RuntimeError(f"still missing in {root} after the download: {', '.join(missing)}")


def fetch_marker(target: Target, settings: Settings) -> None:
    assert target.path is not None
    if importlib.util.find_spec("surya") is not None and importlib.util.find_spec("marker") is not None:
        fetch_marker_here(target.path)
        return
    python = REPO / marker_layout.VENV / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"marker's download runs in its venv, which does not exist: create it with "
            f"`python3 -m venv {marker_layout.VENV} && {marker_layout.VENV}/bin/pip install -r "
            f"{marker_layout.REQUIREMENTS}` (or scripts/bootstrap with marker in ENABLED_SERVICES)"
        )
    env = {**os.environ, "PYTHONPATH": str(REPO / "sidecars"), "MODEL_DIR": str(settings.model_dir)}
    subprocess.run([str(python), "-m", "mdso_sidecar.download", "--force", "marker"], env=env, check=True)


def print_layout(model_dir: Path) -> None:
    print(f"\nlayout of {model_dir}:")
    if not model_dir.is_dir():
        print("  (empty)")
        return
    for service_dir in sorted(p for p in model_dir.iterdir() if p.is_dir()):
        print(f"  {service_dir.name}/  {human(tree_size(service_dir))}")
        for child in sorted(service_dir.iterdir()):
            size = human(tree_size(child) if child.is_dir() else child.stat().st_size)
            print(f"    {child.name}{'/' if child.is_dir() else ''}  {size}")


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    """`env`: default os.environ (.env merged in by scripts/download-models). Exit codes: 0 done (a
    service without weights included), 1 a service failed, 2 bad arguments or settings."""
    parser = argparse.ArgumentParser(
        prog="scripts/download-models",
        description="Fetch model weights into MODEL_DIR (default <repo>/models); see docs/MODELS.md.",
    )
    parser.add_argument(
        "services", nargs="*", help=f"default: ENABLED_SERVICES, else {' '.join(MODEL_SERVICES)}"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be fetched and where; no network"
    )
    parser.add_argument(
        "--force", action="store_true", help="fetch again even when a directory is complete"
    )
    args = parser.parse_args(argv)
    environment = dict(os.environ if env is None else env)
    services = args.services or default_services(environment)
    try:
        targets = [plan(service, environment) for service in services]
        model_dir = load_settings("tesseract", environment).model_dir
    except (KeyError, SettingsError) as exc:
        print(f"download-models: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(f"MODEL_DIR={model_dir} (dry run: nothing is downloaded)")
        for target in targets:
            print("\n".join(describe(target)))
        return 0
    failed: list[str] = []
    for target in targets:
        if target.path is None or not target.source:
            print("\n".join(describe(target)))
            continue
        if target.complete and not args.force:
            print(f"{target.service}: {target.path} is complete ({human(tree_size(target.path))}), skipped")
            continue
        print("\n".join(describe(target)), flush=True)
        try:
            if target.source == "datalab":
                fetch_marker(target, load_settings("marker", environment))
            else:
                fetch_hf(target)
        except Exception as exc:  # noqa: BLE001 - report it and go on with the other services
            print(f"{target.service}: FAILED: {exc}", file=sys.stderr)
            failed.append(target.service)
            continue
        print(f"{target.service}: {target.path} {human(tree_size(target.path))}", flush=True)
    if all(target.path is None for target in targets):
        return 0  # CPU services only: no weights, nothing to copy
    print_layout(model_dir)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("\nCopy the directory to the offline machine's MODEL_DIR (see docs/MODELS.md).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
