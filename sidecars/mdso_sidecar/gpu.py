"""GPU memory figures for /health, read from torch when this process already uses CUDA.

We never import torch or initialise CUDA just to answer /health: in a CPU sidecar (tesseract) that
would cost seconds and hundreds of MB of RAM, and creating a CUDA context would take GPU memory from
the model sidecars. A GPU engine imports torch and initialises CUDA itself while loading; from then on
its figures are reported.
"""

from __future__ import annotations

import sys
from typing import Any

_GB = 1024**3


def gpu_stats() -> dict[str, Any]:
    """{"available": false} unless torch is loaded here with CUDA initialised; never raises."""
    torch: Any = sys.modules.get("torch")
    if torch is None:
        return {"available": False}
    try:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return {"available": False}
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        free, total = torch.cuda.mem_get_info(index)
        return {
            "available": True,
            "name": str(props.name),
            "uuid": str(getattr(props, "uuid", "")),
            "allocated_gb": round(torch.cuda.memory_allocated(index) / _GB, 3),
            "reserved_gb": round(torch.cuda.memory_reserved(index) / _GB, 3),
            "total_gb": round(total / _GB, 3),
            "free_gb": round(free / _GB, 3),
        }
    except Exception as exc:  # noqa: BLE001 - health must answer even if the driver misbehaves
        return {"available": False, "error": type(exc).__name__}
