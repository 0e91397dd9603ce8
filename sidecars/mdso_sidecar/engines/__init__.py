"""Engine registry: service name -> engine class. A new engine is one module plus one entry in
services.json beside this file, the list of services that the gateway (KNOWN_SERVICES, which
requirement files scripts/bootstrap installs) and scripts/download-models read too. The module declares
its request options itself (Engine.options, OptionSpec), which the gateway reads through the sidecar's
contract (contract.py).

Entries are "module:Class" strings imported on first use, so a sidecar imports only its own engine
module; engine modules still import heavy dependencies (torch, transformers, marker, tesserocr, OpenCV,
NumPy...) inside load() or on the first page, never at module level, so that a missing package makes
the service "unavailable", not a crash, and a sidecar carries only what its engine uses. Helpers that
need one at module level (photo.py, page_cleanup.py, tesseract_reading.py) are imported the same way;
tests/test_engines.py holds every other module of the package to this.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import Engine

REGISTRY_FILE = Path(__file__).with_name("services.json")


@dataclass(frozen=True)
class ServiceSpec:
    """One entry of services.json."""

    name: str
    engine: str
    """Its class, as "module:Class" under mdso_sidecar.engines."""
    venv: str
    """The venv its sidecar runs in (the main one unless its packages conflict with the others')."""
    requirements: tuple[str, ...]
    """Requirement files (paths from the repository root) installed into `venv` for it."""


def read_registry(path: Path = REGISTRY_FILE) -> dict[str, ServiceSpec]:
    """The services of `path`, in their order; ValueError naming the file on a malformed entry."""
    data: Any = json.loads(path.read_text())
    main_venv = data["python"]["venv"]
    services: dict[str, ServiceSpec] = {}
    for entry in data["services"]:
        name = entry["name"]
        services[name] = ServiceSpec(
            name=name,
            engine=entry["engine"],
            venv=entry.get("venv", main_venv),
            requirements=tuple(entry["requirements"]),
        )
    return services


SERVICES = read_registry()

ENGINES: dict[str, type[Engine] | str] = {name: spec.engine for name, spec in SERVICES.items()}


def engine_class(service: str) -> type[Engine]:
    """The engine class serving `service`; KeyError listing the known ones otherwise."""
    try:
        entry = ENGINES[service]
    except KeyError:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(sorted(ENGINES))}") from None
    if isinstance(entry, str):
        module_name, _, class_name = entry.partition(":")
        module = importlib.import_module(f"{__name__}.{module_name}")
        cls = getattr(module, class_name)
        if not (isinstance(cls, type) and issubclass(cls, Engine)):
            raise TypeError(f"registry entry {entry!r} is not an Engine subclass")
        ENGINES[service] = cls
        return cls
    return entry
