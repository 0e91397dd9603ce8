"""Engine registry: service name -> engine class. A new engine is one module plus one line here.

Every engine module is imported here, in every sidecar: engine modules import heavy dependencies
(torch, transformers...) inside load(), never at module level.
"""

from __future__ import annotations

from .base import Engine
from .tesseract import TesseractEngine

ENGINES: dict[str, type[Engine]] = {
    TesseractEngine.name: TesseractEngine,
}


def engine_class(service: str) -> type[Engine]:
    """The engine class serving `service`; KeyError listing the known ones otherwise."""
    try:
        return ENGINES[service]
    except KeyError:
        raise KeyError(f"unknown service {service!r}; known: {', '.join(sorted(ENGINES))}") from None
