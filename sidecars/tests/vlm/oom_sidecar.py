"""The real sidecar serving nanonets whose transformers backend raises CUDA out-of-memory on its first
FAULT_OOM_CALLS generations (counted across requests), to test the OOM rule on a CPU machine.
Run: python -m tests.vlm.oom_sidecar --service nanonets ...
"""

from __future__ import annotations

import os
import sys
from typing import Any

import torch

from mdso_sidecar.__main__ import main
from mdso_sidecar.engines import ENGINES
from mdso_sidecar.engines.nanonets import NanonetsEngine
from mdso_sidecar.engines.vlm.backend import Backend, ChatRequest
from mdso_sidecar.engines.vlm.transformers_backend import TransformersBackend
from mdso_sidecar.log import get_logger

log = get_logger(__name__)


class OomBackend(TransformersBackend):
    calls = 0

    def run(self, inputs: dict[str, Any], request: ChatRequest) -> Any:
        OomBackend.calls += 1
        log.info("generate", extra={"call": OomBackend.calls, "size": list(request.image.size)})
        if OomBackend.calls <= int(os.environ.get("FAULT_OOM_CALLS", "0")):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB (injected)")
        return super().run(inputs, request)


class OomNanonets(NanonetsEngine):
    def make_backend(self) -> Backend:
        backend = super().make_backend()
        assert isinstance(backend, TransformersBackend)
        return OomBackend(backend.path, backend.settings)


ENGINES["nanonets"] = OomNanonets

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
