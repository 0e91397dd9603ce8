"""Engine registry: service name -> engine class. A new engine is one module plus one line here.

Entries are "module:Class" strings imported on first use, so a sidecar imports only its own engine
module; engine modules still import heavy dependencies (torch, transformers, marker...) inside
load(), never at module level, so that a missing package makes the service "unavailable", not a crash.
"""

from __future__ import annotations

import importlib

from .base import Engine

ENGINES: dict[str, type[Engine] | str] = {
    "tesseract": "tesseract:TesseractEngine",
    "nanonets": "nanonets:NanonetsEngine",
    "olmocr": "olmocr:OlmocrEngine",
    "marker": "marker:MarkerEngine",
    "rapidocr": "rapidocr:RapidocrEngine",
    "hybrid": "hybrid:HybridEngine",
}


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
