"""The engine registry (engines/__init__.py) and its promise: importing the sidecar imports no heavy
dependency; engines import those in load() or on their first page, so a sidecar carries only its own
engine's, and a missing package makes a service unavailable instead of crashing the import."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from .conftest import SIDECARS

HEAVY = ("tesserocr", "cv2", "numpy", "onnxruntime", "rapidocr", "torch", "transformers", "marker")
# Helpers that need a heavy package themselves, imported by their engine only on first use.
IMPORTED_ON_FIRST_USE = (
    "mdso_sidecar.engines.page_cleanup",
    "mdso_sidecar.engines.photo",
    "mdso_sidecar.engines.tesseract_reading",
)
# Every other module of the package, imported in a fresh interpreter; prints the heavy ones it loaded.
_IMPORT_ALL = """
import importlib, json, pkgutil, sys
import mdso_sidecar
lazy = set(sys.argv[2:])
for module in pkgutil.walk_packages(mdso_sidecar.__path__, "mdso_sidecar."):
    if module.name not in lazy:
        importlib.import_module(module.name)
print(json.dumps({
    "imported": sorted(name for name in sys.modules if name.startswith("mdso_sidecar")),
    "heavy": sorted(name for name in json.loads(sys.argv[1]) if name in sys.modules),
}))
"""


def test_importing_the_sidecar_imports_no_heavy_dependency() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL, json.dumps(HEAVY), *IMPORTED_ON_FIRST_USE],
        cwd=SIDECARS,
        env={**os.environ, "PYTHONPATH": str(SIDECARS)},
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(done.stdout)
    # The walk reached the engines, the servers and the VLM runtime (the fallback reader's user).
    assert {
        "mdso_sidecar.__main__",
        "mdso_sidecar.server",
        "mdso_sidecar.engines.tesseract",
        "mdso_sidecar.engines.hybrid",
        "mdso_sidecar.engines.rapidocr",
        "mdso_sidecar.engines.marker",
        "mdso_sidecar.engines.olmocr",
        "mdso_sidecar.engines.dotsocr",
        "mdso_sidecar.engines.vlm.runtime",
    } <= set(found["imported"])
    assert found["heavy"] == []
    assert not set(IMPORTED_ON_FIRST_USE) & set(found["imported"])
