"""Fills the MODEL_DIR layout (docs/MODELS.md) on a machine with internet access: the command behind
scripts/download-models. Never imported by a running sidecar, which only reads the layout.

    python -m mdso_sidecar.download [--dry-run] [--force] [service ...]

It reads no .env itself: scripts/download-models runs it under the gateway's own reader
(`node dist/gateway/src/cli/env.js run --`), so both see the same settings. Which services exist, their
venvs and requirement files: the engine registry (engines/services.json). What each one needs: the
WEIGHTS plan its engine module declares (models.HubWeights, models.StoreWeights, or models.NoWeights
saying where its models come from instead); this module holds no model id, checkpoint or size of its own.
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

from .engines import SERVICES, engine_class
from .engines import marker as marker_engine
from .models import HubModel, HubWeights, NoWeights, StoreWeights, WeightsPlan, model_path
from .settings import Settings, SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]
KNOWN_SERVICES = tuple(SERVICES)
# Installed into a temporary directory when the interpreter lacks it (the project venv stays as is).
HUB_REQUIREMENT = "huggingface_hub==0.36.2"


def declared_weights(service: str) -> WeightsPlan | NoWeights:
    """The WEIGHTS its engine module declares beside the engine. Importing an engine module is cheap:
    engines import their heavy packages in load()."""
    module = sys.modules[engine_class(service).__module__]
    weights = getattr(module, "WEIGHTS", None)
    if not isinstance(weights, (HubWeights, StoreWeights, NoWeights)):
        raise TypeError(f"{module.__name__}.WEIGHTS is not a weights plan of models.py: {weights!r}")
    return weights


def weights_plan(service: str) -> WeightsPlan | None:
    """What its engine has to download; None when nothing (NoWeights)."""
    weights = declared_weights(service)
    return None if isinstance(weights, NoWeights) else weights


def model_services() -> list[str]:
    """The services with weights to download, in registry order."""
    return [name for name in KNOWN_SERVICES if weights_plan(name) is not None]


@dataclass(frozen=True)
class Target:
    """What one service needs and where it goes."""

    service: str
    weights: WeightsPlan | None
    """Its engine's plan; None when it has nothing to download."""
    path: Path | None
    complete: bool
    model: HubModel | None = None
    """The hub model to fetch (a hub plan, unless <SERVICE>_MODEL names a local directory)."""
    note: str = ""

    @property
    def fetches(self) -> bool:
        return isinstance(self.weights, StoreWeights) or self.model is not None


def default_services(env: Mapping[str, str]) -> list[str]:
    """ENABLED_SERVICES split as the gateway splits it (trimmed, lower-case, each once; none for
    `none`), else every service with weights."""
    enabled: list[str] = []
    if env.get("ENABLED_SERVICES", "").strip().lower() == "none":
        return []  # a front box: every service runs on another gateway (REMOTE_SERVICES)
    for raw in env.get("ENABLED_SERVICES", "").split(","):
        name = raw.strip().lower()
        if name and name not in enabled:
            enabled.append(name)
    return enabled or model_services()


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
    """The target of `service` from the environment (MODEL_DIR, <SERVICE>_MODEL, validated as its
    engine validates them). SettingsError on a bad value, KeyError for an unknown service."""
    if service not in KNOWN_SERVICES:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(KNOWN_SERVICES)}")
    settings = load_settings(service, env)
    weights = declared_weights(service)
    if isinstance(weights, NoWeights):
        return Target(service, None, None, True, note=f"nothing to download: {weights.note}")
    if isinstance(weights, StoreWeights):
        root = weights.root(settings)
        return Target(service, weights, root, not weights.missing(root))
    model = weights.selected(settings)
    path = model_path(settings, model)
    hub_model = weights.find(model)
    if hub_model is None:  # an absolute path: selected() accepts nothing else outside the plan
        note = f"{service.upper()}_MODEL is a local directory: nothing to download"
        return Target(service, weights, path, hf_snapshot_complete(path), note=note)
    return Target(service, weights, path, hf_snapshot_complete(path), model=hub_model)


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} GB"


def tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def venv_python(service: str) -> Path:
    return REPO / SERVICES[service].venv / "bin" / "python"


