"""The gateway⇄sidecar contract, printed as JSON by `python -m mdso_sidecar --contract`: each service's
request options (its engine's OptionSpec declarations) and the answer formats it offers (format, a
pipeline option like page_range: output_format.py), the page range option, the words a boolean
option takes, and every error type a sidecar answers with its status. The gateway's primary reads it
once at start (gateway/src/sidecar-contract.ts) and builds from it its option validation, the options
and errors of its OpenAPI document and /docs; gateway/src/ipc/sidecar-wire.ts types it. Nothing is
written down twice, and no generated file can go stale.

Building it loads no model and imports no heavy package: engine modules import those in load().
"""

from __future__ import annotations

from typing import Any

from .engines import SERVICES, engine_class
from .errors import error_types
from .output_format import DEFAULT_FORMAT, FORMAT_DOC, FORMAT_OPTION, FORMATS
from .page_range import describe_page_range
from .settings import FALSE_WORDS, TRUE_WORDS


def contract() -> dict[str, Any]:
    """The contract, as the gateway reads it (services in services.json's order)."""
    return {
        "services": {
            name: {
                "options": [spec.describe() for spec in engine_class(name).options],
                "formats": list(engine_class(name).formats),
            }
            for name in SERVICES
        },
        "page_range": describe_page_range(),
        "format": {
            "name": FORMAT_OPTION,
            "choices": list(FORMATS),
            "default": DEFAULT_FORMAT,
            "doc": FORMAT_DOC,
        },
        "booleans": {"true": list(TRUE_WORDS), "false": list(FALSE_WORDS)},
        "errors": [
            {"type": cls.__name__, "status": cls.status, "retry_after": cls.retry_after_s, "when": cls.when}
            for cls in error_types()
        ],
    }