def describe(target: Target) -> list[str]:
    """What --dry-run prints for a target: every source and destination, nothing fetched."""
    state = "complete, skipped" if target.complete else "missing"
    if not target.fetches or target.path is None:
        where = f" ({target.path}, {'present' if target.complete else 'missing'})" if target.path else ""
        return [f"{target.service}: {target.note}{where}"]
    if isinstance(target.weights, StoreWeights):
        store, root = target.weights, target.path
        lines = [f"{target.service}: {store.package}'s models into {root} (~{store.approx_size}) [{state}]"]
        for checkpoint in store.checkpoints:
            lines.append(f"  {store.store_url}/{checkpoint.path}/  ->  {root / checkpoint.path}/")
        for file in store.files:
            lines.append(f"  {file.url}  ->  {root / file.path}")
        lines.append(f"  run with {venv_python(target.service)} ({target.service}'s own download code)")
        return lines
    assert target.model is not None
    model = target.model
    revision = "" if model.revision == "main" else f" at revision {model.revision}"
    return [
        f"{target.service}: Hugging Face hub {model.repo_id}{revision} (~{model.approx_size})  ->  "
        f"{target.path}/ [{state}]"
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
    assert target.path is not None and target.model is not None
    hub = _hub()
    target.path.mkdir(parents=True, exist_ok=True)
    snapshot_download = getattr(hub, "snapshot_download")  # noqa: B009 - untyped module object
    snapshot_download(
        repo_id=target.model.repo_id, revision=target.model.revision, local_dir=str(target.path)
    )
    if not hf_snapshot_complete(target.path):
        raise RuntimeError(f"{target.path} is still incomplete after the download (config.json, weights)")


def fetch_marker_here(store: StoreWeights, root: Path) -> None:
    """marker's own download code, in this interpreter (which must have marker-pdf installed)."""
    os.environ.update(marker_engine.marker_environment(root, "cpu"))
    root.mkdir(parents=True, exist_ok=True)
    surya_settings = importlib.import_module("surya.settings").settings
    s3 = importlib.import_module("surya.common.s3")
    loaded = marker_engine.loaded_checkpoints(surya_settings)
    if loaded != {checkpoint.path for checkpoint in store.checkpoints}:
        spec = SERVICES["marker"]
        raise RuntimeError(
            f"this surya-ocr loads {sorted(loaded)}, not what {store.package} expects; reinstall "
            f"{spec.venv} from {' '.join(spec.requirements)}"
        )
    for checkpoint in store.checkpoints:
        # What S3DownloaderMixin.from_pretrained does before loading: skip when the manifest is complete.
        local = s3.S3DownloaderMixin.get_local_path(f"s3://{checkpoint.path}")
        s3.download_directory(checkpoint.path, local)
    importlib.import_module("marker.util").download_font()
    missing = store.missing(root)
    if missing:
        raise RuntimeError(f"still missing in {root} after the download: {', '.join(missing)}")


def fetch_marker(target: Target, settings: Settings) -> None:
    assert target.path is not None and isinstance(target.weights, StoreWeights)
    if importlib.util.find_spec("surya") is not None and importlib.util.find_spec("marker") is not None:
        fetch_marker_here(target.weights, target.path)
        return
    spec = SERVICES[target.service]
    python = venv_python(target.service)
    if not python.exists():
        installs = " ".join(f"-r {file}" for file in spec.requirements)
        raise RuntimeError(
            f"marker's download runs in its venv, which does not exist: create it with "
            f"`python3 -m venv {spec.venv} && {spec.venv}/bin/pip install {installs}` "
            f"(or scripts/bootstrap with marker in ENABLED_SERVICES)"
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
        "services", nargs="*", help=f"default: ENABLED_SERVICES, else {' '.join(model_services())}"
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
    if not services:
        print("ENABLED_SERVICES=none: no local service, no weights to fetch")
        return 0
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
        if target.path is None or not target.fetches:
            print("\n".join(describe(target)))
            continue
        if target.complete and not args.force:
            print(f"{target.service}: {target.path} is complete ({human(tree_size(target.path))}), skipped")
            continue
        print("\n".join(describe(target)), flush=True)
        try:
            if isinstance(target.weights, StoreWeights):
                fetch_marker(target, load_settings(target.service, environment))
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
